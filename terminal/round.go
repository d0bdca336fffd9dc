package terminal

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ErrIssuing is returned (wrapped, with the reason) when an admin action of
// the issuing side breaks the programme's rules: a round that overlaps
// another, a drop over the remaining budget, a budget move of money a
// category no longer has, a love registration beyond the love budget.
var ErrIssuing = errors.New("refused by the programme's issuing rules")

// ClaimCategories are the categories consumers claim at the drops; love
// vouchers are issued to registered people instead (docs/issuing.md).
var ClaimCategories = []Category{Retail, Fuel, Appliance, Hospitality}

// IssueRound is a release round as the issuer runs it: its days, both
// inclusive, and its budget per category, in fen of subsidy (the sum of the
// discounts of the vouchers it may release). The programme's rounds with
// dates are built in (Programme.IssueRounds); voucherd round add adds others.
type IssueRound struct {
	// ID names the round in admin commands ("1", "2", "2023-spring").
	ID string `json:"id"`
	// Number is what the voucher code carries in its round byte (1..255).
	Number uint8 `json:"number"`
	// From and Until are the first and last day, "YYYY-MM-DD" in Zone.
	From  string `json:"from"`
	Until string `json:"until"`
	// BudgetFen is the round's budget per claim category, before budget moves.
	BudgetFen map[Category]Fen `json:"budget_fen"`
}

// Span returns the start of the round's first day and the start of the day
// after its last, in Zone.
func (r *IssueRound) Span() (from, end time.Time, err error) {
	from, err = ParseDay(r.From)
	if err != nil {
		return from, end, fmt.Errorf("round %s: from %q: want YYYY-MM-DD", r.ID, r.From)
	}
	last, err := ParseDay(r.Until)
	if err != nil {
		return from, end, fmt.Errorf("round %s: until %q: want YYYY-MM-DD", r.ID, r.Until)
	}
	return from, last.AddDate(0, 0, 1), nil
}

// Holds reports whether t falls on one of the round's days.
func (r *IssueRound) Holds(t time.Time) bool {
	from, end, err := r.Span()
	return err == nil && !t.Before(from) && t.Before(end)
}

// TotalFen returns the sum of the round's category budgets.
func (r *IssueRound) TotalFen() Fen {
	var sum Fen
	for _, f := range r.BudgetFen {
		sum += f
	}
	return sum
}

// RoundAt returns the round among rounds that holds t, or nil.
func RoundAt(rounds []IssueRound, t time.Time) *IssueRound {
	for i := range rounds {
		if rounds[i].Holds(t) {
			return &rounds[i]
		}
	}
	return nil
}

// IssueRounds returns the programme's rounds that have dates (round 1 of
// the 2022 plan; round 2 is "to be announced" and is added with voucherd
// round add when it is).
func (p *Programme) IssueRounds() []IssueRound {
	var out []IssueRound
	for _, r := range p.Rounds {
		if r.From == "" || r.Until == "" {
			continue
		}
		ir := IssueRound{ID: r.ID, Number: uint8(r.Round), From: r.From, Until: r.Until, BudgetFen: map[Category]Fen{}}
		if ir.ID == "" {
			ir.ID = strconv.Itoa(r.Round)
		}
		for code, f := range r.ByCategoryFen {
			if c, err := ParseCategory(code); err == nil {
				ir.BudgetFen[c] = f
			}
		}
		out = append(out, ir)
	}
	return out
}

// NewRound checks a round an admin adds against the rounds there are and
// returns it with its Number: the programme's number when the id names one
// of the programme's rounds without dates (whose announced total its budget
// may not exceed), otherwise one more than the highest in use. It is
// refused (ErrIssuing) when its days overlap another round's, its id is
// taken, or a budget is negative, unknown or for love vouchers.
func (p *Programme) NewRound(existing []IssueRound, r IssueRound) (IssueRound, error) {
	if r.ID == "" || len(r.ID) > 32 {
		return r, fmt.Errorf("%w: round id must be 1..32 characters", ErrIssuing)
	}
	from, end, err := r.Span()
	if err != nil {
		return r, fmt.Errorf("%w: %v", ErrIssuing, err)
	}
	if !from.Before(end) {
		return r, fmt.Errorf("%w: round %s ends before it starts", ErrIssuing, r.ID)
	}
	for c, f := range r.BudgetFen {
		if !c.Valid() || c == Love {
			return r, fmt.Errorf("%w: round %s: a round budgets retail, fuel, appliance and hospitality, not %s", ErrIssuing, r.ID, c)
		}
		if !f.Valid() {
			return r, fmt.Errorf("%w: round %s: budget %s of %s out of range", ErrIssuing, r.ID, f, c)
		}
	}
	var top uint8
	for i := range existing {
		e := &existing[i]
		if e.ID == r.ID {
			return r, fmt.Errorf("%w: round %s exists", ErrIssuing, r.ID)
		}
		ef, ee, err := e.Span()
		if err == nil && from.Before(ee) && ef.Before(end) {
			return r, fmt.Errorf("%w: round %s (%s..%s) overlaps round %s (%s..%s)", ErrIssuing, r.ID, r.From, r.Until, e.ID, e.From, e.Until)
		}
		top = max(top, e.Number)
	}
	r.Number = 0
	for _, pr := range p.Rounds {
		if pr.ID == r.ID && pr.From == "" {
			if r.TotalFen() > pr.BudgetFen {
				return r, fmt.Errorf("%w: round %s: budget %s above the %s the programme announced", ErrIssuing, r.ID, r.TotalFen(), pr.BudgetFen)
			}
			r.Number = uint8(pr.Round)
		}
		top = max(top, uint8(pr.Round))
	}
	if r.Number == 0 {
		if top == 255 {
			return r, fmt.Errorf("%w: no round number left", ErrIssuing)
		}
		r.Number = top + 1
	}
	return r, nil
}

// BudgetMove moves budget of a round from one claim category to another:
// the plan's "adjust when redemption or market response is low". It is an
// admin action and is recorded with who asked why.
type BudgetMove struct {
	Round     string    `json:"round"`
	From      Category  `json:"from"`
	To        Category  `json:"to"`
	AmountFen Fen       `json:"amount_fen"`
	At        time.Time `json:"at"`
	Reason    string    `json:"reason"`
}

// Check refuses a move (ErrIssuing) that is empty, between the same or
// unknown categories, or of more than what the source category of the pool
// has available (budget not yet released, plus what came back).
func (m *BudgetMove) Check(pool []PoolLine) error {
	switch {
	case m.AmountFen <= 0 || !m.AmountFen.Valid():
		return fmt.Errorf("%w: move of %s: want a positive amount", ErrIssuing, m.AmountFen)
	case m.From == m.To || !claimCategory(m.From) || !claimCategory(m.To):
		return fmt.Errorf("%w: move from %s to %s: want two different claim categories", ErrIssuing, m.From, m.To)
	}
	src := findLine(pool, m.Round, m.From)
	if src == nil {
		return fmt.Errorf("%w: no round %s", ErrIssuing, m.Round)
	}
	if src.AvailableFen < m.AmountFen {
		return fmt.Errorf("%w: %s of round %s has %s available, move of %s", ErrIssuing, m.From, m.Round, src.AvailableFen, m.AmountFen)
	}
	return nil
}

func claimCategory(c Category) bool { return c.Valid() && c != Love }
