package client_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/voucherpos/voucherpos/offline"
	"github.com/voucherpos/voucherpos/sync/boltstore"
	"github.com/voucherpos/voucherpos/sync/client"
	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/pgstore/pgtest"
	"github.com/voucherpos/voucherpos/sync/wire"
	"github.com/voucherpos/voucherpos/terminal"
)

// BenchmarkDrain is the acceptance benchmark: a backlog of 100,000 queued
// redemptions in a real offline ledger drains over a loopback websocket to
// a real hub whose ledger fsyncs every group commit (no NoSync anywhere).
// Beside it, in the same run, a bare bbolt baseline puts 300-byte values
// in transactions of the same batch size, with fsync; and a second puts the
// drain's own rows (bareRowPuts: the ledger's records, about 900 bytes, under
// the hub's record keys, with the hub's page size) the same way.
//
//	records/s         redemptions acknowledged per second, connect to last ack
//	bbolt-puts/s      the bare batched-put rate (300-byte values)
//	x-bare            records/s ÷ bbolt-puts/s
//	bbolt-row-puts/s  the bare batched-put rate of the drain's own rows
//	x-bare-rows       records/s ÷ bbolt-row-puts/s
//	cpu-us/rec     CPU of this process (the terminal's client and ledger, the
//	               hub's reader and committer) per record drained
func BenchmarkDrain(b *testing.B) {
	const (
		backlog = 100_000
		batch   = 1000
	)
	var drained, bare, bareRows, cpu time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s := mustServer(b, hub.Options{Logf: func(string, ...any) {}})
		cred := s.merchant("M1", "T1")[0]
		liftOfflineLimit(b, s.hub)
		codes := s.mint(backlog)
		led := openLedger(b, cred)
		firstSync(b, s.url(), cred, led)
		commitSales(b, led, codes, batch)
		bare += bareBatchedPuts(b, backlog, batch)
		bareRows += bareRowPuts(b, led, cred.TerminalID, backlog, batch)
		c := client.New(client.Options{URL: s.url(), Credential: cred, Outbox: led, State: led,
			BatchSize: batch, Logf: func(string, ...any) {}})
		stopProfile := pgtest.CPUProfile(b, "DRAIN_CPUPROFILE", strconv.Itoa(i)) // the drain alone
		cpu0 := pgtest.ProcessCPU()
		b.StartTimer()
		t0 := time.Now()
		if err := c.Open(); err != nil {
			b.Fatal(err)
		}
		for led.Watermark() < backlog {
			time.Sleep(2 * time.Millisecond)
		}
		drained += time.Since(t0)
		b.StopTimer()
		cpu += pgtest.ProcessCPU() - cpu0
		stopProfile()
		_ = c.Close()
		_ = led.Close()
		s.stop()
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*backlog), "cpu-us/rec")
	rate := float64(b.N*backlog) / drained.Seconds()
	bareRate := float64(b.N*backlog) / bare.Seconds()
	b.ReportMetric(rate, "records/s")
	b.ReportMetric(bareRate, "bbolt-puts/s")
	b.ReportMetric(rate/bareRate, "x-bare")
	rowRate := float64(b.N*backlog) / bareRows.Seconds()
	b.ReportMetric(rowRate, "bbolt-row-puts/s")
	b.ReportMetric(rate/rowRate, "x-bare-rows")
}

// bareBatchedPuts puts n 300-byte values under 8-byte sequential keys into
// a fresh bbolt file, batch per transaction (one fsync each), and returns the time.
func bareBatchedPuts(b *testing.B, n, batch int) time.Duration {
	val := bytes.Repeat([]byte{'v'}, 300)
	return barePuts(b, nil, n, batch, func(k int) ([]byte, []byte) {
		return binary.BigEndian.AppendUint64(nil, uint64(k)), val
	})
}

// bareRowPuts puts the drain's own rows, the n records of the ledger led
// as the terminal holds them (previous hash, hash, signature, body: about
// 900 bytes), under the key the hub keeps a record under (terminal id, 0,
// sequence), into a fresh bbolt file with the hub's page size, batch per
// transaction (one fsync each), and returns the time. The records are read
// out of the ledger before the clock starts.
func bareRowPuts(b *testing.B, led *offline.Ledger, term string, n, batch int) time.Duration {
	recs, err := led.Pending(context.Background(), 0, n)
	if err != nil || len(recs) != n {
		b.Fatalf("%d records read of %d: %v", len(recs), n, err)
	}
	return barePuts(b, &bolt.Options{PageSize: boltstore.PageSize}, n, batch, func(k int) ([]byte, []byte) {
		r := &recs[k]
		key := binary.BigEndian.AppendUint64(append([]byte(term), 0), r.Seq)
		val := make([]byte, 0, 64+len(r.Sig)+len(r.Body))
		val = append(append(append(val, r.Prev[:]...), r.Hash[:]...), r.Sig...)
		return key, append(val, r.Body...)
	})
}

// barePuts puts the n keys and values kv gives into a fresh bbolt file
// opened with opts, batch per transaction, and returns the time.
func barePuts(b *testing.B, opts *bolt.Options, n, batch int, kv func(k int) (key, val []byte)) time.Duration {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "bare.db"), 0o600, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	t0 := time.Now()
	for j := 0; j < n; j += batch {
		err := db.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			for k := j; k < min(j+batch, n); k++ {
				if err := bk.Put(kv(k)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(t0)
}

// BenchmarkClaim measures an online claim round trip (client → hub → durable
// hold, fsync → answer) on loopback, beside one bare bbolt Update (a 300-byte
// put with fsync) measured in the same loop.
//
//	x-bare-update   claim time ÷ bare Update time
func BenchmarkClaim(b *testing.B) {
	s := mustServer(b, hub.Options{Logf: func(string, ...any) {}})
	cred := s.merchant("M1", "T1")[0]
	codes := s.mint(1000)
	l := mustLane(b, cred, s.url(), client.Options{Logf: func(string, ...any) {}})
	waitOnline(b, l)
	db, err := bolt.Open(filepath.Join(b.TempDir(), "bare.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	val := bytes.Repeat([]byte{'v'}, 300)
	ids := make([]terminal.VoucherID, len(codes))
	for i, c := range codes {
		v, _ := terminal.ParseCode(c)
		ids[i] = v.ID
	}
	ctx := context.Background()
	var bare time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		t0 := time.Now()
		if err := db.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			return bk.Put(binary.BigEndian.AppendUint64(nil, uint64(i)), val)
		}); err != nil {
			b.Fatal(err)
		}
		bare += time.Since(t0)
		k := i % len(codes)
		b.StartTimer()
		if err := l.client.Claim(ctx, ids[k], codes[k]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(bare.Nanoseconds())/float64(b.N), "bare-ns/op")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(bare.Nanoseconds()), "x-bare-update")
}

// liftOfflineLimit raises the offline allowance so that a backlog of a
// hundred thousand offline sales is within the rules: the drain benchmarks
// measure storing records, not the review's rule breaks (each of which the
// terminal records in its own transaction).
func liftOfflineLimit(b *testing.B, h *hub.Hub) {
	p := terminal.Params{OfflineLimitFen: terminal.Yuan(100_000_000)}
	if err := h.SetParams(context.Background(), p); err != nil {
		b.Fatal(err)
	}
}

// openLedger opens a terminal's real offline ledger for cred in a fresh
// directory, large enough for the benchmarks' backlogs.
func openLedger(b *testing.B, cred wire.Credential) *offline.Ledger {
	led, err := offline.Open(filepath.Join(b.TempDir(), "terminal.db"), offline.Options{
		TerminalID: cred.TerminalID, MerchantID: cred.MerchantID, Key: cred.PrivateKey(), MaxSize: 8 << 30})
	if err != nil {
		b.Fatal(err)
	}
	return led
}

// commitSales commits a sale of each code to led, batch to a transaction.
func commitSales(b *testing.B, led *offline.Ledger, codes []string, batch int) {
	for j := 0; j < len(codes); j += batch {
		recs := make([]*terminal.Redemption, 0, batch)
		for _, c := range codes[j:min(j+batch, len(codes))] {
			recs = append(recs, sale(b, c))
		}
		if err := led.CommitMany(context.Background(), recs); err != nil {
			b.Fatal(err)
		}
	}
}

// firstSync connects the terminal once, as a till does before it takes
// vouchers offline (the server reviews records made before any sync as
// over the offline limit).
func firstSync(b *testing.B, url string, cred wire.Credential, led *offline.Ledger) {
	c := client.New(client.Options{URL: url, Credential: cred, Outbox: led, State: led, Logf: func(string, ...any) {}})
	if err := c.Open(); err != nil {
		b.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); !c.Status().Online; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("first sync: never online")
		}
	}
	_ = c.Close()
}
