package terminal_test

import (
	"testing"

	"github.com/voucherpos/voucherpos/terminal"
)

// FuzzVerify feeds arbitrary text to the code parser and verifier: it must
// never panic, must decline with one of the three code errors, and must
// accept only a code that re-encodes to exactly the same text (no second
// encoding of a voucher is ever accepted). The committed corpus lives in
// testdata/fuzz/FuzzVerify (see testdata/fuzz/README.md).
func FuzzVerify(f *testing.F) {
	good := mustEncode(f, voucher(terminal.Retail, 20000, 4000))
	f.Add(good)                                             // a valid code
	f.Add(mustEncode(f, voucher(terminal.Love, 0, 100000))) // a valid love code
	f.Add(good[:len(good)-1])                               // truncated
	f.Add(good + "0")                                       // extended
	f.Add("VC1:")                                           // prefix only
	f.Add("")                                               // empty scan
	f.Add("]Q1" + good)                                     // AIM id left on
	f.Add(good[:20] + "GGW" + good[23:])                    // non-canonical triple
	kr := keyring(f)
	f.Fuzz(func(t *testing.T, s string) {
		v, err := kr.Verify(s)
		if err != nil {
			switch terminal.ErrorCode(err) {
			case terminal.Malformed, terminal.BadSignature, terminal.UnknownKey:
			default:
				t.Fatalf("Verify(%q): unexpected error %v", s, err)
			}
			return
		}
		again := mustEncode(t, v)
		if again != s {
			t.Fatalf("accepted %q but it re-encodes to %q", s, again)
		}
		if _, err := terminal.ParseCode(s); err != nil {
			t.Fatalf("verified but ParseCode fails: %v", err)
		}
	})
}
