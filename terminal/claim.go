package terminal

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"time"
	"unicode"
	"unicode/utf8"
)

// The refusal codes of a claim (CONTRACT.md, POST /v1/claims). They are
// part of the external interface and never change.
const (
	NotOpen             Code = "not_open"
	SoldOut             Code = "sold_out"
	ClaimLimit          Code = "claim_limit"
	DenominationLimit   Code = "denomination_limit"
	UnknownDenomination Code = "unknown_denomination"
)

// ClaimCodes lists the refusal codes of a claim, in the order of CONTRACT.md.
var ClaimCodes = []Code{NotOpen, SoldOut, ClaimLimit, DenominationLimit, UnknownDenomination}

// claimMessages are the consumer's words for each refusal: Chinese, English.
var claimMessages = map[Code][2]string{
	NotOpen:             {"还没到领券时间：每天10:00开抢（活动期内）", "not open: vouchers are released at 10:00 each day of the programme"},
	SoldOut:             {"这种券已经抢光了，明天10:00再来", "sold out; come back at 10:00 tomorrow"},
	ClaimLimit:          {"本轮您已领满3次，不能再领了", "you have used your 3 claims of this round"},
	DenominationLimit:   {"这种券您本轮已经领过了", "you already claimed this voucher in this round"},
	UnknownDenomination: {"没有这种券", "the programme has no such voucher"},
}

// PlatformIDMax is the longest platform user id accepted.
const PlatformIDMax = 128

// CheckPlatformID checks an issuing platform's user id: 1 to PlatformIDMax
// bytes of UTF-8 with no spaces or control characters. The id itself is
// never stored; only Pseudonym of it.
func CheckPlatformID(s string) error {
	if s == "" || len(s) > PlatformIDMax || !utf8.ValidString(s) {
		return fmt.Errorf("holder: want 1 to %d bytes of UTF-8", PlatformIDMax)
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Errorf("holder: spaces or control characters")
		}
	}
	return nil
}

// Pseudonym returns the holder id a voucher code carries for a platform's
// user: the first 8 bytes of HMAC-SHA256 keyed with the server's secret.
// The same user always gets the same pseudonym (so the split-bill rule
// sees one customer), and without the secret nobody can tell who it is or
// test a guess.
func Pseudonym(secret []byte, platformID string) HolderID {
	return NewPseudonyms(secret).Of(platformID)
}

// Pseudonyms makes Pseudonym's holder ids with one secret, the key's pads
// made once rather than at every call (the claim path makes one per claim).
// Of hashes from the stack: no pool, no allocation. Safe for concurrent use.
type Pseudonyms struct {
	key        []byte
	ipad, opad [sha256.BlockSize]byte // HMAC's (RFC 2104)
}

// pseudonymTag is hashed before the platform's id.
const pseudonymTag = "voucherpos holder v1\x00"

// NewPseudonyms returns the pseudonyms of secret.
func NewPseudonyms(secret []byte) *Pseudonyms {
	p := &Pseudonyms{key: bytes.Clone(secret)}
	k := secret
	if len(k) > sha256.BlockSize {
		sum := sha256.Sum256(k)
		k = sum[:]
	}
	copy(p.ipad[:], k)
	copy(p.opad[:], k)
	for i := range p.ipad {
		p.ipad[i] ^= 0x36
		p.opad[i] ^= 0x5c
	}
	return p
}

// Of returns the holder id of a platform's user.
func (p *Pseudonyms) Of(platformID string) HolderID {
	var sum [sha256.Size]byte
	if len(platformID) <= PlatformIDMax {
		// HMAC-SHA256 = H(key^opad ‖ H(key^ipad ‖ message)).
		var buf [sha256.BlockSize + len(pseudonymTag) + PlatformIDMax]byte
		n := copy(buf[:], p.ipad[:])
		n += copy(buf[n:], pseudonymTag)
		n += copy(buf[n:], platformID)
		inner := sha256.Sum256(buf[:n])
		n = copy(buf[:], p.opad[:])
		n += copy(buf[n:], inner[:])
		sum = sha256.Sum256(buf[:n])
	} else { // longer than a claim's holder may be: not on the claim path
		m := hmac.New(sha256.New, p.key)
		m.Write([]byte(pseudonymTag))
		io.WriteString(m, platformID)
		copy(sum[:], m.Sum(nil)) // not m.Sum(sum[:0]): sum would go to the heap on every path
	}
	h := HolderID(binary.BigEndian.Uint64(sum[:]))
	if h == 0 {
		h = 1 // 0 reads as "no holder" in logs; one in 2⁶⁴
	}
	return h
}

// Held is one voucher a holder claimed earlier in the round: expired and
// redeemed ones count too (docs/issuing.md).
type Held struct {
	Category     Category
	Denomination Denomination
}

// ClaimRequest asks for one voucher of a denomination.
type ClaimRequest struct {
	Category     Category
	Denomination Denomination
	// Now is the server's clock at the claim's turn.
	Now time.Time
}

// DecideClaim decides one claim with the programme's rules and returns the
// index in drops (the drops of the day) of the drop it takes from, or the
// refusal as an *Error. held is the holder's earlier claims in the round
// holding req.Now. The checks run in this order, each a reason the
// consumer can act on: the denomination exists, a drop of it is open, the
// holder's 3 claims, the holder's one of a denomination (one of a category
// where the plan says so), and stock. Among open drops with stock the
// earliest released is taken.
func (p *Programme) DecideClaim(rounds []IssueRound, drops []Drop, held []Held, req ClaimRequest) (int, *Error) {
	if !claimCategory(req.Category) || !p.HasDenomination(req.Category, req.Denomination) {
		return -1, Errorf(UnknownDenomination, "%s %s", req.Category, req.Denomination)
	}
	r := RoundAt(rounds, req.Now)
	if r == nil {
		return -1, Errorf(NotOpen, "no round on %s", Day(req.Now).Format(time.DateOnly))
	}
	pick, open := -1, false
	for i := range drops {
		d := &drops[i]
		if d.Round != r.ID || d.Category != req.Category || d.Denomination != req.Denomination || !d.Open(req.Now) {
			continue
		}
		open = true
		if d.Left() > 0 && (pick < 0 || d.At.Before(drops[pick].At)) {
			pick = i
		}
	}
	if !open {
		return -1, Errorf(NotOpen, "no drop of %s %s open at %s", req.Category, req.Denomination, req.Now.In(Zone).Format(time.DateTime))
	}
	if perRound := p.claimsPerRound(); len(held) >= perRound {
		return -1, Errorf(ClaimLimit, "%d claims in round %s", len(held), r.ID)
	}
	same, sameCat := 0, 0
	for _, h := range held {
		if h.Category == req.Category {
			sameCat++
			if h.Denomination == req.Denomination {
				same++
			}
		}
	}
	if same >= p.perDenomination() {
		return -1, Errorf(DenominationLimit, "%s %s already claimed in round %s", req.Category, req.Denomination, r.ID)
	}
	if plan := p.Plan(req.Category); plan.PerHolder > 0 && sameCat >= plan.PerHolder {
		return -1, Errorf(DenominationLimit, "%d %s voucher(s) already claimed in round %s", sameCat, req.Category, r.ID)
	}
	if pick < 0 {
		return -1, Errorf(SoldOut, "%s %s", req.Category, req.Denomination)
	}
	return pick, nil
}

func (p *Programme) claimsPerRound() int {
	if p.Claims.PerUserPerCycle > 0 {
		return p.Claims.PerUserPerCycle
	}
	return 3
}

func (p *Programme) perDenomination() int {
	if p.Claims.PerDenomination > 0 {
		return p.Claims.PerDenomination
	}
	return 1
}

// ClaimedVoucher returns the voucher a claim at now takes from drop d of
// round r: valid from the claim (to the second) until the end of the
// drop's day.
func (p *Programme) ClaimedVoucher(r *IssueRound, d *Drop, id VoucherID, holder HolderID, now time.Time) Voucher {
	return Voucher{ID: id, Holder: holder, Category: d.Category,
		SpendFen: d.Denomination.SpendFen, OffFen: d.Denomination.OffFen,
		ValidFrom: now.Truncate(time.Second), ValidUntil: d.End(),
		Region: p.Region, Campaign: p.Campaign, Round: r.Number}
}

// IsExpired reports whether a voucher valid until until has expired at now.
// A claimed voucher expires at its day's end (good through 23:59:59).
func IsExpired(until, now time.Time) bool { return !now.Before(until) }

// PeriodSpan returns the programme's whole period: the start of its first
// day and the start of the day after its last, in Zone.
func (p *Programme) PeriodSpan() (from, end time.Time, err error) {
	from, err = ParseDay(p.Period.From)
	if err != nil {
		return from, end, fmt.Errorf("programme period from %q: %w", p.Period.From, err)
	}
	last, err := ParseDay(p.Period.Until)
	if err != nil {
		return from, end, fmt.Errorf("programme period until %q: %w", p.Period.Until, err)
	}
	return from, last.AddDate(0, 0, 1), nil
}

// LoveSplit returns the face values of the love vouchers a registered
// person gets for value (zero means the programme's ¥1,000): as many ¥100
// vouchers as fit, the rest in the largest smaller denominations
// (docs/issuing.md says why). value must be a positive multiple of the
// smallest love denomination, at most the programme's amount per person.
func (p *Programme) LoveSplit(value Fen) ([]Fen, error) {
	if value == 0 {
		value = p.LovePerPersonFen
	}
	plan := p.Plan(Love)
	if plan == nil || value <= 0 || value > p.LovePerPersonFen {
		return nil, fmt.Errorf("%w: love value %s: want up to %s", ErrIssuing, value, p.LovePerPersonFen)
	}
	var faces []Fen
	for _, d := range plan.Denominations {
		if d.ValueFen <= Yuan(100) {
			faces = append(faces, d.ValueFen)
		}
	}
	slices.Sort(faces)
	slices.Reverse(faces)
	var out []Fen
	left := value
	for _, f := range faces {
		for left >= f {
			out = append(out, f)
			left -= f
		}
	}
	if left != 0 || len(out) == 0 {
		return nil, fmt.Errorf("%w: love value %s is not a sum of the denominations", ErrIssuing, value)
	}
	return out, nil
}
