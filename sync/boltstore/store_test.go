package boltstore_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/voucherpos/voucherpos/sync/boltstore"
	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/hub/storetest"
	"github.com/voucherpos/voucherpos/terminal"
)

// MustOpen opens a store in a temporary directory; at cleanup the file
// must pass Check.
func MustOpen(tb testing.TB) *boltstore.Store {
	tb.Helper()
	dir := tb.TempDir()
	s, err := boltstore.Open(dir, boltstore.Options{Create: true})
	if err != nil {
		tb.Fatal(err)
	}
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

func TestStore_Contract(t *testing.T) {
	storetest.Run(t, func(tb testing.TB) hub.Store { return MustOpen(tb) })
}

// MintedCodes reads the codes of minted vouchers and "" for the others,
// in the order asked.
func TestStore_MintedCodes(t *testing.T) {
	s := MustOpen(t)
	t.Cleanup(func() { s.Close() }) // before MustOpen's check
	ctx := context.Background()
	if err := s.AddMinted(ctx, []hub.Minted{{ID: 9, Code: "nine"}, {ID: 3, Code: "three"}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.MintedCodes(ctx, []terminal.VoucherID{3, 4, 9, 3, 0})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"three", "", "nine", "three", ""}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// PutRecord refuses a stored (terminal, sequence) whatever the order of
// the puts in a group: the range of free keys it learns from one lookup
// ends at the next stored key and never covers a key it put.
func TestStore_PutRecordExists(t *testing.T) {
	// Not MustOpen: these records are no chain for its check.
	s, err := boltstore.Open(t.TempDir(), boltstore.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
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
	err = s.Commit(ctx, &hub.Keys{}, func(tx hub.Tx) error {
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
