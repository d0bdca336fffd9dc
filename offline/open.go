package offline

import (
	"bytes"
	"fmt"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/voucherpos/voucherpos/terminal"
)

// load checks the file's identity, creates the buckets of a new file, and
// rebuilds the in-memory mirror.
func (l *Ledger) load() (err error) {
	defer recoverCorrupt(&err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	fresh, v1 := false, false
	err = l.db.Load().View(func(tx *bolt.Tx) error {
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
		if err := l.checkIdentity(meta); err != nil {
			return err
		}
		v1 = string(meta.Get(keyFormat)) == formatV1
		return nil
	})
	if err != nil {
		return translate(err)
	}
	if fresh {
		if err := l.db.Load().Update(l.create); err != nil {
			return translate(err)
		}
	}
	if v1 {
		if err := l.db.Load().Update(upgradeV1); err != nil {
			return translate(err)
		}
	}
	if err := l.addBuckets(); err != nil {
		return translate(err)
	}
	if err := l.db.Load().View(l.rebuild); err != nil {
		return translate(err)
	}
	return nil
}

func (l *Ledger) checkIdentity(meta *bolt.Bucket) error {
	if f := meta.Get(keyFormat); !knownFormat(f) {
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
		string(keyWatermark): u64(0), string(keyVouchers): u64(0),
	} {
		if err := meta.Put([]byte(k), v); err != nil {
			return err
		}
	}
	return nil
}

// upgradeV1 turns a file of formatV1, whose vouchers bucket holds every
// record, into one of format: the bucket holds the records up to the last.
// Its days bucket, one entry per record, is a run of one record per entry.
func upgradeV1(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if err := meta.Put(keyVouchers, u64(tx.Bucket(bucketOutbox).Sequence())); err != nil {
		return err
	}
	return meta.Put(keyFormat, []byte(format))
}

// addBuckets creates the buckets later versions added (bucketHolds) in a
// file that lacks them.
func (l *Ledger) addBuckets() error {
	missing := false
	if err := l.db.Load().View(func(tx *bolt.Tx) error { missing = tx.Bucket(bucketHolds) == nil; return nil }); err != nil || !missing {
		return err
	}
	return l.db.Load().Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketHolds)
		return err
	})
}

// HolderMemory is how far back, before the latest record, Open reads the
// records to rebuild the split-bill and lane memory (LastByHolder,
// LastOnLane). It is far longer than any split-bill window.
const HolderMemory = 7 * 24 * time.Hour

// head returns the sequence and hash of the last record, checking that the
// last record is the outbox's last sequence number: a record cut off the
// end of the chain is found here.
func head(tx *bolt.Tx) (uint64, [32]byte, error) {
	var hash [32]byte
	seq := tx.Bucket(bucketOutbox).Sequence()
	k, v := tx.Bucket(bucketRecords).Cursor().Last()
	if getU64(k) != seq {
		return 0, hash, fmt.Errorf("%w: last record is seq %d, the outbox numbered %d: %w", ErrCorrupt, getU64(k), seq, terminal.ErrChain)
	}
	if k != nil {
		if err := checkSealed(seq, v); err != nil {
			return 0, hash, err
		}
		copy(hash[:], v[33:65])
	}
	return seq, hash, nil
}

// rebuild loads the head, the unsynced counters and the history mirror.
func (l *Ledger) rebuild(tx *bolt.Tx) error {
	var err error
	if l.head, l.hash, err = head(tx); err != nil {
		return err
	}
	meta := tx.Bucket(bucketMeta)
	l.water = getU64(meta.Get(keyWatermark))
	if hw := meta.Get(keyHighWater); hw != nil {
		l.high = time.Unix(0, int64(getU64(hw)))
		l.highSaved = l.high
	}
	if b := tx.Bucket(bucketState).Get(keyState); len(b) > 0 {
		s, err := decodeState(b)
		l.setClocks(s)
		l.stateErr = err // a damaged state does not stop the ledger; the next SaveState replaces it
	}
	if l.water > l.head {
		return fmt.Errorf("%w: watermark %d above the last record %d", ErrCorrupt, l.water, l.head)
	}
	if l.weights, err = weighUnsynced(tx, l.water, l.head); err != nil {
		return err
	}
	l.count, l.disc = len(l.weights), sum(l.weights)
	err = tx.Bucket(bucketVouchers).ForEach(func(k, v []byte) error {
		l.hist.Load().MarkLive(terminal.VoucherID(getU64(k)))
		return nil
	})
	if err != nil {
		return err
	}
	if err := l.rebuildVouchers(tx); err != nil {
		return err
	}
	return l.rebuildRecent(tx)
}

// rebuildVouchers reads the records after meta's vouchers_seq, the ones
// the vouchers bucket does not hold yet, into the tail of the single-use
// index and the live-voucher mirror, as their commits did.
func (l *Ledger) rebuildVouchers(tx *bolt.Tx) error {
	l.vmark, l.vtail = getU64(tx.Bucket(bucketMeta).Get(keyVouchers)), make(map[terminal.VoucherID]uint64)
	if l.vmark > l.head {
		return fmt.Errorf("%w: vouchers index at seq %d, after the last record %d", ErrCorrupt, l.vmark, l.head)
	}
	records, index := tx.Bucket(bucketRecords), tx.Bucket(bucketVouchers)
	live := func(id terminal.VoucherID) uint64 {
		if seq, ok := l.vtail[id]; ok {
			return seq
		}
		return getU64(index.Get(u64(uint64(id))))
	}
	c := records.Cursor()
	for k, v := c.Seek(u64(l.vmark + 1)); k != nil; k, v = c.Next() {
		seq := getU64(k)
		var r tailFields
		if err := decodeBody(seq, v, &r); err != nil {
			return err
		}
		switch {
		case r.Kind == terminal.KindRedemption:
			if prev := live(r.Voucher.ID); prev != 0 {
				return fmt.Errorf("%w: seq %d redeems voucher %s, live from seq %d", ErrCorrupt, seq, r.Voucher.ID, prev)
			}
			l.vtail[r.Voucher.ID] = seq
			l.hist.Load().MarkLive(r.Voucher.ID)
		case r.Kind == terminal.KindRefund && r.VoucherReturned:
			orig, ok := l.seqOf(r.RefundOf)
			var sale tailFields
			if !ok || decodeBody(orig, records.Get(u64(orig)), &sale) != nil || live(sale.Voucher.ID) != orig {
				return fmt.Errorf("%w: seq %d returns the voucher of %s, which is not live from it", ErrCorrupt, seq, r.RefundOf)
			}
			l.vtail[sale.Voucher.ID] = 0
			l.hist.Load().Release(sale.Voucher.ID)
		}
	}
	return nil
}

// tailFields are the fields of a record body that the single-use index
// reads back.
type tailFields struct {
	Kind    terminal.Kind `json:"kind"`
	Voucher struct {
		ID terminal.VoucherID `json:"id"`
	} `json:"voucher"`
	RefundOf        string `json:"refund_of"`
	VoucherReturned bool   `json:"voucher_returned"`
}

// rebuildRecent reads the records back from the last one to HolderMemory
// before it, for the split-bill and lane memory and the high-water time.
func (l *Ledger) rebuildRecent(tx *bolt.Tx) error {
	var horizon time.Time
	c := tx.Bucket(bucketRecords).Cursor()
	for k, v := c.Last(); k != nil; k, v = c.Prev() {
		var r recentFields
		if err := decodeBody(getU64(k), v, &r); err != nil {
			return err
		}
		if horizon.IsZero() {
			horizon = r.At.Add(-HolderMemory)
			l.lastDay = string(dayKey(r.At))
		}
		if r.At.Before(horizon) {
			break
		}
		if r.At.After(l.high) {
			l.high = r.At
		}
		if r.Kind == terminal.KindRedemption {
			l.hist.Load().Remember(terminal.Recent{RedemptionID: r.ID, VoucherID: r.Voucher.ID, Holder: r.Voucher.Holder,
				At: r.At, EligibleFen: r.EligibleFen, SpendFen: r.Voucher.SpendFen})
		}
	}
	return nil
}

// recentFields are the fields of a record body that Open reads back: the
// split-bill and lane memory (terminal.RecentOf) and the time.
type recentFields struct {
	ID      string        `json:"id"`
	Kind    terminal.Kind `json:"kind"`
	At      time.Time     `json:"at"`
	Voucher struct {
		ID       terminal.VoucherID `json:"id"`
		Holder   terminal.HolderID  `json:"holder"`
		SpendFen terminal.Fen       `json:"spend_fen"`
	} `json:"voucher"`
	EligibleFen terminal.Fen `json:"eligible_fen"`
}
