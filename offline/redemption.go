package offline

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/voucherpos/voucherpos/terminal"
)

// Commit durably stores r, a redemption or a refund, in one bbolt
// transaction: the sealed record (JSON body, chained and signed), its outbox
// entry, the single-use index of voucher ids, the day's journal and the
// refund index; then it updates the in-memory history. It assigns r.Seq and r.ID, fills an empty
// TerminalID, MerchantID or At, and returns only after the transaction is
// on disk. On any error nothing is written and r is left as it was.
//
// A redemption of a voucher that is live in the ledger is refused with a
// terminal.Error of code already_redeemed; a refund must name a redemption
// of this ledger (terminal.ErrRefund otherwise), and returns its voucher
// (makes it redeemable again) if VoucherReturned. Redemptions are refused
// with ErrFull when the file is close to MaxSize; refunds have a reserve.
func (l *Ledger) Commit(ctx context.Context, r *terminal.Redemption) error {
	return l.CommitMany(ctx, []*terminal.Redemption{r})
}

// CommitMany commits records in one transaction, in order, as Commit does
// each: all of them or none. It is for loading backlogs (tests, benchmarks);
// the lane commits one record at a time.
func (l *Ledger) CommitMany(ctx context.Context, recs []*terminal.Redemption) error {
	if len(recs) == 0 {
		return ctx.Err()
	}
	saved := make([]terminal.Redemption, len(recs))
	for i, r := range recs {
		if r == nil {
			return fmt.Errorf("commit: nil record: %w", ErrRecord)
		}
		saved[i] = *r
	}
	err := l.prepare(recs)
	var c commit
	if err == nil {
		err = l.update(ctx, func(tx *bolt.Tx) error {
			c = commit{l: l, tx: tx}
			return c.run(recs)
		}, c.apply)
	}
	var done *committedSale
	if errors.As(err, &done) && len(recs) == 1 {
		*recs[0] = done.rec // a retry of a committed sale: its record is the answer
		l.log.Info("commit of a sale already in the ledger: answered with its record", "checkout", done.rec.CheckoutID, "record", done.rec.ID)
		return nil
	}
	if err != nil {
		err = l.outcome(&c, err)
	}
	if err != nil {
		for i, r := range recs {
			*r = saved[i]
		}
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// outcome tells the truth about a commit that returned err. When bbolt's
// commit itself failed (after writing some or all of the transaction) the
// ledger has reloaded the file: if the file holds the last record of c,
// with the hash c gave it, the records are committed and outcome returns
// nil (the chain links every earlier record of c to it); if the file ends
// before them they are not (ErrNotCommitted); if the file could not be read
// again nobody knows (ErrOutcomeUnknown).
func (l *Ledger) outcome(c *commit, err error) error {
	var ce *commitError
	if !errors.As(err, &ce) {
		return err
	}
	if !ce.reloaded {
		return fmt.Errorf("%w: %w", ErrOutcomeUnknown, ce.cause)
	}
	l.mu.RLock()
	head := l.head
	l.mu.RUnlock()
	if head < c.head {
		return fmt.Errorf("%w: %w", ErrNotCommitted, ce.cause)
	}
	var found [32]byte
	verr := l.view(context.Background(), func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketRecords).Get(u64(c.head))
		if err := checkSealed(c.head, v); err != nil {
			return err
		}
		copy(found[:], v[33:65])
		return nil
	})
	switch {
	case verr != nil:
		return fmt.Errorf("%w: %w (reading back seq %d: %v)", ErrOutcomeUnknown, ce.cause, c.head, verr)
	case found != c.hash:
		return fmt.Errorf("%w: seq %d holds another record after a failed write (%v): %w", ErrCorrupt, c.head, ce.cause, terminal.ErrChain)
	}
	l.log.Warn("offline ledger: the record is in the file although the write reported an error; it counts as committed",
		"seq", c.head, "err", ce.cause)
	return nil
}

// prepare fills and checks what can be checked outside the transaction.
func (l *Ledger) prepare(recs []*terminal.Redemption) error {
	now := l.opts.Now()
	for _, r := range recs {
		if r.TerminalID == "" {
			r.TerminalID = l.opts.TerminalID
		}
		if r.MerchantID == "" {
			r.MerchantID = l.opts.MerchantID
		}
		if r.At.IsZero() {
			r.At = now
		}
		r.At = r.At.Round(0)
		if err := l.check(r); err != nil {
			return err
		}
	}
	return nil
}

func (l *Ledger) check(r *terminal.Redemption) error {
	switch {
	case r.Kind != terminal.KindRedemption && r.Kind != terminal.KindRefund:
		return fmt.Errorf("kind %q: %w", r.Kind, ErrRecord)
	case r.TerminalID != l.opts.TerminalID:
		return fmt.Errorf("record of terminal %q in the ledger of %q: %w", r.TerminalID, l.opts.TerminalID, ErrRecord)
	case r.MerchantID != l.opts.MerchantID:
		return fmt.Errorf("record of merchant %q in the ledger of %q: %w", r.MerchantID, l.opts.MerchantID, ErrRecord)
	case r.Kind == terminal.KindRedemption && r.Voucher.ID == 0:
		return fmt.Errorf("redemption without a voucher id: %w", ErrRecord)
	case r.Kind == terminal.KindRefund && r.RefundOf == "":
		return fmt.Errorf("refund without refund_of: %w", ErrRecord)
	}
	for _, f := range []terminal.Fen{r.TotalFen, r.EligibleFen, r.DiscountFen, r.PayableFen, r.RefundFen, r.VoucherShareFen} {
		if !f.Valid() {
			return fmt.Errorf("amount %d fen out of range: %w", f, ErrRecord)
		}
	}
	return nil
}

// commit is one write transaction of CommitMany, and what it changes in
// the mirror once it is on disk.
type commit struct {
	l     *Ledger
	tx    *bolt.Tx
	head  uint64
	hash  [32]byte
	high  time.Time
	count int
	disc  terminal.Fen
	// weights are the committed records' weights in disc (Ledger.weights).
	weights []terminal.Fen
	ops     []historyOp // in commit order
	day     string      // the day key of the last record
	// vouchers are this transaction's changes to the single-use index
	// (as Ledger.vtail); flushed is set when the transaction wrote them and
	// the ledger's tail into the vouchers bucket.
	vouchers map[terminal.VoucherID]uint64
	flushed  bool
}

// vouchersFlush is how many changes to the single-use index the ledger
// keeps in its tail (Ledger.vtail, the records after meta's vouchers_seq)
// before a commit writes them into the vouchers bucket: a commit then
// writes the pages of one index leaf per so many records instead of one
// per record, and Open reads back at most so many records.
const vouchersFlush = 512

// historyOp is one change to the history mirror: a redemption added, or
// (free) a voucher returned.
type historyOp struct {
	r    terminal.Recent
	free bool
}

func (c *commit) run(recs []*terminal.Redemption) error {
	l := c.l
	l.mu.RLock() // the mirror is current: wmu is held from the last commit's apply to this one's
	c.head, c.hash, c.count, c.disc, c.high = l.head, l.hash, l.count, l.disc, l.high
	used := l.usage.UsedBytes
	diskFull, free, fault := l.usage.DiskFull, l.usage.DiskFreeBytes, l.fault
	l.mu.RUnlock()
	c.day, c.vouchers = l.lastDay, make(map[terminal.VoucherID]uint64, len(recs))
	for _, r := range recs {
		if used >= l.limit(r.Kind) {
			return fmt.Errorf("%w: %d of %d bytes used", ErrFull, used, l.opts.MaxSize)
		}
		if r.Kind == terminal.KindRedemption && diskFull {
			return fmt.Errorf("%w: %d bytes free, reserve %d", ErrDiskFull, free, l.opts.DiskReserve)
		}
		if r.Kind == terminal.KindRedemption && !r.Online && fault != nil {
			return fmt.Errorf("%w: offline redemption refused: %v", ErrFault, fault)
		}
		if err := c.one(r); err != nil {
			return err
		}
	}
	if len(l.vtail)+len(c.vouchers) >= vouchersFlush {
		return c.flushVouchers()
	}
	return nil
}

func (c *commit) one(r *terminal.Redemption) error {
	tx := c.tx
	seq, err := tx.Bucket(bucketOutbox).NextSequence()
	if err != nil {
		return err
	}
	if seq != c.head+1 {
		return fmt.Errorf("%w: outbox sequence %d after head %d", ErrCorrupt, seq, c.head)
	}
	r.Seq, r.ID = seq, terminal.RecordID(r.TerminalID, seq)
	key := u64(seq)
	var discount terminal.Fen
	switch r.Kind {
	case terminal.KindRedemption:
		if err := c.redeem(key, r); err != nil {
			return err
		}
		discount = r.DiscountFen
	case terminal.KindRefund:
		if err := c.refund(key, r); err != nil {
			return err
		}
	}
	body, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode record: %w", err)
	}
	s := terminal.Seal(c.l.opts.Key, c.hash, seq, body)
	if err := appending(tx, bucketRecords).Put(key, encodeSealed(&s)); err != nil {
		return err
	}
	if day := dayKey(r.At); string(day) != c.day { // a run of another day starts here
		if err := appending(tx, bucketDays).Put(append(day, key...), nil); err != nil {
			return err
		}
		c.day = string(day)
	}
	if r.Kind == terminal.KindRedemption && r.CheckoutID != "" {
		if err := tx.Bucket(bucketHolds).Delete([]byte(r.CheckoutID)); err != nil { // the record holds the voucher now
			return err
		}
	}
	c.head, c.hash = seq, s.Hash
	c.count++
	c.disc += discount
	c.weights = append(c.weights, discount)
	if r.At.After(c.high) {
		c.high = r.At
	}
	return nil
}

// redeem claims the voucher in the single-use index.
func (c *commit) redeem(key []byte, r *terminal.Redemption) error {
	if prev, live := c.live(r.Voucher.ID); live {
		if same, err := c.sameSale(prev, r); err != nil || same != nil {
			return cmp.Or(err, error(same))
		}
		return terminal.Errorf(terminal.AlreadyRedeemed, "voucher %s redeemed by %s", r.Voucher.ID,
			terminal.RecordID(c.l.opts.TerminalID, prev))
	}
	c.vouchers[r.Voucher.ID] = getU64(key)
	c.ops = append(c.ops, historyOp{r: terminal.RecentOf(r)})
	return nil
}

// live returns the seq of voucher id's live redemption: the single-use
// index is the vouchers bucket, then the ledger's tail of changes after
// it, then this transaction's.
func (c *commit) live(id terminal.VoucherID) (uint64, bool) {
	if seq, ok := c.vouchers[id]; ok {
		return seq, seq != 0
	}
	if seq, ok := c.l.vtail[id]; ok {
		return seq, seq != 0
	}
	v := c.tx.Bucket(bucketVouchers).Get(u64(uint64(id)))
	return getU64(v), v != nil
}

// flushVouchers writes the ledger's tail and this transaction's changes
// into the vouchers bucket, in key order, and moves meta's vouchers_seq to
// the transaction's last record.
func (c *commit) flushVouchers() error {
	changes := maps.Clone(c.l.vtail)
	maps.Copy(changes, c.vouchers)
	if err := writeVouchers(c.tx, changes, c.head); err != nil {
		return err
	}
	c.flushed = true
	return nil
}

// writeVouchers applies changes (voucher → seq, 0 to delete) to the
// vouchers bucket and records that it holds the records up to seq.
func writeVouchers(tx *bolt.Tx, changes map[terminal.VoucherID]uint64, seq uint64) error {
	b := tx.Bucket(bucketVouchers)
	for _, id := range slices.Sorted(maps.Keys(changes)) {
		var err error
		if s := changes[id]; s == 0 {
			err = b.Delete(u64(uint64(id)))
		} else {
			err = b.Put(u64(uint64(id)), u64(s))
		}
		if err != nil {
			return err
		}
	}
	return tx.Bucket(bucketMeta).Put(keyVouchers, u64(seq))
}

// committedSale is returned inside a commit for a redemption that is
// already in the ledger: the same checkout's record, committed by an
// earlier call whose answer was lost or unknown (a retry). CommitMany
// answers it with the stored record.
type committedSale struct{ rec terminal.Redemption }

func (e *committedSale) Error() string {
	return "checkout " + e.rec.CheckoutID + " already committed as " + e.rec.ID
}

// sameSale returns a *committedSale if seq, the live redemption of r's
// voucher, is r's own checkout's.
func (c *commit) sameSale(seq uint64, r *terminal.Redemption) (*committedSale, error) {
	if r.CheckoutID == "" {
		return nil, nil
	}
	var prev terminal.Redemption
	if err := decodeBody(seq, c.tx.Bucket(bucketRecords).Get(u64(seq)), &prev); err != nil {
		return nil, err
	}
	if prev.CheckoutID != r.CheckoutID || prev.Kind != terminal.KindRedemption {
		return nil, nil
	}
	return &committedSale{rec: prev}, nil
}

// refund checks that r refunds a redemption of this ledger, indexes it,
// and returns the voucher if r says so.
func (c *commit) refund(key []byte, r *terminal.Redemption) error {
	origSeq, ok := c.l.seqOf(r.RefundOf)
	var orig terminal.Redemption
	if ok {
		v := c.tx.Bucket(bucketRecords).Get(u64(origSeq))
		if v == nil {
			ok = false
		} else if err := decodeBody(origSeq, v, &orig); err != nil {
			return err
		}
	}
	if !ok {
		return fmt.Errorf("refund of %s, not a record of this ledger: %w", r.RefundOf, terminal.ErrRefund)
	}
	if orig.Kind != terminal.KindRedemption {
		return fmt.Errorf("refund of %s, a %s: %w", r.RefundOf, orig.Kind, terminal.ErrRefund)
	}
	if err := c.tx.Bucket(bucketRefunds).Put(append(u64(origSeq), key...), nil); err != nil {
		return err
	}
	if !r.VoucherReturned {
		return nil
	}
	if seq, live := c.live(orig.Voucher.ID); !live || seq != origSeq {
		return fmt.Errorf("refund of %s returns voucher %s, which is not live from it: %w", r.RefundOf, orig.Voucher.ID, terminal.ErrRefund)
	}
	c.vouchers[orig.Voucher.ID] = 0
	c.ops = append(c.ops, historyOp{r: terminal.Recent{VoucherID: orig.Voucher.ID}, free: true})
	return nil
}

// apply brings the mirror up to date after the transaction committed
// (update calls it only then).
func (c *commit) apply() {
	l := c.l
	l.mu.Lock()
	defer l.mu.Unlock()
	l.head, l.hash, l.count, l.disc, l.high = c.head, c.hash, c.count, c.disc, c.high
	l.weights = append(l.weights, c.weights...)
	if c.high.After(l.highSaved) { // the records carry their times: Open reads them back
		l.highSaved = c.high
	}
	l.lastDay = c.day
	if c.flushed {
		l.vmark, l.vtail = c.head, make(map[terminal.VoucherID]uint64)
	} else {
		maps.Copy(l.vtail, c.vouchers)
	}
	for _, op := range c.ops {
		if op.free {
			l.hist.Load().Release(op.r.VoucherID)
		} else {
			l.hist.Load().Add(op.r)
		}
	}
}

// seqOf returns the sequence of this terminal's record id.
func (l *Ledger) seqOf(id string) (uint64, bool) {
	term, seq, ok := terminal.ParseRecordID(id)
	if !ok || term != l.opts.TerminalID {
		return 0, false
	}
	return seq, true
}

// ByCheckout returns the redemption that completed checkout id (a lane's
// checkout id, which carries the time it was opened), or an error matching
// terminal.ErrNotFound: then no sale of that checkout is recorded, for
// certain, since the ledger is where a sale is committed. The till asks it
// after a restart, when the lane no longer knows the checkout.
func (l *Ledger) ByCheckout(ctx context.Context, id string) (*terminal.Redemption, error) {
	opened, ok := terminal.CheckoutOpened(id)
	if !ok {
		return nil, fmt.Errorf("checkout %q: %w", id, terminal.ErrNotFound)
	}
	for day := terminal.Day(opened); !day.After(terminal.Day(opened).AddDate(0, 0, 1)); day = day.AddDate(0, 0, 1) {
		es, err := l.DayEntries(ctx, day)
		if err != nil {
			return nil, fmt.Errorf("checkout %s: %w", id, err)
		}
		for _, e := range es {
			if e.Record.CheckoutID == id && e.Record.Kind == terminal.KindRedemption {
				return e.Record, nil
			}
		}
	}
	return nil, fmt.Errorf("checkout %q: no record: %w", id, terminal.ErrNotFound)
}
