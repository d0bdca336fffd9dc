package terminal

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// The server's review of a synced record. A terminal's signing key sits on
// the merchant's own machine, so the server trusts none of a record's
// judgements: it decides the record again with the same Rules the till
// used (Rules.Decide and PlanRefund, never a copy of them), from what the
// server knows itself, and only then compares the record's own amounts.

// Review codes: why the server did not accept a synced record, beyond the
// till's decline codes (Codes). A till never shows them; they appear in
// the conflicts the auditors, the merchant's screens and the reports see.
const (
	// FutureDated: the record's time is later than the server received it,
	// beyond the allowed clock skew.
	FutureDated Code = "future_dated"
	// Backdated: the record's time is before the terminal's previous record,
	// or before the sync that preceded it.
	Backdated Code = "backdated"
	// AmountMismatch: the record's totals are not what its item lines and
	// voucher give.
	AmountMismatch Code = "amount_mismatch"
	// RefundMismatch: a refund that does not match its sale (unknown sale,
	// lines not sold, amounts not what PlanRefund gives).
	RefundMismatch Code = "refund_mismatch"
	// Fork: the record belongs to a chain that does not continue what the
	// server holds for the terminal (a wiped or restored ledger).
	Fork Code = "fork"
)

// ReviewCodes lists the review codes.
var ReviewCodes = []Code{FutureDated, Backdated, AmountMismatch, RefundMismatch, Fork}

// DefaultSkew is the clock skew allowed between a record's time and the
// server's receipt when Params.MaxClockDrift is not set.
const DefaultSkew = 5 * time.Minute

// Sender is what the server knows of the terminal that sent a record, as
// of that record.
type Sender struct {
	TerminalID string
	// Merchant is the terminal's merchant profile as it was at the record's
	// time (Blocked if a block covered that time); nil (not enrolled) is
	// declined merchant_blocked.
	Merchant *Merchant
	// ReceivedAt is the server's clock when the record arrived.
	ReceivedAt time.Time
	// PrevAt is the time of the terminal's previous record (zero for the first).
	PrevAt time.Time
	// ConnectedAt is when the terminal's current connection was
	// authenticated and ConnectedSeq the highest sequence it reported then:
	// a record above ConnectedSeq was made after ConnectedAt.
	ConnectedAt  time.Time
	ConnectedSeq uint64
	// LastSync is the server's clock at the terminal's last sync before the
	// record was made; zero means none is known (an offline record is then
	// declined offline_limit, as on a till that never synced).
	LastSync time.Time
	// UnsyncedFen is the discount of the terminal's offline redemptions made
	// after LastSync and before this record.
	UnsyncedFen Fen
	// Held reports whether the server held an online claim on the record's
	// voucher for this terminal; only then is an "online" record spared
	// the offline limits.
	Held bool
	// Code is the record's code decoded ahead (DecodedCode); nil: the
	// review decodes it.
	Code *DecodedCode
}

// Ledgers is what the server's ledger tells the review of earlier records.
// Implemented by the server's store, over accepted records only.
type Ledgers interface {
	// Redeemed reports whether voucher id has a live accepted redemption.
	Redeemed(id VoucherID) bool
	// NearestByHolder returns the holder's accepted redemption at merchant
	// whose time is nearest to at.
	NearestByHolder(merchant string, h HolderID, at time.Time) (Recent, bool)
	// LastOnLane returns the terminal's latest accepted redemption at or before at.
	LastOnLane(terminal string, at time.Time) (Recent, bool)
	// Sale returns the redemption record id, whether the server accepted it,
	// and its refunds so far, oldest first; ErrNotFound if it has none.
	Sale(id string) (orig *Redemption, accepted bool, refunds []*Redemption, err error)
}

// Verdict is the server's review of one record.
type Verdict struct {
	// Decline is nil when the record is accepted; otherwise the code and
	// the reason (Chinese and English, and a detail) of the conflict.
	Decline *Error
	// Decision holds the amounts the rules give a redemption.
	Decision Decision
	// ReturnsVoucher is set on an accepted refund that returns the voucher
	// of an accepted sale to its holder (the voucher may be redeemed again).
	ReturnsVoucher bool
}

// Accepted reports whether the record is accepted.
func (v *Verdict) Accepted() bool { return v.Decline == nil }

// Reason returns the conflict's reason in one line for the terminal and
// the log: code, Chinese, English and detail; "" when accepted.
func (v *Verdict) Reason() string {
	if v.Decline == nil {
		return ""
	}
	return Explain(v.Decline)
}

// Explain formats e in one line: "code: 中文 / English (detail)".
func Explain(e *Error) string {
	s := string(e.Code) + ": " + e.Message + " / " + e.MessageEN
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s
}

// Review decides a synced record rec from sender s with r's programme,
// keys (and minted codes), revocations and parameters and led as history
// (r.History is not used). It never panics on any record.
func (r *Rules) Review(rec *Redemption, s *Sender, led Ledgers) (v Verdict) {
	if e := r.reviewTime(rec, s); e != nil {
		v.Decline = e
		return v
	}
	switch rec.Kind {
	case KindRedemption:
		v.Decline = r.reviewRedemption(rec, s, led, &v.Decision)
	case KindRefund:
		v.ReturnsVoucher, v.Decline = r.reviewRefund(rec, s, led)
	default:
		v.Decline = Errorf(Malformed, "record kind %q", rec.Kind)
	}
	return v
}

// reviewTime bounds a record's time: not after the server's receipt plus
// the skew, not before the terminal's previous record, and not before the
// connection it was made during.
func (r *Rules) reviewTime(rec *Redemption, s *Sender) *Error {
	skew := r.skew()
	at := rec.At
	switch {
	case at.IsZero():
		return Errorf(Malformed, "record has no time")
	case at.After(s.ReceivedAt.Add(skew)):
		return Errorf(FutureDated, "record at %s, received %s, skew %s", stamp(at), stamp(s.ReceivedAt), skew)
	case at.Before(s.PrevAt):
		return Errorf(Backdated, "record at %s, the terminal's previous record at %s", stamp(at), stamp(s.PrevAt))
	case rec.Seq > s.ConnectedSeq && !s.ConnectedAt.IsZero() && at.Before(s.ConnectedAt.Add(-skew)):
		return Errorf(Backdated, "seq %d made after the connection of %s (highest seq then %d) but dated %s",
			rec.Seq, stamp(s.ConnectedAt), s.ConnectedSeq, stamp(at))
	}
	return nil
}

// skew is the clock difference allowed between a terminal and the server.
func (r *Rules) skew() time.Duration {
	if r.Params.MaxClockDrift > 0 {
		return r.Params.MaxClockDrift
	}
	return DefaultSkew
}

func stamp(t time.Time) string { return t.In(Zone).Format(time.DateTime) }

// reviewRedemption re-decides a redemption as its till should have: the
// same Decide on its item lines at its time, then compares amounts.
func (r *Rules) reviewRedemption(rec *Redemption, s *Sender, led Ledgers, d *Decision) *Error {
	if s.Merchant == nil {
		return Errorf(MerchantBlocked, "merchant %s is not enrolled on the server", rec.MerchantID)
	}
	rr := *r
	rr.History = &ledgerHistory{led: led, merchant: rec.MerchantID, terminal: s.TerminalID, at: rec.At}
	co := &Checkout{ID: rec.CheckoutID, Status: StatusOpen, Items: rec.Items}
	req := &Request{Code: rec.Code, Merchant: s.Merchant, Checkout: co, Now: rec.At, Decoded: s.Code}
	if !(rec.Online && s.Held) {
		// The last sync is on the server's clock, the record's time on the
		// terminal's: they may differ by the allowed skew.
		last := s.LastSync
		if !last.IsZero() {
			last = last.Add(-r.skew())
		}
		req.Offline = &SyncState{LastSync: last, HighWater: s.PrevAt, UnsyncedFen: s.UnsyncedFen}
	}
	*d = rr.Decide(req)
	if d.Decline != nil {
		return d.Decline
	}
	if got := rec.Voucher; got.ID != d.Voucher.ID || got.Holder != d.Voucher.Holder || got.Category != d.Voucher.Category ||
		got.SpendFen != d.Voucher.SpendFen || got.OffFen != d.Voucher.OffFen {
		return Errorf(AmountMismatch, "record's voucher %s differs from its code's %s", got.ID, d.Voucher.ID)
	}
	for _, c := range []struct {
		name      string
		got, want Fen
	}{
		{"total", rec.TotalFen, d.TotalFen},
		{"eligible", rec.EligibleFen, d.EligibleFen},
		{"discount", rec.DiscountFen, d.DiscountFen},
		{"payable", rec.PayableFen, d.PayableFen},
	} {
		if c.got != c.want {
			return Errorf(AmountMismatch, "%s %s, the item lines give %s", c.name, c.got, c.want)
		}
	}
	return nil
}

// reviewRefund plans the refund again from the sale the server holds and
// compares it with the record.
func (r *Rules) reviewRefund(rec *Redemption, s *Sender, led Ledgers) (bool, *Error) {
	orig, accepted, prior, err := led.Sale(rec.RefundOf)
	if err != nil {
		return false, Errorf(RefundMismatch, "sale %q: %v", rec.RefundOf, err)
	}
	if orig.TerminalID != s.TerminalID {
		return false, Errorf(RefundMismatch, "sale %s was made on terminal %s", orig.ID, orig.TerminalID)
	}
	if rec.Code != orig.Code || rec.Voucher.ID != orig.Voucher.ID {
		return false, Errorf(RefundMismatch, "refund names voucher %s, the sale %s", rec.Voucher.ID, orig.Voucher.ID)
	}
	lines := make([]Item, len(rec.Items))
	for i, it := range rec.Items {
		lines[i] = Item{SKU: it.SKU, Qty: it.Qty}
	}
	if len(lines) == 0 {
		return false, Errorf(RefundMismatch, "refund has no lines")
	}
	plan, err := PlanRefund(orig, prior, lines, rec.At)
	if err != nil {
		return false, Errorf(RefundMismatch, "%v", err)
	}
	switch {
	case !slices.Equal(plan.Items, rec.Items):
		return false, Errorf(RefundMismatch, "refund lines differ from the sale's (names, categories or prices)")
	case plan.GrossFen != rec.TotalFen:
		return false, Errorf(RefundMismatch, "gross %s, the lines give %s", rec.TotalFen, plan.GrossFen)
	case plan.VoucherShareFen != rec.VoucherShareFen:
		return false, Errorf(RefundMismatch, "voucher share %s, the rules give %s", rec.VoucherShareFen, plan.VoucherShareFen)
	case plan.RefundFen != rec.RefundFen:
		return false, Errorf(RefundMismatch, "refund %s, the rules give %s", rec.RefundFen, plan.RefundFen)
	case plan.VoucherReturned != rec.VoucherReturned:
		return false, Errorf(RefundMismatch, "voucher returned %v, the rules say %v", rec.VoucherReturned, plan.VoucherReturned)
	}
	return plan.VoucherReturned && accepted, nil
}

// ledgerHistory shows the server's ledger to Rules.Decide as the History
// of one record: the holder's redemption nearest to it at its merchant and
// its terminal's latest before it.
type ledgerHistory struct {
	led      Ledgers
	merchant string
	terminal string
	at       time.Time
}

func (h *ledgerHistory) Redeemed(id VoucherID) bool { return h.led.Redeemed(id) }

func (h *ledgerHistory) LastByHolder(holder HolderID) (Recent, bool) {
	return h.led.NearestByHolder(h.merchant, holder, h.at)
}

func (h *ledgerHistory) LastOnLane() (Recent, bool) { return h.led.LastOnLane(h.terminal, h.at) }

// MemLedgers is an in-memory Ledgers for tests and small tools: Add the
// records the server accepted (and the conflicting ones with accepted
// false, so refunds of them can be planned).
type MemLedgers struct {
	records  map[string]*Redemption
	accepted map[string]bool
	refunds  map[string][]*Redemption
	live     map[VoucherID]string
}

var _ Ledgers = (*MemLedgers)(nil)

// NewMemLedgers returns an empty MemLedgers.
func NewMemLedgers() *MemLedgers {
	return &MemLedgers{records: map[string]*Redemption{}, accepted: map[string]bool{},
		refunds: map[string][]*Redemption{}, live: map[VoucherID]string{}}
}

// Add records rec with the server's verdict.
func (m *MemLedgers) Add(rec *Redemption, v *Verdict) {
	m.records[rec.ID] = rec
	m.accepted[rec.ID] = v.Accepted()
	switch {
	case rec.Kind == KindRedemption && v.Accepted():
		m.live[rec.Voucher.ID] = rec.ID
	case rec.Kind == KindRefund:
		m.refunds[rec.RefundOf] = append(m.refunds[rec.RefundOf], rec)
		if v.ReturnsVoucher {
			delete(m.live, rec.Voucher.ID)
		}
	}
}

// Redeemed reports whether voucher id has a live accepted redemption.
func (m *MemLedgers) Redeemed(id VoucherID) bool { _, ok := m.live[id]; return ok }

// NearestByHolder returns the holder's accepted redemption at merchant nearest to at.
func (m *MemLedgers) NearestByHolder(merchant string, h HolderID, at time.Time) (Recent, bool) {
	return m.best(func(r *Redemption) bool { return r.MerchantID == merchant && r.Voucher.Holder == h },
		func(r *Redemption) time.Duration { return absDuration(r.At.Sub(at)) })
}

// LastOnLane returns the terminal's latest accepted redemption at or before at.
func (m *MemLedgers) LastOnLane(terminal string, at time.Time) (Recent, bool) {
	return m.best(func(r *Redemption) bool { return r.TerminalID == terminal && !r.At.After(at) },
		func(r *Redemption) time.Duration { return at.Sub(r.At) })
}

func (m *MemLedgers) best(match func(*Redemption) bool, dist func(*Redemption) time.Duration) (Recent, bool) {
	var best *Redemption
	for id, r := range m.records {
		if r.Kind != KindRedemption || !m.accepted[id] || !match(r) {
			continue
		}
		if best == nil || dist(r) < dist(best) || (dist(r) == dist(best) && strings.Compare(r.ID, best.ID) < 0) {
			best = r
		}
	}
	if best == nil {
		return Recent{}, false
	}
	return RecentOf(best), true
}

// Sale returns redemption id, whether it was accepted, and its refunds.
func (m *MemLedgers) Sale(id string) (*Redemption, bool, []*Redemption, error) {
	r, ok := m.records[id]
	if !ok || r.Kind != KindRedemption {
		return nil, false, nil, fmt.Errorf("sale %q: %w", id, ErrNotFound)
	}
	return r, m.accepted[id], m.refunds[id], nil
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
