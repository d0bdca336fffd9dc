package wire_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"testing"

	"github.com/voucherpos/voucherpos/sync/wire"
	"github.com/voucherpos/voucherpos/terminal"
)

var termKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))

// chain seals n records with small JSON bodies.
func chain(n int) []terminal.Sealed {
	var prev [32]byte
	out := make([]terminal.Sealed, n)
	for i := range out {
		body := []byte(`{"kind":"redemption","seq":` + string(rune('1'+i)) + `,"note":"<&>\u00e9"}`)
		out[i] = terminal.Seal(termKey, prev, uint64(i+1), body)
		prev = out[i].Hash
	}
	return out
}

func TestBatch_RoundTrip(t *testing.T) {
	recs := chain(5)
	b, err := wire.AppendBatch(nil, recs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := wire.DecodeBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(recs) {
		t.Fatalf("got %d records, want %d", len(got), len(recs))
	}
	for i := range got {
		g, w := &got[i], &recs[i]
		if g.Seq != w.Seq || g.Prev != w.Prev || g.Hash != w.Hash || !bytes.Equal(g.Sig, w.Sig) || !bytes.Equal(g.Body, w.Body) {
			t.Errorf("record %d differs: got %+v want %+v", i, g, w)
		}
	}
	if _, _, err := terminal.VerifyChain(termKey.Public().(ed25519.PublicKey), 0, [32]byte{}, got); err != nil {
		t.Errorf("decoded chain does not verify: %v", err)
	}
}

func TestBatch_Errors(t *testing.T) {
	good, _ := wire.AppendBatch(nil, chain(3))
	gap := chain(3)
	gap[2].Seq = 9
	gapped, _ := wire.AppendBatch(nil, gap)
	for name, b := range map[string][]byte{
		"Empty":     nil,
		"NoMagic":   []byte("XXXX\x00\x01"),
		"ZeroCount": []byte("VPB1\x00\x00"),
		"Truncated": good[:len(good)-1],
		"Trailing":  append(append([]byte(nil), good...), 0),
		"Gap":       gapped,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := wire.DecodeBatch(b); !errors.Is(err, wire.ErrBatch) {
				t.Errorf("got %v, want ErrBatch", err)
			}
		})
	}
	if _, err := wire.AppendBatch(nil, nil); !errors.Is(err, wire.ErrBatch) {
		t.Errorf("empty batch: %v", err)
	}
}

func TestMessage_Decode(t *testing.T) {
	ok := map[string]string{
		"Challenge": `{"type":"challenge","nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`,
		"Ack":       `{"type":"ack","watermark":7,"upto":7,"outcomes":[{"seq":7,"result":"conflict","detail":"x"}]}`,
		"Claim":     `{"type":"claim","id":1,"voucher":"00000000000000FF","code":"VC1:..."}`,
		"Unknown":   `{"type":"release","id":3,"voucher":"1","future_field":true}`,
	}
	for name, s := range ok {
		if _, err := wire.Decode([]byte(s)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	bad := map[string]string{
		"NotJSON":     `{"type":`,
		"NoType":      `{}`,
		"UnknownType": `{"type":"reboot"}`,
		"ShortNonce":  `{"type":"challenge","nonce":"AAAA"}`,
		"BadResult":   `{"type":"ack","outcomes":[{"seq":1,"result":"maybe"}]}`,
		"HelloNoSig":  `{"type":"hello","terminal_id":"T1","merchant_id":"M1"}`,
		"ClaimNoID":   `{"type":"claim","code":"VC1:x"}`,
		"BadVoucher":  `{"type":"claim","id":1,"voucher":"xyz","code":"VC1:x"}`,
		"WelcomeBare": `{"type":"welcome","window":0}`,
	}
	for name, s := range bad {
		if _, err := wire.Decode([]byte(s)); !errors.Is(err, wire.ErrMessage) {
			t.Errorf("%s: got %v, want ErrMessage", name, err)
		}
	}
}

func TestHandshake_Signatures(t *testing.T) {
	nonce := wire.NewNonce()
	pub := termKey.Public().(ed25519.PublicKey)
	sig := ed25519.Sign(termKey, wire.HelloMessage(nonce, "T1", "M1"))
	if !wire.VerifyHello(pub, nonce, "T1", "M1", sig) {
		t.Fatal("good hello does not verify")
	}
	for _, tc := range []struct{ term, merchant string }{{"T2", "M1"}, {"T1", "M2"}, {"T1M", "1"}} {
		if wire.VerifyHello(pub, nonce, tc.term, tc.merchant, sig) {
			t.Errorf("hello for %s/%s verifies with T1/M1's signature", tc.term, tc.merchant)
		}
	}
	if wire.VerifyHello(pub, wire.NewNonce(), "T1", "M1", sig) {
		t.Error("hello verifies against another nonce")
	}
	if bytes.Equal(wire.WelcomeMessage(nonce, sig, 1), wire.WelcomeMessage(nonce, sig, 2)) {
		t.Error("welcome message ignores the watermark")
	}
}

func TestCredential_WriteLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t1.json")
	c := wire.Credential{TerminalID: "T1", MerchantID: "M1", Seed: bytes.Repeat([]byte{1}, 32),
		Server: "ws://127.0.0.1:8443/v1/sync", ServerKey: termKey.Public().(ed25519.PublicKey)}
	if err := c.Write(path); err != nil {
		t.Fatal(err)
	}
	got, err := wire.LoadCredential(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.TerminalID != "T1" || !bytes.Equal(got.Seed, c.Seed) || !got.PublicKey().Equal(c.PublicKey()) {
		t.Errorf("got %+v", got)
	}
	if _, err := wire.ParseCredential([]byte(`{"terminal_id":"T1","merchant_id":"M1","seed":"AAAA"}`)); !errors.Is(err, wire.ErrCredential) {
		t.Errorf("short seed: %v", err)
	}
}

func TestClaimResult_Decline(t *testing.T) {
	for r, want := range map[wire.ClaimResult]terminal.Code{
		wire.ClaimOK: "", wire.ClaimConflict: terminal.AlreadyRedeemed, wire.ClaimRevoked: terminal.Revoked,
		wire.ClaimInvalid: terminal.BadSignature, wire.ClaimBlocked: terminal.MerchantBlocked,
	} {
		if got := r.Decline(); got != want {
			t.Errorf("%s: got %q, want %q", r, got, want)
		}
	}
}

// TestOpener_Sequence: one opener opens a connection's frames of any sizes
// in order (a short message after a long one), refuses an altered or
// truncated one, and still opens the right one after refusing.
func TestOpener_Sequence(t *testing.T) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize))
	nonce, hello := bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{3}, 64)
	seal := wire.NewSealer(key, nonce, hello)
	open := wire.NewOpener(key.Public().(ed25519.PublicKey), nonce, hello)
	for i, msg := range [][]byte{bytes.Repeat([]byte{'x'}, 100_000), []byte(`{"type":"ack"}`), bytes.Repeat([]byte{'y'}, 300_000), []byte(`{}`)} {
		frame := seal.Seal(msg)
		altered := append([]byte(nil), frame...)
		altered[len(altered)-1] ^= 1
		for _, bad := range [][]byte{altered, frame[:len(frame)-1]} {
			if _, err := open.Open(bad); !errors.Is(err, wire.ErrSealed) {
				t.Fatalf("message %d altered or cut: got %v, want ErrSealed", i, err)
			}
		}
		got, err := open.Open(frame)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("message %d: %v", i, err)
		}
	}
}
