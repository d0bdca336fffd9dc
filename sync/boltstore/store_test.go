package boltstore_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/voucherpos/voucherpos/sync/boltstore"
	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/hub/storetest"
	"github.com/voucherpos/voucherpos/sync/issuing"
	"github.com/voucherpos/voucherpos/terminal"
)

// MustOpen opens a store in a temporary directory; at cleanup the file
// must pass Check.
func MustOpen(tb testing.TB) *boltstore.Store {
	tb.Helper()
	dir := tb.TempDir()
	s := openIn(tb, dir)
	tb.Cleanup(func() {
		c, err := boltstore.Open(dir, boltstore.Options{ReadOnly: true})
		if err != nil {
			tb.Errorf("reopen for check: %v", err)
			return
		}
		defer c.Close()
		for _, p := range c.Check(context.Background()) {
			tb.Errorf("check: %v", p)
		}
	})
	return s
}

// openIn opens (creating it if missing) the store in dir.
func openIn(tb testing.TB, dir string) *boltstore.Store {
	tb.Helper()
	s, err := boltstore.Open(dir, boltstore.Options{Create: true})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestStore_Contract(t *testing.T) {
	storetest.Run(t, func(tb testing.TB) hub.Store { return MustOpen(tb) })
}

// MintedCodes reads the codes of minted vouchers and "" for the others,
// in the order asked, whatever codes held before: a code equal to the
// minted one stays, any other is replaced.
func TestStore_MintedCodes(t *testing.T) {
	s := MustOpen(t)
	t.Cleanup(func() { s.Close() }) // before MustOpen's check
	ctx := context.Background()
	if err := s.AddMinted(ctx, []hub.Minted{{ID: 9, Code: "nine"}, {ID: 3, Code: "three"}}); err != nil {
		t.Fatal(err)
	}
	got := []string{"three", "four", "", "other", ""}
	if err := s.MintedCodes(ctx, []terminal.VoucherID{3, 4, 9, 3, 0}, got); err != nil {
		t.Fatal(err)
	}
	if want := []string{"three", "", "nine", "three", ""}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if err := s.MintedCodes(ctx, []terminal.VoucherID{3}, nil); err == nil {
		t.Error("no error for fewer codes than vouchers")
	}
}

// PutRecord refuses a stored (terminal, sequence) whatever the order of
// the puts in a group: the range of free keys it learns from one lookup
// ends at the next stored key and never covers a key it put.
func TestStore_PutRecordExists(t *testing.T) {
	// Not MustOpen: these records are no chain for its check.
	s := openIn(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	put := func(tx hub.Tx, term string, seq uint64) error {
		return tx.PutRecord(&hub.StoredRecord{TerminalID: term, Seq: seq, MerchantID: "M1", At: time.Unix(0, 0),
			Body: []byte("{}"), Result: "accepted"})
	}
	if err := s.Commit(ctx, &hub.Keys{}, func(tx hub.Tx) error { return put(tx, "T1", 4) }); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		term   string
		seq    uint64
		exists bool
	}{
		{"T1", 1, false}, {"T1", 2, false}, {"T1", 2, true}, {"T1", 3, false}, {"T1", 4, true},
		{"T1", 1, true}, {"T1", 6, false}, {"T1", 5, false}, {"T1", 5, true}, {"T0", 9, false}, {"T2", 1, false}, {"T1", 7, false},
	}
	err := s.Commit(ctx, &hub.Keys{}, func(tx hub.Tx) error {
		for _, st := range steps {
			err := put(tx, st.term, st.seq)
			if got := errors.Is(err, hub.ErrExists); got != st.exists || err != nil && !got {
				t.Errorf("put %s %d: %v, want exists %v", st.term, st.seq, err, st.exists)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkStore_Drain: 100,000 records through the store in group commits
// of 8,000 (the hub's GroupMax), fsync on, beside bare bbolt puts of
// 300-byte values in transactions of 1,000 measured in the same run.
//
//	records/s     records committed through the store per second
//	bare-puts/s   the bare batched-put rate
//	x-bare        records/s ÷ bare-puts/s
func BenchmarkStore_Drain(b *testing.B) {
	const n = 100_000
	var store, bare time.Duration
	for i := 0; i < b.N; i++ {
		s, err := boltstore.Open(b.TempDir(), boltstore.Options{Create: true})
		if err != nil {
			b.Fatal(err)
		}
		store += storetest.Drain(b, s, n, 8000)
		s.Close()
		bare += barePuts(b, n, 1000)
	}
	b.ReportMetric(float64(b.N*n)/store.Seconds(), "records/s")
	b.ReportMetric(float64(b.N*n)/bare.Seconds(), "bare-puts/s")
	b.ReportMetric(bare.Seconds()/store.Seconds(), "x-bare")
}

func barePuts(b *testing.B, n, batch int) time.Duration {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "bare.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	val := bytes.Repeat([]byte{'v'}, 300)
	t0 := time.Now()
	for j := 0; j < n; j += batch {
		err := db.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			for k := j; k < min(j+batch, n); k++ {
				if err := bk.Put(binary.BigEndian.AppendUint64(nil, uint64(k)), val); err != nil {
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

// The day index keeps a run of one chain's consecutive records of a day
// under its first record's key, extended across group commits, and still
// reads the one key per record that earlier versions wrote.
func TestStore_DayIndexRuns(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	open := func() *boltstore.Store { return openIn(t, dir) }
	day := time.Date(2022, 10, 1, 0, 0, 0, 0, terminal.Zone)
	next := day.Add(24 * time.Hour)
	type put struct {
		term string
		seq  uint64
		at   time.Time
	}
	commit := func(s *boltstore.Store, puts ...put) {
		t.Helper()
		err := s.Commit(ctx, &hub.Keys{}, func(tx hub.Tx) error {
			for _, p := range puts {
				if err := tx.PutRecord(&hub.StoredRecord{TerminalID: p.term, Seq: p.seq, MerchantID: "M1", At: p.at,
					Kind: terminal.KindRedemption, Body: []byte("{}"), Result: terminal.Accepted}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	ids := func(s *boltstore.Store, d time.Time) []string {
		t.Helper()
		var got []string
		if err := s.DayRecords(ctx, d, "", func(r *hub.StoredRecord) error { got = append(got, r.ID()); return nil }); err != nil {
			t.Fatal(err)
		}
		return got
	}
	rk := func(term string, seq uint64) []byte {
		return binary.BigEndian.AppendUint64(append([]byte(term), 0), seq)
	}
	dk := func(d time.Time, term string, seq uint64) string { return d.Format("20060102") + string(rk(term, seq)) }

	s := open()
	commit(s, put{"T1", 1, day.Add(10 * time.Hour)}, put{"T1", 2, day.Add(11 * time.Hour)}, put{"T2", 1, day.Add(12 * time.Hour)})
	s.Close()
	// The day index as earlier versions wrote it: one key per record, no value.
	db, err := bolt.Open(boltstore.Path(dir), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket([]byte("days")); err != nil {
			return err
		}
		b, err := tx.CreateBucket([]byte("days"))
		if err != nil {
			return err
		}
		for _, k := range []string{dk(day, "T1", 1), dk(day, "T1", 2), dk(day, "T2", 1)} {
			if err := b.Put([]byte(k), nil); err != nil {
				return err
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	s = open()
	if got, want := ids(s, day), []string{"T1-0000000001", "T1-0000000002", "T2-0000000001"}; !slices.Equal(got, want) {
		t.Fatalf("old index: day records %v, want %v", got, want)
	}
	commit(s, put{"T1", 3, day.Add(23 * time.Hour)}, put{"T1", 4, next.Add(time.Hour)}, put{"T2", 2, day.Add(13 * time.Hour)})
	commit(s, put{"T2", 3, day.Add(14 * time.Hour)}, put{"T1", 5, next.Add(2 * time.Hour)})
	if got, want := ids(s, day), []string{"T1-0000000001", "T1-0000000002", "T1-0000000003",
		"T2-0000000001", "T2-0000000002", "T2-0000000003"}; !slices.Equal(got, want) {
		t.Errorf("day records %v, want %v", got, want)
	}
	if got, want := ids(s, next), []string{"T1-0000000004", "T1-0000000005"}; !slices.Equal(got, want) {
		t.Errorf("next day's records %v, want %v", got, want)
	}
	s.Close()

	db, err = bolt.Open(boltstore.Path(dir), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]string{}
	err = db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("days")).ForEach(func(k, v []byte) error { stored[string(k)] = string(v); return nil })
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	u := func(seq uint64) string { return string(binary.BigEndian.AppendUint64(nil, seq)) }
	want := map[string]string{dk(day, "T1", 1): "", dk(day, "T1", 2): "", dk(day, "T2", 1): "",
		dk(day, "T1", 3): u(3), dk(next, "T1", 4): u(5), dk(day, "T2", 2): u(3)}
	if len(stored) != len(want) {
		t.Errorf("day index has %d keys, want %d", len(stored), len(want))
	}
	for k, v := range want {
		if got, ok := stored[k]; !ok || got != v {
			t.Errorf("day index %q → %x (stored %v), want %x", k, got, ok, v)
		}
	}

	// A run naming records that are not there is damage, not a panic.
	db, err = bolt.Open(boltstore.Path(dir), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("days")).Put([]byte(dk(day, "T3", 1)), []byte(u(2))) })
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s = open()
	defer s.Close()
	if err := s.DayRecords(ctx, day, "", func(*hub.StoredRecord) error { return nil }); !errors.Is(err, boltstore.ErrDamaged) {
		t.Errorf("day index naming missing records: %v, want ErrDamaged", err)
	}
}

// The voucher filter never hides a live redemption: random redemptions and
// refunds over a few hundred vouchers, some in commits that fail, through
// filters small enough to be rebuilt larger many times and a reopen, give
// what a map of the committed redemptions gives.
// TestStore_VoucherIndex checks the voucher index (its Bloom filter, its
// log and the log's moves into the index) against a map of the live
// redemptions: random redemptions and refunds, a fifth of the commits
// failing, the store reopened mid-way; the log is moved into the index
// never (its default size) or every few commits.
func TestStore_VoucherIndex(t *testing.T) {
	defer boltstore.SetFilterMinBits(64)()
	for _, logMax := range []int{0, 7, 60} {
		t.Run(fmt.Sprintf("log%d", logMax), func(t *testing.T) {
			if logMax > 0 {
				defer boltstore.SetVoucherLogMax(logMax)()
			}
			s := testVoucherIndex(t)
			if logMax == 0 {
				return
			}
			// Commits with nothing to write move the log's ranges in turn
			// until it is below its size.
			for i := 0; i <= 8; i++ {
				if err := s.Commit(context.Background(), &hub.Keys{}, func(hub.Tx) error { return nil }); err != nil {
					t.Fatal(err)
				}
			}
			if n := boltstore.VoucherLogLen(s); n < 0 || n >= logMax {
				t.Fatalf("the log holds %d redemptions after 9 commits, want under %d", n, logMax)
			}
		})
	}
}

func testVoucherIndex(t *testing.T) *boltstore.Store {
	dir := t.TempDir()
	open := func() *boltstore.Store { return openIn(t, dir) }
	s := open()
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 11))
	live := map[terminal.VoucherID]string{} // committed
	boom := errors.New("boom")
	for c := 0; c < 200; c++ {
		if c == 120 {
			s.Close()
			s = open()
		}
		fail := rng.IntN(5) == 0
		next := maps.Clone(live)
		err := s.Commit(ctx, &hub.Keys{}, func(tx hub.Tx) error {
			for i := rng.IntN(40); i >= 0; i-- {
				v := terminal.VoucherID(rng.Uint64N(300) * 0x9E3779B97F4A7C15)
				id, ok, err := tx.Redeemed(v)
				if err != nil {
					return err
				}
				if want, wantOK := next[v]; ok != wantOK || id != want {
					return fmt.Errorf("commit %d: voucher %x redeemed by %q %v, want %q %v", c, uint64(v), id, ok, want, wantOK)
				}
				if ok {
					if rng.IntN(2) == 0 {
						if err := tx.ClearRedeemed(v); err != nil {
							return err
						}
						delete(next, v)
					}
					continue
				}
				id = terminal.RecordID("T1", uint64(c*100+i+1))
				if err := tx.SetRedeemed(v, id); err != nil {
					return err
				}
				next[v] = id
			}
			if fail {
				return boom
			}
			return nil
		})
		switch {
		case fail && !errors.Is(err, boom):
			t.Fatalf("commit %d: %v, want boom", c, err)
		case !fail && err != nil:
			t.Fatal(err)
		case !fail:
			live = next
		}
		checkReaders(t, s, live)
	}
	if len(live) < 100 {
		t.Fatalf("only %d live redemptions: the test exercises too little", len(live))
	}
	for pass := 0; pass < 2; pass++ {
		checkReaders(t, s, live)
		s.Close()
		s = open()
	}
	return s
}

// checkReaders compares what the readers outside commits see with the
// live redemptions: the export for voucherd migrate, in voucher order, and
// the issuing side's status of a voucher.
func checkReaders(t *testing.T, s *boltstore.Store, live map[terminal.VoucherID]string) {
	t.Helper()
	ctx := context.Background()
	got := map[terminal.VoucherID]string{}
	var prev terminal.VoucherID
	err := s.EachRedemption(ctx, func(v terminal.VoucherID, id string) error {
		if len(got) > 0 && v <= prev {
			return fmt.Errorf("voucher %x after %x", uint64(v), uint64(prev))
		}
		got[v], prev = id, v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, live) {
		t.Fatalf("EachRedemption gives %d live redemptions, want %d", len(got), len(live))
	}
	is, err := s.Issuing()
	if err != nil {
		t.Fatal(err)
	}
	err = is.View(ctx, func(tx issuing.Tx) error {
		for i := uint64(0); i < 300; i++ {
			v := terminal.VoucherID(i * 0x9E3779B97F4A7C15)
			got, err := tx.Redeemed(v)
			if err != nil {
				return err
			}
			if _, want := live[v]; got != want {
				return fmt.Errorf("voucher %x redeemed %v, want %v", uint64(v), got, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("issuing: %v", err)
	}
}

// A new file has pages of 16 KiB; a file made with 4 KiB pages (by an
// earlier version) keeps them, and the store reads and writes it as before.
func TestStore_PageSize(t *testing.T) {
	ctx := context.Background()
	day := time.Date(2022, 10, 1, 9, 0, 0, 0, terminal.Zone)
	pageSize := func(dir string) int {
		t.Helper()
		db, err := bolt.Open(boltstore.Path(dir), 0o600, &bolt.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		return db.Info().PageSize
	}
	// use commits 3,000 redemptions of 300-byte records (many pages of either
	// size, the voucher log moved into the index), reopens the store and
	// reads them all back; the file must pass Check.
	use := func(dir string) {
		t.Helper()
		s := openIn(t, dir)
		body := bytes.Repeat([]byte{'v'}, 300)
		vid := func(seq uint64) terminal.VoucherID { return terminal.VoucherID(seq * 0x9E3779B97F4A7C15) }
		var prev [32]byte
		for c := uint64(0); c < 30; c++ {
			err := s.Commit(ctx, &hub.Keys{}, func(tx hub.Tx) error {
				for seq := c*100 + 1; seq <= c*100+100; seq++ {
					prev = terminal.ChainHash(prev, seq, body)
					r := &hub.StoredRecord{TerminalID: "T1", Seq: seq, MerchantID: "M1", At: day, Kind: terminal.KindRedemption,
						Voucher: vid(seq), Body: body, Result: terminal.Accepted, Hash: prev}
					if err := tx.PutRecord(r); err != nil {
						return err
					}
					if err := tx.SetRedeemed(r.Voucher, r.ID()); err != nil {
						return err
					}
				}
				return tx.SetHead("T1", hub.Head{Seq: c*100 + 100, Hash: prev})
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		s.Close()
		s = openIn(t, dir)
		defer s.Close()
		n := 0
		err := s.DayRecords(ctx, day, "", func(r *hub.StoredRecord) error {
			n++
			if !bytes.Equal(r.Body, body) {
				return fmt.Errorf("record %s: body %q", r.ID(), r.Body)
			}
			return nil
		})
		if err != nil || n != 3000 {
			t.Fatalf("day records: %d, %v; want 3000", n, err)
		}
		err = s.Commit(ctx, &hub.Keys{}, func(tx hub.Tx) error {
			for seq := uint64(1); seq <= 3000; seq++ {
				id, ok, err := tx.Redeemed(vid(seq))
				if want := terminal.RecordID("T1", seq); err != nil || !ok || id != want {
					return fmt.Errorf("voucher %d redeemed by %q %v %v, want %q", seq, id, ok, err, want)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range s.Check(ctx) {
			t.Errorf("check: %v", p)
		}
	}

	dir := t.TempDir()
	use(dir)
	if got := pageSize(dir); got != 16<<10 {
		t.Errorf("new file: page size %d, want 16384", got)
	}

	old := t.TempDir()
	db, err := bolt.Open(boltstore.Path(old), 0o600, &bolt.Options{PageSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	use(old)
	if got := pageSize(old); got != 4096 {
		t.Errorf("file made with 4 KiB pages: page size %d after use, want 4096", got)
	}
}

// TestStore_RecordsOutliveTheirCommit: a commit's keys and values come from
// memory the next commit uses again (the store's slab). Records of many
// commits, a failed one among them, and a record larger than a chunk
// read back as put, in their commit and after the later ones.
func TestStore_RecordsOutliveTheirCommit(t *testing.T) {
	s := openIn(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	at := time.Date(2022, 10, 1, 12, 0, 0, 0, terminal.Zone)
	stored := func(seq uint64) *hub.StoredRecord {
		size := 700 + int(seq%300)
		if seq == 1500 {
			size = 1 << 20 // more than a chunk of the slab
		}
		return &hub.StoredRecord{TerminalID: "T1", Seq: seq, MerchantID: "M1", At: at, Kind: terminal.KindRedemption,
			Voucher: terminal.VoucherID(seq), Sig: bytes.Repeat([]byte{byte(seq)}, 64), Result: terminal.Accepted,
			Body: bytes.Repeat([]byte{'a' + byte(seq%26)}, size)}
	}
	check := func(get func(seq uint64) (hub.StoredRecord, bool, error), upto uint64) {
		t.Helper()
		for seq := uint64(1); seq <= upto; seq++ {
			got, ok, err := get(seq)
			want := stored(seq)
			if err != nil || !ok || !bytes.Equal(got.Body, want.Body) || !bytes.Equal(got.Sig, want.Sig) || got.Voucher != want.Voucher {
				t.Fatalf("record %d: ok %v, err %v, body %d bytes, want %d", seq, ok, err, len(got.Body), len(want.Body))
			}
		}
	}
	var seq uint64
	for c := 0; c < 6; c++ {
		fail := c == 3
		err := s.Commit(ctx, &hub.Keys{}, func(tx hub.Tx) error {
			n := seq
			for range 1000 {
				n++
				if err := tx.PutRecord(stored(n)); err != nil {
					return err
				}
			}
			check(func(q uint64) (hub.StoredRecord, bool, error) { return tx.Record("T1", q) }, n)
			if fail {
				return errors.New("rolled back")
			}
			seq = n
			return nil
		})
		if (err != nil) != fail {
			t.Fatalf("commit %d: %v", c, err)
		}
		check(func(q uint64) (hub.StoredRecord, bool, error) { return s.Record(ctx, "T1", q) }, seq)
	}
	if _, ok, _ := s.Record(ctx, "T1", seq+1); ok {
		t.Fatal("a record of the failed commit is stored")
	}
}

// TestStore_MemoFilter: the memos' Bloom filter never hides a memo. Memos
// put in commits (a failed one among them) with the filter at its
// smallest, so that it fills and is rebuilt, then read in a commit and
// after the store is opened again; keys never put stay absent.
func TestStore_MemoFilter(t *testing.T) {
	defer boltstore.SetFilterMinBits(64)()
	dir := t.TempDir()
	ctx := context.Background()
	s := openIn(t, dir)
	want := map[string]string{}
	// Memos that are not expiring (hub.ExpiringMemoPrefix): those are kept
	// in the log of expiring memos, not in the bucket the filter is for.
	key := func(i int) string { return fmt.Sprintf("refunds/T1-%010d", i*7919) }
	check := func(s *boltstore.Store) {
		t.Helper()
		err := s.Commit(ctx, &hub.Keys{}, func(tx hub.Tx) error {
			for i := range 400 {
				v, ok, err := tx.Memo(key(i))
				if w, stored := want[key(i)]; err != nil || ok != stored || string(v) != w {
					t.Fatalf("memo %s: %q, %v, %v; want %q, %v", key(i), v, ok, err, w, stored)
				}
			}
			return errors.New("only read")
		})
		if err == nil {
			t.Fatal("a commit that fails returned no error")
		}
	}
	for c := range 6 {
		fail := c == 2
		commitMaybeFailing(t, s, fail, func(tx hub.Tx) error {
			for i := c * 50; i < c*50+50; i++ {
				if err := tx.PutMemo(key(i), []byte(fmt.Sprint("v", i))); err != nil {
					return err
				}
			}
			return nil
		})
		if !fail {
			for i := c * 50; i < c*50+50; i++ {
				want[key(i)] = fmt.Sprint("v", i)
			}
		}
		check(s)
		if c == 3 {
			s.Close()
			s = openIn(t, dir)
			check(s)
		}
	}
	s.Close()
}

// commitMaybeFailing commits fn, or with fail has the commit fail after
// fn (rolled back); either must come out so.
func commitMaybeFailing(t *testing.T, s *boltstore.Store, fail bool, fn func(hub.Tx) error) {
	t.Helper()
	err := s.Commit(context.Background(), &hub.Keys{}, func(tx hub.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		if fail {
			return errors.New("rolled back")
		}
		return nil
	})
	if (err != nil) != fail {
		t.Fatalf("commit (to fail: %v): %v", fail, err)
	}
}
