package hub

import (
	"context"
	"net/http"
	gosync "sync"
	"time"
)

// Limits on what a connection costs the server before its terminal is
// authenticated: a stranger may open connections, but each one reads at
// most wire.MaxHello bytes (the handshake's frame) and waits at most
// handshakeWait, and at most Options.MaxUnauthenticated of them are open
// at once; the rest wait up to admitWait for a place, then are refused
// with 503 before the upgrade (and the terminal backs off).
const (
	// DefaultMaxUnauthenticated is Options.MaxUnauthenticated's default: a
	// place costs about 15 KiB (a goroutine, the websocket and its read
	// buffer) for at most handshakeWait, and a reconnect storm of
	// thousands of terminals (a server restart, a network back) gets
	// through at the speed of the handshakes rather than of the terminals'
	// backoff (BenchmarkStorm in sync/storm).
	DefaultMaxUnauthenticated = 1024
	// admitWait is how long a connection waits for an unauthenticated
	// place before it is refused: handshakes are short (their writes share
	// the group commit), so a burst is better queued than sent into backoff.
	admitWait = time.Second
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

// admit takes a place for an unauthenticated connection, waiting up to
// admitWait for one, or reports that none came free.
func (h *Hub) admit(ctx context.Context) bool {
	select {
	case h.unauth <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(admitWait)
	defer t.Stop()
	select {
	case h.unauth <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	case <-h.ctx.Done():
	}
	return false
}

// admitted gives the place back (after the handshake, whatever its outcome).
func (h *Hub) admitted() { <-h.unauth }
