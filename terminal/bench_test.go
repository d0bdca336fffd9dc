package terminal_test

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/terminal"
)

// BenchmarkDecide measures a whole decision (decode + verify + every rule)
// and, in the same run, a bare ed25519.Verify of the same message size,
// interleaved in small blocks so that both see the same machine load. It
// reports the ratio as x-ed25519 (goal: ≤ 1.3).
func BenchmarkDecide(b *testing.B) {
	r := rules(b)
	h := r.History.(*terminal.MemHistory)
	for i := range 1000 { // a busy lane's day of history
		h.Add(terminal.Recent{VoucherID: terminal.VoucherID(i + 1), Holder: terminal.HolderID(i + 1), At: noon.Add(-time.Duration(i) * time.Minute), EligibleFen: 30000, SpendFen: 20000})
	}
	code := mustEncode(b, voucher(terminal.Retail, 20000, 4000))
	req := &terminal.Request{Code: code, Merchant: merchant(terminal.Retail),
		Checkout: mustCheckout(b, item("rice", 2, 12000), item("oil", 1, 5990)), Now: noon}
	msg := make([]byte, len(terminal.CodePrefix)+terminal.PayloadLen)
	sig := ed25519.Sign(testKey, msg)

	const block = 64
	var decideNs, verifyNs time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += block {
		n := min(block, b.N-done)
		t0 := time.Now()
		for range n {
			if d := r.Decide(req); !d.Approved() {
				b.Fatal(d.Decline)
			}
		}
		t1 := time.Now()
		b.StopTimer()
		for range n {
			if !ed25519.Verify(testPub, msg, sig) {
				b.Fatal("verify")
			}
		}
		verifyNs += time.Since(t1)
		b.StartTimer()
		decideNs += t1.Sub(t0)
	}
	b.ReportMetric(float64(verifyNs.Nanoseconds())/float64(b.N), "ed25519-ns/op")
	b.ReportMetric(float64(decideNs)/float64(verifyNs), "x-ed25519")
}

// BenchmarkVerifyCode measures decode + signature check alone.
func BenchmarkVerifyCode(b *testing.B) {
	kr := keyring(b)
	code := mustEncode(b, voucher(terminal.Retail, 20000, 4000))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := kr.Verify(code); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecline measures a decision that fails early (a forged code).
func BenchmarkDecline(b *testing.B) {
	r := rules(b)
	req := &terminal.Request{Code: "VC1:NOT-A-CODE", Merchant: merchant(terminal.Retail),
		Checkout: mustCheckout(b, item("rice", 2, 12000)), Now: noon}
	b.ReportAllocs()
	for b.Loop() {
		if d := r.Decide(req); d.Approved() {
			b.Fatal("approved")
		}
	}
}
