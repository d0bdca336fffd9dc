package terminal

import (
	"context"
	"time"
)

// Sealed is one record as it sits in the outbox and crosses the wire: the
// record's exact stored bytes (JSON of Redemption), its place in the
// terminal's chain, and the terminal's Ed25519 signature over Hash.
type Sealed struct {
	Seq  uint64   `json:"seq"`
	Body []byte   `json:"body"`
	Prev [32]byte `json:"prev"`
	Hash [32]byte `json:"hash"`
	Sig  []byte   `json:"sig"`
}

// Result is the server's verdict on one synced record.
type Result string

// Results of a synced record, and Awaiting before the server has given
// one: the sync states a record shows in the journal, the report and the
// screens.
const (
	// Awaiting ("pending"): the server has not acknowledged the record yet.
	Awaiting Result = "pending"
	// Accepted: the server committed the record.
	Accepted Result = "accepted"
	// Duplicate: the server already had this (terminal, seq); nothing changed.
	Duplicate Result = "duplicate"
	// Conflict: the voucher was already redeemed elsewhere; the server keeps
	// the record and a conflict entry for the auditors.
	Conflict Result = "conflict"
)

// JournalEntry is one record of a terminal's journal with its sync state,
// as the merchant's day report and dashboard show it.
type JournalEntry struct {
	Record *Redemption `json:"record"`
	// Sync is Awaiting, or the server's result: Accepted, Duplicate, or
	// Conflict (the voucher was redeemed elsewhere first; the record stays
	// in the merchant's day for the auditors).
	Sync Result `json:"sync"`
	// Detail explains a conflict.
	Detail string `json:"detail,omitempty"`
}

// Outcome is the server's verdict on the record with Seq.
type Outcome struct {
	Seq    uint64 `json:"seq"`
	Result Result `json:"result"`
	// Code is a conflict's decline or review code (empty otherwise).
	Code Code `json:"code,omitempty"`
	// Detail explains a conflict ("voucher 11.. redeemed by T2-0000000004").
	Detail string `json:"detail,omitempty"`
}

// Outbox is the terminal's queue of sealed records awaiting the server.
// Implemented by offline.Ledger; consumed by the sync client.
type Outbox interface {
	// HighSeq returns the highest sequence committed (0 if none).
	HighSeq(ctx context.Context) (uint64, error)
	// Pending returns up to n sealed records with Seq > after, in order.
	Pending(ctx context.Context, after uint64, n int) ([]Sealed, error)
	// Ack stores outcomes and the server's durable watermark, and prunes the
	// outbox up to it, in one transaction.
	Ack(ctx context.Context, watermark uint64, outcomes []Outcome) error
	// Unsynced returns the number and total discount of records above the watermark.
	Unsynced(ctx context.Context) (count int, discount Fen, err error)
}

// ServerState is what the server pushes and the terminal keeps for working
// offline: its merchant profile (with the blocked flag), the issuer keys, the
// revocations, the rule parameters and the clocks at the last sync.
type ServerState struct {
	Merchant    Merchant    `json:"merchant"`
	IssuerKeys  []IssuerKey `json:"issuer_keys"`
	Revocations []VoucherID `json:"revocations"`
	Params      Params      `json:"params"`
	// ServerTime is the server's clock at the last sync, LocalTime the
	// terminal's at the same moment.
	ServerTime time.Time `json:"server_time"`
	LocalTime  time.Time `json:"local_time"`
	// Fork, when set, says why the server holds this terminal's ledger as a
	// fork (wiped or restored): its records are kept but not accepted, and
	// offline redemptions stop until an administrator resets the terminal.
	// A state with a fork is no sync: the terminal keeps the clocks of its
	// last good one.
	Fork string `json:"fork,omitempty"`
}

// StateStore keeps the last ServerState durably. Implemented by offline.Ledger.
type StateStore interface {
	LoadState(ctx context.Context) (ServerState, error)
	SaveState(ctx context.Context, s ServerState) error
}
