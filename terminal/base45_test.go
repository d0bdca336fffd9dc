package terminal

import (
	"bytes"
	"testing"
)

func TestBase45_RFC9285(t *testing.T) {
	// Examples from RFC 9285 section 4.
	for in, want := range map[string]string{"AB": "BB8", "Hello!!": "%69 VD92EX0", "base-45": "UJCLQE7W581", "ietf!": "QED8WEX0"} {
		got := string(appendBase45(nil, []byte(in)))
		if got != want {
			t.Errorf("encode %q = %q, want %q", in, got, want)
		}
		dst := make([]byte, base45DecodedLen(len(want)))
		if err := decodeBase45(dst, want); err != nil || string(dst) != in {
			t.Errorf("decode %q = %q, %v", want, dst, err)
		}
	}
	for _, bad := range []string{"GGW", "A", "ZZZZ", "aa", ":::"} {
		n := base45DecodedLen(len(bad))
		if n < 0 {
			continue
		}
		if err := decodeBase45(make([]byte, n), bad); err == nil {
			t.Errorf("decoded non-canonical %q", bad)
		}
	}
}

// FuzzBase45 checks the codec both ways: every byte string round-trips, and
// every text the decoder accepts is the one encoding of its bytes.
func FuzzBase45(f *testing.F) {
	f.Add([]byte("Hello!!"), "%69 VD92EX0")
	f.Add([]byte{0xff, 0xff, 0xff}, "GGW")
	f.Add([]byte{}, "")
	f.Fuzz(func(t *testing.T, data []byte, text string) {
		enc := appendBase45(nil, data)
		dec := make([]byte, base45DecodedLen(len(enc)))
		if err := decodeBase45(dec, string(enc)); err != nil || !bytes.Equal(dec, data) {
			t.Fatalf("round trip %x: %x, %v", data, dec, err)
		}
		if got := appendBase45([]byte("VC1:"), data); string(got) != "VC1:"+string(enc) {
			t.Fatalf("appended to a prefix: %q, want %q", got, "VC1:"+string(enc))
		}
		n := base45DecodedLen(len(text))
		if n < 0 {
			return
		}
		out := make([]byte, n)
		if decodeBase45(out, text) == nil && string(appendBase45(nil, out)) != text {
			t.Fatalf("accepted non-canonical %q", text)
		}
	})
}
