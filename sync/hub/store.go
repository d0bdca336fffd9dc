package hub

import (
	"context"
	"crypto/ed25519"
	"time"

	"github.com/voucherpos/voucherpos/terminal"
)

// Store is everything durable of the hub: terminals' records with their
// outcomes, chain heads, live redemptions, holds, merchants, terminals,
// issuing keys, minted codes, revocations, conflicts and the queries of the
// reports. Stores keep and find; they decide nothing: every outcome is
// decided by the hub (Commit's fn) with the rules of terminal/.
//
// Implementations: sync/boltstore (the embedded bbolt file, the default) and
// sync/pgstore (PostgreSQL, for several instances). sync/hub/storetest is
// the contract suite every implementation passes.
//
// Lookups of something absent return ok false, not an error. Errors the hub
// reads with errors.Is: ErrExists, ErrUnknown, ErrNotInitialised, ErrLocked.
type Store interface {
	// Commit runs fn in one transaction and commits it durably (one fsync
	// for bbolt, one COMMIT for PostgreSQL): the group commit. keys names
	// what fn will read, so that an engine can fetch and lock it in bulk
	// first; fn may read only those. fn may run more than once (an engine
	// retries a transaction that lost a race with another instance), so it
	// must be safe to run again. An error from fn or from the commit means
	// nothing of the transaction is durable, except for
	// ErrOutcomeUnknown, which the hub treats as "may or may not be".
	Commit(ctx context.Context, keys *Keys, fn func(Tx) error) error

	// Head returns a terminal's durable chain head (zero if none).
	Head(ctx context.Context, terminalID string) (Head, error)
	// Record returns one stored record.
	Record(ctx context.Context, terminalID string, seq uint64) (StoredRecord, bool, error)
	// DayRecords calls fn with every record whose time falls on day (UTC+8),
	// of merchantID or of every merchant for "", in (terminal, seq) order.
	DayRecords(ctx context.Context, day time.Time, merchantID string, fn func(*StoredRecord) error) error
	// Conflicts calls fn with every conflict entry, oldest first.
	Conflicts(ctx context.Context, fn func(*Conflict) error) error
	// AddAction appends an entry to the admin log, which is append-only:
	// no method changes or deletes an entry.
	AddAction(ctx context.Context, a Action) error
	// Actions calls fn with every admin log entry, oldest first.
	Actions(ctx context.Context, fn func(*Action) error) error

	// AddMerchant stores a new merchant (ErrExists if its id is taken).
	AddMerchant(ctx context.Context, m terminal.Merchant) error
	// SetBlocked sets a merchant's Blocked flag (ErrUnknown if absent).
	SetBlocked(ctx context.Context, merchantID string, blocked bool) error
	// Merchant returns one merchant.
	Merchant(ctx context.Context, id string) (terminal.Merchant, bool, error)
	// Merchants returns every merchant, by id.
	Merchants(ctx context.Context) ([]terminal.Merchant, error)

	// AddTerminal stores a new terminal (ErrExists if its id is taken,
	// ErrUnknown if its merchant is).
	AddTerminal(ctx context.Context, t TerminalRecord) error
	// RevokeTerminal marks a terminal revoked (ErrUnknown if absent).
	RevokeTerminal(ctx context.Context, terminalID string) error
	// Terminal returns one terminal.
	Terminal(ctx context.Context, id string) (TerminalRecord, bool, error)
	// Terminals returns every terminal, by id.
	Terminals(ctx context.Context) ([]TerminalRecord, error)

	// AddMinted stores minted codes, all or none: ErrExists if any id is
	// already minted.
	AddMinted(ctx context.Context, codes []Minted) error
	// Revoke records a voucher's revocation (again: no change).
	Revoke(ctx context.Context, id terminal.VoucherID, at time.Time) error
	// Revocations returns every revoked voucher id, ascending.
	Revocations(ctx context.Context) ([]terminal.VoucherID, error)
	// ScanMemos calls fn with the memos whose keys start with prefix and
	// come after the key after, in the store's order of keys (bytewise for
	// bbolt, the column's collation for PostgreSQL: the same from one call
	// to the next), at most limit of them: a walk of every memo a chunk at
	// a time gives each call the last key the one before saw. It reads
	// what is committed; it locks nothing. v is valid only during fn,
	// which must not call the store (it may run inside a transaction).
	ScanMemos(ctx context.Context, prefix, after string, limit int, fn func(key string, v []byte) error) error

	// Params returns the stored rule parameters (zero if never set).
	Params(ctx context.Context) (terminal.Params, error)
	// SetParams stores the rule parameters.
	SetParams(ctx context.Context, p terminal.Params) error

	// IssuingKeys returns the issuing keys; ErrNotInitialised if there are none.
	IssuingKeys(ctx context.Context) (IssuingKeys, error)
	// InitKeys stores the identity key, the first issuing key (ErrExists if
	// there is one already).
	InitKeys(ctx context.Context, identity ed25519.PrivateKey) error
	// AddKey stores another issuing key and, with current, mints with it
	// from now on.
	AddKey(ctx context.Context, key ed25519.PrivateKey, current bool) error

	// Close releases the store.
	Close() error
}

// MintedReader is implemented by stores that read minted codes cheaply
// outside a group commit (bbolt). A minted code never changes once stored,
// so the connection's reader fetches the codes of a batch's vouchers before
// the batch is queued, and the committer compares a record's code with it
// without a lookup of its own; a voucher not minted yet is looked up again
// in the commit.
type MintedReader interface {
	// MintedCodes sets codes[i] to the code minted for ids[i], "" for
	// none. On entry codes[i] holds the code the caller expects (a
	// record's): one equal to the minted code is kept, not copied. After
	// an error codes holds nothing to use.
	MintedCodes(ctx context.Context, ids []terminal.VoucherID, codes []string) error
}

// Pipeliner is implemented by stores whose group commits can overlap
// (PostgreSQL): the hub decides a group while the one before it still
// writes and commits.
type Pipeliner interface {
	// CommitAfter is Commit for a group decided while prev (a Pending of
	// this store, or nil) may still be committing: what prev read and wrote
	// is taken as committed. fn runs once, before CommitAfter returns; the
	// transaction commits on its own once prev has, if what it took from
	// prev is still so. An error from CommitAfter or from the Pending's
	// Wait means nothing of it is durable, except ErrOutcomeUnknown (from
	// Wait); after any other the hub runs the group again with Commit.
	CommitAfter(ctx context.Context, keys *Keys, fn func(Tx) error, prev Pending) (Pending, error)
}

// Pending is a group commit under way (Pipeliner).
type Pending interface {
	// Done is closed once the commit's result is known.
	Done() <-chan struct{}
	// Wait returns the commit's result once known: nil if committed.
	Wait() error
}

// Tx is one group-commit transaction. Reads see the transaction's own writes.
type Tx interface {
	// Head and SetHead read and move a terminal's chain head.
	Head(terminalID string) (Head, error)
	SetHead(terminalID string, h Head) error
	// Record returns a stored record (a resend's original, a refund's sale).
	Record(terminalID string, seq uint64) (StoredRecord, bool, error)
	// PutRecord stores a new record with its outcome; a second record for
	// the same (terminal, sequence) is an error (ErrExists). Neither r nor
	// the bytes it points to are kept after the call: the committer fills
	// one for each of a batch's records, and the body and signature alias
	// the batch's message, read into again once the batch is answered.
	PutRecord(r *StoredRecord) error
	// Redeemed returns the record id of a voucher's live accepted redemption.
	Redeemed(v terminal.VoucherID) (string, bool, error)
	// SetRedeemed makes recordID the voucher's live redemption (ErrExists if
	// it has one: one live redemption per voucher).
	SetRedeemed(v terminal.VoucherID, recordID string) error
	// ClearRedeemed frees a voucher again (its redemption was refunded).
	ClearRedeemed(v terminal.VoucherID) error
	// Revoked says whether a voucher is revoked.
	Revoked(v terminal.VoucherID) (bool, error)
	// Minted returns the code minted by this server for a voucher.
	Minted(v terminal.VoucherID) (string, bool, error)
	// Merchant returns a merchant.
	Merchant(id string) (terminal.Merchant, bool, error)
	// Hold, PutHold and DeleteHold keep online claims on vouchers.
	Hold(v terminal.VoucherID) (Hold, bool, error)
	PutHold(v terminal.VoucherID, h Hold) error
	DeleteHold(v terminal.VoucherID) error
	// DeleteHoldsBefore drops every hold whose Until is not after now and
	// returns how many (not limited to keys).
	DeleteHoldsBefore(now time.Time) (int, error)
	// AddConflict appends a conflict entry.
	AddConflict(c *Conflict) error
	// Memo and PutMemo keep the hub's small memories for its rules, by key
	// (a holder's recent redemptions at a merchant, a sale's refunds, a
	// terminal's syncs and chain, a merchant's blocks); the hub encodes the
	// values, the store only keeps them.
	Memo(key string) ([]byte, bool, error)
	PutMemo(key string, v []byte) error
	// DeleteMemo drops a memo the hub no longer needs (absent: nothing to do).
	DeleteMemo(key string) error
}

// Keys lists what one Commit reads, so an engine can fetch and lock it first.
type Keys struct {
	// Terminals whose heads are read and moved: one appender per chain.
	Terminals []string
	// Vouchers whose redemption, hold, revocation or minted code are read.
	Vouchers []terminal.VoucherID
	// Records read by (terminal, sequence): resends and refunded sales.
	Records []RecordRef
	// Merchants read.
	Merchants []string
	// Memos read.
	Memos []string
}

// RecordRef names a record.
type RecordRef struct {
	TerminalID string
	Seq        uint64
}

// Head is a terminal's durable watermark and the hash of the record there.
type Head struct {
	Seq  uint64
	Hash [32]byte
}

// StoredRecord is a terminal's sealed record as the server keeps it, with
// its outcome and the fields the queries need read from its body.
type StoredRecord struct {
	TerminalID string
	Seq        uint64
	MerchantID string
	// At is the time on the record: the report's day (UTC+8).
	At      time.Time
	Kind    terminal.Kind
	Voucher terminal.VoucherID
	Hash    [32]byte
	Sig     []byte
	Body    []byte
	Result  terminal.Result
	Detail  string
}

// ID returns the record's id ("T1-0000000042").
func (r *StoredRecord) ID() string { return terminal.RecordID(r.TerminalID, r.Seq) }

// Hold is an online claim on a voucher.
type Hold struct {
	TerminalID string    `json:"terminal_id"`
	Until      time.Time `json:"until"`
}

// TerminalRecord is an enrolled terminal as the hub stores it: only its public key.
type TerminalRecord struct {
	ID         string            `json:"id"`
	MerchantID string            `json:"merchant_id"`
	Public     ed25519.PublicKey `json:"public"`
	Revoked    bool              `json:"revoked,omitempty"`
	Added      time.Time         `json:"added"`
}

// Minted is a code this server minted.
type Minted struct {
	ID   terminal.VoucherID
	Code string
}

// IssuingKeys are the server's issuing keys.
type IssuingKeys struct {
	// Identity is the first key: it signs welcomes and is in every credential.
	Identity ed25519.PrivateKey
	// Current mints now (Identity until a rotation).
	Current ed25519.PrivateKey
	// All are trusted: every key ever used, Identity included.
	All []ed25519.PrivateKey
}

// Conflict is an entry for the auditors: a synced record the hub kept but
// did not accept, because its voucher was redeemed (or held) elsewhere,
// revoked, or its code did not verify.
type Conflict struct {
	RecordID    string             `json:"record_id"`
	TerminalID  string             `json:"terminal_id"`
	MerchantID  string             `json:"merchant_id"`
	Seq         uint64             `json:"seq"`
	Voucher     terminal.VoucherID `json:"voucher"`
	Category    terminal.Category  `json:"category"`
	DiscountFen terminal.Fen       `json:"discount_fen"`
	At          time.Time          `json:"at"`
	// Against is the record id of the accepted redemption, if any.
	Against string `json:"against,omitempty"`
	// Code is the decline or review code (terminal.Codes, terminal.ReviewCodes).
	Code   terminal.Code `json:"code,omitempty"`
	Reason string        `json:"reason"`
}

// Change is news from a store shared by several instances: something
// another instance (or this one) changed that connected terminals must hear.
type Change struct {
	// Kind is ChangeMerchant, ChangeRevocation, ChangeKeys, ChangeParams,
	// ChangeTerminal or ChangeAll.
	Kind string
	// ID is the merchant or terminal concerned ("" for every one).
	ID string
}

// Kinds of Change.
const (
	ChangeMerchant   = "merchant"
	ChangeRevocation = "revocation"
	ChangeKeys       = "keys"
	ChangeParams     = "params"
	ChangeTerminal   = "terminal"
	// ChangeAll is sent by Watch once it listens, first thing: anything may
	// have changed before (while no one listened), nothing is missed after.
	ChangeAll = "all"
)

// Watcher is implemented by stores several instances share (PostgreSQL):
// Watch calls fn with ChangeAll once it listens, then with every Change
// made through any instance until ctx ends. The hub pushes the news to its
// connected terminals and drops what it kept in memory of what changed
// (cache.go).
type Watcher interface {
	Watch(ctx context.Context, fn func(Change)) error
}
