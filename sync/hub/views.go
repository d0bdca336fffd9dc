package hub

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net/http"
	"time"

	"github.com/voucherpos/voucherpos/terminal"
)

// Read-only views of the hub's store for the county's reports, audit
// sample and console (cmd/internal/county): they read, they decide
// nothing.

// DayRecords calls fn with every stored record whose time falls on day
// (UTC+8), of merchantID or of all for "".
func (h *Hub) DayRecords(ctx context.Context, day time.Time, merchantID string, fn func(*StoredRecord) error) error {
	return h.store.DayRecords(ctx, day, merchantID, fn)
}

// StoredRecord returns one stored record.
func (h *Hub) StoredRecord(ctx context.Context, terminalID string, seq uint64) (StoredRecord, bool, error) {
	return h.store.Record(ctx, terminalID, seq)
}

// Merchants returns every merchant.
func (h *Hub) Merchants(ctx context.Context) ([]terminal.Merchant, error) {
	return h.store.Merchants(ctx)
}

// TerminalKey returns a terminal's enrolled public key.
func (h *Hub) TerminalKey(ctx context.Context, terminalID string) (ed25519.PublicKey, error) {
	t, ok, err := h.store.Terminal(ctx, terminalID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("terminal %s: %w", terminalID, ErrUnknown)
	}
	return t.Public, nil
}

// IssuerKeys returns the public keys that verify the codes the hub trusts.
func (h *Hub) IssuerKeys(context.Context) ([]terminal.IssuerKey, error) {
	_, keys := h.signing()
	return keys.Keys(), nil
}

// AdminToken returns the admin token ("" means loopback callers only).
func (h *Hub) AdminToken() string { return h.opts.AdminToken }

// AdminAuth wraps next with the admin API's authentication: loopback
// callers, or with a token its bearers, and no foreign browser pages.
func (h *Hub) AdminAuth(next http.Handler) http.Handler { return h.adminAuth(next) }

// Now returns the hub's clock.
func (h *Hub) Now() time.Time { return h.now() }

// Action is one entry of the append-only admin log: who did what to which
// target, when and why. The county's console writes one for every block
// and unblock; the programme report lists them.
type Action struct {
	At     time.Time `json:"at"`
	Who    string    `json:"who"`
	What   string    `json:"what"`
	Target string    `json:"target,omitempty"`
	Why    string    `json:"why"`
}

// AddAction appends a to the admin log.
func (h *Hub) AddAction(ctx context.Context, a Action) error {
	if a.At.IsZero() {
		a.At = h.now()
	}
	// Microseconds, as PostgreSQL keeps them: every store gives back the same time.
	a.At = a.At.Truncate(time.Microsecond)
	return h.store.AddAction(ctx, a)
}

// Actions returns the admin log, oldest first.
func (h *Hub) Actions(ctx context.Context) ([]Action, error) {
	out := []Action{}
	err := h.store.Actions(ctx, func(a *Action) error { out = append(out, *a); return nil })
	return out, err
}

// Programme returns the programme the hub serves.
func (h *Hub) Programme() *terminal.Programme { return h.prog }

// Get asks the running server's admin API for path (GET) and decodes the
// JSON answer into out: for admin routes mounted beside the hub's.
func (r *Remote) Get(ctx context.Context, path string, out any) error {
	return r.do(ctx, http.MethodGet, path, nil, out)
}

// Post sends in as JSON to the running server's admin API at path and
// decodes the answer into out (nil: ignore it).
func (r *Remote) Post(ctx context.Context, path string, in, out any) error {
	return r.do(ctx, http.MethodPost, path, in, out)
}
