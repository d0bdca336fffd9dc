package serial

import (
	"time"

	"github.com/voucherpos/voucherpos/terminal/backoff"
)

// Backoff spaces out reopen attempts; it is the tree's one backoff helper.
// In Config its zero fields mean: Base 50 ms, Cap 1 s, each wait drawn from
// the upper half of its ceiling (Floor 0.5), on Config.After's clock.
type Backoff = backoff.Backoff

// reopenBackoff returns b with the scanner's defaults for its zero fields.
func reopenBackoff(b Backoff, after func(time.Duration) <-chan time.Time) Backoff {
	return b.Defaults(Backoff{Base: 50 * time.Millisecond, Cap: time.Second, Floor: 0.5, After: after})
}
