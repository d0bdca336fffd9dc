package boltstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/voucherpos/voucherpos/sync/boltstore"
	"github.com/voucherpos/voucherpos/sync/issuing"
	"github.com/voucherpos/voucherpos/terminal"
)

// TestIssuing_Indexes: the claims' indexes by holder and by key, kept in
// memory, find what was committed, in order, after a reopen too; a read
// transaction opened before a commit sees its snapshot without error; the
// index buckets of older files are removed at open.
func TestIssuing_Indexes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := openIn(t, dir)
	is, err := st.Issuing()
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := st.Issuing(); again != is {
		t.Fatal("Issuing returned a second store over the same file: its indexes would diverge")
	}
	add := func(holder terminal.HolderID, key string) uint64 {
		var seq uint64
		err := is.Update(ctx, func(tx issuing.Tx) error {
			var err error
			if seq, err = tx.NextClaimSeq(); err != nil {
				return err
			}
			return tx.AddClaim(&issuing.Claim{Seq: seq, Key: key, Voucher: terminal.Voucher{Holder: holder}})
		})
		if err != nil {
			t.Fatal(err)
		}
		return seq
	}
	a1, b1, a2 := add(1, "k-a1"), add(2, ""), add(1, "k-a2")

	add(1, "k-a3")

	check := func(when string) {
		t.Helper()
		err := is.View(ctx, func(tx issuing.Tx) error {
			cs, err := tx.HolderClaims(1)
			if err != nil {
				return err
			}
			var got []uint64
			for _, c := range cs {
				got = append(got, c.Seq)
			}
			if len(got) != 3 || got[0] != a1 || got[1] != a2 || got[2] != a2+1 {
				t.Errorf("%s: holder 1's claims %v, want %d %d %d", when, got, a1, a2, a2+1)
			}
			if cs, err := tx.HolderClaims(2); err != nil || len(cs) != 1 || cs[0].Seq != b1 {
				t.Errorf("%s: holder 2's claims %v %v", when, cs, err)
			}
			if c, ok, err := tx.ClaimByKey("k-a2"); !ok || err != nil || c.Seq != a2 {
				t.Errorf("%s: key k-a2: %v %v %v", when, c.Seq, ok, err)
			}
			if _, ok, err := tx.ClaimByKey("nope"); ok || err != nil {
				t.Errorf("%s: unknown key found: %v %v", when, ok, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	check("before reopen")

	// A failed transaction's claims leave the indexes again, and while it
	// runs a read transaction does not see them (its snapshot has none).
	failed := errors.New("failed on purpose")
	err = is.Update(ctx, func(tx issuing.Tx) error {
		for _, c := range []issuing.Claim{{Key: "k-f1", Voucher: terminal.Voucher{Holder: 4}}, {Key: "k-f2", Voucher: terminal.Voucher{Holder: 1}}} {
			var err error
			if c.Seq, err = tx.NextClaimSeq(); err != nil {
				return err
			}
			if err := tx.AddClaim(&c); err != nil {
				return err
			}
		}
		if c, ok, err := tx.ClaimByKey("k-f2"); !ok || err != nil || c.Voucher.Holder != 1 {
			t.Errorf("the writing transaction does not find its own claim: %v %v %v", c, ok, err)
		}
		check("while a transaction adds claims")
		return failed
	})
	if !errors.Is(err, failed) {
		t.Fatalf("update: %v", err)
	}
	check("after a failed transaction")
	err = is.View(ctx, func(tx issuing.Tx) error {
		if cs, err := tx.HolderClaims(4); len(cs) != 0 || err != nil {
			t.Errorf("holder 4 has %v %v, from a failed transaction", cs, err)
		}
		if _, ok, err := tx.ClaimByKey("k-f1"); ok || err != nil {
			t.Errorf("key k-f1 found: %v %v, from a failed transaction", ok, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	f1 := add(4, "k-f1") // the key and the seq are free again
	if f1 != a2+2 {
		t.Errorf("next claim seq %d, want %d", f1, a2+2)
	}
	err = is.View(ctx, func(tx issuing.Tx) error {
		if cs, err := tx.HolderClaims(4); len(cs) != 1 || err != nil || cs[0].Seq != f1 {
			t.Errorf("holder 4 has %v %v, want claim %d", cs, err, f1)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := is.Update(ctx, func(tx issuing.Tx) error {
		return tx.AddClaim(&issuing.Claim{Seq: 99, Key: "k-a1", Voucher: terminal.Voucher{Holder: 3}})
	}); err == nil {
		t.Error("a second claim with key k-a1 was stored")
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// An older file's index buckets go at open; the indexes are rebuilt.
	db, err := bolt.Open(dir+"/"+boltstore.File, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("claim_holders"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	st, err = boltstore.Open(dir, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if is, err = st.Issuing(); err != nil {
		t.Fatal(err)
	}
	check("after reopen")
	for _, p := range st.Check(ctx) {
		t.Error(p)
	}
}

// TestIssuing_ClaimPagesFilled: claims, appended in seq order a group at a
// time, fill the claims bucket's pages to ~90 % (bbolt's default split
// leaves every page of an append half empty, so each commit would write
// twice the pages).
func TestIssuing_ClaimPagesFilled(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := openIn(t, dir)
	is, err := st.Issuing()
	if err != nil {
		t.Fatal(err)
	}
	for g := range 20 {
		err := is.Update(ctx, func(tx issuing.Tx) error {
			for i := range 250 {
				seq, err := tx.NextClaimSeq()
				if err != nil {
					return err
				}
				c := issuing.Claim{Seq: seq, Key: fmt.Sprintf("k%d-%d", g, i), BodyHash: make([]byte, 32), RoundID: "1",
					Sig: make([]byte, 64), Voucher: terminal.Voucher{ID: terminal.VoucherID(seq), Holder: terminal.HolderID(seq)}}
				if err := tx.AddClaim(&c); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(dir+"/"+boltstore.File, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		s := tx.Bucket([]byte("claims")).Stats()
		fill := float64(s.LeafInuse) / float64(s.LeafAlloc)
		t.Logf("%d claims on %d leaf pages, %.0f %% full", s.KeyN, s.LeafPageN, 100*fill)
		if s.KeyN != 5000 || fill < 0.8 {
			t.Errorf("%d claims on %d leaf pages %.0f %% full, want 5000 and ≥ 80 %%", s.KeyN, s.LeafPageN, 100*fill)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
