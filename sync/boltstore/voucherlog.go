package boltstore

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"

	"github.com/voucherpos/voucherpos/terminal"
)

// The voucher index is kept in two parts: the index itself (bVouchers,
// keyed by voucher id) and a log of the redemptions put since it was last
// brought up to date (bVoucherLog, keyed by a sequence). A voucher has its
// live redemption in one of the two, never both. A group commit appends its
// redemptions to the log, where they fill one or two pages, instead of
// putting them into an index keyed by random ids, where every group
// rewrote nearly all of its pages; once the log holds voucherLogMax
// redemptions, a commit moves them into the index in key order, all at
// once, and empties the log. A refund's ClearRedeemed deletes the voucher's
// entry from whichever part holds it.
//
// The log's bucket sequence grows at every change of the log (an append, a
// delete, the move into the index), so a committed log is known by its
// sequence: readers outside the hub's commits keep the log they last read
// (logCache) and read it again only when the sequence has moved. The hub's
// commits keep the log in memory as the last of them left it (Store.log).

// bVoucherLog: sequence u64 → voucher id u64 ‖ record id of its one
// accepted, live redemption, not yet in bVouchers. Made at the first
// writable open of a file made before it: a missing one is empty.
var bVoucherLog = []byte("voucher_log")

// voucherLogMax is how many redemptions the log holds before a commit
// moves them into the index: the memory it takes (about 100 bytes a
// redemption, held by the store) against how often the index's pages are
// rewritten (once per voucherLogMax redemptions, instead of once per group).
var voucherLogMax = 1 << 15

// logEntry is a voucher's live redemption in the log.
type logEntry struct {
	key uint64 // its key in the log
	rec string // the record id
}

// voucherLog is the log's content as of its sequence seq.
type voucherLog struct {
	seq  uint64
	live map[terminal.VoucherID]logEntry
}

// readLog reads the log bucket b (nil: none, empty).
func readLog(b *bolt.Bucket) (*voucherLog, error) {
	l := &voucherLog{live: map[terminal.VoucherID]logEntry{}}
	if b == nil {
		return l, nil
	}
	l.seq = b.Sequence()
	err := b.ForEach(func(k, v []byte) error {
		if len(k) != 8 || len(v) <= 8 {
			return fmt.Errorf("%w: voucher log %x → %x", ErrDamaged, k, v)
		}
		id := terminal.VoucherID(binary.BigEndian.Uint64(v))
		if e, ok := l.live[id]; ok {
			return fmt.Errorf("%w: voucher log: voucher %x under %d and %d", ErrDamaged, uint64(id), e.key, binary.BigEndian.Uint64(k))
		}
		l.live[id] = logEntry{key: binary.BigEndian.Uint64(k), rec: string(v[8:])}
		return nil
	})
	return l, err
}

// sorted returns the log's vouchers in ascending order.
func (l *voucherLog) sorted() []terminal.VoucherID {
	ids := make([]terminal.VoucherID, 0, len(l.live))
	for v := range l.live {
		ids = append(ids, v)
	}
	slices.Sort(ids)
	return ids
}

// logCache is the log as a reader outside the hub's commits last read it.
type logCache struct{ p atomic.Pointer[voucherLog] }

// at returns the log as tx sees it: read again only if its sequence moved.
// The log returned is never changed: do not change it.
func (c *logCache) at(tx *bolt.Tx) (*voucherLog, error) {
	b := tx.Bucket(bVoucherLog)
	var seq uint64
	if b != nil {
		seq = b.Sequence()
	}
	if l := c.p.Load(); l != nil && l.seq == seq {
		return l, nil
	}
	l, err := readLog(b)
	if err != nil {
		return nil, err
	}
	c.p.Store(l)
	return l, nil
}

// logGet returns the voucher's live redemption in the log, if it is there.
func (t *tx) logGet(v terminal.VoucherID) (logEntry, bool) {
	e, ok := t.log.live[v]
	return e, ok
}

// logPut appends a live redemption to the log.
func (t *tx) logPut(v terminal.VoucherID, recordID string) error {
	key, err := t.logB.NextSequence()
	if err != nil {
		return err
	}
	val := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(recordID)), uint64(v))
	if err := t.logB.Put(u64(key), append(val, recordID...)); err != nil {
		return err
	}
	t.log.live[v] = logEntry{key: key, rec: recordID}
	return nil
}

// logDelete deletes a voucher's entry e from the log.
func (t *tx) logDelete(v terminal.VoucherID, e logEntry) error {
	if err := t.logB.Delete(u64(e.key)); err != nil {
		return err
	}
	delete(t.log.live, v)
	return t.logB.SetSequence(t.logB.Sequence() + 1)
}

// mergeLog moves the log's redemptions into the index, in key order, and
// empties the log.
func (t *tx) mergeLog() error {
	for _, v := range t.log.sorted() {
		if t.filter != nil {
			t.filter.add(v)
		}
		if err := t.vouchers.Put(u64(uint64(v)), []byte(t.log.live[v].rec)); err != nil {
			return err
		}
	}
	seq := t.logB.Sequence()
	if err := t.tx.DeleteBucket(bVoucherLog); err != nil {
		return err
	}
	b, err := t.tx.CreateBucket(bVoucherLog)
	if err != nil {
		return err
	}
	b.FillPercent = appendFill
	t.logB = b
	clear(t.log.live)
	return b.SetSequence(seq + 1)
}

// eachLive calls fn with every live redemption of the index and the log l,
// in voucher order.
func eachLive(tx *bolt.Tx, l *voucherLog, fn func(v terminal.VoucherID, recordID string) error) error {
	logged := l.sorted()
	err := tx.Bucket(bVouchers).ForEach(func(k, val []byte) error {
		if len(k) != 8 {
			return fmt.Errorf("%w: voucher key %x", ErrDamaged, k)
		}
		v := terminal.VoucherID(binary.BigEndian.Uint64(k))
		for len(logged) > 0 && logged[0] <= v {
			if logged[0] == v {
				return fmt.Errorf("%w: voucher %x in the index and its log", ErrDamaged, k)
			}
			if err := fn(logged[0], l.live[logged[0]].rec); err != nil {
				return err
			}
			logged = logged[1:]
		}
		return fn(v, string(val))
	})
	for _, v := range logged {
		if err != nil {
			break
		}
		err = fn(v, l.live[v].rec)
	}
	return err
}
