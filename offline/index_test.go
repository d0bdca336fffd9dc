package offline_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/voucherpos/voucherpos/offline"
	"github.com/voucherpos/voucherpos/terminal"
)

// The single-use index keeps the changes of the last records in a tail
// (at most VouchersFlush) that commits write into the vouchers bucket
// together; Open reads the tail back from the records. Either side of a
// flush, and after a reopen (which is what a crash leaves), a live voucher
// is refused and a returned one redeemable.
func TestIndex_VoucherTail(t *testing.T) {
	ctx := context.Background()
	l, path := MustOpen(t, func(o *offline.Options) { o.MaxSize = 0 })
	n := offline.VouchersFlush + offline.VouchersFlush/2 // one flush, then a tail
	sales := make([]*terminal.Redemption, n+1)
	for id := 1; id <= n; id++ {
		sales[id] = mustCommit(t, l, redemption(uint64(id), uint64(id), noon.Add(time.Duration(id)*time.Second)))
	}
	flushed, tail := sales[10], sales[n-10] // in the vouchers bucket; in the tail
	mustCommit(t, l, refund(flushed, true))
	mustCommit(t, l, refund(tail, true))
	check := func(when string, l *offline.Ledger) {
		t.Helper()
		for id := 1; id <= n; id++ {
			want := id != 10 && id != n-10
			if got := l.Redeemed(terminal.VoucherID(id)); got != want {
				t.Fatalf("%s: voucher %d live %v, want %v", when, id, got, want)
			}
		}
		for _, id := range []uint64{1, 11, uint64(n - 11), uint64(n)} {
			err := l.Commit(ctx, redemption(id, id, noon.Add(time.Hour)))
			if e := (*terminal.Error)(nil); !errors.As(err, &e) || e.Code != terminal.AlreadyRedeemed {
				t.Fatalf("%s: voucher %d again: got %v, want already_redeemed", when, id, err)
			}
		}
	}
	check("open", l)
	l = reopen(t, l, path)
	check("reopened", l)
	again := mustCommit(t, l, redemption(10, 10, noon.Add(time.Hour)))
	mustCommit(t, l, redemption(uint64(n-10), 1, noon.Add(time.Hour)))
	if err := l.Commit(ctx, refund(flushed, true)); !errors.Is(err, terminal.ErrRefund) {
		t.Fatalf("return of voucher 10 by its first sale again: got %v, want ErrRefund", err)
	}
	for id := n + 1; id <= 2*n; id++ { // more flushes after the reopen
		mustCommit(t, l, redemption(uint64(id), uint64(id), noon.Add(2*time.Hour)))
	}
	mustCommit(t, l, refund(again, true))
	l = reopen(t, l, path)
	for id := 1; id <= 2*n; id++ {
		if want := id != 10; l.Redeemed(terminal.VoucherID(id)) != want {
			t.Fatalf("second reopen: voucher %d live %v, want %v", id, !want, want)
		}
	}
	if a, err := l.Verify(ctx); err != nil || a.Records != uint64(2*n+5) {
		t.Fatalf("verify: %+v %v", a, err)
	}
}

// The days bucket keeps one key per run of records of a day, not one per
// record; DayEntries walks the runs, also when the clock went back to a
// day that already had records.
func TestIndex_DayRuns(t *testing.T) {
	ctx := context.Background()
	l, path := MustOpen(t)
	d1, d2, d3 := noon, noon.AddDate(0, 0, 1), noon.AddDate(0, 0, 2)
	var want [4][]uint64 // seqs by day: d1, d2, d3
	commit := func(l *offline.Ledger, d int, at time.Time) {
		r := mustCommit(t, l, redemption(uint64(len(want[0])+len(want[1])+len(want[2])+1), 1, at))
		want[d] = append(want[d], r.Seq)
	}
	for i := range 3 {
		commit(l, 0, d1.Add(time.Duration(i)*time.Minute))
	}
	commit(l, 1, d2)
	commit(l, 1, d2.Add(time.Minute))
	commit(l, 0, d1.Add(time.Hour)) // the clock set back a day
	commit(l, 2, d3)
	l = reopen(t, l, path)
	commit(l, 2, d3.Add(time.Minute)) // the run of the last record goes on after a reopen
	commit(l, 0, d1.Add(2*time.Hour))
	commit(l, 0, d1.Add(3*time.Hour))
	for i, d := range []time.Time{d1, d2, d3} {
		got, err := l.Day(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		var seqs []uint64
		for _, r := range got {
			seqs = append(seqs, r.Seq)
		}
		if !slices.Equal(seqs, want[i]) {
			t.Errorf("day %d: got seqs %v, want %v", i+1, seqs, want[i])
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if keys := countKeys(t, path, "days"); keys != 5 { // d1, d2, d1, d3, d1
		t.Errorf("days bucket: %d keys for 10 records in 5 runs, want 5", keys)
	}
}

// A file of the first format (every record in the vouchers and days
// buckets) opens, is upgraded in place and goes on.
func TestIndex_UpgradeV1(t *testing.T) {
	ctx := context.Background()
	l, path := MustOpen(t)
	r1 := mustCommit(t, l, redemption(1, 1, noon))
	mustCommit(t, l, redemption(2, 2, noon.Add(time.Minute)))
	mustCommit(t, l, refund(r1, true))
	mustCommit(t, l, redemption(3, 3, noon.AddDate(0, 0, 1)))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error { // as the first format wrote them
		meta, vouchers, days := tx.Bucket([]byte("meta")), tx.Bucket([]byte("vouchers")), tx.Bucket([]byte("days"))
		for _, kv := range [][2][]byte{{u64key(2), u64key(2)}, {u64key(3), u64key(4)}} {
			if err := vouchers.Put(kv[0], kv[1]); err != nil {
				return err
			}
		}
		for seq, d := range []string{"20221001", "20221001", "20221001", "20221002"} {
			if err := days.Put(append([]byte(d), u64key(uint64(seq+1))...), nil); err != nil {
				return err
			}
		}
		if err := meta.Delete([]byte("vouchers_seq")); err != nil {
			return err
		}
		return meta.Put([]byte("format"), []byte(offline.FormatV1))
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	l, err = offline.Open(path, options())
	if err != nil {
		t.Fatalf("open a file of %s: %v", offline.FormatV1, err)
	}
	t.Cleanup(func() { l.Close() })
	if l.Redeemed(1) || !l.Redeemed(2) || !l.Redeemed(3) {
		t.Fatalf("live vouchers: 1 %v 2 %v 3 %v, want false true true", l.Redeemed(1), l.Redeemed(2), l.Redeemed(3))
	}
	mustCommit(t, l, redemption(1, 1, noon.Add(time.Hour)))
	mustCommit(t, l, redemption(4, 4, noon.AddDate(0, 0, 1).Add(time.Hour)))
	l = reopen(t, l, path)
	if !l.Redeemed(1) || !l.Redeemed(4) {
		t.Fatal("the vouchers redeemed after the upgrade are not live after a reopen")
	}
	for d, want := range map[time.Time]int{noon: 4, noon.AddDate(0, 0, 1): 2} {
		if got, err := l.Day(ctx, d); err != nil || len(got) != want {
			t.Errorf("day %s: got %d records (%v), want %d", d.Format(time.DateOnly), len(got), err, want)
		}
	}
	if a, err := l.Verify(ctx); err != nil || a.Records != 6 {
		t.Fatalf("verify: %+v %v", a, err)
	}
}

// countKeys returns the number of keys in bucket of the closed file at path.
func countKeys(tb testing.TB, path, bucket string) int {
	tb.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	n := 0
	_ = db.View(func(tx *bolt.Tx) error { n = tx.Bucket([]byte(bucket)).Stats().KeyN; return nil })
	return n
}
