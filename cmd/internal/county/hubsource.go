package county

import (
	"context"
	"crypto/ed25519"
	"time"

	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/terminal"
)

// Hub is what HubSource reads: the hub's read-only views over its store
// (bbolt or PostgreSQL alike).
type Hub interface {
	DayRecords(ctx context.Context, day time.Time, merchantID string, fn func(*hub.StoredRecord) error) error
	StoredRecord(ctx context.Context, terminalID string, seq uint64) (hub.StoredRecord, bool, error)
	Merchants(ctx context.Context) ([]terminal.Merchant, error)
	TerminalKey(ctx context.Context, terminalID string) (ed25519.PublicKey, error)
	IssuerKeys(ctx context.Context) ([]terminal.IssuerKey, error)
	Actions(ctx context.Context) ([]Action, error)
}

// HubSource is the Source of a server's own store.
type HubSource struct{ H Hub }

var _ Source = HubSource{}

// Records reads the days from..until, each through the store's day index.
// It leaves Prev zero (the reports do not need it; Record fills it).
func (s HubSource) Records(ctx context.Context, from, until time.Time, fn func(*Record) error) error {
	for d := terminal.Day(from); !d.After(until); d = d.AddDate(0, 0, 1) {
		err := s.H.DayRecords(ctx, d, "", func(st *hub.StoredRecord) error {
			return fn(&Record{TerminalID: st.TerminalID, Sealed: terminal.Sealed{Seq: st.Seq, Body: st.Body, Hash: st.Hash, Sig: st.Sig},
				Result: st.Result, Detail: st.Detail})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// record adds the chain's previous hash, which the store keeps as the
// previous record's hash.
func (s HubSource) record(ctx context.Context, st *hub.StoredRecord) (*Record, error) {
	r := &Record{TerminalID: st.TerminalID, Sealed: terminal.Sealed{Seq: st.Seq, Body: st.Body, Hash: st.Hash, Sig: st.Sig},
		Result: st.Result, Detail: st.Detail}
	if st.Seq > 1 {
		prev, ok, err := s.H.StoredRecord(ctx, st.TerminalID, st.Seq-1)
		if err != nil {
			return nil, err
		}
		if ok {
			r.Prev = prev.Hash
		}
	}
	return r, nil
}

// Record returns one stored record.
func (s HubSource) Record(ctx context.Context, terminalID string, seq uint64) (*Record, bool, error) {
	st, ok, err := s.H.StoredRecord(ctx, terminalID, seq)
	if err != nil || !ok {
		return nil, ok, err
	}
	r, err := s.record(ctx, &st)
	return r, err == nil, err
}

// Merchants returns every merchant.
func (s HubSource) Merchants(ctx context.Context) ([]terminal.Merchant, error) {
	return s.H.Merchants(ctx)
}

// TerminalKey returns a terminal's public key.
func (s HubSource) TerminalKey(ctx context.Context, id string) (ed25519.PublicKey, error) {
	return s.H.TerminalKey(ctx, id)
}

// IssuerKeys returns the issuer public keys.
func (s HubSource) IssuerKeys(ctx context.Context) ([]terminal.IssuerKey, error) {
	return s.H.IssuerKeys(ctx)
}

// Actions returns the admin log.
func (s HubSource) Actions(ctx context.Context) ([]Action, error) { return s.H.Actions(ctx) }
