package serial

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff spaces out reconnection attempts: Base, then doubling up to Cap,
// each wait drawn at random from its upper half so that terminals restarted
// together do not retry in step. The zero value waits 50 ms growing to 1 s.
type Backoff struct {
	// Base is the first wait; zero means 50 ms.
	Base time.Duration
	// Cap is the longest wait; zero means 1 s.
	Cap time.Duration
	// Rand returns a number in [0, 1) for the jitter; nil means math/rand/v2.
	Rand func() float64

	n int
}

// Next returns how long to wait before the next attempt.
func (b *Backoff) Next() time.Duration {
	base, limit := b.Base, b.Cap
	if base <= 0 {
		base = 50 * time.Millisecond
	}
	if limit <= 0 {
		limit = time.Second
	}
	limit = max(limit, base)
	d := limit
	if b.n < 30 && base<<b.n < limit {
		d = base << b.n
		b.n++
	}
	r := rand.Float64
	if b.Rand != nil {
		r = b.Rand
	}
	return d/2 + time.Duration(r()*float64(d/2))
}

// Reset starts over from Base, after a connection that worked.
func (b *Backoff) Reset() { b.n = 0 }

// sleep waits d on the clock after, or until ctx ends.
func sleep(ctx context.Context, d time.Duration, after func(time.Duration) <-chan time.Time) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-after(d):
		return nil
	}
}
