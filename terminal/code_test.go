package terminal_test

import (
	"crypto/ed25519"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/voucherpos/voucherpos/terminal"
)

func TestCode_RoundTrip(t *testing.T) {
	kr := keyring(t)
	for _, v := range []terminal.Voucher{
		voucher(terminal.Retail, 5000, 1000),
		voucher(terminal.Appliance, 1000000, 100000),
		voucher(terminal.Love, 0, 100000),
	} {
		code := mustEncode(t, v)
		if len(code) != terminal.CodeLen {
			t.Errorf("len %d, want %d", len(code), terminal.CodeLen)
		}
		if strings.Trim(code, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:") != "" {
			t.Errorf("code %q leaves the QR alphanumeric set", code)
		}
		got, err := kr.Verify(code)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		v.Version, v.KeyID = terminal.CodeVersion, terminal.KeyIDOf(testPub)
		if !got.ValidFrom.Equal(v.ValidFrom) || !got.ValidUntil.Equal(v.ValidUntil) {
			t.Errorf("validity %v..%v, want %v..%v", got.ValidFrom, got.ValidUntil, v.ValidFrom, v.ValidUntil)
		}
		got.ValidFrom, got.ValidUntil = v.ValidFrom, v.ValidUntil
		if got != v {
			t.Errorf("got %+v\nwant %+v", got, v)
		}
	}
}

// TestCode_Vector pins the encoding of docs/voucher-code.md: change the
// format and this test, the doc and every issuer change together.
func TestCode_Vector(t *testing.T) {
	const want = "VC1:R70-09J5LPE4XS8-.CCCH/QM6-QS4VP13000K*9000+/1JOCB5KKOC+SC200:T4300EY2V90T+HEX3U35X9K5KP:XAY9AL$U/3WQJT4:G:J3295W9A07C*V1YKVJ526JMON4H 4YBDA-3EHN0/B+$R$DI.FB/IJQA1M4M50"
	got := mustEncode(t, voucher(terminal.Retail, 20000, 4000))
	if got != want {
		t.Errorf("vector changed:\n got %s\nwant %s", got, want)
	}
	if id := terminal.KeyIDOf(testPub); id.String() != "56475aa7" {
		t.Errorf("key id %s", id)
	}
}

func code(err error) terminal.Code { return terminal.ErrorCode(err) }

func TestCode_Strict(t *testing.T) {
	kr := keyring(t)
	good := mustEncode(t, voucher(terminal.Fuel, 20000, 4000))
	raw := good[len(terminal.CodePrefix):]

	t.Run("EveryCharacterChanged", func(t *testing.T) {
		const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:a\x00é"
		for i := 0; i < len(good); i++ {
			for _, c := range alphabet {
				s := good[:i] + string(c) + good[i+1:]
				if s == good {
					continue
				}
				if _, err := kr.Verify(s); err == nil {
					t.Fatalf("changed char %d to %q: accepted", i, c)
				} else if k := code(err); k != terminal.Malformed && k != terminal.BadSignature && k != terminal.UnknownKey {
					t.Fatalf("changed char %d: code %q", i, k)
				}
			}
		}
	})
	t.Run("EveryBitFlipped", func(t *testing.T) {
		b := []byte(good)
		for i := range b {
			for bit := 0; bit < 8; bit++ {
				b[i] ^= 1 << bit
				if _, err := kr.Verify(string(b)); err == nil {
					t.Fatalf("bit %d of byte %d flipped: accepted", bit, i)
				}
				b[i] ^= 1 << bit
			}
		}
	})
	t.Run("TruncatedAndExtended", func(t *testing.T) {
		for n := 0; n < len(good); n++ {
			if _, err := kr.Verify(good[:n]); code(err) != terminal.Malformed {
				t.Fatalf("truncated to %d: %v", n, err)
			}
		}
		for _, ext := range []string{"0", "00", "000", " ", "\r", "\n", good} {
			if _, err := kr.Verify(good + ext); code(err) != terminal.Malformed {
				t.Fatalf("extended by %q: %v", ext, err)
			}
		}
	})
	t.Run("ReEncoded", func(t *testing.T) {
		for _, s := range []string{
			strings.ToLower(good),
			"vc1:" + raw,
			"VC2:" + raw,
			"VC1 " + raw,
			"HC1:" + raw,
			" " + good[1:],
		} {
			if _, err := kr.Verify(s); code(err) != terminal.Malformed {
				t.Errorf("%.12q…: %v, want malformed", s, err)
			}
		}
		// A triple above 65535 ("GGW" = 16+16*45+32*2025 = 65536) is not canonical.
		s := good[:len(good)-3-2] + "GGW" + good[len(good)-2:]
		if _, err := kr.Verify(s); code(err) != terminal.Malformed {
			t.Errorf("non-canonical triple: %v", err)
		}
	})
	t.Run("UnknownKey", func(t *testing.T) {
		other, _ := terminal.NewKeyring()
		if _, err := other.Verify(good); code(err) != terminal.UnknownKey {
			t.Errorf("empty keyring: %v", err)
		}
		var nilRing *terminal.Keyring
		if _, err := nilRing.Verify(good); code(err) != terminal.UnknownKey {
			t.Errorf("nil keyring: %v", err)
		}
	})
	t.Run("SignedByAnotherKeyWithSameID", func(t *testing.T) {
		// An attacker copies the issuer's key id but signs with their own key.
		evil := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
		forged := docIssuer(voucher(terminal.Fuel, 20000, 4000), terminal.KeyIDOf(testPub), evil)
		if _, err := kr.Verify(forged); code(err) != terminal.BadSignature {
			t.Errorf("forged: %v, want bad_signature", err)
		}
	})
}

func TestKeyring_Rotation(t *testing.T) {
	_, newKey, _ := ed25519.GenerateKey(nil)
	kr := keyring(t)
	if err := kr.Add(newKey.Public().(ed25519.PublicKey)); err != nil {
		t.Fatal(err)
	}
	if err := kr.Add([]byte("short")); err == nil {
		t.Error("short key accepted")
	}
	for _, k := range []ed25519.PrivateKey{testKey, newKey} {
		if _, err := kr.Verify(mustEncodeWith(t, voucher(terminal.Retail, 5000, 1000), k)); err != nil {
			t.Errorf("key %s: %v", terminal.KeyIDOf(k.Public().(ed25519.PublicKey)), err)
		}
	}
	if n := len(kr.Keys()); n != 2 {
		t.Errorf("%d keys, want 2", n)
	}
}

func TestEncode_Rejects(t *testing.T) {
	bad := map[string]terminal.Voucher{
		"off ≥ spend":     voucher(terminal.Retail, 1000, 1000),
		"zero off":        voucher(terminal.Retail, 5000, 0),
		"love with spend": voucher(terminal.Love, 100, 50),
		"no category":     voucher(0, 5000, 1000),
		"category 9":      voucher(9, 5000, 1000),
		"empty validity": func() terminal.Voucher {
			v := voucher(terminal.Retail, 5000, 1000)
			v.ValidUntil = v.ValidFrom
			return v
		}(),
	}
	for name, v := range bad {
		if _, err := terminal.Encode(v, testKey); err == nil {
			t.Errorf("%s: encoded", name)
		}
	}
	if _, err := terminal.Encode(voucher(terminal.Retail, 5000, 1000), ed25519.PrivateKey("x")); err == nil {
		t.Error("bad key accepted")
	}
}

// docIssuer is an issuer written from docs/voucher-code.md alone, without the
// package's encoder: the doc is complete if its codes verify.
func docIssuer(v terminal.Voucher, kid terminal.KeyID, priv ed25519.PrivateKey) string {
	p := make([]byte, 0, 47)
	p = append(p, 1)
	p = binary.BigEndian.AppendUint32(p, uint32(kid))
	p = binary.BigEndian.AppendUint64(p, uint64(v.ID))
	p = binary.BigEndian.AppendUint64(p, uint64(v.Holder))
	p = append(p, byte(v.Category))
	p = binary.BigEndian.AppendUint32(p, uint32(v.SpendFen))
	p = binary.BigEndian.AppendUint32(p, uint32(v.OffFen))
	p = binary.BigEndian.AppendUint32(p, uint32(v.ValidFrom.Unix()))
	p = binary.BigEndian.AppendUint32(p, uint32(v.ValidUntil.Unix()))
	p = binary.BigEndian.AppendUint32(p, v.Region)
	p = binary.BigEndian.AppendUint32(p, v.Campaign)
	p = append(p, v.Round)
	sig := ed25519.Sign(priv, append([]byte("VC1:"), p...))
	raw := append(p, sig...)
	const a = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
	out := "VC1:"
	for i := 0; i < len(raw); i += 2 {
		if i+1 == len(raw) {
			n := int(raw[i])
			out += string([]byte{a[n%45], a[n/45]})
			break
		}
		n := int(raw[i])*256 + int(raw[i+1])
		out += string([]byte{a[n%45], a[n/45%45], a[n/2025]})
	}
	return out
}

func TestCode_DocIssuer(t *testing.T) {
	for _, v := range []terminal.Voucher{voucher(terminal.Hospitality, 50000, 10000), voucher(terminal.Love, 0, 20000)} {
		want := mustEncode(t, v)
		if got := docIssuer(v, terminal.KeyIDOf(testPub), testKey); got != want {
			t.Errorf("doc issuer\n got %s\nwant %s", got, want)
		}
	}
}

// TestCode_DocVectors checks the vectors printed in docs/voucher-code.md.
func TestCode_DocVectors(t *testing.T) {
	const love = "VC1:R70-0925L000000000LF8000.40I/LY9U000000100*0HJOCB5KKOC+SC200:T4300EY2800 JSC1O72PKTB2*D:7C2R21.QN971+VLCCK7I$LN1YFUKIJGP9%AGLN7XV-Z2LZSYLNG9L*Y7$4P$L8$ZAA43DX5:SELADC0"
	v := voucher(terminal.Love, 0, 100000)
	v.ID, v.Holder, v.Round = 0x42, 0xDEADBEEF, 0
	if got := mustEncode(t, v); got != love {
		t.Errorf("love vector\n got %s\nwant %s", got, love)
	}
	kr := keyring(t)
	v1 := mustEncode(t, voucher(terminal.Retail, 20000, 4000))
	if _, err := kr.Verify(strings.ToLower(v1)); code(err) != terminal.Malformed {
		t.Errorf("lower case: %v", err)
	}
	if _, err := kr.Verify(v1[:len(v1)-1] + "1"); code(err) != terminal.BadSignature && code(err) != terminal.Malformed {
		t.Errorf("last char changed: %v", err)
	}
	if _, err := kr.Verify(v1[:len(v1)-1]); code(err) != terminal.Malformed {
		t.Errorf("truncated: %v", err)
	}
}
