package boltstore

import (
	"cmp"
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
// redemptions to the log, one value for each of the logRanges ranges of
// voucher ids, instead of putting them into an index keyed by random ids,
// where every group rewrote nearly all of its pages. While the log holds
// voucherLogMax redemptions or more, each commit moves one range's into the
// index in key order (the next range at the next commit): they fall in that
// range's pages of the index only, so a move dirties a logRanges-th of the
// pages a move of the whole log would, for the same number of pages a
// redemption. A refund's ClearRedeemed deletes the voucher's redemption
// from whichever part holds it (in the log, by writing its commit's value
// again without it).
//
// The log's bucket sequence grows at every change of the log (an append, a
// delete, the move into the index), so a committed log is known by its
// sequence: readers outside the hub's commits keep the log they last read
// (logCache) and read it again only when the sequence has moved. The hub's
// commits keep the log in memory as the last of them left it (Store.log).

// bVoucherLog: range u8 ‖ sequence u64 → the live redemptions of vouchers
// of that range (logRange) a commit put, not yet in bVouchers, each voucher
// id u64 ‖ length of the record id uvarint ‖ record id. Made at the first
// writable open of a file made before it: a missing one is empty.
var bVoucherLog = []byte("voucher_log")

// voucherLogMax is how many redemptions the log holds before a commit
// moves them into the index: the memory it takes (about 100 bytes a
// redemption, held by the store) against how often the index's pages are
// rewritten (once per voucherLogMax redemptions, instead of once per group).
var voucherLogMax = 1 << 15

// logRangeBits: the log's redemptions are moved into the index by ranges
// of voucher ids, the ids' top logRangeBits bits.
const (
	logRangeBits = 3
	logRanges    = 1 << logRangeBits
)

// logRange returns the range of voucher v in the log.
func logRange(v terminal.VoucherID) byte { return byte(uint64(v) >> (64 - logRangeBits)) }

// logKey returns the log's key of the value of range r under sequence seq.
func logKey(r byte, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append(make([]byte, 0, 9), r), seq)
}

// logEntry is a voucher's live redemption in the log.
type logEntry struct {
	key uint64 // the sequence of its commit's value in the log
	rec string // the record id
}

// appendLogged appends a redemption to a value of the log.
func appendLogged(b []byte, v terminal.VoucherID, rec string) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(v))
	b = binary.AppendUvarint(b, uint64(len(rec)))
	return append(b, rec...)
}

// eachLogged calls fn with every redemption of a value of the log.
func eachLogged(key, val []byte, fn func(v terminal.VoucherID, rec string) error) error {
	for len(val) > 0 {
		n, w := binary.Uvarint(val[min(8, len(val)):])
		if len(val) < 8 || w <= 0 || n == 0 || n > uint64(len(val)-8-w) {
			return fmt.Errorf("%w: voucher log %x: %x", ErrDamaged, key, val)
		}
		end := 8 + w + int(n)
		if err := fn(terminal.VoucherID(binary.BigEndian.Uint64(val)), string(val[8+w:end])); err != nil {
			return err
		}
		val = val[end:]
	}
	return nil
}

// voucherLog is the log's content as of its sequence seq.
type voucherLog struct {
	seq  uint64
	live map[terminal.VoucherID]logEntry
	// next is the range the next move takes (the hub's commits only).
	next byte
}

// readLog reads the log bucket b (nil: none, empty).
func readLog(b *bolt.Bucket) (*voucherLog, error) {
	l := &voucherLog{live: map[terminal.VoucherID]logEntry{}}
	if b == nil {
		return l, nil
	}
	l.seq = b.Sequence()
	err := b.ForEach(func(k, val []byte) error {
		if len(k) != 9 || len(val) == 0 {
			return fmt.Errorf("%w: voucher log %x → %x", ErrDamaged, k, val)
		}
		key := binary.BigEndian.Uint64(k[1:])
		return eachLogged(k, val, func(v terminal.VoucherID, rec string) error {
			if logRange(v) != k[0] {
				return fmt.Errorf("%w: voucher log %x: voucher %x of another range", ErrDamaged, k, uint64(v))
			}
			if e, ok := l.live[v]; ok {
				return fmt.Errorf("%w: voucher log: voucher %x under %d and %d", ErrDamaged, uint64(v), e.key, key)
			}
			l.live[v] = logEntry{key: key, rec: rec}
			return nil
		})
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

// logPut adds a live redemption to the log: to the commit's value,
// written when the commit's function ends (logFlush).
func (t *tx) logPut(v terminal.VoucherID, recordID string) error {
	if t.logKey == 0 {
		key, err := t.logB.NextSequence()
		if err != nil {
			return err
		}
		t.logKey = key
	}
	t.logged = append(t.logged, v)
	t.log.live[v] = logEntry{key: t.logKey, rec: recordID}
	return nil
}

// logFlush writes the commit's values of the log, one for each range.
func (t *tx) logFlush() error {
	if len(t.logged) == 0 {
		return nil
	}
	var vals [logRanges][]byte
	for _, v := range t.logged {
		r := logRange(v)
		vals[r] = appendLogged(vals[r], v, t.log.live[v].rec)
	}
	t.logged = t.logged[:0]
	for r, val := range vals {
		if len(val) > 0 {
			if err := t.logB.Put(logKey(byte(r), t.logKey), val); err != nil {
				return err
			}
		}
	}
	return nil
}

// logDelete deletes a voucher's redemption e from the log: from the
// commit's values still to be written, or from a stored value written again
// without it.
func (t *tx) logDelete(v terminal.VoucherID, e logEntry) error {
	delete(t.log.live, v)
	if e.key == t.logKey {
		t.logged = slices.DeleteFunc(t.logged, func(x terminal.VoucherID) bool { return x == v })
		return nil
	}
	k := logKey(logRange(v), e.key)
	stored := t.logB.Get(k)
	if stored == nil {
		return fmt.Errorf("%w: voucher log: no value %x for voucher %x", ErrDamaged, k, uint64(v))
	}
	var val []byte
	err := eachLogged(k, stored, func(x terminal.VoucherID, rec string) error {
		if x != v {
			val = appendLogged(val, x, rec)
		}
		return nil
	})
	switch {
	case err != nil:
		return err
	case len(val) == 0:
		err = t.logB.Delete(k)
	default:
		err = t.logB.Put(k, val)
	}
	if err != nil {
		return err
	}
	return t.logB.SetSequence(t.logB.Sequence() + 1)
}

// mergeLog moves the redemptions of the log's next range into the index,
// in key order, and deletes them from the log.
func (t *tx) mergeLog() error {
	r := t.log.next
	t.log.next = (r + 1) % logRanges
	// The keys and values are cut from one buffer, which bbolt keeps until
	// the commit.
	type kv struct {
		v   terminal.VoucherID
		rec string
	}
	var all []kv
	var keys [][]byte
	size := 0
	c := t.logB.Cursor()
	for k, val := c.Seek([]byte{r}); k != nil && k[0] == r; k, val = c.Next() {
		keys = append(keys, slices.Clone(k))
		err := eachLogged(k, val, func(v terminal.VoucherID, rec string) error {
			all = append(all, kv{v, rec})
			size += 8 + len(rec)
			return nil
		})
		if err != nil {
			return err
		}
	}
	if len(keys) == 0 {
		return nil
	}
	slices.SortFunc(all, func(a, b kv) int { return cmp.Compare(a.v, b.v) })
	buf := make([]byte, 0, size)
	for _, e := range all {
		if t.filter != nil {
			t.filter.add(voucherHash(e.v))
		}
		at := len(buf)
		buf = binary.BigEndian.AppendUint64(buf, uint64(e.v))
		buf = append(buf, e.rec...)
		if err := t.vouchers.Put(buf[at:at+8:at+8], buf[at+8:len(buf):len(buf)]); err != nil {
			return err
		}
		delete(t.log.live, e.v)
	}
	for _, k := range keys {
		if err := t.logB.Delete(k); err != nil {
			return err
		}
	}
	return t.logB.SetSequence(t.logB.Sequence() + 1)
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
