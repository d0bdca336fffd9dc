package offline

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/voucherpos/voucherpos/terminal"
)

// Entry is one record of the journal with its sync state; the type lives
// in terminal so the report and the screens read it without this package.
type Entry = terminal.JournalEntry

// stored is a record copied out of a read transaction, decoded after it.
type stored struct {
	seq     uint64
	val     []byte
	outcome []byte
	hasOut  bool
	water   uint64
}

// fetcher copies records and their sync state out of one read transaction.
type fetcher struct {
	records, sync *bolt.Bucket
	water         uint64
}

func newFetcher(tx *bolt.Tx) fetcher {
	return fetcher{records: tx.Bucket(bucketRecords), sync: tx.Bucket(bucketSync),
		water: getU64(tx.Bucket(bucketMeta).Get(keyWatermark))}
}

func (f fetcher) fetch(seq uint64) (stored, bool) {
	key := u64(seq)
	v := f.records.Get(key)
	if v == nil {
		return stored{}, false
	}
	s := stored{seq: seq, val: append([]byte(nil), v...), water: f.water}
	if o := f.sync.Get(key); o != nil {
		s.outcome, s.hasOut = append([]byte(nil), o...), true
	}
	return s, true
}

func (s *stored) entry() (Entry, error) {
	var r terminal.Redemption
	if err := decodeBody(s.seq, s.val, &r); err != nil {
		return Entry{}, err
	}
	e := Entry{Record: &r, Sync: terminal.Awaiting}
	switch {
	case s.hasOut:
		o := decodeOutcome(s.seq, s.outcome)
		e.Sync, e.Detail = o.Result, o.Detail
	case s.seq <= s.water:
		e.Sync = terminal.Accepted
	}
	return e, nil
}

func entries(list []stored) ([]Entry, error) {
	out := make([]Entry, 0, len(list))
	for i := range list {
		e, err := list[i].entry()
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func records(list []Entry) []*terminal.Redemption {
	out := make([]*terminal.Redemption, len(list))
	for i := range list {
		out[i] = list[i].Record
	}
	return out
}

// Get returns the record with id, or an error matching terminal.ErrNotFound.
func (l *Ledger) Get(ctx context.Context, id string) (*terminal.Redemption, error) {
	e, err := l.Entry(ctx, id)
	if err != nil {
		return nil, err
	}
	return e.Record, nil
}

// Entry returns the record with id and its sync state, or an error
// matching terminal.ErrNotFound.
func (l *Ledger) Entry(ctx context.Context, id string) (Entry, error) {
	seq, ok := l.seqOf(id)
	var s stored
	if ok {
		err := l.view(ctx, func(tx *bolt.Tx) error {
			s, ok = newFetcher(tx).fetch(seq)
			return nil
		})
		if err != nil {
			return Entry{}, fmt.Errorf("get %s: %w", id, err)
		}
	}
	if !ok {
		return Entry{}, fmt.Errorf("record %q: %w", id, terminal.ErrNotFound)
	}
	return s.entry()
}

// Refunds returns the refund records of redemption id, oldest first.
func (l *Ledger) Refunds(ctx context.Context, id string) ([]*terminal.Redemption, error) {
	seq, ok := l.seqOf(id)
	if !ok {
		return nil, fmt.Errorf("record %q: %w", id, terminal.ErrNotFound)
	}
	var list []stored
	err := l.view(ctx, func(tx *bolt.Tx) error {
		prefix, f := u64(seq), newFetcher(tx)
		c := tx.Bucket(bucketRefunds).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if s, ok := f.fetch(getU64(k[8:])); ok {
				list = append(list, s)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("refunds of %s: %w", id, err)
	}
	es, err := entries(list)
	if err != nil {
		return nil, fmt.Errorf("refunds of %s: %w", id, err)
	}
	return records(es), nil
}

// Day returns the records committed on the UTC+8 day of day, in order.
// Records stay in the journal after the server acknowledged them.
func (l *Ledger) Day(ctx context.Context, day time.Time) ([]*terminal.Redemption, error) {
	es, err := l.DayEntries(ctx, day)
	if err != nil {
		return nil, err
	}
	return records(es), nil
}

// DayEntries returns the records of the UTC+8 day of day with their sync
// states, in order: what the merchant's dashboard lists.
func (l *Ledger) DayEntries(ctx context.Context, day time.Time) ([]Entry, error) {
	var list []stored
	err := l.view(ctx, func(tx *bolt.Tx) (err error) {
		list, err = dayRecords(tx, dayKey(day))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("day %s: %w", terminal.Day(day).Format(time.DateOnly), err)
	}
	return entries(list)
}

// Conflicts returns every record the server reported in conflict, oldest
// first: vouchers redeemed here offline that another terminal redeemed first.
func (l *Ledger) Conflicts(ctx context.Context) ([]Entry, error) {
	var list []stored
	err := l.view(ctx, func(tx *bolt.Tx) error {
		f := newFetcher(tx)
		return tx.Bucket(bucketConflicts).ForEach(func(k, _ []byte) error {
			if s, ok := f.fetch(getU64(k)); ok {
				list = append(list, s)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("conflicts: %w", err)
	}
	return entries(list)
}

// dayRecords copies the records of day (a day key) out of tx. Each key of
// the days bucket starts a run of records of its day: the record it names
// and those after it up to the first of another day (a commit adds a key
// when a record's day differs from the one before it; files of formatV1
// have a key for every record, each a run of its own).
func dayRecords(tx *bolt.Tx, day []byte) ([]stored, error) {
	var list []stored
	f, covered := newFetcher(tx), uint64(0)
	c := tx.Bucket(bucketDays).Cursor()
	for k, _ := c.Seek(day); k != nil && bytes.HasPrefix(k, day); k, _ = c.Next() {
		if len(k) != len(day)+8 {
			return nil, fmt.Errorf("%w: day key of %d bytes", ErrCorrupt, len(k))
		}
		start := getU64(k[len(day):])
		if start <= covered { // within the run before, walked to its end
			continue
		}
		for seq := start; ; seq++ {
			s, ok := f.fetch(seq)
			if !ok {
				break
			}
			if seq != start {
				var at struct {
					At time.Time `json:"at"`
				}
				if err := decodeBody(seq, s.val, &at); err != nil {
					return nil, err
				}
				if !bytes.Equal(dayKey(at.At), day) {
					break
				}
			}
			list = append(list, s)
			covered = seq
		}
	}
	return list, nil
}
