package terminal

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kind tells a redemption record from a refund record.
type Kind string

// Record kinds.
const (
	KindRedemption Kind = "redemption"
	KindRefund     Kind = "refund"
)

// Redemption is one durable record of public money: a completed redemption,
// or a refund of one. Records are kept in the terminal's ledger, chained and
// signed, and synced to the server.
type Redemption struct {
	// ID is "<terminal>-<seq>", assigned by the ledger at commit.
	ID         string    `json:"id"`
	Kind       Kind      `json:"kind"`
	Seq        uint64    `json:"seq"`
	TerminalID string    `json:"terminal_id"`
	MerchantID string    `json:"merchant_id"`
	At         time.Time `json:"at"`
	CheckoutID string    `json:"checkout_id,omitempty"`
	// IdempotencyKey is the till's Idempotency-Key of the complete call
	// that made this record, if it sent one: with CheckoutID it lets a
	// retry after a restart get the original answer.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// Code is the voucher code as scanned, so the server and auditors can
	// verify the issuer's signature themselves.
	Code        string   `json:"code"`
	Voucher     Voucher  `json:"voucher"`
	Items       []Item   `json:"items"`
	TotalFen    Fen      `json:"total_fen"`
	EligibleFen Fen      `json:"eligible_fen"`
	DiscountFen Fen      `json:"discount_fen"`
	PayableFen  Fen      `json:"payable_fen"`
	Flags       []string `json:"flags,omitempty"`
	// Online is true if the server claimed the voucher before approval.
	Online bool `json:"online"`

	// Refund records only: the redemption refunded, the lines and amounts.
	RefundOf        string `json:"refund_of,omitempty"`
	RefundFen       Fen    `json:"refund_fen,omitempty"`
	VoucherShareFen Fen    `json:"voucher_share_fen,omitempty"`
	VoucherReturned bool   `json:"voucher_returned,omitempty"`
}

// RecordID returns the id of a terminal's record with seq ("T1-0000000042").
func RecordID(terminal string, seq uint64) string {
	var d [20]byte
	digits := strconv.AppendUint(d[:0], seq, 10)
	b := make([]byte, 0, len(terminal)+1+max(10, len(digits)))
	b = append(b, terminal...)
	b = append(b, '-')
	for range 10 - len(digits) { // "%s-%010d", without fmt: the server makes one per record
		b = append(b, '0')
	}
	return string(append(b, digits...))
}

// ParseRecordID splits an id made by RecordID into the terminal and the
// sequence; ok is false for anything RecordID does not make.
func ParseRecordID(id string) (terminal string, seq uint64, ok bool) {
	i := strings.LastIndexByte(id, '-')
	if i <= 0 {
		return "", 0, false
	}
	seq, err := strconv.ParseUint(id[i+1:], 10, 64)
	if err != nil || seq == 0 || RecordID(id[:i], seq) != id {
		return "", 0, false
	}
	return id[:i], seq, true
}

// ChainHash is the hash that links a terminal's records: SHA-256 over the
// domain tag, the previous record's hash, the sequence (8 bytes big-endian)
// and the record's exact stored bytes. The terminal signs it with its key,
// so a deleted, reordered or altered record breaks the chain.
func ChainHash(prev [32]byte, seq uint64, body []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte("voucherpos-chain-v1\x00"))
	h.Write(prev[:])
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seq)
	h.Write(b[:])
	h.Write(body)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// ErrNotFound is returned when a record, checkout or day has nothing stored.
var ErrNotFound = errors.New("not found")

// The outcomes of a Ledger.Commit that failed, as the till must hear them.
var (
	// ErrNotCommitted means the record is certainly not in the ledger: the
	// sale was not recorded and the call may be retried.
	ErrNotCommitted = errors.New("not committed")
	// ErrOutcomeUnknown means the ledger cannot tell whether the record is
	// in it (its file failed and cannot be read again yet): the till must
	// not charge twice, and asks again later (the same checkout's retry
	// gets the truth once the ledger can read its file).
	ErrOutcomeUnknown = errors.New("commit outcome unknown")
	// ErrLedgerFull means the ledger or its disk has no room for more
	// redemptions (refunds and syncs still fit): sync, free space.
	ErrLedgerFull = errors.New("ledger full")
	// ErrLedgerFault means the ledger failed its audit and refuses offline
	// redemptions.
	ErrLedgerFault = errors.New("ledger fault")
)

// Ledger is the terminal's durable record of redemptions. Implemented by offline.Ledger.
type Ledger interface {
	History
	// Commit durably stores r (a redemption or refund), assigning Seq, ID and
	// its place in the chain and the outbox; it returns only after the commit.
	Commit(ctx context.Context, r *Redemption) error
	// Get returns the record with id, or ErrNotFound.
	Get(ctx context.Context, id string) (*Redemption, error)
	// Refunds returns the refund records of redemption id, oldest first.
	Refunds(ctx context.Context, id string) ([]*Redemption, error)
	// Day returns the records committed on the UTC+8 day starting at day.
	Day(ctx context.Context, day time.Time) ([]*Redemption, error)
}

// RefundPlan is what a refund pays back.
type RefundPlan struct {
	Items           []Item
	GrossFen        Fen
	VoucherShareFen Fen
	RefundFen       Fen
	// Full is true when this refund takes back the whole sale at once.
	Full bool
	// VoucherReturned is true when the voucher goes back to its holder: a
	// full refund while the voucher is still valid.
	VoucherReturned bool
}

// Record returns the refund record of p against redemption orig, as
// terminalID of merchantID commits it at at. The ledger assigns Seq and ID.
func (p *RefundPlan) Record(orig *Redemption, terminalID, merchantID string, at time.Time) *Redemption {
	return &Redemption{Kind: KindRefund, TerminalID: terminalID, MerchantID: merchantID, At: at,
		CheckoutID: orig.CheckoutID, Code: orig.Code, Voucher: orig.Voucher, Items: p.Items,
		TotalFen: p.GrossFen, RefundOf: orig.ID, RefundFen: p.RefundFen,
		VoucherShareFen: p.VoucherShareFen, VoucherReturned: p.VoucherReturned}
}

// ErrRefund is returned for a refund that does not match the sale (unknown
// SKU, more than was sold or is left, nothing to refund).
var ErrRefund = errors.New("refund does not match the sale")

// PlanRefund works out a refund of lines (SKU and quantity; prices come from
// the sale) of redemption orig, after the refunds already made. Empty lines
// mean everything not yet refunded. Per RULES.md a full refund while the
// voucher is valid returns the voucher; otherwise the money refunded is
// reduced by the voucher's share of the refunded eligible items, rounded up,
// so that after any sequence of refunds the customer has got back exactly
// what they paid and no subsidy leaves as cash.
func PlanRefund(orig *Redemption, prior []*Redemption, lines []Item, now time.Time) (RefundPlan, error) {
	if orig.Kind != KindRedemption {
		return RefundPlan{}, fmt.Errorf("%s is a %s: %w", orig.ID, orig.Kind, ErrRefund)
	}
	left := make(map[string]int64, len(orig.Items))
	price := make(map[string]*Item, len(orig.Items))
	for i := range orig.Items {
		it := &orig.Items[i]
		left[it.SKU] += it.Qty
		if price[it.SKU] == nil {
			price[it.SKU] = it
		}
	}
	var before Fen // eligible amount refunded earlier
	for _, p := range prior {
		for _, it := range p.Items {
			left[it.SKU] -= it.Qty
			if it.Eligible() {
				before += it.UnitPriceFen * Fen(it.Qty)
			}
		}
	}
	if len(lines) == 0 {
		for sku, q := range left {
			if q > 0 {
				lines = append(lines, Item{SKU: sku, Qty: q})
			}
		}
		if len(lines) == 0 {
			return RefundPlan{}, fmt.Errorf("%s: everything is already refunded: %w", orig.ID, ErrRefund)
		}
		slices.SortFunc(lines, func(a, b Item) int { return strings.Compare(a.SKU, b.SKU) })
	}
	var plan RefundPlan
	var eligible Fen
	for _, l := range lines {
		it, ok := price[l.SKU]
		if !ok {
			return RefundPlan{}, fmt.Errorf("sku %q was not sold in %s: %w", l.SKU, orig.ID, ErrRefund)
		}
		if l.Qty <= 0 || l.Qty > left[l.SKU] {
			return RefundPlan{}, fmt.Errorf("sku %q: refund %d, %d left of the sale: %w", l.SKU, l.Qty, left[l.SKU], ErrRefund)
		}
		left[l.SKU] -= l.Qty
		line := *it
		line.Qty = l.Qty
		a := line.UnitPriceFen * Fen(line.Qty)
		plan.Items = append(plan.Items, line)
		plan.GrossFen += a
		if line.Eligible() {
			eligible += a
		}
	}
	after := before + eligible
	plan.VoucherShareFen = MulDivCeil(orig.DiscountFen, after, orig.EligibleFen) - MulDivCeil(orig.DiscountFen, before, orig.EligibleFen)
	plan.RefundFen = plan.GrossFen - plan.VoucherShareFen
	plan.Full = len(prior) == 0 && plan.GrossFen == orig.TotalFen
	plan.VoucherReturned = plan.Full && orig.DiscountFen > 0 && now.Before(orig.Voucher.ValidUntil)
	return plan, nil
}
