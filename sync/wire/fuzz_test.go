package wire_test

import (
	"bytes"
	"crypto/ed25519"
	"testing"

	"github.com/voucherpos/voucherpos/sync/wire"
)

// FuzzDecode feeds untrusted control messages to the decoder: it never
// panics, and whatever it accepts encodes and decodes again to the same
// message. The corpus in testdata/fuzz/FuzzDecode holds one message of
// each type; the seeds below add edge cases.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"type":"challenge","nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","server_time":"2022-10-01T12:00:00+08:00"}`))
	f.Add([]byte(`{"type":"ack","watermark":18446744073709551615,"outcomes":[{"seq":1,"result":"duplicate"}]}`)) // max watermark
	f.Add([]byte(`{"type":"claim","id":1,"voucher":"FFFFFFFFFFFFFFFFF","code":"VC1:x"}`))                        // 17 hex digits
	f.Add([]byte(`{"type":"state","state":{"params":{"offline_limit_fen":-1}}}`))                                // negative limit
	f.Add([]byte("\xff\xfe"))                                                                                    // not UTF-8
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := wire.Decode(b)
		if err != nil {
			return
		}
		out, err := wire.Encode(m)
		if err != nil {
			t.Fatalf("accepted message does not encode: %v", err)
		}
		m2, err := wire.Decode(out)
		if err != nil {
			t.Fatalf("re-encoded message does not decode: %v\n%s", err, out)
		}
		out2, _ := wire.Encode(m2)
		if !bytes.Equal(out, out2) {
			t.Fatalf("round trip changed the message:\n%s\n%s", out, out2)
		}
	})
}

// FuzzDecodeBatch feeds untrusted batch frames to the decoder: it never
// panics, and what it accepts encodes back to the same bytes.
func FuzzDecodeBatch(f *testing.F) {
	good, _ := wire.AppendBatch(nil, chain(2))
	f.Add(good)                                                // two chained records
	f.Add([]byte("VPB1\x00\x01"))                              // count 1, no record
	f.Add([]byte("VPB1\xff\xff"))                              // count over MaxBatch
	f.Add(append([]byte("VPB1\x00\x01"), make([]byte, 73)...)) // seq 0
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := wire.DecodeBatch(b)
		if err != nil {
			return
		}
		out, err := wire.AppendBatch(nil, recs)
		if err != nil {
			t.Fatalf("accepted batch does not encode: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("round trip changed the frame")
		}
	})
}

// FuzzOpenSealed feeds untrusted frames to a sealed-frame opener: it never
// panics, and it opens nothing but the frame the sealer made.
func FuzzOpenSealed(f *testing.F) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize))
	nonce, hello := bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{3}, 64)
	good := wire.NewSealer(key, nonce, hello).Seal([]byte(`{"type":"ack","watermark":1}`))
	f.Add(good)
	f.Add([]byte("VPS1"))
	f.Add(good[:76])
	f.Fuzz(func(t *testing.T, b []byte) {
		msg, err := wire.NewOpener(key.Public().(ed25519.PublicKey), nonce, hello).Open(b)
		if err == nil && !bytes.Equal(b, good) {
			t.Fatalf("opened a frame the server did not seal: %q", msg)
		}
	})
}
