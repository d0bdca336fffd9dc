package terminal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// maxRecent is how many checkouts a lane remembers by id, the open one
// always among them.
const maxRecent = 200

// entry is a checkout on the lane with what the lane knows of its voucher.
type entry struct {
	co      *Checkout
	online  bool      // the applied voucher was claimed online
	claimed VoucherID // held claim to release on cancel (0: none)
}

// checkouts is the lane's registry: the open checkout and the last
// maxRecent by id. The lane's mu guards it.
type checkouts struct {
	cur    *entry            // the open checkout, nil if none
	recent map[string]*entry // checkouts by id, the last maxRecent
	order  []string
}

func newCheckouts() checkouts { return checkouts{recent: map[string]*entry{}} }

// open registers a new checkout for items as the open one.
func (c *checkouts) open(items []Item, now time.Time) (*entry, error) {
	if c.cur != nil {
		return nil, fmt.Errorf("open checkout: %s is open: %w", c.cur.co.ID, ErrCheckoutOpen)
	}
	co, err := NewCheckout(newID(now), items, now)
	if err != nil {
		return nil, err
	}
	e := &entry{co: co}
	c.cur = e
	c.remember(e)
	return e, nil
}

// get returns checkout id, or ErrNotFound.
func (c *checkouts) get(id string) (*entry, error) {
	e, ok := c.recent[id]
	if !ok {
		return nil, fmt.Errorf("checkout %q: %w", id, ErrNotFound)
	}
	return e, nil
}

// close makes e no longer the open checkout.
func (c *checkouts) close(e *entry) {
	if c.cur == e {
		c.cur = nil
	}
}

func (c *checkouts) remember(e *entry) {
	c.recent[e.co.ID] = e
	c.order = append(c.order, e.co.ID)
	for len(c.order) > maxRecent {
		if old := c.recent[c.order[0]]; old != nil && old != c.cur {
			delete(c.recent, c.order[0])
		}
		c.order = c.order[1:]
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

// checkoutIDTime is the layout of the time in a checkout id.
const checkoutIDTime = "20060102150405"

// newID returns a checkout id: the local time and 4 random bytes.
func newID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "CO" + now.In(Zone).Format(checkoutIDTime) + hex.EncodeToString(b[:])
}

// CheckoutOpened returns when checkout id was opened (to the second, UTC+8),
// read from the id itself: a ledger finds a checkout's record by its day
// after the agent restarted. ok is false for an id the lane did not make.
func CheckoutOpened(id string) (t time.Time, ok bool) {
	rest, found := strings.CutPrefix(id, "CO")
	if !found || len(rest) != len(checkoutIDTime)+8 {
		return time.Time{}, false
	}
	if _, err := hex.DecodeString(rest[len(checkoutIDTime):]); err != nil {
		return time.Time{}, false
	}
	t, err := time.ParseInLocation(checkoutIDTime, rest[:len(checkoutIDTime)], Zone)
	return t, err == nil
}

// CheckoutOf returns the checkout that record r (a redemption) completed,
// as GET /api/v1/checkouts/{id} shows it: what the till asks after the
// agent restarted and the lane no longer holds the checkout.
func CheckoutOf(r *Redemption) Checkout {
	opened, _ := CheckoutOpened(r.CheckoutID)
	v := r.Voucher
	return Checkout{ID: r.CheckoutID, Status: StatusCompleted, Items: append([]Item(nil), r.Items...), OpenedAt: opened,
		TotalFen: r.TotalFen, EligibleFen: r.EligibleFen, DiscountFen: r.DiscountFen, PayableFen: r.PayableFen,
		Voucher: &v, Code: r.Code, Flags: append([]string(nil), r.Flags...), RedemptionID: r.ID}
}

// idemKey is the context key of WithIdempotencyKey.
type idemKey struct{}

// WithIdempotencyKey returns ctx carrying the till's Idempotency-Key of the
// request being served; Lane.Complete stores it in the record it commits,
// so a retry after a restart can be matched to the sale.
func WithIdempotencyKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, idemKey{}, key)
}

// IdempotencyKey returns the key WithIdempotencyKey put in ctx, or "".
func IdempotencyKey(ctx context.Context) string {
	k, _ := ctx.Value(idemKey{}).(string)
	return k
}
