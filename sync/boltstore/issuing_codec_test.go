package boltstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/voucherpos/voucherpos/sync/issuing"
	"github.com/voucherpos/voucherpos/terminal"
)

func fullClaim(seq uint64, key string, holder terminal.HolderID) issuing.Claim {
	at := time.Date(2022, 3, 1, 10, 0, 0, 123456789, terminal.Zone)
	return issuing.Claim{Seq: seq, Key: key, BodyHash: bytes.Repeat([]byte{0xab}, 32), RoundID: "2022-r1", Drop: 7,
		KeyID: 0xdeadbeef, At: at, Status: terminal.StatusClaimed, Sig: bytes.Repeat([]byte{0x5a}, 64),
		Voucher: terminal.Voucher{Version: 1, KeyID: 0xdeadbeef, ID: 0x0123456789abcdef, Holder: holder,
			Category: terminal.Retail, SpendFen: 20000, OffFen: 5000, ValidFrom: at,
			ValidUntil: time.Date(2022, 3, 1, 23, 59, 59, 0, time.UTC), Region: 140521, Campaign: 202202, Round: 1}}
}

// sameClaim reports whether two claims have the same fields, times compared
// as instants (a stored time comes back in UTC+8, or as JSON wrote it).
func sameClaim(a, b issuing.Claim) bool {
	times := func(c *issuing.Claim) []time.Time {
		ts := []time.Time{c.At, c.Voucher.ValidFrom, c.Voucher.ValidUntil}
		c.At, c.Voucher.ValidFrom, c.Voucher.ValidUntil = time.Time{}, time.Time{}, time.Time{}
		return ts
	}
	ta, tb := times(&a), times(&b)
	for i := range ta {
		if !ta[i].Equal(tb[i]) || ta[i].IsZero() != tb[i].IsZero() {
			return false
		}
	}
	return reflect.DeepEqual(a, b)
}

// TestClaimCodec: a claim stored in binary comes back with every field; the
// zero time and empty fields survive; every truncated or padded value is
// refused as damaged, never a panic; fields too long for the binary form
// are stored as JSON; a JSON claim (as files made before the binary form
// hold) reads the same.
func TestClaimCodec(t *testing.T) {
	for _, c := range []issuing.Claim{fullClaim(1, "k-1", 42), {Seq: 2, Voucher: terminal.Voucher{Holder: 3}}} {
		v, err := encodeClaim(&c)
		if err != nil {
			t.Fatal(err)
		}
		if v[0] != claimV1 {
			t.Fatalf("claim %d stored in form %d", c.Seq, v[0])
		}
		var got issuing.Claim
		if err := decodeClaim(u64(c.Seq), v, &got); err != nil {
			t.Fatal(err)
		}
		if !sameClaim(got, c) {
			t.Errorf("claim %d came back as\n%+v\nwant\n%+v", c.Seq, got, c)
		}
		if h, k, err := claimIndexed(u64(c.Seq), v); err != nil || h != c.Voucher.Holder || k != c.Key {
			t.Errorf("claim %d indexed as holder %d key %q (%v)", c.Seq, h, k, err)
		}
		for n := range len(v) {
			if err := decodeClaim(u64(c.Seq), v[:n], &issuing.Claim{}); !errors.Is(err, ErrDamaged) {
				t.Errorf("claim %d cut to %d of %d bytes: %v", c.Seq, n, len(v), err)
			}
		}
		if err := decodeClaim(u64(c.Seq), append(v, 0), &issuing.Claim{}); !errors.Is(err, ErrDamaged) {
			t.Errorf("claim %d with a byte more: %v", c.Seq, err)
		}
	}
	long := fullClaim(3, strings.Repeat("k", 300), 9)
	v, err := encodeClaim(&long)
	if err != nil {
		t.Fatal(err)
	}
	var got issuing.Claim
	if v[0] != '{' || decodeClaim(u64(3), v, &got) != nil || !sameClaim(got, long) {
		t.Errorf("a claim with a 300-byte key: stored as %.20q, read as %+v", v, got)
	}
	if h, k, err := claimIndexed(u64(3), v); err != nil || h != 9 || k != long.Key {
		t.Errorf("JSON claim indexed as holder %d key %.10q (%v)", h, k, err)
	}
}

// TestIssuing_OldJSONClaims: a file whose claims were stored as JSON opens,
// its claims are indexed and read, a status change on one keeps it whole,
// and new claims beside them are stored in binary.
func TestIssuing_OldJSONClaims(t *testing.T) {
	ctx := context.Background()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "old.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	old := fullClaim(1, "k-old", 42)
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(bClaims)
		if err != nil {
			return err
		}
		raw, err := json.Marshal(&old)
		if err != nil {
			return err
		}
		if _, err := b.NextSequence(); err != nil {
			return err
		}
		return b.Put(u64(1), raw)
	})
	if err != nil {
		t.Fatal(err)
	}
	is, err := NewIssuing(db)
	if err != nil {
		t.Fatal(err)
	}
	var fresh issuing.Claim
	err = is.Update(ctx, func(tx issuing.Tx) error {
		if err := tx.SetStatus(1, terminal.StatusExpired); err != nil {
			return err
		}
		seq, err := tx.NextClaimSeq()
		if err != nil {
			return err
		}
		fresh = fullClaim(seq, "k-new", 42)
		return tx.AddClaim(&fresh)
	})
	if err != nil {
		t.Fatal(err)
	}
	// A claim number stored already is refused, from an earlier commit or
	// from the same transaction.
	for _, seqs := range [][]uint64{{1}, {2}, {3, 3}} {
		err := is.Update(ctx, func(tx issuing.Tx) error {
			for _, seq := range seqs {
				c := fullClaim(seq, "", 43)
				if err := tx.AddClaim(&c); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			t.Errorf("claims %v stored over one stored", seqs)
		}
	}
	old.Status = terminal.StatusExpired
	for _, x := range []*Issuing{is, mustIssuing(t, db)} { // and with the indexes rebuilt
		err = x.View(ctx, func(tx issuing.Tx) error {
			cs, err := tx.HolderClaims(42)
			if err != nil {
				return err
			}
			if len(cs) != 2 || !sameClaim(cs[0], old) || !sameClaim(cs[1], fresh) {
				t.Errorf("holder 42's claims:\n%+v\nwant\n%+v\n%+v", cs, old, fresh)
			}
			if c, ok, err := tx.ClaimByKey("k-old"); !ok || err != nil || !sameClaim(c, old) {
				t.Errorf("key k-old: %+v %v %v", c, ok, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	err = db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bClaims).Get(u64(2)); len(v) == 0 || v[0] != claimV1 {
			t.Errorf("the new claim is stored as %.20q", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func mustIssuing(t *testing.T, db *bolt.DB) *Issuing {
	t.Helper()
	is, err := NewIssuing(db)
	if err != nil {
		t.Fatal(err)
	}
	return is
}
