package wire_test

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/sync/wire"
	"github.com/voucherpos/voucherpos/terminal"
)

// BenchmarkSealOpen measures what sealing costs a message: the server's
// Seal and the terminal's Open of a claim answer and of an ack of 500
// outcomes, beside the JSON encoding and decoding of the same message
// measured in the same loop (the work every message costs anyway).
//
//	x-json   (Seal + Open) time ÷ (Encode + Decode) time
func BenchmarkSealOpen(b *testing.B) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize))
	pub := key.Public().(ed25519.PublicKey)
	nonce, hello := bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{3}, 64)
	ack := &wire.Message{Type: wire.TypeAck, Watermark: 500, Upto: 500}
	for s := uint64(1); s <= 500; s++ {
		ack.Outcomes = append(ack.Outcomes, terminal.Outcome{Seq: s, Result: terminal.Accepted})
	}
	for _, m := range []*wire.Message{
		{Type: wire.TypeClaimResult, ID: 17, Voucher: 0x1122334455667788, Result: wire.ClaimOK, Until: time.Date(2022, 10, 1, 12, 15, 0, 0, terminal.Zone)},
		ack,
	} {
		b.Run(fmt.Sprintf("%s-%d", m.Type, len(m.Outcomes)), func(b *testing.B) {
			seal := wire.NewSealer(key, nonce, hello)
			open := wire.NewOpener(pub, nonce, hello)
			var json time.Duration
			for b.Loop() {
				b.StopTimer()
				t0 := time.Now()
				msg, err := wire.Encode(m)
				if err == nil {
					_, err = wire.Decode(msg)
				}
				if err != nil {
					b.Fatal(err)
				}
				json += time.Since(t0)
				b.StartTimer()
				if _, err := open.Open(seal.Seal(msg)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(json.Nanoseconds())/float64(b.N), "json-ns/op")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(json.Nanoseconds()), "x-json")
		})
	}
}
