package terminal

import (
	"fmt"
	"time"
)

// Params are the rule parameters the server pushes to its terminals. The zero
// value of a field means its default (DefaultParams).
type Params struct {
	// SplitBillWindow: the same holder redeeming again at the same merchant
	// within it is declined split_bill. Default 30 minutes.
	SplitBillWindow time.Duration `json:"split_bill_window"`
	// LinkWindow: two redemptions on one lane this close, each just over its
	// threshold, are approved but flagged for audit. Default 10 minutes.
	LinkWindow time.Duration `json:"link_window"`
	// LinkMarginPct: "just over" means eligible ≤ threshold × (100+margin)/100. Default 10.
	LinkMarginPct int64 `json:"link_margin_pct"`
	// OfflineMaxDiscountFen caps one offline redemption's discount. Default ¥1,000.
	OfflineMaxDiscountFen Fen `json:"offline_max_discount_fen"`
	// OfflineLimitFen caps the total discount of unsynced redemptions. Default ¥5,000.
	OfflineLimitFen Fen `json:"offline_limit_fen"`
	// OfflineMaxAge is the longest time since the last sync that offline
	// redemptions are allowed. Default 24 hours.
	OfflineMaxAge time.Duration `json:"offline_max_age"`
	// MaxClockDrift is the largest difference between the terminal's clock and
	// the server's (at the last sync) that offline redemptions tolerate. Default 5 minutes.
	MaxClockDrift time.Duration `json:"max_clock_drift"`
}

// DefaultParams returns the defaults of every parameter.
func DefaultParams() Params {
	return Params{
		SplitBillWindow:       30 * time.Minute,
		LinkWindow:            10 * time.Minute,
		LinkMarginPct:         10,
		OfflineMaxDiscountFen: Yuan(1000),
		OfflineLimitFen:       Yuan(5000),
		OfflineMaxAge:         24 * time.Hour,
		MaxClockDrift:         5 * time.Minute,
	}
}

// WithDefaults returns p with every zero (or negative) field set to its default.
func (p Params) WithDefaults() Params {
	d := DefaultParams()
	p.SplitBillWindow = orDefault(p.SplitBillWindow, d.SplitBillWindow)
	p.LinkWindow = orDefault(p.LinkWindow, d.LinkWindow)
	p.LinkMarginPct = orDefault(p.LinkMarginPct, d.LinkMarginPct)
	p.OfflineMaxDiscountFen = orDefault(p.OfflineMaxDiscountFen, d.OfflineMaxDiscountFen)
	p.OfflineLimitFen = orDefault(p.OfflineLimitFen, d.OfflineLimitFen)
	p.OfflineMaxAge = orDefault(p.OfflineMaxAge, d.OfflineMaxAge)
	p.MaxClockDrift = orDefault(p.MaxClockDrift, d.MaxClockDrift)
	return p
}

func orDefault[T ~int64](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Recent is what the rules need to know of an earlier redemption.
type Recent struct {
	RedemptionID string
	VoucherID    VoucherID
	Holder       HolderID
	At           time.Time
	EligibleFen  Fen
	SpendFen     Fen
}

// History is the terminal's local record of live redemptions (refunded ones
// whose voucher was returned are not live). Implemented by offline.Ledger
// and MemHistory.
type History interface {
	// Redeemed reports whether voucher id has a live redemption.
	Redeemed(id VoucherID) bool
	// LastByHolder returns the holder's latest live redemption at this merchant.
	LastByHolder(h HolderID) (Recent, bool)
	// LastOnLane returns this lane's latest live redemption.
	LastOnLane() (Recent, bool)
}

// Revocations reports revoked vouchers.
type Revocations interface {
	Revoked(id VoucherID) bool
}

// RevocationSet is a set of revoked voucher ids; the zero value revokes nothing.
type RevocationSet map[VoucherID]struct{}

// Revoked reports whether id is in the set.
func (s RevocationSet) Revoked(id VoucherID) bool { _, ok := s[id]; return ok }

// SyncState is what the offline risk limits look at: how long the terminal
// has been out of touch with the server and how much it owes unsynced.
type SyncState struct {
	// LastSync is the terminal's clock at the last completed sync (zero: never).
	LastSync time.Time
	// ServerOffset is the server's clock minus the terminal's at the last sync.
	ServerOffset time.Duration
	// HighWater is the latest time the terminal has seen on its own clock;
	// a clock now before it ran backwards.
	HighWater time.Time
	// UnsyncedFen is the total discount of redemptions not yet acknowledged.
	UnsyncedFen Fen
	// Hold, if not empty, stops offline redemptions: why the ledger cannot
	// take them safely (ReasonLedgerFault, ReasonDiskFull).
	Hold Reason
}

// Rules decides redemptions. All fields are read, never written, by Decide,
// so one Rules may serve concurrent calls if its History is safe for them.
type Rules struct {
	Programme *Programme
	Keys      *Keyring
	Revoked   Revocations
	History   History
	Params    Params
	// Minted, if set, is the issuer's record of the codes it minted (the
	// server's): a code minted there is genuine only if it is the very code
	// minted, and its signature is not checked again (an Ed25519
	// verification costs more than the rest of a decision). Codes it did
	// not mint are verified against Keys. Nil (the till) verifies every code.
	Minted MintedCodes
}

// Request is one voucher presented at the lane.
type Request struct {
	// Code is the raw text the scanner read.
	Code     string
	Merchant *Merchant
	// Checkout is the lane's open checkout, nil if none is open.
	Checkout *Checkout
	Now      time.Time
	// Offline, if non-nil, applies the offline risk limits: set it when the
	// server cannot authorise the redemption online.
	Offline *SyncState
	// Decoded is Code decoded ahead (nil, or decoded from other text:
	// Decide decodes Code itself).
	Decoded *DecodedCode
}

// Decision is the outcome of Decide: an approval with its amounts, or a decline.
type Decision struct {
	Voucher     Voucher
	TotalFen    Fen
	EligibleFen Fen
	DiscountFen Fen
	PayableFen  Fen
	// Flags are audit flags on an approval ("linked: ...").
	Flags []string
	// Warning is shown to the cashier before completing (love face value forfeited).
	Warning string
	// Decline is nil on approval.
	Decline *Error
}

// Approved reports whether the decision approves the voucher.
func (d *Decision) Approved() bool { return d.Decline == nil }

// Decide applies every rule of RULES.md to a presented voucher. It never
// panics on any input and never blocks: a decline carries its code and the
// cashier's message.
func (r *Rules) Decide(req *Request) (d Decision) {
	d.Decline = r.decide(req, &d)
	return d
}

func (r *Rules) decide(req *Request, d *Decision) *Error {
	co := req.Checkout
	if co == nil || !co.Status.live() {
		return Errorf(NoOpenCheckout, "")
	}
	if co.Status == StatusVoucherApplied {
		return Errorf(OneVoucherPerTransaction, "checkout %s already has voucher %s", co.ID, co.Voucher.ID)
	}
	m := req.Merchant
	if m == nil {
		return Declinef(OfflineLimit, ReasonNeverSynced, "no merchant profile on this terminal")
	}
	if m.Blocked {
		return Errorf(MerchantBlocked, "merchant %s", m.ID)
	}
	v := &d.Voucher
	if err := r.Keys.verify(req.Code, v, r.Minted, req.Decoded); err != nil {
		return err
	}
	if r.Programme != nil && !r.Programme.HasDenomination(v.Category, v.Denomination()) {
		return Errorf(Malformed, "%s %s is not in the programme", v.Category, v.Denomination())
	}
	if r.Revoked != nil && r.Revoked.Revoked(v.ID) {
		return Errorf(Revoked, "voucher %s", v.ID)
	}
	if req.Now.Before(v.ValidFrom) {
		return Errorf(NotYetValid, "valid from %s", v.ValidFrom.In(Zone).Format(time.DateTime))
	}
	if !req.Now.Before(v.ValidUntil) {
		return Errorf(Expired, "valid until %s", v.ValidUntil.In(Zone).Format(time.DateTime))
	}
	if v.Region != m.Region {
		return Errorf(RegionMismatch, "voucher region %d, merchant region %d", v.Region, m.Region)
	}
	if !m.Accepts(v.Category) {
		return Errorf(CategoryMismatch, "%s voucher at %s merchant", v.Category, m.Category)
	}
	if r.History != nil && r.History.Redeemed(v.ID) {
		return Errorf(AlreadyRedeemed, "voucher %s", v.ID)
	}
	total, eligible, err := Totals(co.Items)
	if err != nil {
		if eligible == 0 && total > 0 {
			err.Message = "储值卡、预付卡不能使用消费券"
			err.MessageEN = "stored-value and prepaid cards cannot be bought with vouchers"
		}
		return err
	}
	d.TotalFen, d.EligibleFen = total, eligible
	if eligible < v.SpendFen {
		return belowThreshold(eligible, v.SpendFen)
	}
	p := r.Params.WithDefaults()
	if r.History != nil {
		if last, ok := r.History.LastByHolder(v.Holder); ok && absDuration(req.Now.Sub(last.At)) < p.SplitBillWindow {
			return Errorf(SplitBill, "holder %s redeemed %s at %s", v.Holder, last.VoucherID, last.At.In(Zone).Format(time.TimeOnly))
		}
	}
	d.DiscountFen = v.OffFen
	if d.DiscountFen > total-1 {
		d.DiscountFen = total - 1 // the customer always pays at least ¥0.01
	}
	if v.Category == Love && d.DiscountFen > eligible {
		d.DiscountFen = eligible
	}
	if d.DiscountFen < v.OffFen {
		d.Warning = fmt.Sprintf("爱心券面值%s，本单只能抵扣%s，余额%s将作废 / love voucher %s covers only %s here; %s will be forfeited",
			v.OffFen, d.DiscountFen, v.OffFen-d.DiscountFen, v.OffFen, d.DiscountFen, v.OffFen-d.DiscountFen)
	}
	d.PayableFen = total - d.DiscountFen
	if req.Offline != nil {
		if err := p.CheckOffline(req.Offline, d.DiscountFen, req.Now); err != nil {
			return err
		}
	}
	if r.History != nil && v.SpendFen > 0 {
		if last, ok := r.History.LastOnLane(); ok && req.Now.Sub(last.At) < p.LinkWindow &&
			p.justOver(last.EligibleFen, last.SpendFen) && p.justOver(eligible, v.SpendFen) {
			d.Flags = append(d.Flags, fmt.Sprintf("linked: %s redeemed %s earlier on this lane, both just over threshold",
				last.RedemptionID, req.Now.Sub(last.At).Round(time.Second)))
		}
	}
	return nil
}

// belowThreshold declines a basket whose eligible amount is under the
// voucher's minimum spend, saying how much more the customer must buy.
func belowThreshold(eligible, spend Fen) *Error {
	e := Errorf(BelowThreshold, "eligible %s, minimum spend %s", eligible, spend)
	short := spend - eligible
	e.Message = fmt.Sprintf("未达到满减门槛，还差 %s", short)
	e.MessageEN = fmt.Sprintf("below the voucher's minimum spend: %s short", short)
	return e
}

// justOver reports whether eligible is at or just over a threshold spend.
func (p *Params) justOver(eligible, spend Fen) bool {
	return spend > 0 && eligible >= spend && (eligible-spend)*100 <= spend*Fen(p.LinkMarginPct)
}

// CheckOffline applies the offline risk limits to a redemption of discount
// made without the server's online authorisation. It declines offline_limit
// when the ledger holds offline redemptions (s.Hold), when the terminal's
// clock ran backwards or drifted from the server's, when now is more than
// OfflineMaxAge after the server's time at the last sync (offline too long,
// or the clock set forward), or when a cap would be passed.
func (p Params) CheckOffline(s *SyncState, discount Fen, now time.Time) *Error {
	p = p.WithDefaults()
	switch {
	case s.Hold != "":
		return Declinef(OfflineLimit, s.Hold, "the ledger holds offline redemptions: %s", s.Hold)
	case s.LastSync.IsZero():
		return Declinef(OfflineLimit, ReasonNeverSynced, "never synced")
	case now.Before(s.HighWater) || now.Before(s.LastSync):
		return Declinef(OfflineLimit, ReasonClock, "clock ran backwards: now %s, seen %s", now.Format(time.RFC3339), s.HighWater.Format(time.RFC3339))
	case s.ServerOffset > p.MaxClockDrift || -s.ServerOffset > p.MaxClockDrift:
		return Declinef(OfflineLimit, ReasonClock, "clock differs from the server's by %s", s.ServerOffset)
	case now.Sub(s.LastSync.Add(s.ServerOffset)) > p.OfflineMaxAge:
		return Declinef(OfflineLimit, ReasonAge, "now %s is %s after the server's time at the last sync, limit %s",
			now.Format(time.RFC3339), now.Sub(s.LastSync.Add(s.ServerOffset)).Round(time.Minute), p.OfflineMaxAge)
	case discount > p.OfflineMaxDiscountFen:
		return Declinef(OfflineLimit, ReasonOfflineCap, "discount %s over the offline cap %s", discount, p.OfflineMaxDiscountFen)
	case s.UnsyncedFen+discount > p.OfflineLimitFen:
		return Declinef(OfflineLimit, ReasonAllowance, "unsynced %s + %s over the offline limit %s", s.UnsyncedFen, discount, p.OfflineLimitFen)
	}
	return nil
}
