package boltstore

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/terminal"
)

// tx is one group commit's bbolt transaction.
type tx struct {
	tx                                  *bolt.Tx
	heads, records, days, vouchers      *bolt.Bucket
	holds, revoked, minted, conflicts   *bolt.Bucket
	merchants, memos                    *bolt.Bucket
	anyRevoked, anyHolds, knownNonEmpty bool

	// Cursors kept for the transaction's point reads: bbolt's Bucket.Get
	// makes a cursor and grows its stack at every call.
	cRecords, cVouchers, cMinted, cMemos *bolt.Cursor
	// gap is a range of record keys known to be free: a terminal's
	// records are put in sequence order, so one lookup per group finds
	// that the keys after its head are free up to the next stored one.
	gap keyGap
	// free is a voucher Redeemed found free, until a voucher is written:
	// SetRedeemed, which a committer calls next, needs no second lookup.
	free      terminal.VoucherID
	knownFree bool
	// runs are the day index's runs this transaction extends or starts,
	// by chain, written once when it ends (putRuns).
	runs map[string]*dayRun
	// filter says which vouchers may be in the voucher index (nil: any).
	filter *keyFilter
	// memoFilter says which memos may be stored (nil: any), their keys
	// hashed with memoSeed.
	memoFilter *keyFilter
	memoSeed   maphash.Seed
	// log is the voucher index's log (voucherlog.go), changed in place
	// by the transaction; logB its bucket.
	log  *voucherLog
	logB *bolt.Bucket
	// logKey is the key of the commit's value in the log (0: none yet),
	// logged the vouchers it holds (logPut).
	logKey uint64
	logged []terminal.VoucherID
	// slab holds the keys and values put (the store's).
	slab *slab
	// mlog is the expiring memos (memolog.go), changed in place by the
	// transaction; mlogB its bucket; mlogOrder the keys changed, each
	// once (mlogDirty), appended to the log when the commit's function ends.
	mlog      *memoLog
	mlogB     *bolt.Bucket
	mlogDirty map[string]struct{}
	mlogOrder []string
}

// dayRun is a run of consecutive records of one chain and one day in the
// day index: stored under the key of its first record, the value its
// last sequence.
type dayRun struct {
	key  []byte // day ‖ record key of the first record
	last uint64
}

var _ hub.Tx = (*tx)(nil)

func newTx(btx *bolt.Tx) *tx {
	t := &tx{tx: btx, heads: btx.Bucket(bHeads), records: btx.Bucket(bRecords), days: btx.Bucket(bDays),
		vouchers: btx.Bucket(bVouchers), holds: btx.Bucket(bHolds), revoked: btx.Bucket(bRevoked),
		minted: btx.Bucket(bMinted), conflicts: btx.Bucket(bConflicts), merchants: btx.Bucket(bMerchants), memos: btx.Bucket(bMemos)}
	t.records.FillPercent, t.days.FillPercent = appendFill, appendFill
	t.cRecords, t.cVouchers, t.cMinted, t.cMemos = t.records.Cursor(), t.vouchers.Cursor(), t.minted.Cursor(), t.memos.Cursor()
	t.runs = map[string]*dayRun{}
	return t
}

// appendFill is how full the pages of the buckets a group commit appends
// to (records and the day index: each terminal's keys in sequence order)
// are left: bbolt's default of a half leaves every page written half
// empty, as for random inserts.
const appendFill = 0.9

// keyGap is the keys strictly between start and end (or after start if
// open) that are absent from a bucket: no key was stored there when a
// seek found end after a key at or before start, and only keys up to
// start were put since. Empty start: no gap known.
type keyGap struct {
	start, end []byte
	open       bool
}

func (g *keyGap) holds(k []byte) bool {
	return len(g.start) > 0 && bytes.Compare(k, g.start) > 0 && (g.open || bytes.Compare(k, g.end) < 0)
}

// get reads key's value through c: nil if absent.
func get(c *bolt.Cursor, key []byte) []byte {
	k, v := c.Seek(key)
	if k == nil || !bytes.Equal(k, key) {
		return nil
	}
	return v
}

func notEmpty(b *bolt.Bucket) bool { k, _ := b.Cursor().First(); return k != nil }

// nonEmpty learns once per transaction whether anything is revoked or held:
// most of the time nothing is, and the lookups are skipped.
func (t *tx) nonEmpty() {
	if !t.knownNonEmpty {
		t.anyRevoked, t.anyHolds, t.knownNonEmpty = notEmpty(t.revoked), notEmpty(t.holds), true
	}
}

func (t *tx) Head(term string) (hub.Head, error) { return head(t.tx, term), nil }

func (t *tx) SetHead(term string, h hub.Head) error {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 40), h.Seq)
	return t.heads.Put([]byte(term), append(v, h.Hash[:]...))
}

func (t *tx) Record(term string, seq uint64) (hub.StoredRecord, bool, error) {
	return record(t.tx, term, seq)
}

func (t *tx) PutRecord(r *hub.StoredRecord) error {
	key := appendRecordKey(t.slab.take(len(r.TerminalID)+9), r.TerminalID, r.Seq)
	if !t.gap.holds(key) {
		k, _ := t.cRecords.Seek(key)
		if k != nil && bytes.Equal(k, key) {
			return fmt.Errorf("record %s: %w", r.ID(), hub.ErrExists)
		}
		t.gap.end = append(t.gap.end[:0], k...)
		t.gap.open = k == nil
	}
	t.gap.start = append(t.gap.start[:0], key...)
	if err := t.records.Put(key, appendRecord(t.slab.take(recordSize(r)), r)); err != nil {
		return err
	}
	return t.addToDay(r, key)
}

// addToDay indexes the record r (under key) by its day: it extends the
// run of its chain's previous record if that is of the same day, in this
// transaction or stored before it, and starts a run otherwise.
func (t *tx) addToDay(r *hub.StoredRecord, key []byte) error {
	var buf [8]byte
	day := appendDay(buf[:0], r.At)
	run := t.runs[r.TerminalID]
	if run != nil && run.last+1 == r.Seq && len(run.key) == len(day)+len(key) && bytes.HasPrefix(run.key, day) {
		run.last = r.Seq
		return nil
	}
	if run != nil {
		if err := t.days.Put(run.key, u64(run.last)); err != nil {
			return err
		}
	}
	run = &dayRun{key: append(append(make([]byte, 0, len(day)+len(key)), day...), key...), last: r.Seq}
	t.runs[r.TerminalID] = run
	// A stored run of the same chain and day ending just before r goes on.
	c := t.days.Cursor()
	var k, v []byte
	if k, _ = c.Seek(run.key); k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	if len(k) == len(run.key) && bytes.Equal(k[:len(k)-8], run.key[:len(run.key)-8]) &&
		len(v) == 8 && binary.BigEndian.Uint64(v)+1 == r.Seq {
		run.key = append(run.key[:0], k...)
	}
	return nil
}

// putRuns writes the day index's runs the transaction changed.
func (t *tx) putRuns() error {
	for _, run := range t.runs {
		if err := t.days.Put(run.key, u64(run.last)); err != nil {
			return err
		}
	}
	clear(t.runs)
	return nil
}

func (t *tx) Redeemed(v terminal.VoucherID) (string, bool, error) {
	if e, ok := t.logGet(v); ok {
		t.knownFree = false
		return e.rec, true, nil
	}
	if t.filter != nil && !t.filter.has(voucherHash(v)) {
		t.free, t.knownFree = v, true
		return "", false, nil
	}
	cur := get(t.cVouchers, u64(uint64(v)))
	t.free, t.knownFree = v, cur == nil
	return string(cur), cur != nil, nil
}

// SetRedeemed appends the redemption to the voucher index's log.
func (t *tx) SetRedeemed(v terminal.VoucherID, recordID string) error {
	if !t.knownFree || t.free != v {
		if cur, ok, _ := t.Redeemed(v); ok {
			return fmt.Errorf("voucher %s redeemed by %s: %w", v, cur, hub.ErrExists)
		}
	}
	t.knownFree = false
	return t.logPut(v, recordID)
}

// ClearRedeemed deletes the voucher's live redemption from the log or the
// index, whichever holds it.
func (t *tx) ClearRedeemed(v terminal.VoucherID) error {
	t.knownFree = false
	if e, ok := t.logGet(v); ok {
		return t.logDelete(v, e)
	}
	return t.vouchers.Delete(u64(uint64(v)))
}

func (t *tx) Revoked(v terminal.VoucherID) (bool, error) {
	if t.nonEmpty(); !t.anyRevoked {
		return false, nil
	}
	return t.revoked.Get(u64(uint64(v))) != nil, nil
}

func (t *tx) Minted(v terminal.VoucherID) (string, bool, error) {
	c := get(t.cMinted, u64(uint64(v)))
	return string(c), c != nil, nil
}

func (t *tx) Merchant(id string) (terminal.Merchant, bool, error) {
	var m terminal.Merchant
	ok, err := getJSON(t.merchants, []byte(id), &m)
	return m, ok, err
}

func (t *tx) Hold(v terminal.VoucherID) (hub.Hold, bool, error) {
	if t.nonEmpty(); !t.anyHolds {
		return hub.Hold{}, false, nil
	}
	return t.hold(v)
}

// hold reads a voucher's hold: apart from Hold, whose common case (no
// holds at all) then allocates nothing.
func (t *tx) hold(v terminal.VoucherID) (hub.Hold, bool, error) {
	var h hub.Hold
	ok, err := getJSON(t.holds, u64(uint64(v)), &h)
	return h, ok, err
}

func (t *tx) PutHold(v terminal.VoucherID, h hub.Hold) error {
	t.nonEmpty()
	t.anyHolds = true
	return putJSON(t.holds, u64(uint64(v)), &h)
}

func (t *tx) DeleteHold(v terminal.VoucherID) error { return t.holds.Delete(u64(uint64(v))) }

// DeleteHoldsBefore drops the holds that have run out: claims whose
// redemption never came and that were never released (a terminal that
// lost power or its network mid-sale).
func (t *tx) DeleteHoldsBefore(now time.Time) (int, error) {
	var keys [][]byte
	err := t.holds.ForEach(func(k, v []byte) error {
		var hd hub.Hold
		if json.Unmarshal(v, &hd) != nil || !now.Before(hd.Until) {
			keys = append(keys, k)
		}
		return nil
	})
	// Deleted after the walk: a delete during it can make the cursor skip a key.
	for _, k := range keys {
		if err == nil {
			err = t.holds.Delete(k)
		}
	}
	return len(keys), err
}

func (t *tx) AddConflict(c *hub.Conflict) error {
	n, err := t.conflicts.NextSequence()
	if err != nil {
		return err
	}
	return putJSON(t.conflicts, u64(n), c)
}

// Memo reads a memo from the memos bucket, else (an expiring one) from the
// log: an expiring memo in the bucket was put there by an earlier version,
// after any in the log (memolog.go).
func (t *tx) Memo(key string) ([]byte, bool, error) {
	if t.memoFilter == nil || t.memoFilter.has(memoHash(t.memoSeed, key)) {
		if v := get(t.cMemos, []byte(key)); v != nil {
			return append([]byte(nil), v...), true, nil
		}
	}
	if expiring(key) {
		if v, ok := t.mlog.live[key]; ok {
			return slices.Clone(v), true, nil
		}
	}
	return nil, false, nil
}

func (t *tx) PutMemo(key string, v []byte) error {
	if key == "" {
		return fmt.Errorf("memo: empty key")
	}
	if expiring(key) {
		return t.mlogPut(key, v)
	}
	if t.memoFilter != nil {
		t.memoFilter.add(memoHash(t.memoSeed, key))
	}
	return t.memos.Put(append(t.slab.take(len(key)), key...), v)
}

// DeleteMemo deletes a memo. The memo filter keeps its key: a filter
// says which memos may be stored, and is made again once full.
func (t *tx) DeleteMemo(key string) error {
	if expiring(key) {
		return t.mlogDelete(key)
	}
	return t.memos.Delete([]byte(key))
}
