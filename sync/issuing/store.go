package issuing

import (
	"context"
	"errors"
	"time"

	"github.com/voucherpos/voucherpos/terminal"
)

// Store keeps the issuing side: the holder secret, rounds added to the
// programme, budget moves, drops, claims and love registrations. It keeps
// and finds; the rules of terminal/ decide. Implementations:
// sync/boltstore (Issuing).
type Store interface {
	// Update runs fn in one write transaction committed durably (one fsync):
	// the group commit. fn may run more than once, so it must be safe to
	// run again; an error from fn or the commit means nothing of it is durable.
	Update(ctx context.Context, fn func(Tx) error) error
	// View runs fn in a read transaction.
	View(ctx context.Context, fn func(Tx) error) error
}

// Tx is one transaction of a Store. Reads see the transaction's own writes.
type Tx interface {
	// Secret returns the key of the holder pseudonyms; with create, one is
	// made (32 random bytes) when there is none.
	Secret(create bool) ([]byte, error)

	// Rounds returns the rounds added with voucherd round add, in order added.
	Rounds() ([]terminal.IssueRound, error)
	// AddRound stores a round.
	AddRound(r terminal.IssueRound) error
	// Moves returns every budget move, oldest first.
	Moves() ([]terminal.BudgetMove, error)
	// AddMove records a budget move.
	AddMove(m terminal.BudgetMove) error

	// Drops returns every drop, by id.
	Drops() ([]terminal.Drop, error)
	// PutDrop stores a drop; an ID of 0 is given the next one first.
	PutDrop(d *terminal.Drop) error

	// NextClaimSeq returns the next claim sequence number (from 1).
	NextClaimSeq() (uint64, error)
	// AddClaim stores a new claim under its Seq and indexes it by holder and
	// by its idempotency key (if any).
	AddClaim(c *Claim) error
	// ClaimByKey returns the claim made with an idempotency key.
	ClaimByKey(key string) (Claim, bool, error)
	// HolderClaims returns a holder's claims, oldest first.
	HolderClaims(h terminal.HolderID) ([]Claim, error)
	// Claims calls fn with every claim from seq on, in Seq order, until fn
	// returns false or an error.
	Claims(from uint64, fn func(*Claim) (bool, error)) error
	// SetStatus stores a claim's status.
	SetStatus(seq uint64, s terminal.ClaimStatus) error
	// Swept and SetSwept keep the Seq below which every claim's day has been
	// swept for expiry.
	Swept() (uint64, error)
	SetSwept(seq uint64) error

	// Love returns a registered person's love vouchers.
	Love(h terminal.HolderID) (Love, bool, error)
	// AddLove registers a person (ErrExists if registered).
	AddLove(l *Love) error
	// Loves calls fn with every registration.
	Loves(fn func(*Love) error) error

	// Redeemed reports whether a voucher has a live accepted redemption on
	// the server (the hub's ledger).
	Redeemed(id terminal.VoucherID) (bool, error)
	// Revoked reports whether the county revoked a voucher (voucherd revoke).
	Revoked(id terminal.VoucherID) (bool, error)
}

// ErrExists is returned by AddLove for a person registered already.
var ErrExists = errors.New("already exists")

// Claim is one voucher a consumer claimed at a drop, as stored. The code is
// not stored: it is made again from these fields, with Sig or signed again
// with the key KeyID names.
type Claim struct {
	Seq uint64 `json:"seq"`
	// Key is the claim's Idempotency-Key ("" if none) and BodyHash what it
	// asked for, so that a replay with another request is refused.
	Key      string           `json:"key,omitempty"`
	BodyHash []byte           `json:"body_hash,omitempty"`
	RoundID  string           `json:"round_id"`
	Drop     uint64           `json:"drop"`
	KeyID    terminal.KeyID   `json:"key_id"`
	Voucher  terminal.Voucher `json:"voucher"`
	// Sig is the code's signature when it was made with a nonce made ahead
	// (nonces.go), which cannot be made again; empty, the code is signed
	// again by ed25519.Sign, which gives the same signature every time.
	Sig []byte    `json:"sig,omitempty"`
	At  time.Time `json:"at"`
	// Status is claimed, expired or returned as stored; redeemed is read
	// from the server's ledger (Tx.Redeemed).
	Status terminal.ClaimStatus `json:"status"`
}

// Love is a person of the hardship list and the love vouchers issued to them.
type Love struct {
	Holder   terminal.HolderID  `json:"holder"`
	At       time.Time          `json:"at"`
	KeyID    terminal.KeyID     `json:"key_id"`
	Vouchers []terminal.Voucher `json:"vouchers"`
}

// Prefetcher is implemented by a Tx whose reads are round trips
// (sync/pgstore): before deciding a group the committer reads its claims'
// keys and holders with Prefetch, and ClaimByKey and HolderClaims of them
// then need no query.
type Prefetcher interface {
	Prefetch(keys []string, holders []terminal.HolderID) error
}
