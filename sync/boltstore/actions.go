package boltstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/voucherpos/voucherpos/sync/hub"
)

// bActions is the admin log: sequence u64 → JSON hub.Action. The store
// only appends to it; a ledger made before the log existed gets the bucket
// at its first entry.
var bActions = []byte("actions")

// AddAction appends an entry to the admin log.
func (s *Store) AddAction(ctx context.Context, a hub.Action) error {
	v, err := json.Marshal(&a)
	if err != nil {
		return err
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bActions)
		if err != nil {
			return err
		}
		n, err := b.NextSequence()
		if err != nil {
			return err
		}
		return b.Put(binary.BigEndian.AppendUint64(nil, n), v)
	})
}

// Actions walks the admin log, oldest first.
func (s *Store) Actions(ctx context.Context, fn func(*hub.Action) error) error {
	return s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bActions)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			var a hub.Action
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("%w: admin log entry %x: %v", ErrDamaged, k, err)
			}
			return fn(&a)
		})
	})
}
