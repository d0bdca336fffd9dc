// Package wire is the sync protocol between a terminal and the central
// server (docs/sync-protocol.md): the JSON control messages, the binary batch
// frame that carries sealed records, the handshake's signed messages, the
// close codes and the terminal's credential file. It does no I/O beyond
// reading and writing credential files.
package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/voucherpos/voucherpos/terminal"
)

// Version is the protocol version a terminal announces in its hello. From
// version 2 (SealedVersion) the server sends every message from the welcome
// on in a sealed frame (sealed.go); to a terminal announcing less it sends
// them as plain JSON text, as version 1 did.
const Version = 2

// Path is the HTTP path of the sync websocket on the server.
const Path = "/v1/sync"

// Limits on what either side accepts.
const (
	// MaxMessage is the largest websocket message either side reads once
	// the terminal is authenticated.
	MaxMessage = 8 << 20
	// MaxHello is the largest message the server reads before the terminal
	// is authenticated (the hello is a few hundred bytes).
	MaxHello = 4 << 10
	// MaxBatch is the largest number of records in one batch frame.
	MaxBatch = 2000
	// MaxBody is the largest record body in a batch frame.
	MaxBody = 256 << 10
	// MaxOutcomes is the largest number of outcomes in one ack.
	MaxOutcomes = MaxBatch
)

// Type names a control message.
type Type string

// Control message types. Records travel in binary batch frames (Batch).
const (
	// TypeChallenge (server → terminal) opens the handshake with a nonce.
	TypeChallenge Type = "challenge"
	// TypeHello (terminal → server) proves the terminal's key and says its highest sequence.
	TypeHello Type = "hello"
	// TypeWelcome (server → terminal) accepts the terminal: its durable
	// watermark, the window, the server state and the server's signature.
	TypeWelcome Type = "welcome"
	// TypeAck (server → terminal) acknowledges a batch after the server's commit.
	TypeAck Type = "ack"
	// TypeClaim (terminal → server) asks to hold a voucher before approving it online.
	TypeClaim Type = "claim"
	// TypeRelease (terminal → server) gives up a hold (checkout cancelled).
	TypeRelease Type = "release"
	// TypeClaimResult (server → terminal) answers a claim or release.
	TypeClaimResult Type = "claim_result"
	// TypeState (server → terminal) pushes a new server state.
	TypeState Type = "state"
)

// ClaimResult is the server's answer to a claim.
type ClaimResult string

// Claim results.
const (
	// ClaimOK: the voucher is held for this terminal (or released, for a release).
	ClaimOK ClaimResult = "ok"
	// ClaimConflict: the voucher is redeemed or held elsewhere (decline
	// already_redeemed); held elsewhere, the answer's Until says until when.
	ClaimConflict ClaimResult = "conflict"
	// ClaimRevoked: the voucher is revoked (decline revoked).
	ClaimRevoked ClaimResult = "revoked"
	// ClaimInvalid: the code does not verify or does not match the id (decline bad_signature).
	ClaimInvalid ClaimResult = "invalid"
	// ClaimBlocked: the terminal's merchant is blocked (decline merchant_blocked).
	ClaimBlocked ClaimResult = "blocked"
	// ClaimForked: the server holds the terminal's ledger as a fork; it
	// redeems nothing until it is reset (decline offline_limit, reason fork).
	ClaimForked ClaimResult = "fork"
)

// Decline returns the decline code a terminal shows for a refused claim, or
// "" for ClaimOK and unknown results.
func (r ClaimResult) Decline() terminal.Code {
	switch r {
	case ClaimConflict:
		return terminal.AlreadyRedeemed
	case ClaimRevoked:
		return terminal.Revoked
	case ClaimInvalid:
		return terminal.BadSignature
	case ClaimBlocked:
		return terminal.MerchantBlocked
	case ClaimForked:
		return terminal.OfflineLimit
	}
	return ""
}

// Message is every control message, flat: Type says which fields are set.
// Unknown fields are ignored so either side can grow.
type Message struct {
	Type Type `json:"type"`

	// challenge
	Nonce []byte `json:"nonce,omitempty"`

	// hello
	Version    int    `json:"version,omitempty"`
	TerminalID string `json:"terminal_id,omitempty"`
	MerchantID string `json:"merchant_id,omitempty"`
	HighSeq    uint64 `json:"high_seq,omitempty"`
	// Report is the terminal's account of itself for the fleet view; older
	// agents send none (hello).
	Report *Report `json:"report,omitempty"`
	// Sig is the terminal's signature over HelloMessage (hello), or the
	// server's over WelcomeMessage (welcome).
	Sig []byte `json:"sig,omitempty"`

	// welcome, ack
	Watermark uint64 `json:"watermark,omitempty"`
	// Window is the number of unacknowledged batches the terminal may have in flight (welcome).
	Window int `json:"window,omitempty"`
	// BatchMax is the largest batch the server takes (welcome).
	BatchMax int `json:"batch_max,omitempty"`
	// State is the server state (welcome, state).
	State *terminal.ServerState `json:"state,omitempty"`
	// ServerTime is the server's clock when it sent the message.
	ServerTime time.Time `json:"server_time,omitzero"`

	// ack
	// Upto is the last sequence of the batch acknowledged.
	Upto     uint64             `json:"upto,omitempty"`
	Outcomes []terminal.Outcome `json:"outcomes,omitempty"`

	// claim, release, claim_result
	// ID pairs a claim_result with its claim or release.
	ID      uint64             `json:"id,omitempty"`
	Voucher terminal.VoucherID `json:"voucher,omitempty"`
	Code    string             `json:"code,omitempty"`
	Result  ClaimResult        `json:"result,omitempty"`
	Detail  string             `json:"detail,omitempty"`
	// Until is when a hold expires unless its redemption arrives
	// (claim_result): this terminal's on ok, another's on conflict.
	Until time.Time `json:"until,omitzero"`
}

// Report is what a terminal tells the server about itself at the hello,
// for the operator's fleet view (voucherd terminal list). It is not signed
// and decides nothing; the server shortens over-long text.
type Report struct {
	// Agent is the agent's version (module version and VCS revision).
	Agent string `json:"agent,omitempty"`
	// QueueDepth and UnsyncedFen are the records not yet acknowledged and
	// their discount, as the terminal counts them.
	QueueDepth  int          `json:"queue_depth"`
	UnsyncedFen terminal.Fen `json:"unsynced_fen"`
	// Fault is a fault the terminal is in (its ledger, its clock), empty
	// when none.
	Fault string `json:"fault,omitempty"`
}

// ErrMessage is returned when a control message is malformed.
var ErrMessage = errors.New("malformed sync message")

// Decode parses and checks a control message. It never panics on any input.
// An ack in the form the server writes is read by decodeAck, anything else
// by encoding/json, to the same message.
func Decode(b []byte) (*Message, error) {
	m, ok := decodeAck(b)
	if !ok {
		m = new(Message)
		if err := json.Unmarshal(b, m); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMessage, err)
		}
	}
	if err := m.Check(); err != nil {
		return nil, err
	}
	return m, nil
}

// Encode returns the JSON of m.
func Encode(m *Message) ([]byte, error) { return json.Marshal(m) }

// Check validates the fields Type needs.
func (m *Message) Check() error {
	bad := func(f string, a ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrMessage, m.Type, fmt.Sprintf(f, a...))
	}
	switch m.Type {
	case TypeChallenge:
		if len(m.Nonce) != NonceSize {
			return bad("nonce of %d bytes, want %d", len(m.Nonce), NonceSize)
		}
	case TypeHello:
		if m.TerminalID == "" || len(m.TerminalID) > 64 || m.MerchantID == "" || len(m.MerchantID) > 64 {
			return bad("terminal and merchant id must be 1..64 bytes")
		}
		if len(m.Sig) != 64 {
			return bad("signature of %d bytes", len(m.Sig))
		}
	case TypeWelcome:
		if m.Window <= 0 || m.BatchMax <= 0 || m.BatchMax > MaxBatch || m.State == nil {
			return bad("window %d, batch_max %d, state %v", m.Window, m.BatchMax, m.State != nil)
		}
	case TypeAck:
		if len(m.Outcomes) > MaxOutcomes {
			return bad("%d outcomes", len(m.Outcomes))
		}
		for _, o := range m.Outcomes {
			switch o.Result {
			case terminal.Accepted, terminal.Duplicate, terminal.Conflict:
			default:
				return bad("seq %d: result %q", o.Seq, o.Result)
			}
		}
	case TypeClaim:
		if m.ID == 0 || m.Code == "" || len(m.Code) > 1024 {
			return bad("id %d, code of %d bytes", m.ID, len(m.Code))
		}
	case TypeRelease:
		if m.ID == 0 {
			return bad("no id")
		}
	case TypeClaimResult:
		if m.ID == 0 || m.Result == "" {
			return bad("id %d, result %q", m.ID, m.Result)
		}
	case TypeState:
		if m.State == nil {
			return bad("no state")
		}
	default:
		return fmt.Errorf("%w: unknown type %q", ErrMessage, m.Type)
	}
	return nil
}
