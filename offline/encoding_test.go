package offline

import (
	"bytes"
	"testing"

	"github.com/voucherpos/voucherpos/terminal"
)

// FuzzDecode feeds arbitrary bytes to the decoders of stored values and
// record ids: a damaged file must give an error, never a panic, and what
// decodes must encode back to the same bytes.
func FuzzDecode(f *testing.F) {
	s := terminal.Seal(make([]byte, 64), [32]byte{1}, 7, []byte(`{"id":"T1-0000000007"}`))
	f.Add(encodeSealed(&s), "T1-0000000007") // a stored record
	f.Add([]byte{sealedVersion}, "T1-7")     // truncated; id without padding
	f.Add(encodeOutcome(terminal.Outcome{Result: terminal.Conflict, Detail: "voucher 11 redeemed by T2-0000000004"}), "T1-")
	f.Add([]byte("accepted"), "T1-18446744073709551615") // outcome without detail; largest seq
	f.Add([]byte{}, "T1--0000000001")                    // empty value; negative seq
	f.Fuzz(func(t *testing.T, v []byte, id string) {
		if got, err := decodeSealed(9, v); err == nil {
			if again := encodeSealed(&got); !bytes.Equal(again, v) {
				t.Fatalf("sealed round trip: %x → %x", v, again)
			}
		}
		o := decodeOutcome(9, v)
		if bytes.IndexByte(v, 0) >= 0 {
			if again := encodeOutcome(o); !bytes.Equal(again, v) {
				t.Fatalf("outcome round trip: %q → %q", v, again)
			}
		}
		l := &Ledger{opts: Options{TerminalID: "T1"}}
		if seq, ok := l.seqOf(id); ok && terminal.RecordID("T1", seq) != id {
			t.Fatalf("id %q parsed as seq %d", id, seq)
		}
	})
}
