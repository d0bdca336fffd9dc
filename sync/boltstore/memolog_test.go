package boltstore_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/voucherpos/voucherpos/sync/boltstore"
	"github.com/voucherpos/voucherpos/sync/hub"
)

// TestStore_MemoLog: the expiring memos (kept in memory and a log) and the
// others (kept in the memos bucket) read back as a model says, in a commit,
// through ScanMemos and EachMemo, and after the file is opened again: over
// random puts, deletes, puts after deletes, commits that fail, reopenings,
// rewrites of the log (its slack small), a commit's changes over several
// values of the log, and expiring memos an earlier version stored in the
// memos bucket, before and after this one wrote the log (the earlier
// version does not read the log: what it writes is the newer).
func TestStore_MemoLog(t *testing.T) {
	defer boltstore.SetMemoLogSlack(40)()
	defer boltstore.SetMemoLogPiece(100)() // a value of two or three memos
	ctx := context.Background()
	dir := t.TempDir()
	key := func(i int) string {
		if i%5 == 4 {
			return fmt.Sprintf("refunds/T1-%010d", i)
		}
		return fmt.Sprintf("%sM%d/%016X", hub.ExpiringMemoPrefix, i%3, uint64(i)*0x9E3779B97F4A7C15)
	}
	want := map[string]string{}
	// An earlier version's file: expiring memos in the memos bucket.
	s := openIn(t, dir)
	s.Close()
	putInBucket(t, dir, want, func(yield func(k, v string)) {
		for i := 0; i < 60; i += 3 {
			yield(key(i), fmt.Sprint("old", i))
		}
	})
	s = openIn(t, dir)
	defer func() { s.Close() }()

	check := func(when string) {
		t.Helper()
		keys := slices.Sorted(maps.Keys(want))
		err := s.Commit(ctx, &hub.Keys{Memos: keys}, func(tx hub.Tx) error {
			for i := range 80 {
				v, ok, err := tx.Memo(key(i))
				if w, stored := want[key(i)]; err != nil || ok != stored || string(v) != w {
					t.Fatalf("%s: memo %s: %q, %v, %v; want %q, %v", when, key(i), v, ok, err, w, stored)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		if err := s.EachMemo(ctx, func(k string, v []byte) error {
			if _, dup := got[k]; dup {
				t.Errorf("%s: EachMemo gave %s twice", when, k)
			}
			got[k] = string(v)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(got, want) {
			t.Fatalf("%s: EachMemo %v, want %v", when, got, want)
		}
		var walk []string
		after := ""
		for {
			n := 0
			if err := s.ScanMemos(ctx, hub.ExpiringMemoPrefix, after, 4, func(k string, v []byte) error {
				if string(v) != want[k] {
					t.Errorf("%s: ScanMemos %s → %q, want %q", when, k, v, want[k])
				}
				walk, after, n = append(walk, k), k, n+1
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if n < 4 {
				break
			}
		}
		var wantWalk []string
		for _, k := range keys {
			if strings.HasPrefix(k, hub.ExpiringMemoPrefix) {
				wantWalk = append(wantWalk, k)
			}
		}
		if !slices.Equal(walk, wantWalk) {
			t.Fatalf("%s: ScanMemos walked %v, want %v", when, walk, wantWalk)
		}
		if live, entries := boltstore.MemoLogLen(s); entries > 2*live+40 {
			t.Fatalf("%s: the log holds %d entries for %d live memos, past its slack", when, entries, live)
		}
	}

	check("an earlier version's memos")
	rng := rand.New(rand.NewPCG(7, 11))
	rewrites, last := 0, 0
	for c := range 120 {
		fail := rng.IntN(8) == 0
		next := maps.Clone(want)
		commitMaybeFailing(t, s, fail, func(tx hub.Tx) error {
			for range 1 + rng.IntN(12) {
				k := key(rng.IntN(80))
				var err error
				switch rng.IntN(3) {
				case 0:
					err = tx.DeleteMemo(k)
					delete(next, k)
				default:
					v := fmt.Sprint("c", c, "-", rng.IntN(1000))
					err = tx.PutMemo(k, []byte(v))
					next[k] = v
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
		if !fail {
			want = next
		}
		if _, entries := boltstore.MemoLogLen(s); entries >= 0 && entries < last {
			rewrites++
		} else if entries >= 0 {
			last = entries
		}
		check(fmt.Sprint("after commit ", c))
		if c%17 == 16 {
			s.Close()
			if c%34 == 33 { // an earlier version runs on the file meanwhile
				olderPuts(t, dir, rng, key, c, want)
			}
			s = openIn(t, dir)
			check(fmt.Sprint("reopened after commit ", c))
		}
	}
	if rewrites == 0 {
		t.Error("the log was never written again")
	}
	s.Close()
	c, err := boltstore.Open(dir, boltstore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, p := range c.Check(ctx) {
		t.Errorf("check: %v", p)
	}
	got := map[string]string{}
	if err := c.EachMemo(ctx, func(k string, v []byte) error { got[k] = string(v); return nil }); err != nil || !maps.Equal(got, want) {
		t.Fatalf("read-only: %v %v, want %v", err, got, want)
	}
}

// A damaged value of the log of expiring memos: the store does not open
// for writing (ErrDamaged, no panic), and Check of a read-only open names it.
func TestStore_MemoLogDamaged(t *testing.T) {
	dir := t.TempDir()
	s := openIn(t, dir)
	key := hub.ExpiringMemoPrefix + "M1/00000000000000A1"
	if err := s.Commit(context.Background(), &hub.Keys{Memos: []string{key}}, func(tx hub.Tx) error {
		return tx.PutMemo(key, []byte("v"))
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := bolt.Open(boltstore.Path(dir), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("memo_log"))
		k, v := b.Cursor().First()
		if k == nil {
			return errors.New("the memo is not in the log")
		}
		return b.Put(k, v[:len(v)-2]) // the value cut short
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if s, err := boltstore.Open(dir, boltstore.Options{}); !errors.Is(err, boltstore.ErrDamaged) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("open: %v, want ErrDamaged", err)
	}
	c, err := boltstore.Open(dir, boltstore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	problems := c.Check(context.Background())
	if len(problems) != 1 || !errors.Is(problems[0], boltstore.ErrDamaged) {
		t.Fatalf("check: %v, want the memo log damaged", problems)
	}
}

// putInBucket puts memos straight into the memos bucket of the file in
// dir, as a version before the log of expiring memos did, and notes them
// in want.
func putInBucket(t *testing.T, dir string, want map[string]string, memos func(yield func(k, v string))) {
	t.Helper()
	db, err := bolt.Open(boltstore.Path(dir), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		var err error
		memos(func(k, v string) {
			if err == nil {
				want[k] = v
				err = tx.Bucket([]byte("memos")).Put([]byte(k), []byte(v))
			}
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// olderPuts has an earlier version put a few memos, some of them in the
// log already.
func olderPuts(t *testing.T, dir string, rng *rand.Rand, key func(int) string, c int, want map[string]string) {
	putInBucket(t, dir, want, func(yield func(k, v string)) {
		for range 6 {
			yield(key(rng.IntN(80)), fmt.Sprint("older", c, "-", rng.IntN(1000)))
		}
	})
}
