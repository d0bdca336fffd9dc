package terminal

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// The lane: one cashier's checkout counter. It orchestrates the rules, the
// online authoriser (authorise.go), the ledger and the scanner over the
// interfaces of this package, one open checkout at a time (checkouts.go),
// and publishes what happens as events (lane_event.go).

// ErrCheckoutOpen is returned by Lane.Open when the lane already has an open checkout.
var ErrCheckoutOpen = errors.New("a checkout is already open on this lane")

// LaneConfig wires a lane.
type LaneConfig struct {
	// TerminalID and MerchantID name this terminal and its merchant in
	// its records (from the terminal's credential).
	TerminalID string
	MerchantID string
	// Ledger stores the redemption and refund records; it is also the
	// history the rules consult. Required.
	Ledger Ledger
	// Sync gives the offline limits their inputs (offline.Ledger keeps them
	// durably); nil means never synced, so every offline redemption is
	// declined offline_limit.
	Sync SyncStater
	// Auth claims vouchers online; nil means the lane always decides offline.
	Auth Authorizer
	// Holds remembers durably which open checkout holds an online claim, so
	// that an agent restarted in the middle of a sale gives the claim back;
	// nil means claims are only in memory. offline.Ledger implements it.
	Holds Holds
	// Beeper signals good and bad reads; nil means silent.
	Beeper Beeper
	// Programme is the voucher plan; nil means Qinshui2022().
	Programme *Programme
	// Now is the clock; nil means time.Now.
	Now Clock
	// ClaimTimeout bounds an online claim; zero means DefaultClaimTimeout.
	ClaimTimeout time.Duration
	// OnEvent receives every lane event, synchronously and under the lane's
	// lock: it must not block or call back into the lane. Nil means none.
	OnEvent func(LaneEvent)
	// OnError receives infrastructure errors the lane survives (a failed
	// beep or release) for the log. Nil means they are dropped.
	OnError func(op string, err error)
}

// Lane is one checkout counter. It is safe for concurrent use; operations
// that change it run one at a time.
type Lane struct {
	cfg   LaneConfig
	rules Rules // Programme and History fixed; the rest replaced by SetState

	op   sync.Mutex // serialises operations (held across a claim)
	beep sync.Mutex // orders beeps as their operations (see done)

	mu        sync.Mutex // guards the fields below; never held across I/O
	state     ServerState
	hasState  bool
	highWater time.Time
	cos       checkouts
}

// NewLane returns a lane; it does no I/O. Until SetState gives it a
// merchant profile and issuer keys every voucher is declined.
func NewLane(cfg LaneConfig) *Lane {
	if cfg.Programme == nil {
		cfg.Programme = Qinshui2022()
	}
	if cfg.ClaimTimeout <= 0 {
		cfg.ClaimTimeout = DefaultClaimTimeout
	}
	l := &Lane{cfg: cfg, cos: newCheckouts()}
	l.rules = Rules{Programme: cfg.Programme, Keys: &Keyring{}, Revoked: RevocationSet{}, History: cfg.Ledger}
	return l
}

// SetState installs what the server last pushed: the merchant profile,
// issuer keys, revocations, parameters and the clocks of the last sync.
func (l *Lane) SetState(s ServerState) {
	kr := &Keyring{}
	for _, k := range s.IssuerKeys {
		_ = kr.Add(k.Public) // a malformed key is simply not trusted
	}
	rev := make(RevocationSet, len(s.Revocations))
	for _, id := range s.Revocations {
		rev[id] = struct{}{}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.state, l.hasState = s, true
	l.rules.Keys, l.rules.Revoked, l.rules.Params = kr, rev, s.Params
	l.raise(s.LocalTime)
}

// State returns the state installed by SetState and whether there is one.
func (l *Lane) State() (ServerState, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.state, l.hasState
}

// SeenTime raises the lane's high-water clock mark, the latest time it has
// seen; the agent passes the time of its latest record at startup.
func (l *Lane) SeenTime(t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.raise(t)
}

// now reads the clock.
func (l *Lane) now() time.Time { return l.cfg.Now.Now() }

// Open opens a checkout for items (validated with CheckItems). It returns
// ErrCheckoutOpen if one is open.
func (l *Lane) Open(ctx context.Context, items []Item) (Checkout, error) {
	l.op.Lock()
	defer l.op.Unlock()
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e, err := l.cos.open(items, now)
	if err != nil {
		return Checkout{}, err
	}
	l.emit(LaneEvent{Kind: EventOpened, At: now, Checkout: snapshot(e.co)})
	return *snapshot(e.co), nil
}

// Checkout returns a snapshot of checkout id, or ErrNotFound.
func (l *Lane) Checkout(id string) (Checkout, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, err := l.cos.get(id)
	if err != nil {
		return Checkout{}, err
	}
	return *snapshot(e.co), nil
}

// Current returns the open checkout, if any.
func (l *Lane) Current() (Checkout, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cos.cur == nil {
		return Checkout{}, false
	}
	return *snapshot(l.cos.cur.co), true
}

// Scan applies a scanned code to the open checkout, or declines it
// no_open_checkout. It returns the event it published.
func (l *Lane) Scan(ctx context.Context, s Scan) LaneEvent {
	l.op.Lock()
	l.mu.Lock()
	e := l.cos.cur
	l.mu.Unlock()
	var ev LaneEvent
	if e == nil {
		ev = LaneEvent{Kind: EventDeclined, At: l.now(), Source: "scanner", ScannedAt: s.At, Decline: Errorf(NoOpenCheckout, "")}
		l.mu.Lock()
		l.emit(ev)
		l.mu.Unlock()
	} else {
		ev = l.apply(ctx, e, s.Code, "scanner", s.At)
	}
	l.done(ctx, ev)
	return ev
}

// Apply applies a voucher code typed or sent by the till to checkout id,
// exactly as a scan would. It returns ErrNotFound for an unknown checkout;
// a declined voucher is not an error: the event and the checkout carry it.
func (l *Lane) Apply(ctx context.Context, id, code string) (Checkout, LaneEvent, error) {
	l.op.Lock()
	l.mu.Lock()
	e, err := l.cos.get(id)
	l.mu.Unlock()
	if err != nil {
		l.op.Unlock()
		return Checkout{}, LaneEvent{}, err
	}
	ev := l.apply(ctx, e, code, "api", time.Time{})
	l.mu.Lock()
	co := *snapshot(e.co)
	l.mu.Unlock()
	l.done(ctx, ev)
	return co, ev, nil
}

// apply decides code for e with l.op held.
func (l *Lane) apply(ctx context.Context, e *entry, code, source string, scannedAt time.Time) LaneEvent {
	now := l.now()
	l.mu.Lock()
	rules := l.rules
	merchant := l.state.Merchant
	hasState := l.hasState
	co := *e.co // Decide reads, never writes
	l.mu.Unlock()
	req := Request{Code: code, Checkout: &co, Now: now}
	if hasState {
		req.Merchant = &merchant
	}
	d := rules.Decide(&req)
	online := false
	if d.Approved() {
		online, d.Decline = l.authorise(ctx, &d, rules.Params, code, now)
	}
	l.mu.Lock()
	ev := LaneEvent{At: now, Source: source, ScannedAt: scannedAt, Online: online}
	if d.Approved() && e.co.Status == StatusOpen {
		e.co.Apply(&d, code)
		e.online = online
		if online {
			e.claimed = d.Voucher.ID
		}
		ev.Kind = EventApproved
	} else {
		e.co.Decline = d.Decline
		if d.Approved() { // the checkout changed state meanwhile
			e.co.Decline = Errorf(OneVoucherPerTransaction, "checkout %s is %s", e.co.ID, e.co.Status)
		}
		ev.Kind, ev.Decline, ev.Online = EventDeclined, e.co.Decline, false
	}
	l.raise(now)
	ev.Checkout = snapshot(e.co)
	l.emit(ev)
	l.mu.Unlock()
	if ev.Kind != EventApproved && online { // approved by the server but lost locally: give the claim back
		l.release(ctx, d.Voucher.ID)
	}
	if ev.Kind == EventApproved && online && l.cfg.Holds != nil {
		if err := l.cfg.Holds.Hold(ctx, e.co.ID, d.Voucher.ID); err != nil {
			l.report("hold", fmt.Errorf("checkout %s voucher %s: %w", e.co.ID, d.Voucher.ID, err))
		}
	}
	return ev
}

// Complete records that payment was taken. With a voucher applied, the
// redemption is committed to the ledger durably before Complete returns;
// its id is in the checkout's RedemptionID. On a ledger error the checkout
// stays as it was and Complete may be retried.
func (l *Lane) Complete(ctx context.Context, id string) (Checkout, error) {
	l.op.Lock()
	defer l.op.Unlock()
	l.mu.Lock()
	e, err := l.cos.get(id)
	if err != nil {
		l.mu.Unlock()
		return Checkout{}, err
	}
	if e.co.Status == StatusCompleted { // a retry: answer as before
		defer l.mu.Unlock()
		return *snapshot(e.co), nil
	}
	if !e.co.Status.live() {
		defer l.mu.Unlock()
		return *snapshot(e.co), fmt.Errorf("complete checkout %s (%s): %w", id, e.co.Status, ErrCheckoutState)
	}
	co := e.co
	var rec *Redemption
	if co.Status == StatusVoucherApplied {
		rec = co.Record(l.cfg.TerminalID, l.cfg.MerchantID, e.online)
	}
	l.mu.Unlock()
	now := l.now()
	if rec != nil {
		rec.At, rec.IdempotencyKey = now, IdempotencyKey(ctx)
		if err := l.cfg.Ledger.Commit(ctx, rec); err != nil {
			co, _ := l.Checkout(id)
			return co, fmt.Errorf("complete checkout %s: commit: %w", id, err)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	rid := ""
	if rec != nil {
		rid = rec.ID
	}
	if err := co.Complete(rid); err != nil {
		return *snapshot(co), err
	}
	e.claimed = 0
	l.cos.close(e)
	l.raise(now)
	l.emit(LaneEvent{Kind: EventCompleted, At: now, Checkout: snapshot(co), Online: e.online, Record: rec})
	return *snapshot(co), nil
}

// Cancel abandons checkout id and releases an applied voucher (and its
// online claim). Cancelling a cancelled checkout answers as before.
func (l *Lane) Cancel(ctx context.Context, id string) (Checkout, error) {
	l.op.Lock()
	defer l.op.Unlock()
	now := l.now()
	l.mu.Lock()
	e, err := l.cos.get(id)
	if err != nil {
		l.mu.Unlock()
		return Checkout{}, err
	}
	if e.co.Status == StatusCancelled {
		defer l.mu.Unlock()
		return *snapshot(e.co), nil
	}
	if err := e.co.Cancel(); err != nil {
		defer l.mu.Unlock()
		return *snapshot(e.co), err
	}
	claimed := e.claimed
	e.claimed, e.online = 0, false
	l.cos.close(e)
	l.raise(now)
	l.emit(LaneEvent{Kind: EventCancelled, At: now, Checkout: snapshot(e.co)})
	co := *snapshot(e.co)
	l.mu.Unlock()
	if claimed != 0 {
		l.release(ctx, claimed)
		if l.cfg.Holds != nil {
			if err := l.cfg.Holds.Unhold(context.WithoutCancel(ctx), id); err != nil {
				l.report("unhold", fmt.Errorf("checkout %s: %w", id, err))
			}
		}
	}
	return co, nil
}

// Refund refunds lines (SKU and quantity) of redemption id, or everything
// not yet refunded if lines is empty, per PlanRefund. The refund record is
// committed durably before Refund returns; a returned voucher is live again
// in the ledger's history. Errors: ErrNotFound, ErrRefund.
func (l *Lane) Refund(ctx context.Context, id string, lines []Item) (*Redemption, error) {
	l.op.Lock()
	defer l.op.Unlock()
	orig, err := l.cfg.Ledger.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("refund %s: %w", id, err)
	}
	prior, err := l.cfg.Ledger.Refunds(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("refund %s: %w", id, err)
	}
	now := l.now()
	plan, err := PlanRefund(orig, prior, lines, now)
	if err != nil {
		return nil, err
	}
	rec := plan.Record(orig, l.cfg.TerminalID, l.cfg.MerchantID, now)
	if err := l.cfg.Ledger.Commit(ctx, rec); err != nil {
		return nil, fmt.Errorf("refund %s: %w", id, err)
	}
	l.mu.Lock()
	l.raise(now)
	l.emit(LaneEvent{Kind: EventRefunded, At: now, Record: rec})
	l.mu.Unlock()
	return rec, nil
}

// raise moves the high-water mark up to t; l.mu is held.
func (l *Lane) raise(t time.Time) {
	if t.After(l.highWater) {
		l.highWater = t
	}
}

func (l *Lane) report(op string, err error) {
	if l.cfg.OnError != nil {
		l.cfg.OnError(op, err)
	}
}
