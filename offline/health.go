package offline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/voucherpos/voucherpos/terminal"
)

// The ledger looks after itself in the background (Options.Every): it
// writes the clock's high-water mark when it moved, measures the free disk
// space, and audits its chain a piece at a time, so that damage to the file
// (a changed amount, a deleted record) is found while the agent runs, not
// only by an auditor with a copy.

// Audit pacing. The first pass after Open runs at auditFirstChunk records a
// step, one step every auditFirstPause (about 10,000 records a second, a
// third of one core here); later passes verify auditChunk records a step.
// After a pass the audit keeps up with new records and starts over from the
// first record auditPause later.
const (
	auditFirstChunk = 1024
	auditFirstPause = 25 * time.Millisecond
	auditChunk      = 256
	auditPause      = 10 * time.Minute
)

// AuditState is the progress of the ledger's background audit.
type AuditState struct {
	// Passes is the number of complete passes over the chain since Open.
	Passes int `json:"passes"`
	// Seq is the last record verified in the current pass.
	Seq uint64 `json:"seq"`
	// LastPass is when the last complete pass ended (zero: none yet).
	LastPass time.Time `json:"last_pass,omitzero"`
	// Fault is the ledger's fault, empty when sound.
	Fault string `json:"fault,omitempty"`
}

// auditor is the state of the background audit; amu guards it.
type auditor struct {
	amu     sync.Mutex
	next    uint64   // next seq to verify (0: start a pass)
	prev    [32]byte // hash of record next-1
	passes  int
	last    time.Time
	restart time.Time // when the next pass starts over
}

// Observe raises the ledger's high-water time to t, the terminal's clock at
// a decision. It is written to the file with the next write or within
// Options.Every (batched: a decision costs no fsync of its own), so a clock
// set back is caught across restarts.
func (l *Ledger) Observe(t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t.After(l.high) {
		l.high = t.Round(0)
	}
}

// putHighWater writes the high-water time into tx if it moved since it was
// last stored. Every write transaction calls it, so records, acks and
// state carry it for free; update marks it saved after the commit.
func (l *Ledger) putHighWater(tx *bolt.Tx) error {
	l.mu.RLock()
	high, saved := l.high, l.highSaved
	l.mu.RUnlock()
	if !high.After(saved) {
		return nil
	}
	if err := tx.Bucket(bucketMeta).Put(keyHighWater, u64(uint64(high.UnixNano()))); err != nil {
		return err
	}
	tx.OnCommit(func() {
		l.mu.Lock()
		if high.After(l.highSaved) {
			l.highSaved = high
		}
		l.mu.Unlock()
	})
	return nil
}

// flushHighWater writes the high-water time if it moved since the last write.
func (l *Ledger) flushHighWater(ctx context.Context) error {
	l.mu.RLock()
	dirty := l.high.After(l.highSaved) && !l.closed
	l.mu.RUnlock()
	if !dirty {
		return nil
	}
	if err := l.update(ctx, func(*bolt.Tx) error { return nil }, nil); err != nil {
		return fmt.Errorf("save high-water time: %w", err)
	}
	return nil
}

// Fault returns why the ledger cannot be trusted for offline redemptions:
// the audit found a damaged or altered record, or the file could not be
// read again after a failed write. Nil when sound. A fault found by the
// audit stays until the agent restarts (and audits again); an unreadable
// file clears when a later write opens it again.
func (l *Ledger) Fault() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.fault != nil {
		return l.fault
	}
	return l.broken
}

// setFault records err as the ledger's fault, once.
func (l *Ledger) setFault(err error) {
	l.mu.Lock()
	first := l.fault == nil
	if first {
		l.fault = err
	}
	l.mu.Unlock()
	if first {
		l.log.Error("offline ledger audit failed: offline redemptions stopped (离线账本校验失败，已停止离线核销)",
			"path", l.path, "err", err)
	}
}

// hold returns why offline redemptions must stop, or "". Call with mu held.
func (l *Ledger) hold() terminal.Reason {
	switch {
	case l.fault != nil, l.broken != nil:
		return terminal.ReasonLedgerFault
	case l.usage.DiskFull:
		return terminal.ReasonDiskFull
	}
	return ""
}

// Audit returns the progress of the background audit.
func (l *Ledger) Audit() AuditState {
	l.audit.amu.Lock()
	s := AuditState{Passes: l.audit.passes, LastPass: l.audit.last}
	if l.audit.next > 0 {
		s.Seq = l.audit.next - 1
	}
	l.audit.amu.Unlock()
	if err := l.Fault(); err != nil {
		s.Fault = err.Error()
	}
	return s
}

// AuditStep verifies up to n records after the last one the audit
// verified (chain, hash, signature, body), and reports whether a pass over
// the whole chain ended with it. A damaged record makes the ledger faulted
// (Fault) and is returned, matching terminal.ErrChain or ErrCorrupt. The
// background work calls it; tests and tools may too.
func (l *Ledger) AuditStep(ctx context.Context, n int) (passed bool, err error) {
	a := &l.audit
	a.amu.Lock()
	defer a.amu.Unlock()
	now := time.Now()
	l.mu.RLock()
	head, hash := l.head, l.hash
	l.mu.RUnlock()
	if a.next == 0 || (a.next > head && !a.restart.IsZero() && !now.Before(a.restart)) {
		a.next, a.prev, a.restart = 1, [32]byte{}, time.Time{}
	}
	if a.next > head {
		return a.endPass(now), nil
	}
	var recs []terminal.Sealed
	err = l.view(ctx, func(tx *bolt.Tx) (err error) {
		recs, err = readSealed(tx, a.next-1, int(min(uint64(n), head-a.next+1)))
		return err
	})
	if err == nil && len(recs) == 0 {
		err = fmt.Errorf("record %d missing: %w", a.next, terminal.ErrChain)
	}
	for i := range recs {
		if err == nil {
			err = checkBody(l.opts.TerminalID, &recs[i])
		}
	}
	if err == nil {
		var seq uint64
		seq, a.prev, err = terminal.VerifyChain(l.pub, a.next-1, a.prev, recs)
		a.next = seq + 1
		if err == nil && seq == head && a.prev != hash {
			err = fmt.Errorf("last record seq %d changed since it was committed: %w", seq, terminal.ErrChain)
		}
	}
	if err != nil {
		if errors.Is(err, terminal.ErrChain) || errors.Is(err, ErrCorrupt) {
			err = fmt.Errorf("audit: %w", err)
			l.setFault(err)
		}
		return false, err
	}
	if a.next > head {
		return a.endPass(now), nil
	}
	return false, nil
}

// endPass counts a pass that reached the head, once, and schedules the next.
func (a *auditor) endPass(now time.Time) bool {
	if !a.restart.IsZero() {
		return false
	}
	a.passes++
	a.last, a.restart = now, now.Add(auditPause)
	return true
}

// background runs the ledger's periodic work until Close.
func (l *Ledger) background() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-l.stop; cancel() }()
	tick := time.NewTicker(l.opts.Every)
	defer tick.Stop()
	first := true
	for {
		if first { // the first pass: step after step until it ends
			passed, err := l.AuditStep(ctx, auditFirstChunk)
			first = !passed && err == nil
			select {
			case <-ctx.Done():
				return
			case <-time.After(auditFirstPause):
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := l.flushHighWater(ctx); err != nil && ctx.Err() == nil {
			l.log.Warn("offline ledger", "err", err)
		}
		if !l.isClosed() && l.brokenErr() == nil {
			l.refreshUsage()
			l.refreshDisk()
		}
		_, _ = l.AuditStep(ctx, auditChunk) // a fault is kept and logged by AuditStep
	}
}
