// Package county is the county's account of the programme on the server:
// the programme report, the audit sample and its verification, the fraud
// signals and the console. It reads the server's stored records through
// Source and sums money only through terminal.Account.
package county

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/terminal"
)

// Record is one stored record as the server keeps it: the terminal's sealed
// bytes, exactly as signed, and the server's verdict on it.
type Record struct {
	TerminalID string
	terminal.Sealed
	Result terminal.Result
	Detail string
}

// ID returns the record's id ("T1-0000000042").
func (r *Record) ID() string { return terminal.RecordID(r.TerminalID, r.Seq) }

// Decode parses the record's body.
func (r *Record) Decode() (*terminal.Redemption, error) {
	var red terminal.Redemption
	if err := json.Unmarshal(r.Body, &red); err != nil {
		return nil, fmt.Errorf("record %s: %w", r.ID(), err)
	}
	if red.ID == "" {
		red.ID = r.ID()
	}
	return &red, nil
}

// Action is one entry of the append-only admin log (the hub's).
type Action = hub.Action

// Source is what the county's views read from the server's store.
type Source interface {
	// Records calls fn with every record whose time falls on the UTC+8
	// days from..until (both included); Prev may be left zero.
	Records(ctx context.Context, from, until time.Time, fn func(*Record) error) error
	// Record returns one record with Prev, or false (a refund's sale of an
	// earlier day, a chain neighbour, a sampled record).
	Record(ctx context.Context, terminalID string, seq uint64) (*Record, bool, error)
	// Merchants returns every merchant.
	Merchants(ctx context.Context) ([]terminal.Merchant, error)
	// TerminalKey returns a terminal's public key.
	TerminalKey(ctx context.Context, terminalID string) (ed25519.PublicKey, error)
	// IssuerKeys returns the public keys that verify the issued codes.
	IssuerKeys(ctx context.Context) ([]terminal.IssuerKey, error)
	// Actions returns the admin log, oldest first.
	Actions(ctx context.Context) ([]Action, error)
}

// Period is a set of records read once: the records of the days from..until
// with their verdicts, and the sales their refunds refer to.
type Period struct {
	From, Until time.Time
	// Lines are the period's records in time order, refunds resolved.
	Lines []terminal.Line
	// Stored holds where each line is stored (terminal, sequence) and the
	// server's verdict, by record id; not the bodies.
	Stored map[string]*Record
	// Sales holds the redemptions the period's refunds refer to, by id,
	// also those of earlier days.
	Sales     map[string]*terminal.Redemption
	Merchants map[string]terminal.Merchant
}

// Load reads the period from..until (UTC+8 days, both included).
func Load(ctx context.Context, src Source, from, until time.Time) (*Period, error) {
	from, until = terminal.Day(from), terminal.Day(until)
	if until.Before(from) {
		return nil, fmt.Errorf("period %s..%s is empty", from.Format(time.DateOnly), until.Format(time.DateOnly))
	}
	p := &Period{From: from, Until: until, Stored: map[string]*Record{}, Sales: map[string]*terminal.Redemption{},
		Merchants: map[string]terminal.Merchant{}}
	err := src.Records(ctx, from, until, func(r *Record) error {
		red, err := r.Decode()
		if err != nil {
			return err
		}
		// Only where it is stored: evidence reads the record again, whole.
		p.Stored[r.ID()] = &Record{TerminalID: r.TerminalID, Sealed: terminal.Sealed{Seq: r.Seq}, Result: r.Result, Detail: r.Detail}
		p.Lines = append(p.Lines, terminal.Line{Record: red, Result: r.Result, Detail: r.Detail})
		if red.Kind == terminal.KindRedemption {
			p.Sales[red.ID] = red
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load records: %w", err)
	}
	terminal.ResolveRefunds(p.Lines)
	for i := range p.Lines {
		l := &p.Lines[i]
		if l.Record.Kind != terminal.KindRefund || l.Of != "" {
			continue
		}
		term, seq, ok := terminal.ParseRecordID(l.Record.RefundOf)
		if !ok {
			continue
		}
		orig, found, err := src.Record(ctx, term, seq)
		if err != nil {
			return nil, fmt.Errorf("load sale %s: %w", l.Record.RefundOf, err)
		}
		if found {
			l.Of, l.OfDetail = orig.Result, orig.Detail
			if red, err := orig.Decode(); err == nil {
				p.Sales[red.ID] = red
			}
		}
	}
	slices.SortStableFunc(p.Lines, func(a, b terminal.Line) int {
		if c := a.Record.At.Compare(b.Record.At); c != 0 {
			return c
		}
		return strings.Compare(a.Record.ID, b.Record.ID)
	})
	ms, err := src.Merchants(ctx)
	if err != nil {
		return nil, fmt.Errorf("load merchants: %w", err)
	}
	for _, m := range ms {
		p.Merchants[m.ID] = m
	}
	return p, nil
}
