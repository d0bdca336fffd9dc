package issuing

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	gosync "sync"
	"testing"
	"time"

	"filippo.io/edwards25519"
)

func testKey(b byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize))
}

// filled returns a pool of n nonces made for priv.
func filled(priv ed25519.PrivateKey, n int) *nonces {
	p := newNonces(n)
	_, prefix := expand(priv)
	for range n {
		p.pool <- makeNonce(&prefix)
	}
	return p
}

// TestNonces_Sign: 300 messages signed concurrently with nonces made
// ahead: every signature verifies with crypto/ed25519.Verify, no R (so no
// nonce) appears twice, each nonce's secret is wiped once used, and an
// empty pool hands out nothing rather than a nonce again.
func TestNonces_Sign(t *testing.T) {
	const n = 300
	priv := testKey(1)
	pub := priv.Public().(ed25519.PublicKey)
	p := filled(priv, n)
	var mu gosync.Mutex
	seenR := map[[32]byte]bool{}
	var wg gosync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				nc, ok := p.take()
				if !ok {
					return
				}
				msg := fmt.Appendf(nil, "voucher %d-%d", w, i)
				sig := signWith(&nc, priv, msg)
				if !ed25519.Verify(pub, msg, sig) {
					t.Errorf("signature of %q does not verify", msg)
				}
				if nc.r != (edwards25519.Scalar{}) {
					t.Error("a used nonce's secret was not wiped")
				}
				mu.Lock()
				if seenR[[32]byte(sig[:32])] {
					t.Errorf("R %x used twice", sig[:32])
				}
				seenR[[32]byte(sig[:32])] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seenR) != n {
		t.Fatalf("%d signatures with distinct R, want %d", len(seenR), n)
	}
	if _, ok := p.take(); ok {
		t.Fatal("an empty pool gave a nonce")
	}
}

// TestNonces_SameMessage: one message signed with two nonces gives two
// different signatures, both valid; and nonces made while one key was
// current sign validly for the next (a rotation mid-pool).
func TestNonces_SameMessage(t *testing.T) {
	a, b := testKey(1), testKey(2)
	p := filled(a, 3)
	msg := []byte("VC1 the same voucher")
	n1, _ := p.take()
	n2, _ := p.take()
	s1, s2 := signWith(&n1, a, msg), signWith(&n2, a, msg)
	if bytes.Equal(s1, s2) || !ed25519.Verify(a.Public().(ed25519.PublicKey), msg, s1) || !ed25519.Verify(a.Public().(ed25519.PublicKey), msg, s2) {
		t.Fatalf("two nonces: %x %x", s1, s2)
	}
	n3, _ := p.take()
	s3 := signWith(&n3, b, msg)
	if !ed25519.Verify(b.Public().(ed25519.PublicKey), msg, s3) || ed25519.Verify(a.Public().(ed25519.PublicKey), msg, s3) {
		t.Fatal("a nonce made under key a does not sign for key b alone")
	}
}

// TestNonces_Fill: the filler makes what is needed (not more than a batch
// beyond), and nothing while claims are coming.
func TestNonces_Fill(t *testing.T) {
	priv := testKey(1)
	p := newNonces(1000)
	ctx, cancel := context.WithCancel(context.Background())
	var busy gosync.Mutex
	busyNow := false
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.fill(ctx, func() ed25519.PrivateKey { return priv }, func() int { return 100 },
			func() bool { busy.Lock(); defer busy.Unlock(); return busyNow })
	}()
	defer func() { cancel(); <-done }()
	for len(p.pool) < 100 {
		time.Sleep(time.Millisecond)
	}
	busy.Lock()
	busyNow = true
	busy.Unlock()
	time.Sleep(20 * time.Millisecond)
	if l := len(p.pool); l >= 100+nonceBatch {
		t.Fatalf("pool of %d for a need of 100", l)
	}
	for {
		if _, ok := p.take(); !ok {
			break
		}
	}
	poke(p.kick)
	time.Sleep(20 * time.Millisecond)
	// The filler checks before each nonce: one being made when claims
	// came may still land.
	if l := len(p.pool); l > 1 {
		t.Fatalf("%d nonces made while busy", l)
	}
}

// BenchmarkNonces_Sign: a code's signature at the claim with a nonce made
// ahead, beside ed25519.Sign of the same message in the same run
// (x-ed25519: ed25519.Sign's time ÷ this), and what making a nonce ahead
// costs.
func BenchmarkNonces_Sign(b *testing.B) {
	priv := testKey(1)
	msg := make([]byte, 4+47) // a code's signed message: prefix and payload
	n := max(b.N, 1)
	t0 := time.Now()
	for range n {
		_ = ed25519.Sign(priv, msg)
	}
	plain := time.Since(t0) / time.Duration(n)
	p := newNonces(n)
	_, prefix := expand(priv)
	t0 = time.Now()
	for range n {
		p.pool <- makeNonce(&prefix)
	}
	ahead := time.Since(t0) / time.Duration(n)
	b.ResetTimer()
	for range b.N {
		nc, _ := p.take()
		_ = signWith(&nc, priv, msg)
	}
	b.StopTimer()
	at := b.Elapsed() / time.Duration(n)
	b.ReportMetric(float64(plain.Nanoseconds())/1000, "ed25519.Sign-µs")
	b.ReportMetric(float64(ahead.Nanoseconds())/1000, "nonce-ahead-µs")
	b.ReportMetric(float64(plain)/float64(at), "x-ed25519")
}

// TestNonces_SignOnce: a nonce already used (wiped) refuses to sign again,
// since with r = 0 the signature would be H(R‖A‖M)·a and give the key away.
func TestNonces_SignOnce(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, prefix := expand(priv)
	n := makeNonce(&prefix)
	signWith(&n, priv, []byte("first"))
	defer func() {
		if recover() == nil {
			t.Error("a used nonce signed a second message")
		}
	}()
	signWith(&n, priv, []byte("second"))
}

// TestNonces_ExpandedKey: a key expanded once signs many messages, each
// with its nonce, verifiably; once wiped it refuses to sign (a = 0 would
// sign with no key at all).
func TestNonces_ExpandedKey(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, prefix := expand(priv)
	k := expandKey(priv)
	for i := range 5 {
		msg := []byte(fmt.Sprintf("voucher %d", i))
		n := makeNonce(&prefix)
		if sig := k.sign(&n, msg); !ed25519.Verify(pub, msg, sig) {
			t.Fatalf("signature %d does not verify", i)
		}
	}
	k.wipe()
	n := makeNonce(&prefix)
	defer func() {
		if recover() == nil {
			t.Error("a wiped key signed")
		}
	}()
	k.sign(&n, []byte("after"))
}
