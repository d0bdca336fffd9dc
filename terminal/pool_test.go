package terminal_test

import (
	"errors"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/terminal"
)

func TestProgramme_IssueRounds(t *testing.T) {
	if len(rounds1) != 1 {
		t.Fatalf("rounds %+v: want round 1 only (round 2 has no dates)", rounds1)
	}
	r := rounds1[0]
	if r.ID != "1" || r.Number != 1 || r.TotalFen() != terminal.Yuan(7_000_000) || r.BudgetFen[terminal.Appliance] != terminal.Yuan(3_000_000) {
		t.Fatalf("round 1 %+v", r)
	}
	if !r.Holds(time.Date(2022, 10, 8, 23, 59, 59, 0, terminal.Zone)) || r.Holds(time.Date(2022, 10, 9, 0, 0, 0, 0, terminal.Zone)) ||
		r.Holds(time.Date(2022, 9, 24, 23, 59, 59, 0, terminal.Zone)) {
		t.Fatal("round 1 does not run 2022-09-25..2022-10-08 UTC+8")
	}
}

func TestProgramme_NewRound(t *testing.T) {
	budget := func(y int64) map[terminal.Category]terminal.Fen {
		return map[terminal.Category]terminal.Fen{terminal.Retail: terminal.Yuan(y), terminal.Fuel: terminal.Yuan(y)}
	}
	tests := []struct {
		name       string
		r          terminal.IssueRound
		wantNumber uint8 // 0: refused
	}{
		{"OKAnnouncedRound2", terminal.IssueRound{ID: "2", From: "2022-10-09", Until: "2022-10-15", BudgetFen: budget(2_000_000)}, 2},
		{"OKNextYear", terminal.IssueRound{ID: "2023", From: "2023-05-01", Until: "2023-05-07", BudgetFen: budget(9_000_000)}, 3},
		{"ErrOverlap", terminal.IssueRound{ID: "2", From: "2022-10-08", Until: "2022-10-15", BudgetFen: budget(1)}, 0},
		{"ErrAboveAnnounced", terminal.IssueRound{ID: "2", From: "2022-10-09", Until: "2022-10-15", BudgetFen: budget(3_000_000)}, 0},
		{"ErrTaken", terminal.IssueRound{ID: "1", From: "2023-10-09", Until: "2023-10-15", BudgetFen: budget(1)}, 0},
		{"ErrBackwards", terminal.IssueRound{ID: "3", From: "2023-10-15", Until: "2023-10-09", BudgetFen: budget(1)}, 0},
		{"ErrBadDate", terminal.IssueRound{ID: "3", From: "2023-13-01", Until: "2023-10-09", BudgetFen: budget(1)}, 0},
		{"ErrLoveBudget", terminal.IssueRound{ID: "3", From: "2023-10-09", Until: "2023-10-15", BudgetFen: map[terminal.Category]terminal.Fen{terminal.Love: 1}}, 0},
		{"ErrNegative", terminal.IssueRound{ID: "3", From: "2023-10-09", Until: "2023-10-15", BudgetFen: map[terminal.Category]terminal.Fen{terminal.Fuel: -1}}, 0},
		{"ErrNoID", terminal.IssueRound{From: "2023-10-09", Until: "2023-10-15"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := prog.NewRound(rounds1, tt.r)
			if tt.wantNumber == 0 {
				if !errors.Is(err, terminal.ErrIssuing) {
					t.Fatalf("got %+v, %v; want ErrIssuing", got, err)
				}
				return
			}
			if err != nil || got.Number != tt.wantNumber {
				t.Fatalf("got %+v, %v; want number %d", got, err, tt.wantNumber)
			}
		})
	}
}

func TestProgramme_NewDrop(t *testing.T) {
	pool := terminal.BuildPool(rounds1, nil, nil, nil, ten)
	ok := drop(terminal.Retail, r200, 50_000, 0, ten) // ¥2,000,000: the whole retail budget
	if d, err := prog.NewDrop(rounds1, pool, ok); err != nil || d.Round != "1" {
		t.Fatalf("NewDrop(whole budget) = %+v, %v", d, err)
	}
	for name, d := range map[string]terminal.Drop{
		"OverBudget":    drop(terminal.Retail, r200, 50_001, 0, ten),
		"OutsideRound":  drop(terminal.Retail, r200, 1, 0, time.Date(2022, 10, 9, 10, 0, 0, 0, terminal.Zone)),
		"ZeroCount":     drop(terminal.Retail, r200, 0, 0, ten),
		"Love":          drop(terminal.Love, terminal.Denomination{ValueFen: terminal.Yuan(100)}, 1, 0, ten),
		"NoDenominaton": drop(terminal.Fuel, r50, 1, 0, ten),
	} {
		if got, err := prog.NewDrop(rounds1, pool, d); !errors.Is(err, terminal.ErrIssuing) {
			t.Errorf("%s: NewDrop = %+v, %v; want ErrIssuing", name, got, err)
		}
	}
	at, err := prog.DropAt(day, "")
	if err != nil || !at.Equal(ten) {
		t.Errorf("DropAt default = %v, %v; want 10:00", at, err)
	}
	if at, err := prog.DropAt(day, "14:30"); err != nil || !at.Equal(ten.Add(4*time.Hour+30*time.Minute)) {
		t.Errorf("DropAt 14:30 = %v, %v", at, err)
	}
	if _, err := prog.DropAt(day, "25:00"); err == nil {
		t.Error("DropAt 25:00 accepted")
	}
}

func TestBuildPool(t *testing.T) {
	drops := []terminal.Drop{
		drop(terminal.Retail, r200, 100, 80, ten),                    // yesterday's: 20 unclaimed came back
		drop(terminal.Retail, r50, 100, 10, ten.Add(24*time.Hour)),   // today's, open
		drop(terminal.Fuel, r200, 10, 10, ten.Add(24*time.Hour)),     // today's, sold out
		drop(terminal.Hospitality, r50, 5, 0, ten.Add(48*time.Hour)), // tomorrow's
	}
	var claims []terminal.Claimed
	add := func(n int, c terminal.Category, off terminal.Fen, s terminal.ClaimStatus) {
		for range n {
			claims = append(claims, terminal.Claimed{Round: "1", Category: c, OffFen: off, Status: s})
		}
	}
	add(50, terminal.Retail, terminal.Yuan(40), terminal.StatusRedeemed)
	add(29, terminal.Retail, terminal.Yuan(40), terminal.StatusExpired)
	add(1, terminal.Retail, terminal.Yuan(40), terminal.StatusReturned)
	add(10, terminal.Retail, terminal.Yuan(10), terminal.StatusClaimed)
	add(10, terminal.Fuel, terminal.Yuan(40), terminal.StatusClaimed)
	moves := []terminal.BudgetMove{{Round: "1", From: terminal.Appliance, To: terminal.Retail, AmountFen: terminal.Yuan(500_000)}}
	now := ten.Add(25 * time.Hour)
	lines := terminal.BuildPool(rounds1, moves, drops, claims, now)
	if err := terminal.CheckPool(lines); err != nil {
		t.Fatal(err)
	}
	retail := lines[0]
	want := terminal.PoolLine{Round: "1", Category: terminal.Retail, BudgetFen: terminal.Yuan(2_500_000),
		ReleasedFen: terminal.Yuan(4000 + 1000), ClaimedFen: terminal.Yuan(80*40 + 100), RedeemedFen: terminal.Yuan(2000),
		ExpiredFen: terminal.Yuan(29 * 40), ReturnedFen: terminal.Yuan(40), UnclaimedFen: terminal.Yuan(20 * 40)}
	want.AvailableFen = want.BudgetFen - want.ReleasedFen + terminal.Yuan(29*40+40+20*40)
	if retail != want {
		t.Fatalf("retail line\n got %+v\nwant %+v", retail, want)
	}
	if lines[2].Category != terminal.Appliance || lines[2].BudgetFen != terminal.Yuan(2_500_000) {
		t.Errorf("appliance after the move: %+v", lines[2])
	}
	tot := terminal.PoolTotals(lines)
	if len(tot) != 4 || tot[0].AvailableFen != want.AvailableFen {
		t.Errorf("totals %+v", tot)
	}

	// Each way of breaking the invariants is caught.
	for name, mod := range map[string]func(*terminal.PoolLine){
		"OverBudget":      func(l *terminal.PoolLine) { l.ReleasedFen = l.BudgetFen + l.BackFen() + 1 },
		"ClaimedTooMuch":  func(l *terminal.PoolLine) { l.ClaimedFen = l.ReleasedFen - l.UnclaimedFen + 1 },
		"SpentTwice":      func(l *terminal.PoolLine) { l.RedeemedFen = l.ClaimedFen },
		"AvailableWrong":  func(l *terminal.PoolLine) { l.AvailableFen++ },
		"NegativeFigures": func(l *terminal.PoolLine) { l.ExpiredFen = -1 },
	} {
		l := retail
		mod(&l)
		if err := l.Check(); err == nil {
			t.Errorf("%s: Check passed %+v", name, l)
		}
	}
}

func TestBudgetMove_Check(t *testing.T) {
	pool := terminal.BuildPool(rounds1, nil, []terminal.Drop{drop(terminal.Fuel, r200, 24_000, 0, ten)}, nil, ten)
	mv := func(from, to terminal.Category, y int64) terminal.BudgetMove {
		return terminal.BudgetMove{Round: "1", From: from, To: to, AmountFen: terminal.Yuan(y)}
	}
	if m := mv(terminal.Fuel, terminal.Retail, 40_000); m.Check(pool) != nil {
		t.Errorf("move of the fuel budget left: %v", m.Check(pool))
	}
	for name, m := range map[string]terminal.BudgetMove{
		"MoreThanLeft": mv(terminal.Fuel, terminal.Retail, 40_001),
		"Same":         mv(terminal.Fuel, terminal.Fuel, 1),
		"ToLove":       mv(terminal.Fuel, terminal.Love, 1),
		"Zero":         mv(terminal.Fuel, terminal.Retail, 0),
		"NoRound":      {Round: "9", From: terminal.Fuel, To: terminal.Retail, AmountFen: 1},
	} {
		if err := m.Check(pool); !errors.Is(err, terminal.ErrIssuing) {
			t.Errorf("%s: %v, want ErrIssuing", name, err)
		}
	}
}
