package agent

import (
	"context"
	"errors"
	"time"

	"github.com/voucherpos/voucherpos/terminal"
)

// ErrOffline is returned by calls that need the server when the agent has
// no connection to it.
var ErrOffline = errors.New("not connected to the server")

// link adapts the sync client to the lane (Authorizer) and the API (Link).
// Until the sync client is wired the agent works offline only.
type link struct {
	a *Agent
}

var (
	_ terminal.Authorizer = (*link)(nil)
	_ Link                = (*link)(nil)
)

func newLink(a *Agent) *link { return &link{a: a} }

func (l *link) enabled() bool                  { return false }
func (l *link) open(ctx context.Context) error { return nil }
func (l *link) close() error                   { return nil }
func (l *link) kick()                          {}

// Online reports whether the server is connected.
func (l *link) Online() bool { return false }

// LastSync returns the terminal's clock at the last sync.
func (l *link) LastSync() time.Time { return time.Time{} }

// SyncNow syncs now.
func (l *link) SyncNow(ctx context.Context) error { return ErrOffline }

// Claim claims a voucher online.
func (l *link) Claim(ctx context.Context, id terminal.VoucherID, code string) (terminal.Result, error) {
	return "", ErrOffline
}

// Release releases a claim.
func (l *link) Release(ctx context.Context, id terminal.VoucherID) error { return ErrOffline }
