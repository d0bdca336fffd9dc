package boltstore

import (
	"context"

	bolt "go.etcd.io/bbolt"
)

// IssuingCounters are the issuing side's counters that no row holds, for
// voucherd migrate: a voucher id is a keyed permutation of its claim
// number, and love vouchers take numbers without a claim row, so the copy
// must go on from the same numbers, not from the largest row.
type IssuingCounters struct {
	// Present is false for a ledger made before the issuing side existed
	// (no issuing buckets): there is nothing to copy.
	Present bool
	// ClaimSeq is the last claim number given (claims and love vouchers).
	ClaimSeq uint64
	// DropSeq is the last drop id given.
	DropSeq uint64
}

// IssuingCounters reads the issuing side's counters.
func (s *Store) IssuingCounters(ctx context.Context) (IssuingCounters, error) {
	var c IssuingCounters
	if err := ctx.Err(); err != nil {
		return c, err
	}
	err := s.view(func(tx *bolt.Tx) error {
		for _, name := range issuingBuckets {
			if tx.Bucket(name) == nil {
				return nil
			}
		}
		c.Present = true
		c.ClaimSeq = tx.Bucket(bClaims).Sequence()
		c.DropSeq = tx.Bucket(bDrops).Sequence()
		return nil
	})
	return c, err
}
