package offline

import (
	"bytes"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/voucherpos/voucherpos/terminal"
)

// load checks the file's identity, creates the buckets of a new file, and
// rebuilds the in-memory mirror.
func (l *Ledger) load() (err error) {
	defer recoverCorrupt(&err)
	fresh := false
	err = l.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			empty := true
			_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
			if !empty {
				return fmt.Errorf("%w: a bbolt file without the ledger's meta bucket", ErrForeign)
			}
			fresh = true
			return nil
		}
		return l.checkIdentity(meta)
	})
	if err != nil {
		return translate(err)
	}
	if fresh {
		if err := l.db.Update(l.create); err != nil {
			return translate(err)
		}
	}
	if err := l.db.View(l.rebuild); err != nil {
		return translate(err)
	}
	l.refreshUsage()
	return nil
}

func (l *Ledger) checkIdentity(meta *bolt.Bucket) error {
	if f := meta.Get(keyFormat); string(f) != format {
		return fmt.Errorf("%w: format %q, want %q", ErrForeign, f, format)
	}
	if t := meta.Get(keyTerminal); string(t) != l.opts.TerminalID {
		return fmt.Errorf("%w: ledger of terminal %q, not %q", ErrForeign, t, l.opts.TerminalID)
	}
	if m := meta.Get(keyMerchant); string(m) != l.opts.MerchantID {
		return fmt.Errorf("%w: ledger of merchant %q, not %q", ErrForeign, m, l.opts.MerchantID)
	}
	if k := meta.Get(keyPublicKey); !bytes.Equal(k, l.pub) {
		return fmt.Errorf("%w: records signed with another terminal key", ErrForeign)
	}
	for _, b := range allBuckets {
		if tx := meta.Tx(); tx.Bucket(b) == nil {
			return fmt.Errorf("%w: bucket %s missing", ErrCorrupt, b)
		}
	}
	return nil
}

func (l *Ledger) create(tx *bolt.Tx) error {
	for _, b := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	meta := tx.Bucket(bucketMeta)
	for k, v := range map[string][]byte{
		string(keyFormat): []byte(format), string(keyTerminal): []byte(l.opts.TerminalID),
		string(keyMerchant): []byte(l.opts.MerchantID), string(keyPublicKey): l.pub,
		string(keyHead): append(u64(0), make([]byte, 32)...), string(keyWatermark): u64(0),
		string(keyUnsynced): pair(0, 0),
	} {
		if err := meta.Put([]byte(k), v); err != nil {
			return err
		}
	}
	return nil
}

// rebuild loads the head, counters and history mirror, and checks that the
// head agrees with the records and the outbox's sequence.
func (l *Ledger) rebuild(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	head := meta.Get(keyHead)
	if len(head) != 40 {
		return fmt.Errorf("%w: head of %d bytes", ErrCorrupt, len(head))
	}
	l.head = getU64(head)
	copy(l.hash[:], head[8:])
	if last, _ := tx.Bucket(bucketRecords).Cursor().Last(); getU64(last) != l.head {
		return fmt.Errorf("%w: head is seq %d, last record seq %d", ErrCorrupt, l.head, getU64(last))
	}
	if seq := tx.Bucket(bucketOutbox).Sequence(); seq != l.head {
		return fmt.Errorf("%w: head is seq %d, outbox sequence %d", ErrCorrupt, l.head, seq)
	}
	l.water = getU64(meta.Get(keyWatermark))
	u := meta.Get(keyUnsynced)
	l.count, l.disc = int(getU64(u)), terminal.Fen(getU64(u[min(8, len(u)):]))
	if hw := meta.Get(keyHighWater); hw != nil {
		l.high = time.Unix(0, int64(getU64(hw)))
	}
	err := tx.Bucket(bucketVouchers).ForEach(func(k, v []byte) error {
		l.hist.redeemed[terminal.VoucherID(getU64(k))] = getU64(v)
		return nil
	})
	if err != nil {
		return err
	}
	err = tx.Bucket(bucketHolders).ForEach(func(k, v []byte) error {
		r, err := decodeRecent(l.opts.TerminalID, v)
		l.hist.byHolder[r.Holder] = r
		return err
	})
	if err != nil {
		return err
	}
	if v := meta.Get(keyLane); v != nil {
		r, err := decodeRecent(l.opts.TerminalID, v)
		if err != nil {
			return err
		}
		l.hist.lane, l.hist.hasLane = r, true
	}
	return nil
}
