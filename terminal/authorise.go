package terminal

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The online→offline authorisation policy: an approved voucher is claimed
// with the server when there is one; when the server cannot decide (no
// connection, no answer in time) the lane decides offline within the
// limits of the last sync.

// Authorizer claims vouchers with the server before an online approval.
// Implemented (through an adapter in cmd/) by the sync client.
type Authorizer interface {
	// Claim reserves voucher id for this terminal: nil means the server
	// holds the claim for it. A *Error (already_redeemed, revoked,
	// merchant_blocked) is the server's decline; any other error (offline,
	// timeout) means the server cannot decide.
	Claim(ctx context.Context, id VoucherID, code string) error
	// Release gives up a claim made by Claim for a sale that was cancelled.
	Release(ctx context.Context, id VoucherID) error
}

// Holds remembers durably which open checkout holds an online claim of
// which voucher: a claim outlives an agent killed in the middle of a sale,
// and the restarted agent gives it back (the sale was not committed). A
// committed sale's record replaces its hold. offline.Ledger implements it.
type Holds interface {
	// Hold records that checkout holds the server's claim of voucher id.
	Hold(ctx context.Context, checkout string, id VoucherID) error
	// Unhold forgets checkout's claim (released, or the sale cancelled).
	Unhold(ctx context.Context, checkout string) error
}

// Unsynced reports the records the server has not acknowledged. Outbox implements it.
type Unsynced interface {
	Unsynced(ctx context.Context) (count int, discount Fen, err error)
}

// SyncStater reports what the offline limits look at: the last sync, the
// server's clock offset, the high-water time and the unsynced discount,
// durably. offline.Ledger implements it.
type SyncStater interface {
	SyncState(ctx context.Context) (SyncState, error)
}

// DefaultClaimTimeout is how long the lane waits for an online claim before
// it decides offline.
const DefaultClaimTimeout = 300 * time.Millisecond

// authorise claims an approved voucher online, or falls back to the offline
// limits of p. It returns whether the server holds the claim, or a decline.
func (l *Lane) authorise(ctx context.Context, d *Decision, p Params, code string, now time.Time) (bool, *Error) {
	l.mu.Lock()
	fork := l.state.Fork
	l.mu.Unlock()
	if fork != "" { // the server holds this ledger as a fork: nothing until a reset
		return false, Declinef(OfflineLimit, ReasonFork, "%s", fork)
	}
	if l.cfg.Auth != nil {
		cctx, cancel := context.WithTimeout(ctx, l.cfg.ClaimTimeout)
		err := l.cfg.Auth.Claim(cctx, d.Voucher.ID, code)
		cancel()
		var de *Error
		switch {
		case err == nil:
			return true, nil
		case errors.As(err, &de):
			return false, de
		}
		if ctx.Err() != nil {
			return false, Errorf(OfflineLimit, "cancelled: %v", ctx.Err())
		}
	}
	s, err := l.SyncState(ctx)
	if err != nil {
		l.report("unsynced", err)
		return false, Errorf(OfflineLimit, "cannot read the offline exposure: %v", err)
	}
	if de := p.CheckOffline(&s, d.DiscountFen, now); de != nil {
		return false, de
	}
	return false, nil
}

// SyncState returns what the offline limits look at now.
func (l *Lane) SyncState(ctx context.Context) (SyncState, error) {
	var s SyncState
	if l.cfg.Sync != nil {
		var err error
		if s, err = l.cfg.Sync.SyncState(ctx); err != nil {
			return s, err
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.highWater.After(s.HighWater) {
		s.HighWater = l.highWater
	}
	if l.state.Fork != "" && s.Hold == "" {
		s.Hold = ReasonFork // the server holds this ledger as a fork
	}
	return s, nil
}

// release gives the server back a claim the lane no longer needs.
func (l *Lane) release(ctx context.Context, id VoucherID) {
	if l.cfg.Auth == nil {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.cfg.ClaimTimeout)
	defer cancel()
	if err := l.cfg.Auth.Release(cctx, id); err != nil {
		l.report("release", fmt.Errorf("voucher %s: %w", id, err))
	}
}
