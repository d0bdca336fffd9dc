package terminal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"
)

// The lane: one cashier's checkout counter. It orchestrates the rules, the
// online authoriser, the ledger and the scanner over the interfaces of this
// package, one open checkout at a time.

// ErrCheckoutOpen is returned by Lane.Open when the lane already has an open checkout.
var ErrCheckoutOpen = errors.New("a checkout is already open on this lane")

// Authorizer claims vouchers with the server before an online approval.
// Implemented (through an adapter in cmd/) by the sync client.
type Authorizer interface {
	// Claim reserves voucher id for this terminal. Accepted or Duplicate
	// means the claim is held; Conflict means the voucher is redeemed or
	// claimed elsewhere. A *Error (revoked, merchant_blocked) is a decline;
	// any other error (offline, timeout) means the server cannot decide.
	Claim(ctx context.Context, id VoucherID, code string) (Result, error)
	// Release gives up a claim made by Claim for a sale that was cancelled.
	Release(ctx context.Context, id VoucherID) error
}

// Beeper signals the cashier a good or bad read. CodeSource implements it.
type Beeper interface {
	Beep(ctx context.Context, f Feedback) error
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

// EventKind names a lane event.
type EventKind string

// Lane event kinds.
const (
	EventOpened    EventKind = "opened"
	EventApproved  EventKind = "approved"
	EventDeclined  EventKind = "declined"
	EventCompleted EventKind = "completed"
	EventCancelled EventKind = "cancelled"
	EventRefunded  EventKind = "refunded"
)

// LaneEvent is what the screens see of the lane.
type LaneEvent struct {
	Kind EventKind `json:"kind"`
	At   time.Time `json:"at"`
	// Source is "scanner" or "api" for a voucher, empty otherwise.
	Source string `json:"source,omitempty"`
	// ScannedAt is when the scanner framed the code (zero for the API).
	ScannedAt time.Time `json:"scanned_at,omitzero"`
	// Checkout is a snapshot of the lane's checkout, nil for a scan with none open.
	Checkout *Checkout `json:"checkout,omitempty"`
	// Decline is set on EventDeclined.
	Decline *Error `json:"decline,omitempty"`
	// Online is true when the server authorised the voucher.
	Online bool `json:"online,omitempty"`
	// Record is the committed record on EventCompleted and EventRefunded.
	Record *Redemption `json:"record,omitempty"`
}

// Lane is one checkout counter. It is safe for concurrent use; operations
// that change it run one at a time.
type Lane struct {
	cfg   LaneConfig
	rules Rules // Programme and History fixed; the rest replaced by SetState

	op sync.Mutex // serialises operations (held across a claim)

	mu        sync.Mutex // guards the fields below; never held across I/O
	state     ServerState
	hasState  bool
	highWater time.Time
	cur       *entry            // the open checkout, nil if none
	recent    map[string]*entry // checkouts by id, the last maxRecent
	order     []string
}

type entry struct {
	co      *Checkout
	online  bool      // the applied voucher was claimed online
	claimed VoucherID // held claim to release on cancel (0: none)
}

const maxRecent = 200

// NewLane returns a lane; it does no I/O. Until SetState gives it a
// merchant profile and issuer keys every voucher is declined.
func NewLane(cfg LaneConfig) *Lane {
	if cfg.Programme == nil {
		cfg.Programme = Qinshui2022()
	}
	if cfg.ClaimTimeout <= 0 {
		cfg.ClaimTimeout = DefaultClaimTimeout
	}
	l := &Lane{cfg: cfg, recent: map[string]*entry{}}
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
	if s.LocalTime.After(l.highWater) {
		l.highWater = s.LocalTime
	}
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
	if t.After(l.highWater) {
		l.highWater = t
	}
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
	if l.cur != nil {
		return Checkout{}, fmt.Errorf("open checkout: %s is open: %w", l.cur.co.ID, ErrCheckoutOpen)
	}
	co, err := NewCheckout(newID(now), items, now)
	if err != nil {
		return Checkout{}, err
	}
	e := &entry{co: co}
	l.cur = e
	l.remember(e)
	l.emit(LaneEvent{Kind: EventOpened, At: now, Checkout: snapshot(co)})
	return *snapshot(co), nil
}

// Checkout returns a snapshot of checkout id, or ErrNotFound.
func (l *Lane) Checkout(id string) (Checkout, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.recent[id]
	if !ok {
		return Checkout{}, fmt.Errorf("checkout %q: %w", id, ErrNotFound)
	}
	return *snapshot(e.co), nil
}

// Current returns the open checkout, if any.
func (l *Lane) Current() (Checkout, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur == nil {
		return Checkout{}, false
	}
	return *snapshot(l.cur.co), true
}

// Scan applies a scanned code to the open checkout, or declines it
// no_open_checkout. It returns the event it published.
func (l *Lane) Scan(ctx context.Context, s Scan) LaneEvent {
	l.op.Lock()
	defer l.op.Unlock()
	l.mu.Lock()
	e := l.cur
	l.mu.Unlock()
	if e == nil {
		now := l.now()
		ev := LaneEvent{Kind: EventDeclined, At: now, Source: "scanner", ScannedAt: s.At, Decline: Errorf(NoOpenCheckout, "")}
		l.mu.Lock()
		l.emit(ev)
		l.mu.Unlock()
		l.beep(ctx, BadRead)
		return ev
	}
	return l.apply(ctx, e, s.Code, "scanner", s.At)
}

// Apply applies a voucher code typed or sent by the till to checkout id,
// exactly as a scan would. It returns ErrNotFound for an unknown checkout;
// a declined voucher is not an error: the event and the checkout carry it.
func (l *Lane) Apply(ctx context.Context, id, code string) (Checkout, LaneEvent, error) {
	l.op.Lock()
	defer l.op.Unlock()
	l.mu.Lock()
	e, ok := l.recent[id]
	l.mu.Unlock()
	if !ok {
		return Checkout{}, LaneEvent{}, fmt.Errorf("checkout %q: %w", id, ErrNotFound)
	}
	ev := l.apply(ctx, e, code, "api", time.Time{})
	l.mu.Lock()
	defer l.mu.Unlock()
	return *snapshot(e.co), ev, nil
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
	if ev.Kind == EventApproved {
		l.beep(ctx, GoodRead)
	} else {
		l.beep(ctx, BadRead)
		if online { // approved by the server but lost locally: give the claim back
			l.release(ctx, d.Voucher.ID)
		}
	}
	return ev
}

// authorise claims an approved voucher online, or falls back to the offline
// limits of p. It returns whether the server holds the claim, or a decline.
func (l *Lane) authorise(ctx context.Context, d *Decision, p Params, code string, now time.Time) (bool, *Error) {
	if l.cfg.Auth != nil {
		cctx, cancel := context.WithTimeout(ctx, l.cfg.ClaimTimeout)
		res, err := l.cfg.Auth.Claim(cctx, d.Voucher.ID, code)
		cancel()
		var de *Error
		switch {
		case err == nil && (res == Accepted || res == Duplicate):
			return true, nil
		case err == nil && res == Conflict:
			return false, Errorf(AlreadyRedeemed, "server: voucher %s is redeemed or claimed elsewhere", d.Voucher.ID)
		case errors.As(err, &de):
			return false, de
		case err == nil:
			l.report("claim", fmt.Errorf("unexpected claim result %q", res))
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
	return s, nil
}

// Complete records that payment was taken. With a voucher applied, the
// redemption is committed to the ledger durably before Complete returns;
// its id is in the checkout's RedemptionID. On a ledger error the checkout
// stays as it was and Complete may be retried.
func (l *Lane) Complete(ctx context.Context, id string) (Checkout, error) {
	l.op.Lock()
	defer l.op.Unlock()
	l.mu.Lock()
	e, ok := l.recent[id]
	if !ok {
		l.mu.Unlock()
		return Checkout{}, fmt.Errorf("checkout %q: %w", id, ErrNotFound)
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
		rec = &Redemption{Kind: KindRedemption, TerminalID: l.cfg.TerminalID, MerchantID: l.cfg.MerchantID,
			CheckoutID: co.ID, Code: co.Code, Voucher: *co.Voucher, Items: append([]Item(nil), co.Items...),
			TotalFen: co.TotalFen, EligibleFen: co.EligibleFen, DiscountFen: co.DiscountFen,
			PayableFen: co.PayableFen, Flags: append([]string(nil), co.Flags...), Online: e.online}
	}
	l.mu.Unlock()
	now := l.now()
	if rec != nil {
		rec.At = now
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
	l.cur = nil
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
	e, ok := l.recent[id]
	if !ok {
		l.mu.Unlock()
		return Checkout{}, fmt.Errorf("checkout %q: %w", id, ErrNotFound)
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
	if l.cur == e {
		l.cur = nil
	}
	l.raise(now)
	l.emit(LaneEvent{Kind: EventCancelled, At: now, Checkout: snapshot(e.co)})
	co := *snapshot(e.co)
	l.mu.Unlock()
	if claimed != 0 {
		l.release(ctx, claimed)
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
	rec := &Redemption{Kind: KindRefund, TerminalID: l.cfg.TerminalID, MerchantID: l.cfg.MerchantID, At: now,
		CheckoutID: orig.CheckoutID, Code: orig.Code, Voucher: orig.Voucher, Items: plan.Items,
		TotalFen: plan.GrossFen, RefundOf: orig.ID, RefundFen: plan.RefundFen,
		VoucherShareFen: plan.VoucherShareFen, VoucherReturned: plan.VoucherReturned}
	if err := l.cfg.Ledger.Commit(ctx, rec); err != nil {
		return nil, fmt.Errorf("refund %s: %w", id, err)
	}
	l.mu.Lock()
	l.raise(now)
	l.emit(LaneEvent{Kind: EventRefunded, At: now, Record: rec})
	l.mu.Unlock()
	return rec, nil
}

func (l *Lane) raise(now time.Time) {
	if now.After(l.highWater) {
		l.highWater = now
	}
}

func (l *Lane) remember(e *entry) {
	l.recent[e.co.ID] = e
	l.order = append(l.order, e.co.ID)
	for len(l.order) > maxRecent {
		if old := l.recent[l.order[0]]; old != nil && old != l.cur {
			delete(l.recent, l.order[0])
		}
		l.order = l.order[1:]
	}
}

func (l *Lane) emit(ev LaneEvent) {
	if l.cfg.OnEvent != nil {
		l.cfg.OnEvent(ev)
	}
}

func (l *Lane) beep(ctx context.Context, f Feedback) {
	if l.cfg.Beeper == nil {
		return
	}
	if err := l.cfg.Beeper.Beep(ctx, f); err != nil {
		l.report("beep", err)
	}
}

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

func (l *Lane) report(op string, err error) {
	if l.cfg.OnError != nil {
		l.cfg.OnError(op, err)
	}
}

// snapshot returns a deep copy of co for callers outside the lock.
func snapshot(co *Checkout) *Checkout {
	c := *co
	c.Items = append([]Item(nil), co.Items...)
	c.Flags = append([]string(nil), co.Flags...)
	if co.Voucher != nil {
		v := *co.Voucher
		c.Voucher = &v
	}
	if co.Decline != nil {
		d := *co.Decline
		c.Decline = &d
	}
	return &c
}

// newID returns a checkout id: the local time and 4 random bytes.
func newID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "CO" + now.In(Zone).Format("20060102150405") + hex.EncodeToString(b[:])
}
