package hub

import (
	"net/http"
	gosync "sync"
	"time"
)

// Limits on what a connection costs the server before its terminal is
// authenticated: a stranger may open connections, but each one reads at
// most wire.MaxHello bytes (the handshake's frame) and waits at most
// handshakeWait, and at most Options.MaxUnauthenticated of them are open
// at once; the rest are refused with 503 before the upgrade.
const (
	// DefaultMaxUnauthenticated is Options.MaxUnauthenticated's default.
	DefaultMaxUnauthenticated = 64
	// refusalLogs is how many refusals are logged each refusalEvery; the
	// rest are counted and summed up in one line.
	refusalLogs  = 10
	refusalEvery = time.Minute
)

// HTTP server timings (NewServer).
const (
	// readHeaderWait bounds reading a request's headers (slowloris).
	readHeaderWait = 10 * time.Second
	// readWait bounds reading a whole request; a websocket sets its own
	// deadlines once upgraded.
	readWait = 30 * time.Second
	// idleWait closes a keep-alive connection with no request.
	idleWait = 2 * time.Minute
	// maxHeader is the largest request header block read.
	maxHeader = 16 << 10
)

// NewServer returns an HTTP server for handler (Hub.Handler) with the
// timeouts a server facing the network needs: headers within 10 s, a
// request within 30 s, idle keep-alive connections closed after 2 min,
// headers of at most 16 KiB.
func NewServer(handler http.Handler) *http.Server {
	return &http.Server{Handler: handler, ReadHeaderTimeout: readHeaderWait, ReadTimeout: readWait,
		IdleTimeout: idleWait, MaxHeaderBytes: maxHeader}
}

// refusals logs refusals without flooding: the first refusalLogs of each
// refusalEvery, then one line with how many more there were.
type refusals struct {
	mu     gosync.Mutex
	since  time.Time
	logged int
	quiet  int
}

func (r *refusals) logf(h *Hub, format string, args ...any) {
	now := time.Now()
	r.mu.Lock()
	if now.Sub(r.since) >= refusalEvery {
		if r.quiet > 0 {
			h.logf("hub: %d more refusals not logged in the last %v", r.quiet, refusalEvery)
		}
		r.since, r.logged, r.quiet = now, 0, 0
	}
	log := r.logged < refusalLogs
	if log {
		r.logged++
	} else {
		r.quiet++
	}
	r.mu.Unlock()
	if log {
		h.logf(format, args...)
	}
}

// admit takes a place for an unauthenticated connection, or reports that
// none is free.
func (h *Hub) admit() bool {
	select {
	case h.unauth <- struct{}{}:
		return true
	default:
		return false
	}
}

// admitted gives the place back (after the handshake, whatever its outcome).
func (h *Hub) admitted() { <-h.unauth }
