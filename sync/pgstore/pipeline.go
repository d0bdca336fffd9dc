package pgstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/terminal"
)

// Pipelined group commits (hub.Pipeliner). The hub decides a group while
// the group before it is still writing and committing, on another
// connection: the new transaction reads (and locks) only what the one
// before did not touch, and takes the rest from that one's final state in
// memory, as it will be once committed. It writes nothing until the one
// before has committed; then it reads again, locking them, the rows it took
// (chain heads, memos, live rows; merchants and vouchers' codes and
// revocations without a lock) and goes on only if each is as it took it;
// else (another instance changed one in between, or the group before did
// not commit) it rolls back and the hub runs the group again with Commit.
// So a chain's records are still written only under its chain row's lock,
// and every decision was made over what was committed before it.

var (
	// errStale: a row taken from the group before was changed meanwhile.
	errStale = errors.New("pgstore: a row the group before left was changed by another instance")
	// errPrevFailed: the group before did not commit.
	errPrevFailed = errors.New("pgstore: the group before did not commit")
)

// taken is what a transaction took from the group before it, as it took
// it: the state that group leaves once committed.
type taken struct {
	heads     map[string]hub.Head
	memos     map[string]memoBase
	vouchers  map[terminal.VoucherID]voucherRow
	merchants map[string]*terminal.Merchant // nil: absent
}

type memoBase struct {
	value  []byte
	exists bool
}

// pending is a group commit whose decisions are made (hub.Pending).
type pending struct {
	t    *tx
	done chan struct{}
	err  error
}

func (p *pending) Done() <-chan struct{} { return p.done }

func (p *pending) Wait() error {
	<-p.done
	return p.err
}

// CommitAfter runs fn for a group in a new transaction while prev (a
// pending commit of this store, or nil) may still be committing, and
// commits it on its own once prev has (hub.Pipeliner). It is not retried:
// on any failure but hub.ErrOutcomeUnknown nothing is written and the hub
// runs the group again with Commit.
func (s *Store) CommitAfter(ctx context.Context, keys *hub.Keys, fn func(hub.Tx) error, prev hub.Pending) (hub.Pending, error) {
	var pp *pending
	if prev != nil {
		var ok bool
		if pp, ok = prev.(*pending); !ok {
			return nil, fmt.Errorf("pgstore: a pending commit of another store")
		}
		select {
		case <-pp.done:
			if pp.err != nil {
				return nil, errPrevFailed
			}
			pp = nil // committed: everything is read from the database
		default:
		}
	}
	if keys == nil {
		keys = &hub.Keys{}
	}
	pt, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	var ptx *tx
	if pp != nil {
		ptx = pp.t
	}
	t := newTx(ctx, pt, ptx)
	err = t.prefetch(keys)
	if err == nil {
		err = fn(t)
	}
	t.prev = nil
	if err != nil {
		_ = pt.Rollback(context.Background())
		return nil, err
	}
	p := &pending{t: t, done: make(chan struct{})}
	go p.finish(pp)
	return p, nil
}

// finish commits p's transaction once prev (nil: none) has committed.
func (p *pending) finish(prev *pending) {
	t := p.t
	err := func() error {
		if prev != nil {
			if prev.Wait() != nil {
				return errPrevFailed
			}
		}
		if err := t.check(); err != nil {
			return err
		}
		if err := t.flush(); err != nil {
			return err
		}
		return commit(t.ctx, t.tx)
	}()
	if err != nil {
		_ = t.tx.Rollback(context.Background())
	}
	p.err = err
	close(p.done)
}

// commit commits pt; a failure that may have left it committed is
// hub.ErrOutcomeUnknown.
func commit(ctx context.Context, pt pgx.Tx) error {
	err := pt.Commit(ctx)
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) || pgconn.SafeToRetry(err) {
		return err // refused, or never sent: nothing committed
	}
	return fmt.Errorf("%w: %v", hub.ErrOutcomeUnknown, err)
}

// untaken returns keys less those take takes from the group before t
// (keys itself, uncopied, without one). The take functions below are
// called only with a group before.
func untaken[K any](t *tx, keys []K, take func(K) bool) []K {
	if t.prev == nil {
		return keys
	}
	return slices.DeleteFunc(slices.Clone(keys), take)
}

// takeHead takes a chain head from the group before, if it has it.
func (t *tx) takeHead(id string) bool {
	e, ok := t.prev.heads[id]
	if !ok {
		return false
	}
	t.heads[id], t.taken.heads[id] = &headEntry{h: e.h}, e.h
	return true
}

// takeRecord takes a record (or its absence) from the group before.
func (t *tx) takeRecord(ref hub.RecordRef) bool {
	r, ok := t.prev.recs[ref]
	if ok {
		t.recs[ref] = r // never changed once put
	}
	return ok
}

// takeVoucher takes a voucher's row from the group before: its live row
// exists once that group commits if something is live on it.
func (t *tx) takeVoucher(v terminal.VoucherID) bool {
	row, ok := t.prev.vouchers[v]
	if !ok {
		return false
	}
	base := voucherRow{code: row.code, revoked: row.revoked, exists: !row.empty(), redeemed: row.redeemed, hold: cloneHold(row.hold)}
	mine := base
	mine.hold = cloneHold(base.hold) // this group's to change; base stays as taken
	t.vouchers[v], t.taken.vouchers[v] = &mine, base
	return true
}

func cloneHold(h *hub.Hold) *hub.Hold {
	if h == nil {
		return nil
	}
	c := *h
	return &c
}

// takeMerchant takes a merchant (or its absence) from the group before.
func (t *tx) takeMerchant(id string) bool {
	m, ok := t.prev.merchants[id]
	if ok {
		t.merchants[id], t.taken.merchants[id] = m, m // never changed in place
	}
	return ok
}

// takeMemo takes a memo from the group before: it exists once that group
// commits if it existed or that group wrote it, unless that group deleted it.
func (t *tx) takeMemo(key string) bool {
	m, ok := t.prev.memos[key]
	if !ok {
		return false
	}
	base := memoBase{value: m.value, exists: (m.exists || m.dirty) && m.value != nil}
	t.memos[key], t.taken.memos[key] = &memo{value: slices.Clone(m.value), exists: base.exists}, base
	return true
}

// check reads again, now that the group before has committed, what t took
// from it (locking the chain heads, memos and live rows, as prefetch does)
// and returns errStale if anything differs.
func (t *tx) check() error {
	k := t.taken
	if k == nil {
		return nil
	}
	c := newTx(t.ctx, t.tx, nil)
	var b pgx.Batch
	c.queueHeads(&b, slices.Collect(maps.Keys(k.heads)))
	c.queueVouchers(&b, slices.Collect(maps.Keys(k.vouchers)))
	c.queueMerchants(&b, slices.Collect(maps.Keys(k.merchants)))
	c.queueMemos(&b, slices.Collect(maps.Keys(k.memos)))
	if err := c.send(&b); err != nil {
		return err
	}
	for id, h := range k.heads {
		if c.heads[id].h != h {
			return fmt.Errorf("%w: chain %s", errStale, id)
		}
	}
	for v, want := range k.vouchers {
		got := c.vouchers[v]
		if !sameString(got.code, want.code) || got.revoked != want.revoked || got.exists != want.exists ||
			got.redeemed != want.redeemed || !sameHold(got.hold, want.hold) {
			return fmt.Errorf("%w: voucher %s", errStale, v)
		}
	}
	for id, want := range k.merchants {
		got := c.merchants[id]
		if (got == nil) != (want == nil) || got != nil && !reflect.DeepEqual(*got, *want) {
			return fmt.Errorf("%w: merchant %s", errStale, id)
		}
	}
	for key, want := range k.memos {
		got := c.memos[key]
		if got.exists != want.exists || !bytes.Equal(got.value, want.value) {
			return fmt.Errorf("%w: memo %s", errStale, key)
		}
	}
	return nil
}

func sameString(a, b *string) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }

func sameHold(a, b *hub.Hold) bool {
	return a == nil && b == nil || a != nil && b != nil && a.TerminalID == b.TerminalID && a.Until.Equal(b.Until)
}
