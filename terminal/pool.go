package terminal

import (
	"fmt"
	"slices"
	"time"
)

// ClaimStatus is where a claimed voucher stands (CONTRACT.md, GET /v1/claims).
type ClaimStatus string

// The statuses of a claimed voucher.
const (
	// StatusClaimed: valid and not redeemed yet.
	StatusClaimed ClaimStatus = "claimed"
	// StatusRedeemed: redeemed at a till (the server accepted it).
	StatusRedeemed ClaimStatus = "redeemed"
	// StatusExpired: its day ended unredeemed; its value went back to the pool.
	StatusExpired ClaimStatus = "expired"
	// StatusReturned: revoked before it was redeemed; its value went back to the pool.
	StatusReturned ClaimStatus = "returned"
)

// Claimed is what the pool needs of one claimed voucher.
type Claimed struct {
	Round    string
	Category Category
	OffFen   Fen
	Status   ClaimStatus
}

// PoolLine is the money of one category of one round, in fen of subsidy.
// Budget is the round's budget after budget moves; Released what drops put
// out; Claimed what consumers took; Redeemed, Expired and Returned where
// the claimed vouchers went; Unclaimed what drops released and nobody
// claimed by the drop's day end. Expired, Returned and Unclaimed are back in
// the pool: Available = Budget − Released + Expired + Returned + Unclaimed
// is what later drops may still release.
type PoolLine struct {
	Round        string   `json:"round"`
	Category     Category `json:"category"`
	BudgetFen    Fen      `json:"budget_fen"`
	ReleasedFen  Fen      `json:"released_fen"`
	ClaimedFen   Fen      `json:"claimed_fen"`
	RedeemedFen  Fen      `json:"redeemed_fen"`
	ExpiredFen   Fen      `json:"expired_fen"`
	ReturnedFen  Fen      `json:"returned_fen"`
	UnclaimedFen Fen      `json:"unclaimed_fen"`
	AvailableFen Fen      `json:"available_fen"`
}

// BackFen is the value back in the pool: expired, returned and unclaimed.
func (l *PoolLine) BackFen() Fen { return l.ExpiredFen + l.ReturnedFen + l.UnclaimedFen }

// Check verifies the pool's invariants: what is out (released less what
// came back) never exceeds the budget, claims never exceed what was
// released and is still claimable, and every claimed voucher is in exactly
// one place.
func (l *PoolLine) Check() error {
	out := l.ReleasedFen - l.UnclaimedFen
	switch {
	case l.BudgetFen < 0 || l.ReleasedFen < 0 || l.ClaimedFen < 0 || l.RedeemedFen < 0 ||
		l.ExpiredFen < 0 || l.ReturnedFen < 0 || l.UnclaimedFen < 0:
		return fmt.Errorf("pool %s/%s: negative figure %+v", l.Round, l.Category, *l)
	case l.ReleasedFen-l.BackFen() > l.BudgetFen:
		return fmt.Errorf("pool %s/%s: %s out against a budget of %s", l.Round, l.Category, l.ReleasedFen-l.BackFen(), l.BudgetFen)
	case l.ClaimedFen > out:
		return fmt.Errorf("pool %s/%s: claimed %s above the %s released and claimable", l.Round, l.Category, l.ClaimedFen, out)
	case l.RedeemedFen+l.ExpiredFen+l.ReturnedFen > l.ClaimedFen:
		return fmt.Errorf("pool %s/%s: redeemed, expired and returned %s above claimed %s", l.Round, l.Category,
			l.RedeemedFen+l.ExpiredFen+l.ReturnedFen, l.ClaimedFen)
	case l.AvailableFen != l.BudgetFen-l.ReleasedFen+l.BackFen():
		return fmt.Errorf("pool %s/%s: available %s does not add up", l.Round, l.Category, l.AvailableFen)
	}
	return nil
}

// BuildPool sums the issuing side at now into one line per round and claim
// category, in round then category order. A drop whose day has ended gives
// its unclaimed vouchers back; a claimed voucher counts where its status
// says (the caller passes Expired for one whose day has ended unredeemed).
func BuildPool(rounds []IssueRound, moves []BudgetMove, drops []Drop, claims []Claimed, now time.Time) []PoolLine {
	lines := make([]PoolLine, 0, len(rounds)*len(ClaimCategories))
	for _, r := range rounds {
		for _, c := range ClaimCategories {
			lines = append(lines, PoolLine{Round: r.ID, Category: c, BudgetFen: r.BudgetFen[c]})
		}
	}
	for _, m := range moves {
		if l := findLine(lines, m.Round, m.From); l != nil {
			l.BudgetFen -= m.AmountFen
		}
		if l := findLine(lines, m.Round, m.To); l != nil {
			l.BudgetFen += m.AmountFen
		}
	}
	for i := range drops {
		d := &drops[i]
		l := findLine(lines, d.Round, d.Category)
		if l == nil {
			continue
		}
		l.ReleasedFen += d.ValueFen()
		if !now.Before(d.End()) {
			l.UnclaimedFen += d.Denomination.OffFen * Fen(d.Left())
		}
	}
	for _, c := range claims {
		l := findLine(lines, c.Round, c.Category)
		if l == nil {
			continue
		}
		l.ClaimedFen += c.OffFen
		switch c.Status {
		case StatusRedeemed:
			l.RedeemedFen += c.OffFen
		case StatusExpired:
			l.ExpiredFen += c.OffFen
		case StatusReturned:
			l.ReturnedFen += c.OffFen
		}
	}
	for i := range lines {
		l := &lines[i]
		l.AvailableFen = l.BudgetFen - l.ReleasedFen + l.BackFen()
	}
	return lines
}

// CheckPool runs Check on every line and returns the first failure.
func CheckPool(lines []PoolLine) error {
	for i := range lines {
		if err := lines[i].Check(); err != nil {
			return err
		}
	}
	return nil
}

// PoolTotals sums lines per category (across rounds), in category order.
func PoolTotals(lines []PoolLine) []PoolLine {
	var out []PoolLine
	for _, l := range lines {
		i := slices.IndexFunc(out, func(o PoolLine) bool { return o.Category == l.Category })
		if i < 0 {
			out = append(out, PoolLine{Round: "", Category: l.Category})
			i = len(out) - 1
		}
		o := &out[i]
		o.BudgetFen += l.BudgetFen
		o.ReleasedFen += l.ReleasedFen
		o.ClaimedFen += l.ClaimedFen
		o.RedeemedFen += l.RedeemedFen
		o.ExpiredFen += l.ExpiredFen
		o.ReturnedFen += l.ReturnedFen
		o.UnclaimedFen += l.UnclaimedFen
		o.AvailableFen += l.AvailableFen
	}
	return out
}

func findLine(lines []PoolLine, round string, c Category) *PoolLine {
	for i := range lines {
		if lines[i].Round == round && lines[i].Category == c {
			return &lines[i]
		}
	}
	return nil
}
