// Package backoff spaces out retries: reconnecting a scanner, a sync link.
// It is the tree's one backoff helper (after tailscale's util/backoff):
// waits grow from Base and are capped at Cap, each is jittered so that
// terminals that failed together do not retry in step, success resets the
// growth, the clock is injectable, and a wait returns at once when its
// context ends. It imports only the standard library.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff computes the waits between attempts. The n-th failure in a row
// (from 0) has the ceiling d = min(Cap, Base·2ⁿ) and waits a time drawn
// uniformly from [Floor·d, d). A Backoff is not safe for concurrent use;
// copy it to give each retry loop its own.
type Backoff struct {
	// Base is the first wait's ceiling; zero means 1 s.
	Base time.Duration
	// Cap is the largest ceiling; zero means 60 s. A Cap below Base is Base.
	Cap time.Duration
	// Floor is the share of the ceiling that is always waited, in [0, 1):
	// zero means full jitter (a wait may be close to zero), 0.5 draws each
	// wait from the upper half of its ceiling.
	Floor float64
	// Rand returns a number in [0, 1) for the jitter; nil means
	// math/rand/v2's Float64.
	Rand func() float64
	// After is the clock Wait sleeps on; nil means time.After.
	After func(time.Duration) <-chan time.Time

	failures int
}

// Defaults returns b with each zero field taken from def: callers keep
// their own defaults and still honour what a user configured.
func (b Backoff) Defaults(def Backoff) Backoff {
	if b.Base <= 0 {
		b.Base = def.Base
	}
	if b.Cap <= 0 {
		b.Cap = def.Cap
	}
	if b.Floor <= 0 {
		b.Floor = def.Floor
	}
	if b.Rand == nil {
		b.Rand = def.Rand
	}
	if b.After == nil {
		b.After = def.After
	}
	return b
}

// Limits returns Base and Cap with their defaults applied.
func (b *Backoff) Limits() (base, ceil time.Duration) {
	base, ceil = b.Base, b.Cap
	if base <= 0 {
		base = time.Second
	}
	if ceil <= 0 {
		ceil = time.Minute
	}
	return base, max(ceil, base)
}

// Next returns the wait before the next attempt and counts a failure.
func (b *Backoff) Next() time.Duration {
	base, ceil := b.Limits()
	d := base
	for i := 0; i < b.failures && d < ceil; i++ {
		if d > ceil/2 {
			d = ceil // doubling could overflow near the largest Duration
		} else {
			d *= 2
		}
	}
	d = min(d, ceil)
	b.failures = min(b.failures+1, 64)
	floor := min(max(b.Floor, 0), 1)
	r := rand.Float64
	if b.Rand != nil {
		r = b.Rand
	}
	fixed := time.Duration(floor * float64(d))
	return fixed + time.Duration(r()*float64(d-fixed))
}

// Reset starts over from Base: call it after an attempt that worked.
func (b *Backoff) Reset() { b.failures = 0 }

// Wait counts a failure and sleeps the next wait on the Backoff's clock. It
// returns ctx's error at once when ctx ends first, and nil otherwise.
func (b *Backoff) Wait(ctx context.Context) error {
	return Sleep(ctx, b.Next(), b.After)
}

// Sleep waits d on the clock after (nil means time.After), or until ctx
// ends, when it returns ctx's error.
func Sleep(ctx context.Context, d time.Duration, after func(time.Duration) <-chan time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if after == nil {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		}
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-after(d):
		return nil
	}
}
