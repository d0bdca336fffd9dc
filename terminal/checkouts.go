package terminal

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
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

// newID returns a checkout id: the local time and 4 random bytes.
func newID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "CO" + now.In(Zone).Format("20060102150405") + hex.EncodeToString(b[:])
}
