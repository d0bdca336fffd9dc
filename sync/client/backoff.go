package client

import (
	"time"

	"github.com/voucherpos/voucherpos/sync/wire"
	"github.com/voucherpos/voucherpos/terminal/backoff"
)

// Backoff timings.
const (
	// BackoffBase is the first reconnection delay's ceiling.
	BackoffBase = 1 * time.Second
	// BackoffCap is the largest reconnection delay.
	BackoffCap = 60 * time.Second
)

// Backoff paces reconnections; it is the tree's one backoff helper. In
// Options its zero fields mean full jitter: the n-th failure in a row waits
// a uniform random time in [0, min(Cap, Base·2ⁿ)), Base BackoffBase and Cap
// BackoffCap.
type Backoff = backoff.Backoff

// reconnectBackoff returns b with the client's defaults for its zero fields.
func reconnectBackoff(b Backoff) Backoff {
	return b.Defaults(Backoff{Base: BackoffBase, Cap: BackoffCap})
}

// reconnectWait returns the delay before the next attempt after a failure;
// closeCode is the websocket close code the server sent (0 if none). A
// server that closes with 1012 (service restart) or 1013 (try again later),
// or refuses the terminal, is given at least Base.
func reconnectWait(b *Backoff, closeCode int) time.Duration {
	wait := b.Next()
	switch closeCode {
	case wire.CloseServiceRestart, wire.CloseTryAgainLater, wire.CloseUnauthorized, wire.CloseRevoked, wire.CloseRejected:
		base, _ := b.Limits()
		wait = max(wait, base)
	}
	return wait
}
