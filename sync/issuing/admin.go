package issuing

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/voucherpos/voucherpos/terminal"
)

// Admin is the county's side of issuing. *Service does it on its store;
// *Remote asks a running server over its HTTP admin API.
type Admin interface {
	AddRound(ctx context.Context, r terminal.IssueRound) (terminal.IssueRound, error)
	Rounds(ctx context.Context) ([]terminal.IssueRound, error)
	AddDrop(ctx context.Context, req DropRequest) (terminal.Drop, error)
	Drops(ctx context.Context, day time.Time) ([]terminal.Drop, error)
	MoveBudget(ctx context.Context, m terminal.BudgetMove) error
	AddLove(ctx context.Context, platformID string, valueFen terminal.Fen) ([]Issued, error)
	Pool(ctx context.Context, day time.Time) (*Pool, error)
}

var (
	_ Admin = (*Service)(nil)
	_ Admin = (*Remote)(nil)
)

// DropRequest asks for a drop: Count vouchers of a denomination on Day at
// At ("HH:MM", "" for 10:00).
type DropRequest struct {
	Category terminal.Category `json:"category"`
	SpendFen terminal.Fen      `json:"spend_fen"`
	OffFen   terminal.Fen      `json:"off_fen"`
	Count    int               `json:"count"`
	Day      string            `json:"day"`
	At       string            `json:"at,omitempty"`
}

// Pool is voucherd pool's answer: the lines of the round holding Day (UTC+8)
// as at Now, and the love vouchers' line.
type Pool struct {
	Day   string                `json:"day"`
	Round string                `json:"round,omitempty"`
	Now   time.Time             `json:"now"`
	Lines []terminal.PoolLine   `json:"lines"`
	Moves []terminal.BudgetMove `json:"moves"`
}

// refused wraps the rules' refusals as ErrInvalid for the admin API.
func refused(err error) error {
	if errors.Is(err, terminal.ErrIssuing) {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return err
}

func (s *Service) update(ctx context.Context, fn func(Tx) error) error {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	return s.store.Update(ctx, fn)
}

// AddRound adds a round (voucherd round add): refused when it overlaps
// another or its id is taken.
func (s *Service) AddRound(ctx context.Context, r terminal.IssueRound) (terminal.IssueRound, error) {
	var out terminal.IssueRound
	err := s.update(ctx, func(tx Tx) error {
		rounds, err := s.rounds(tx)
		if err != nil {
			return err
		}
		out, err = s.prog.NewRound(rounds, r)
		if err != nil {
			return refused(err)
		}
		return tx.AddRound(out)
	})
	return out, err
}

// Rounds returns the programme's rounds and those added.
func (s *Service) Rounds(ctx context.Context) ([]terminal.IssueRound, error) {
	var out []terminal.IssueRound
	err := s.store.View(ctx, func(tx Tx) (err error) {
		out, err = s.rounds(tx)
		return err
	})
	return out, err
}

// AddDrop releases a drop (voucherd drop add): refused when no round holds
// its day or its value exceeds what the category has available.
func (s *Service) AddDrop(ctx context.Context, req DropRequest) (terminal.Drop, error) {
	day := terminal.Day(s.now())
	if req.Day != "" {
		d, err := terminal.ParseDay(req.Day)
		if err != nil {
			return terminal.Drop{}, fmt.Errorf("%w: day %q: want YYYY-MM-DD", ErrInvalid, req.Day)
		}
		day = d
	}
	at, err := s.prog.DropAt(day, req.At)
	if err != nil {
		return terminal.Drop{}, refused(err)
	}
	if !s.now().Before(terminal.DayEnd(at)) {
		return terminal.Drop{}, fmt.Errorf("%w: %s is over", ErrInvalid, terminal.Day(at).Format(time.DateOnly))
	}
	d := terminal.Drop{Category: req.Category, Denomination: terminal.Denomination{SpendFen: req.SpendFen, OffFen: req.OffFen}, Count: req.Count, At: at}
	var out terminal.Drop
	err = s.update(ctx, func(tx Tx) error {
		lines, rounds, err := s.pool(tx, s.now())
		if err != nil {
			return err
		}
		out, err = s.prog.NewDrop(rounds, lines, d)
		if err != nil {
			return refused(err)
		}
		return tx.PutDrop(&out)
	})
	if err == nil && s.nonces != nil {
		poke(s.nonces.kick)
	}
	return out, err
}

// Drops returns the drops of a day (UTC+8), by release time.
func (s *Service) Drops(ctx context.Context, day time.Time) ([]terminal.Drop, error) {
	var out []terminal.Drop
	err := s.store.View(ctx, func(tx Tx) error {
		all, err := tx.Drops()
		for _, d := range all {
			if terminal.Day(d.At).Equal(terminal.Day(day)) {
				out = append(out, d)
			}
		}
		return err
	})
	slices.SortStableFunc(out, func(a, b terminal.Drop) int { return a.At.Compare(b.At) })
	return out, err
}

// MoveBudget moves available budget of a round between categories and records it.
func (s *Service) MoveBudget(ctx context.Context, m terminal.BudgetMove) error {
	m.At = s.now()
	return s.update(ctx, func(tx Tx) error {
		lines, _, err := s.pool(tx, m.At)
		if err != nil {
			return err
		}
		if err := m.Check(lines); err != nil {
			return refused(err)
		}
		return tx.AddMove(m)
	})
}

// AddLove registers a person of the hardship list once and issues their
// love vouchers (terminal.Programme.LoveSplit), valid for the whole
// programme period. Refused for a person registered already, after the
// period, or beyond the love budget.
func (s *Service) AddLove(ctx context.Context, platformID string, value terminal.Fen) ([]Issued, error) {
	if err := terminal.CheckPlatformID(platformID); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	faces, err := s.prog.LoveSplit(value)
	if err != nil {
		return nil, refused(err)
	}
	from, end, err := s.prog.PeriodSpan()
	if err != nil {
		return nil, err
	}
	now := s.now()
	holder := s.Holder(platformID)
	priv := s.opts.Signer()
	keyID := terminal.KeyIDOf(priv.Public().(ed25519.PublicKey))
	var l Love
	err = s.update(ctx, func(tx Tx) error {
		// Valid for the programme's period, which rounds added later extend.
		rounds, err := s.rounds(tx)
		if err != nil {
			return err
		}
		for i := range rounds {
			if _, e, err := rounds[i].Span(); err == nil && e.After(end) {
				end = e
			}
		}
		if !now.Before(end) {
			return fmt.Errorf("%w: the programme and its rounds ended on %s", ErrInvalid, end.AddDate(0, 0, -1).Format(time.DateOnly))
		}
		var sum terminal.Fen
		err = tx.Loves(func(l *Love) error {
			for _, v := range l.Vouchers {
				sum += v.OffFen
			}
			return nil
		})
		if err != nil {
			return err
		}
		var total terminal.Fen
		for _, f := range faces {
			total += f
		}
		if plan := s.prog.Plan(terminal.Love); plan == nil || sum+total > plan.BudgetFen {
			return fmt.Errorf("%w: the love budget has %s left, %s asked", ErrInvalid, s.prog.Plan(terminal.Love).BudgetFen-sum, total)
		}
		l = Love{Holder: holder, At: now, KeyID: keyID}
		for _, f := range faces {
			seq, err := tx.NextClaimSeq()
			if err != nil {
				return err
			}
			l.Vouchers = append(l.Vouchers, terminal.Voucher{ID: s.voucherID(seq), Holder: holder, Category: terminal.Love,
				OffFen: f, ValidFrom: from, ValidUntil: end, Region: s.prog.Region, Campaign: s.prog.Campaign})
		}
		if err := tx.AddLove(&l); errors.Is(err, ErrExists) {
			return fmt.Errorf("%w: this person is registered already", ErrInvalid)
		} else if err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]Issued, 0, len(l.Vouchers))
	for i := range l.Vouchers {
		code, err := s.sign(l.Vouchers[i], keyID, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, issued(&l.Vouchers[i], code, terminal.StatusClaimed))
	}
	return out, nil
}

// Holdings returns a holder's vouchers, claimed and love, each with its
// status and code (GET /v1/claims).
func (s *Service) Holdings(ctx context.Context, platformID string) ([]Issued, error) {
	if err := terminal.CheckPlatformID(platformID); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	holder, now := s.Holder(platformID), s.now()
	type item struct {
		v     terminal.Voucher
		key   terminal.KeyID
		sig   []byte
		state terminal.ClaimStatus
	}
	var items []item
	err := s.store.View(ctx, func(tx Tx) error {
		items = items[:0]
		cs, err := tx.HolderClaims(holder)
		if err != nil {
			return err
		}
		for _, c := range cs {
			st, err := status(tx, &c.Voucher, c.Status, now)
			if err != nil {
				return err
			}
			items = append(items, item{c.Voucher, c.KeyID, c.Sig, st})
		}
		l, ok, err := tx.Love(holder)
		if err != nil || !ok {
			return err
		}
		for _, v := range l.Vouchers {
			st, err := status(tx, &v, terminal.StatusClaimed, now)
			if err != nil {
				return err
			}
			items = append(items, item{v, l.KeyID, nil, st})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]Issued, 0, len(items))
	for i := range items {
		code, err := s.sign(items[i].v, items[i].key, items[i].sig)
		if err != nil {
			return nil, err
		}
		out = append(out, issued(&items[i].v, code, items[i].state))
	}
	return out, nil
}

// Pool returns the pool of the round holding day, as at now, and the love line.
func (s *Service) Pool(ctx context.Context, day time.Time) (*Pool, error) {
	now := s.now()
	p := &Pool{Day: terminal.Day(day).Format(time.DateOnly), Now: now, Lines: []terminal.PoolLine{}, Moves: []terminal.BudgetMove{}}
	err := s.store.View(ctx, func(tx Tx) error {
		lines, rounds, err := s.pool(tx, now)
		if err != nil {
			return err
		}
		r := terminal.RoundAt(rounds, day)
		if r != nil {
			p.Round = r.ID
			for _, l := range lines {
				if l.Round == r.ID {
					p.Lines = append(p.Lines, l)
				}
			}
		}
		moves, err := tx.Moves()
		for _, m := range moves {
			if r != nil && m.Round == r.ID {
				p.Moves = append(p.Moves, m)
			}
		}
		if err != nil {
			return err
		}
		love, err := s.loveLine(tx, now)
		p.Lines = append(p.Lines, love)
		return err
	})
	return p, err
}

// pool builds every round's lines from the store, as at now.
func (s *Service) pool(tx Tx, now time.Time) ([]terminal.PoolLine, []terminal.IssueRound, error) {
	rounds, err := s.rounds(tx)
	if err != nil {
		return nil, nil, err
	}
	moves, err := tx.Moves()
	if err != nil {
		return nil, nil, err
	}
	drops, err := tx.Drops()
	if err != nil {
		return nil, nil, err
	}
	var claims []terminal.Claimed
	err = tx.Claims(0, func(c *Claim) (bool, error) {
		st, err := status(tx, &c.Voucher, c.Status, now)
		claims = append(claims, terminal.Claimed{Round: c.RoundID, Category: c.Voucher.Category, OffFen: c.Voucher.OffFen, Status: st})
		return true, err
	})
	if err != nil {
		return nil, nil, err
	}
	return terminal.BuildPool(rounds, moves, drops, claims, now), rounds, nil
}

// loveLine is the love vouchers' line: budget, issued (released and
// claimed at once), redeemed, expired after the programme, available.
func (s *Service) loveLine(tx Tx, now time.Time) (terminal.PoolLine, error) {
	l := terminal.PoolLine{Category: terminal.Love}
	if plan := s.prog.Plan(terminal.Love); plan != nil {
		l.BudgetFen = plan.BudgetFen
	}
	err := tx.Loves(func(lv *Love) error {
		for _, v := range lv.Vouchers {
			l.ReleasedFen += v.OffFen
			l.ClaimedFen += v.OffFen
			st, err := status(tx, &v, terminal.StatusClaimed, now)
			if err != nil {
				return err
			}
			switch st {
			case terminal.StatusRedeemed:
				l.RedeemedFen += v.OffFen
			case terminal.StatusExpired:
				l.ExpiredFen += v.OffFen
			}
		}
		return nil
	})
	l.AvailableFen = l.BudgetFen - l.ReleasedFen + l.BackFen()
	return l, err
}
