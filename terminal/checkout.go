package terminal

import (
	"errors"
	"fmt"
	"time"
)

// Status is the state of a checkout: open → voucher_applied → completed, or
// cancelled from open or voucher_applied.
type Status string

// Checkout states (CONTRACT.md).
const (
	StatusOpen           Status = "open"
	StatusVoucherApplied Status = "voucher_applied"
	StatusCompleted      Status = "completed"
	StatusCancelled      Status = "cancelled"
)

// live reports whether a checkout in state s is still in progress: it can
// take a voucher, complete or be cancelled.
func (s Status) live() bool { return s == StatusOpen || s == StatusVoucherApplied }

// ErrCheckoutState is returned when a checkout operation is not allowed in
// the checkout's current state (completing a cancelled checkout, say).
var ErrCheckoutState = errors.New("checkout is not in a state that allows this")

// Checkout is the lane's current sale. It is pure state: the agent stores the
// completed redemption in its ledger.
type Checkout struct {
	ID       string    `json:"id"`
	Status   Status    `json:"status"`
	Items    []Item    `json:"items"`
	OpenedAt time.Time `json:"opened_at"`
	// Amounts: total and eligible of the basket; discount and payable once a
	// voucher is applied (payable is the total before).
	TotalFen    Fen `json:"total_fen"`
	EligibleFen Fen `json:"eligible_fen"`
	DiscountFen Fen `json:"discount_fen"`
	PayableFen  Fen `json:"payable_fen"`
	// Voucher is the applied voucher, nil if none.
	Voucher *Voucher `json:"voucher"`
	// Code is the applied voucher's code as scanned.
	Code    string   `json:"-"`
	Flags   []string `json:"flags,omitempty"`
	Warning string   `json:"warning,omitempty"`
	// Decline is the latest declined voucher's reason, cleared on approval.
	Decline *Error `json:"decline"`
	// RedemptionID is set when a checkout with a voucher completes.
	RedemptionID string `json:"redemption_id,omitempty"`
}

// Record returns the redemption record of co, which has a voucher applied,
// as terminalID of merchantID commits it; online says whether the server
// claimed the voucher. The caller sets At when it commits; the ledger
// assigns Seq and ID.
func (co *Checkout) Record(terminalID, merchantID string, online bool) *Redemption {
	return &Redemption{Kind: KindRedemption, TerminalID: terminalID, MerchantID: merchantID,
		CheckoutID: co.ID, Code: co.Code, Voucher: *co.Voucher, Items: append([]Item(nil), co.Items...),
		TotalFen: co.TotalFen, EligibleFen: co.EligibleFen, DiscountFen: co.DiscountFen,
		PayableFen: co.PayableFen, Flags: append([]string(nil), co.Flags...), Online: online}
}

// NewCheckout opens a checkout for items, which must pass CheckItems.
func NewCheckout(id string, items []Item, now time.Time) (*Checkout, error) {
	total, eligible, err := checkItems(items)
	if err != nil {
		return nil, err
	}
	return &Checkout{ID: id, Status: StatusOpen, Items: append([]Item(nil), items...), OpenedAt: now,
		TotalFen: total, EligibleFen: eligible, PayableFen: total}, nil
}

// Apply records a decision for this checkout: an approval attaches the
// voucher and its amounts, a decline is kept for the screen and changes nothing else.
func (c *Checkout) Apply(d *Decision, code string) {
	if !d.Approved() {
		c.Decline = d.Decline
		return
	}
	if c.Status != StatusOpen {
		c.Decline = Errorf(OneVoucherPerTransaction, "checkout %s is %s", c.ID, c.Status)
		return
	}
	v := d.Voucher
	c.Status = StatusVoucherApplied
	c.Voucher, c.Code = &v, code
	c.DiscountFen, c.PayableFen = d.DiscountFen, d.PayableFen
	c.Flags, c.Warning, c.Decline = d.Flags, d.Warning, nil
}

// Complete marks payment taken. The agent must make the redemption durable
// before calling it.
func (c *Checkout) Complete(redemptionID string) error {
	if !c.Status.live() {
		return fmt.Errorf("complete checkout %s (%s): %w", c.ID, c.Status, ErrCheckoutState)
	}
	c.Status, c.RedemptionID = StatusCompleted, redemptionID
	return nil
}

// Cancel abandons the sale and releases an applied voucher.
func (c *Checkout) Cancel() error {
	if !c.Status.live() {
		return fmt.Errorf("cancel checkout %s (%s): %w", c.ID, c.Status, ErrCheckoutState)
	}
	c.Status = StatusCancelled
	c.Voucher, c.Code = nil, ""
	c.DiscountFen, c.PayableFen = 0, c.TotalFen
	return nil
}
