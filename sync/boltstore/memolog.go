package boltstore

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/voucherpos/voucherpos/sync/hub"
)

// The expiring memos (keys under hub.ExpiringMemoPrefix: a holder's recent
// redemptions at a merchant, one memo per holder and merchant, dropped by
// the hub's sweep within about three days) are not kept in the memos
// bucket. Their keys are pseudonymous holder ids, so each group commit put
// them all over that bucket and rewrote most of its pages: with holders
// spread over the id space a drain wrote 4–11 KB a record and slowed as the
// bucket grew. They are kept instead in memory, as the last commit left
// them (memoLog.live), and on disk in a log (bMemoLog): each commit appends
// one value with the expiring memos it changed, a deleted one as a
// deletion. The log is read back in sequence order when the file is
// opened (read-only: at the first read of a memo); once it holds more than
// twice as many entries as live memos (and memoLogSlack more), a commit
// writes the live memos again as new values and deletes every older one.
//
// A memo stored in the memos bucket by an earlier version is still read
// there, before the log: an earlier version opening a file this one wrote
// does not see the log, and what it puts in the bucket is the newer. It is
// deleted from the bucket when the memo is next put or deleted here.

// bMemoLog: sequence u64 → the expiring memos a commit changed, each key
// length uvarint ‖ key ‖ value length + 1 uvarint ‖ value, or key length
// uvarint ‖ key ‖ 0 for a memo deleted. Made at the first writable open of
// a file made before it: a missing one is empty.
var bMemoLog = []byte("memo_log")

// memoLogSlack is how many dead entries (memos changed again or deleted
// since) the log may hold beyond as many as it has live memos.
var memoLogSlack = 1 << 16

// memoLogPiece is how large a value of the log grows before the next
// entries start another (under the next sequence). bbolt splits no leaf
// of four elements or fewer, however large, and writes a changed leaf
// whole: one value a commit of thousands of memos (hundreds of kilobytes)
// made the log's last leaf hold up to four of them, all written again at
// every commit. Values of a few kilobytes fill the leaves as records do.
var memoLogPiece = 4 << 10

// expiring says whether a memo key is kept in the log.
func expiring(key string) bool { return strings.HasPrefix(key, hub.ExpiringMemoPrefix) }

// memoLog is the expiring memos as of the log bucket's sequence seq.
type memoLog struct {
	seq     uint64
	live    map[string][]byte
	entries int // entries in the log's values, live or not
	// scan is the live keys under scanPrefix, sorted, as a walk of
	// ScanMemos from its start found them (nil: none yet).
	scan       []string
	scanPrefix string
}

// appendMemoEntry appends an entry of the log to b: v of memo key, or its
// deletion.
func appendMemoEntry(b []byte, key string, v []byte, deleted bool) []byte {
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	if deleted {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(v))+1)
	return append(b, v...)
}

// eachMemoEntry calls fn with every entry of a value of the log (k its key).
func eachMemoEntry(k, val []byte, fn func(key string, v []byte, deleted bool)) error {
	for len(val) > 0 {
		n, w := binary.Uvarint(val)
		if w <= 0 || n == 0 || n > uint64(len(val)-w) {
			return fmt.Errorf("%w: memo log %x: a key cut short", ErrDamaged, k)
		}
		key := string(val[w : w+int(n)])
		val = val[w+int(n):]
		m, w := binary.Uvarint(val)
		if w <= 0 || m > uint64(len(val)-w)+1 {
			return fmt.Errorf("%w: memo log %x: memo %q cut short", ErrDamaged, k, key)
		}
		val = val[w:]
		if m == 0 {
			fn(key, nil, true)
			continue
		}
		fn(key, val[:m-1:m-1], false)
		val = val[m-1:]
	}
	return nil
}

// readMemoLog reads the log bucket b (nil: none, empty).
func readMemoLog(b *bolt.Bucket) (*memoLog, error) {
	l := &memoLog{live: map[string][]byte{}}
	if b == nil {
		return l, nil
	}
	l.seq = b.Sequence()
	err := b.ForEach(func(k, val []byte) error {
		if len(k) != 8 || len(val) == 0 {
			return fmt.Errorf("%w: memo log %x", ErrDamaged, k)
		}
		return eachMemoEntry(k, val, func(key string, v []byte, deleted bool) {
			l.entries++
			if deleted {
				delete(l.live, key)
			} else {
				l.live[key] = slices.Clone(v)
			}
		})
	})
	return l, err
}

// memoLogAt returns the log as tx sees it, read again if its sequence
// moved since the last commit or read. Under logMu, with no commit under
// way: the log returned is the committed one.
func (s *Store) memoLogAt(tx *bolt.Tx) (*memoLog, error) {
	b := tx.Bucket(bMemoLog)
	var seq uint64
	if b != nil {
		seq = b.Sequence()
	}
	if s.mlog != nil && s.mlog.seq == seq {
		return s.mlog, nil
	}
	l, err := readMemoLog(b)
	if err != nil {
		return nil, err
	}
	s.mlog = l
	return l, nil
}

func (l *memoLog) has(key string) bool { _, ok := l.live[key]; return ok }

// viewMemos runs fn in a read transaction with the expiring memos as it
// sees them, under logMu (no commit under way): the readers of memos
// outside commits.
func (s *Store) viewMemos(fn func(tx *bolt.Tx, l *memoLog) error) error {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.view(func(tx *bolt.Tx) error {
		l, err := s.memoLogAt(tx)
		if err != nil {
			return err
		}
		return fn(tx, l)
	})
}

// liveKeys returns the live keys under prefix, in no order.
func (l *memoLog) liveKeys(prefix string) []string {
	var keys []string
	for k := range l.live {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	return keys
}

// sortedLive returns the live keys under prefix, sorted.
func (l *memoLog) sortedLive(prefix string) []string {
	keys := l.liveKeys(prefix)
	sort.Strings(keys)
	return keys
}

// mlogPut puts an expiring memo: in memory now, in the log at the commit's end.
func (t *tx) mlogPut(key string, v []byte) error {
	if err := t.dropStored(key); err != nil {
		return err
	}
	t.mlog.live[key] = slices.Clone(v)
	t.mlogChanged(key)
	return nil
}

// mlogDelete deletes an expiring memo.
func (t *tx) mlogDelete(key string) error {
	if err := t.dropStored(key); err != nil {
		return err
	}
	if _, ok := t.mlog.live[key]; ok {
		delete(t.mlog.live, key)
		t.mlogChanged(key)
	}
	return nil
}

// dropStored deletes an expiring memo an earlier version stored in the
// memos bucket, when the memo is changed through the log.
func (t *tx) dropStored(key string) error {
	if t.memoFilter != nil && !t.memoFilter.has(memoHash(t.memoSeed, key)) {
		return nil
	}
	return t.memos.Delete([]byte(key))
}

func (t *tx) mlogChanged(key string) {
	if _, ok := t.mlogDirty[key]; !ok {
		t.mlogDirty[key] = struct{}{}
		t.mlogOrder = append(t.mlogOrder, key)
	}
}

// mlogFlush appends the commit's changes to the log, and writes the log
// again if it holds too many dead entries.
func (t *tx) mlogFlush() error {
	if len(t.mlogOrder) > 0 {
		w := logWriter{t: t}
		for _, k := range t.mlogOrder {
			v, ok := t.mlog.live[k]
			if err := w.add(k, v, !ok); err != nil {
				return err
			}
		}
		if err := w.close(); err != nil {
			return err
		}
		t.mlog.entries += len(t.mlogOrder)
		t.mlogOrder = t.mlogOrder[:0]
		clear(t.mlogDirty)
	}
	if t.mlog.entries > 2*len(t.mlog.live)+memoLogSlack {
		if err := t.mlogRewrite(); err != nil {
			return err
		}
	}
	t.mlog.seq = t.mlogB.Sequence()
	return nil
}

// logWriter appends entries to the log in values of about memoLogPiece
// bytes, each under the next sequence.
type logWriter struct {
	t   *tx
	val []byte
}

func (w *logWriter) add(key string, v []byte, deleted bool) error {
	if w.val == nil {
		w.val = w.t.slab.take(memoLogPiece + 2*binary.MaxVarintLen32 + len(key) + len(v))
	}
	if w.val = appendMemoEntry(w.val, key, v, deleted); len(w.val) < memoLogPiece {
		return nil
	}
	return w.close()
}

// close puts the value under way, if any.
func (w *logWriter) close() error {
	if len(w.val) == 0 {
		return nil
	}
	seq, err := w.t.mlogB.NextSequence()
	if err == nil {
		err = w.t.mlogB.Put(u64(seq), w.val)
	}
	w.val = nil
	return err
}

// mlogRewrite writes the live memos as new values of the log and deletes
// every value before them.
func (t *tx) mlogRewrite() error {
	var old [][]byte
	c := t.mlogB.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		old = append(old, slices.Clone(k))
	}
	for _, k := range old {
		if err := t.mlogB.Delete(k); err != nil {
			return err
		}
	}
	w := logWriter{t: t}
	for _, k := range t.mlog.sortedLive("") {
		if err := w.add(k, t.mlog.live[k], false); err != nil {
			return err
		}
	}
	t.mlog.entries = len(t.mlog.live)
	return w.close()
}
