package client

import (
	"math/rand/v2"
	"time"

	"github.com/voucherpos/voucherpos/sync/wire"
)

// Backoff timings.
const (
	// BackoffBase is the first reconnection delay's ceiling.
	BackoffBase = 1 * time.Second
	// BackoffCap is the largest reconnection delay.
	BackoffCap = 60 * time.Second
)

// Backoff computes reconnection delays with full jitter: the n-th failure
// in a row waits a uniform random time in [0, min(Cap, Base·2ⁿ)). A server
// that closes with 1012 (service restart) or 1013 (try again later), or
// refuses the terminal, is given at least Base. The zero value is ready.
type Backoff struct {
	// Base and Cap: zero means BackoffBase and BackoffCap.
	Base, Cap time.Duration
	// Rand returns a float in [0, 1); nil means math/rand/v2.Float64.
	Rand func() float64

	failures int
}

// Reset forgets earlier failures: call it after a successful connection.
func (b *Backoff) Reset() { b.failures = 0 }

// limits returns Base and Cap with their defaults.
func (b *Backoff) limits() (base, ceil time.Duration) {
	base, ceil = b.Base, b.Cap
	if base <= 0 {
		base = BackoffBase
	}
	if ceil <= 0 {
		ceil = BackoffCap
	}
	return base, ceil
}

// Next returns the delay before the next attempt after a failure; closeCode
// is the websocket close code the server sent (0 if none).
func (b *Backoff) Next(closeCode int) time.Duration {
	base, ceil := b.limits()
	r := b.Rand
	if r == nil {
		r = rand.Float64
	}
	d := base
	for i := 0; i < b.failures && d < ceil; i++ {
		d *= 2
	}
	d = min(d, ceil)
	b.failures++
	wait := time.Duration(r() * float64(d))
	switch closeCode {
	case wire.CloseServiceRestart, wire.CloseTryAgainLater, wire.CloseUnauthorized, wire.CloseRevoked, wire.CloseRejected:
		wait = max(wait, base)
	}
	return wait
}
