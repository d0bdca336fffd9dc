package offline_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/voucherpos/voucherpos/offline"
	"github.com/voucherpos/voucherpos/terminal"
)

// BenchmarkCommit measures a complete offline redemption made durable (one
// bbolt Update: record, chain hash, signature, outbox, indexes, fsync) and
// reports it as a ratio to one bare bbolt Update putting a 300-byte value
// into a file of its own, measured in the same loop, interleaved, so that
// disk and CPU contention hit both alike. ns/op is the commit alone.
//
//	x-bare-update: commit time ÷ bare Update time (acceptance: ≤ 1.3)
//
// The ledger is first filled with a backlog of benchCommitBacklog records
// (random voucher and holder ids, as in the field) so its trees have depth.
func BenchmarkCommit(b *testing.B) {
	l, _ := MustOpen(b, func(o *offline.Options) { o.MaxSize = 0 })
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	fill(b, l, rng, benchCommitBacklog)
	bare := openBare(b)
	val := bytes.Repeat([]byte{'v'}, 300)
	var bareTotal time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		t0 := time.Now()
		if err := bare.Update(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("b")).Put(u64key(uint64(i)), val)
		}); err != nil {
			b.Fatal(err)
		}
		bareTotal += time.Since(t0)
		r := redemption(rng.Uint64(), rng.Uint64(), noon.Add(time.Duration(i)*time.Second))
		b.StartTimer()
		if err := l.Commit(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	n := float64(b.N)
	bareNs := float64(bareTotal.Nanoseconds()) / n
	commitNs := float64(b.Elapsed().Nanoseconds()) / n
	b.ReportMetric(bareNs, "bare-ns/op")
	b.ReportMetric(commitNs/bareNs, "x-bare-update")
}

func openBare(b *testing.B) *bolt.DB {
	b.Helper()
	db, err := bolt.Open(filepath.Join(b.TempDir(), "bare.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }); err != nil {
		b.Fatal(err)
	}
	return db
}

func u64key(v uint64) []byte {
	return []byte{byte(v >> 56), byte(v >> 48), byte(v >> 40), byte(v >> 32), byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}

// benchCommitBacklog is the number of records in the ledger before BenchmarkCommit measures.
const benchCommitBacklog = 20_000

// fill commits n redemptions of random vouchers, 1,000 per transaction.
func fill(tb testing.TB, l *offline.Ledger, rng *rand.Rand, n int) {
	tb.Helper()
	for n > 0 {
		batch := make([]*terminal.Redemption, min(n, 1000))
		for i := range batch {
			batch[i] = redemption(rng.Uint64(), rng.Uint64(), noon)
		}
		if err := l.CommitMany(context.Background(), batch); err != nil {
			tb.Fatal(err)
		}
		n -= len(batch)
	}
}

// BenchmarkVerify audits a 5,000-record ledger (chain, hashes, signatures,
// bodies) and reports the audit rate.
func BenchmarkVerify(b *testing.B) {
	l, _ := MustOpen(b, func(o *offline.Options) { o.MaxSize = 0 })
	fill(b, l, rand.New(rand.NewPCG(5, 6)), 5000)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if a, err := l.Verify(ctx); err != nil || a.Records != 5000 {
			b.Fatal(a, err)
		}
	}
	b.ReportMetric(5000*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
