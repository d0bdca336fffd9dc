package offline

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	bolt "go.etcd.io/bbolt"

	"github.com/voucherpos/voucherpos/terminal"
)

// HighSeq returns the sequence of the last record committed (0 if none).
func (l *Ledger) HighSeq(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0, ErrClosed
	}
	return l.head, nil
}

// Watermark returns the server's durable watermark as last acknowledged.
func (l *Ledger) Watermark() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.water
}

// Pending returns up to n sealed records with Seq > after, in order. They
// come from the journal, so a server that lost records (its watermark
// below the terminal's) is sent them again.
func (l *Ledger) Pending(ctx context.Context, after uint64, n int) ([]terminal.Sealed, error) {
	if n <= 0 {
		return nil, nil
	}
	var out []terminal.Sealed
	err := l.view(ctx, func(tx *bolt.Tx) (err error) {
		out, err = readSealed(tx, after, n)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pending after %d: %w", after, err)
	}
	return out, nil
}

// ViewPending is Pending without the copies, for a caller that only
// encodes the records: inside one read transaction it appends up to n
// sealed records with Seq > after to buf[:0] and calls fn with them. Their
// Sig and Body are the ledger file's own bytes, valid only until fn
// returns: fn must copy what it keeps and must not change them. A fault
// reading a damaged file inside fn is ErrCorrupt, as in Pending.
func (l *Ledger) ViewPending(ctx context.Context, after uint64, n int, buf []terminal.Sealed, fn func([]terminal.Sealed) error) error {
	err := l.view(ctx, func(tx *bolt.Tx) error {
		recs, err := viewSealed(tx, after, n, buf[:0])
		if err != nil {
			return err
		}
		return fn(recs)
	})
	if err != nil {
		return fmt.Errorf("pending after %d: %w", after, err)
	}
	return nil
}

// Unsynced returns the number of records above the watermark and the total
// discount of the redemptions among them (the offline exposure).
func (l *Ledger) Unsynced(ctx context.Context) (int, terminal.Fen, error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0, 0, ErrClosed
	}
	return l.count, l.disc, nil
}

// rank orders results so that a resend never hides a verdict: a conflict
// stays a conflict, an acceptance is not turned into a duplicate.
func rank(r terminal.Result) int {
	switch r {
	case terminal.Conflict:
		return 3
	case terminal.Accepted:
		return 2
	case terminal.Duplicate:
		return 1
	}
	return 0
}

// Ack stores the server's outcomes and its durable watermark, and prunes
// the outbox up to the watermark, in one transaction. A watermark or an
// outcome beyond HighSeq is refused with ErrAck. A watermark below the
// stored one (a server restored from a backup) puts the records above it
// back in the outbox.
func (l *Ledger) Ack(ctx context.Context, watermark uint64, outcomes []terminal.Outcome) error {
	errs, err := l.AckMany(ctx, []uint64{watermark}, [][]terminal.Outcome{outcomes})
	if err == nil {
		err = errs[0]
	}
	if err != nil {
		return fmt.Errorf("ack %d: %w", watermark, err)
	}
	return nil
}

// AckMany stores acknowledgements that came together (watermarks[i] with
// outcomes[i]) in one transaction, as Ack would store them one after
// another, in order: errs[i] is ErrAck for one that Ack would refuse,
// which stores nothing of it and does not stop the others. An error of the
// transaction (err) stores none of them.
func (l *Ledger) AckMany(ctx context.Context, watermarks []uint64, outcomes [][]terminal.Outcome) (errs []error, err error) {
	errs = make([]error, len(watermarks))
	var weights []terminal.Fen
	var disc terminal.Fen
	var water uint64
	type back struct{ from, to uint64 }
	var backs []back
	err = l.update(ctx, func(tx *bolt.Tx) error {
		l.mu.RLock()
		high := l.head
		water, weights, disc = l.water, l.weights, l.disc
		l.mu.RUnlock()
		backs = backs[:0]
		for i := range errs {
			errs[i] = nil
		}
		stored := false
		for i, w := range watermarks {
			if w > high {
				errs[i] = fmt.Errorf("%w: watermark %d, high seq %d", ErrAck, w, high)
				continue
			}
			if errs[i] = checkOutcomes(high, outcomes[i]); errs[i] != nil {
				continue
			}
			if err := storeOutcomes(tx, outcomes[i]); err != nil {
				return err
			}
			var err error
			switch {
			case w > water:
				weights, disc, err = prune(tx, water, w, weights, disc)
			case w < water:
				backs = append(backs, back{water, w})
				weights, disc, err = requeue(tx, w, water, weights, disc)
			}
			if err != nil {
				return err
			}
			water, stored = w, true
		}
		if !stored { // nothing to commit: leave the file as it is
			return errNoAck
		}
		return tx.Bucket(bucketMeta).Put(keyWatermark, u64(water))
	}, func() {
		l.mu.Lock()
		l.water, l.weights, l.count, l.disc = water, weights, len(weights), disc
		l.mu.Unlock()
	})
	if errors.Is(err, errNoAck) {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	for _, b := range backs {
		l.log.Warn("server watermark went back: records queued again", "from", b.from, "to", b.to)
	}
	return errs, nil
}

// errNoAck rolls back an AckMany that stores nothing.
var errNoAck = errors.New("no acknowledgement to store")

// checkOutcomes refuses outcomes that Ack does not store: one for a
// sequence the ledger does not hold, or of an unknown result.
func checkOutcomes(high uint64, outcomes []terminal.Outcome) error {
	for _, o := range outcomes {
		if o.Seq == 0 || o.Seq > high {
			return fmt.Errorf("%w: outcome for seq %d, high seq %d", ErrAck, o.Seq, high)
		}
		if rank(o.Result) == 0 {
			return fmt.Errorf("%w: outcome %q for seq %d", ErrAck, o.Result, o.Seq)
		}
	}
	return nil
}

// storeOutcomes stores outcomes (checked) that rank above those stored.
func storeOutcomes(tx *bolt.Tx, outcomes []terminal.Outcome) error {
	ascending, size := true, 0
	for i, o := range outcomes {
		ascending = ascending && (i == 0 || o.Seq > outcomes[i-1].Seq)
		size += 8 + len(o.Result) + 1 + len(o.Detail)
	}
	if len(outcomes) == 0 {
		return nil
	}
	b, conflicts := appending(tx, bucketSync), appending(tx, bucketConflicts)
	// The outcomes already stored that the new ones may not replace. The
	// server sends a batch's outcomes in order: one cursor finds them all
	// (none, for records sent once); in any other order, a Get each.
	var kept []uint64 // ascending
	if ascending {
		keep := func(seq uint64, v []byte) bool {
			i := sort.Search(len(outcomes), func(i int) bool { return outcomes[i].Seq >= seq })
			return i < len(outcomes) && outcomes[i].Seq == seq && rank(decodeOutcome(seq, v).Result) >= rank(outcomes[i].Result)
		}
		c := b.Cursor()
		last := outcomes[len(outcomes)-1].Seq
		for k, v := c.Seek(u64(outcomes[0].Seq)); k != nil && getU64(k) <= last; k, v = c.Next() {
			if seq := getU64(k); keep(seq, v) {
				kept = append(kept, seq)
			}
		}
	}
	// bbolt keeps the keys and values it is given until the commit: they
	// are cut from one allocation, not made one by one.
	arena := make([]byte, 0, size)
	cut := func(from int) []byte { return arena[from:len(arena):len(arena)] }
	for _, o := range outcomes {
		if ascending {
			for len(kept) > 0 && kept[0] < o.Seq {
				kept = kept[1:]
			}
			if len(kept) > 0 && kept[0] == o.Seq {
				continue
			}
		} else if old := b.Get(u64(o.Seq)); old != nil && rank(decodeOutcome(o.Seq, old).Result) >= rank(o.Result) {
			continue
		}
		from := len(arena)
		arena = binary.BigEndian.AppendUint64(arena, o.Seq)
		key := cut(from)
		from = len(arena)
		arena = appendOutcome(arena, o)
		if err := b.Put(key, cut(from)); err != nil {
			return err
		}
		if o.Result == terminal.Conflict {
			if err := conflicts.Put(key, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// prune deletes the outbox entries up to watermark (files written before
// the outbox became the records above the watermark have them) and takes
// the records in (from, watermark] off the unsynced counters.
func prune(tx *bolt.Tx, from, watermark uint64, weights []terminal.Fen, disc terminal.Fen) ([]terminal.Fen, terminal.Fen, error) {
	c := tx.Bucket(bucketOutbox).Cursor()
	for k, _ := c.First(); k != nil && getU64(k) <= watermark; k, _ = c.First() {
		if err := c.Delete(); err != nil {
			return nil, 0, err
		}
	}
	n := watermark - from
	if n > uint64(len(weights)) { // not expected: the weights cover (from, head]
		w, err := weighUnsynced(tx, watermark, ^uint64(0))
		return w, sum(w), err
	}
	return weights[n:], disc - sum(weights[:n]), nil
}

// requeue puts the records in (from, to] back before weights, those of
// the records after to.
func requeue(tx *bolt.Tx, from, to uint64, weights []terminal.Fen, disc terminal.Fen) ([]terminal.Fen, terminal.Fen, error) {
	w, err := weighUnsynced(tx, from, to)
	return append(w, weights...), disc + sum(w), err
}

// weighUnsynced returns what each record in (from, to] weighs in the
// offline exposure: the discount of a redemption, nothing for a refund.
func weighUnsynced(tx *bolt.Tx, from, to uint64) ([]terminal.Fen, error) {
	var w []terminal.Fen
	c := tx.Bucket(bucketRecords).Cursor()
	for k, v := c.Seek(u64(from + 1)); k != nil && getU64(k) <= to; k, v = c.Next() {
		kind, d, err := kindAndDiscount(getU64(k), v)
		if err != nil {
			return w, err
		}
		if kind != terminal.KindRedemption {
			d = 0
		}
		w = append(w, d)
	}
	return w, nil
}

// sum adds up weights.
func sum(weights []terminal.Fen) terminal.Fen {
	var s terminal.Fen
	for _, w := range weights {
		s += w
	}
	return s
}

// kindAndDiscount reads a records value's kind and discount: the ledger's
// own bodies with terminal.KindAndDiscount, which reads only those two
// fields (an ack reads every record it acknowledges), anything else as
// encoding/json reads them.
func kindAndDiscount(seq uint64, v []byte) (terminal.Kind, terminal.Fen, error) {
	if checkSealed(seq, v) == nil {
		if kind, disc, ok := terminal.KindAndDiscount(v[sealedHeader:]); ok {
			return kind, disc, nil
		}
	}
	var r struct {
		Kind        terminal.Kind `json:"kind"`
		DiscountFen terminal.Fen  `json:"discount_fen"`
	}
	err := decodeBody(seq, v, &r)
	return r.Kind, r.DiscountFen, err
}
