package boltstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/terminal"
)

// The Each methods walk what the hub.Store interface only finds by key, for
// voucherd migrate, which copies an embedded ledger into PostgreSQL. Each
// runs in one read transaction: a consistent view.

// EachRecord calls fn with every record, in (terminal, sequence) order.
func (s *Store) EachRecord(ctx context.Context, fn func(*hub.StoredRecord) error) error {
	return s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bRecords).ForEach(func(k, v []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			term, seq, ok := splitRecordKey(k)
			if !ok {
				return fmt.Errorf("%w: record key %q", ErrDamaged, k)
			}
			r, err := decodeRecord(term, seq, v)
			if err != nil {
				return err
			}
			return fn(&r)
		})
	})
}

// EachHead calls fn with every terminal's chain head.
func (s *Store) EachHead(ctx context.Context, fn func(terminalID string, h hub.Head) error) error {
	return s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bHeads).ForEach(func(k, _ []byte) error {
			return fn(string(k), head(tx, string(k)))
		})
	})
}

// EachRedemption calls fn with every voucher's live accepted redemption.
func (s *Store) EachRedemption(ctx context.Context, fn func(v terminal.VoucherID, recordID string) error) error {
	return s.view(func(tx *bolt.Tx) error {
		l, err := s.logs.at(tx)
		if err != nil {
			return err
		}
		return eachLive(tx, l, fn)
	})
}

// EachMinted calls fn with every code minted here.
func (s *Store) EachMinted(ctx context.Context, fn func(hub.Minted) error) error {
	return s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bMinted).ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return fmt.Errorf("%w: minted key %x", ErrDamaged, k)
			}
			return fn(hub.Minted{ID: terminal.VoucherID(binary.BigEndian.Uint64(k)), Code: string(v)})
		})
	})
}

// EachHold calls fn with every hold.
func (s *Store) EachHold(ctx context.Context, fn func(v terminal.VoucherID, h hub.Hold) error) error {
	return s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bHolds).ForEach(func(k, raw []byte) error {
			var h hub.Hold
			if len(k) != 8 || json.Unmarshal(raw, &h) != nil {
				return fmt.Errorf("%w: hold %x", ErrDamaged, k)
			}
			return fn(terminal.VoucherID(binary.BigEndian.Uint64(k)), h)
		})
	})
}

// EachMemo calls fn with every memo of the hub's rules: those of the memos
// bucket, then the expiring ones of the log not also in the bucket
// (memolog.go).
func (s *Store) EachMemo(ctx context.Context, fn func(key string, v []byte) error) error {
	return s.viewMemos(func(tx *bolt.Tx, l *memoLog) error {
		inBucket := map[string]bool{}
		if b := tx.Bucket(bMemos); b != nil {
			err := b.ForEach(func(k, v []byte) error {
				if expiring(string(k)) {
					inBucket[string(k)] = true // read before the log's (Tx.Memo)
				}
				return fn(string(k), v)
			})
			if err != nil {
				return err
			}
		}
		for _, k := range l.sortedLive("") {
			if inBucket[k] {
				continue
			}
			if err := fn(k, l.live[k]); err != nil {
				return err
			}
		}
		return nil
	})
}
