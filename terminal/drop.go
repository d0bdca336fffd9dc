package terminal

import (
	"fmt"
	"time"
)

// MaxDropCount is the most vouchers one drop releases.
const MaxDropCount = 10_000_000

// Drop releases Count vouchers of one denomination at a moment of a day of
// a round: from At until the end of that day (UTC+8) they may be claimed,
// and each claimed voucher is valid from its claim until the day's end.
type Drop struct {
	ID           uint64       `json:"id"`
	Round        string       `json:"round"`
	Category     Category     `json:"category"`
	Denomination Denomination `json:"denomination"`
	Count        int          `json:"count"`
	At           time.Time    `json:"at"`
	// Claimed is how many of Count have been claimed.
	Claimed int `json:"claimed"`
}

// End returns the end of the drop's day: claims close and claimed vouchers
// expire (exclusive: good through 23:59:59).
func (d *Drop) End() time.Time { return DayEnd(d.At) }

// Open reports whether the drop takes claims at now: released, before the
// day's end. Open says nothing about stock (Left).
func (d *Drop) Open(now time.Time) bool { return !now.Before(d.At) && now.Before(d.End()) }

// Left returns how many vouchers of the drop are still unclaimed.
func (d *Drop) Left() int { return max(d.Count-d.Claimed, 0) }

// ValueFen returns the subsidy the drop releases: Count × the discount.
func (d *Drop) ValueFen() Fen { return d.Denomination.OffFen * Fen(d.Count) }

// DayEnd returns the end of t's day in Zone: the start of the next day.
func DayEnd(t time.Time) time.Time {
	y, m, d := t.In(Zone).Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, Zone) // Date carries the 32nd into the next month
}

// DropAt returns the release moment of a drop on day at "HH:MM" in Zone;
// "" means the programme's daily release time (10:00).
func (p *Programme) DropAt(day time.Time, hhmm string) (time.Time, error) {
	if hhmm == "" {
		hhmm = p.Release.DailyAt
	}
	if hhmm == "" {
		hhmm = "10:00"
	}
	t, err := time.Parse("15:04", hhmm)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: drop time %q: want HH:MM", ErrIssuing, hhmm)
	}
	return Day(day).Add(time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute), nil
}

// NewDrop checks a drop an admin adds and returns it with its round: the
// denomination must be one of the programme's for a claim category, the
// count positive, the day inside a round, and its value within what the
// category of that round has available in pool. Refusals wrap ErrIssuing.
func (p *Programme) NewDrop(rounds []IssueRound, pool []PoolLine, d Drop) (Drop, error) {
	if !claimCategory(d.Category) || !p.HasDenomination(d.Category, d.Denomination) {
		return d, fmt.Errorf("%w: %s %s is not a denomination consumers claim", ErrIssuing, d.Category, d.Denomination)
	}
	if d.Count <= 0 || d.Count > MaxDropCount {
		return d, fmt.Errorf("%w: count %d outside 1..%d", ErrIssuing, d.Count, MaxDropCount)
	}
	r := RoundAt(rounds, d.At)
	if r == nil {
		return d, fmt.Errorf("%w: no round holds %s (voucherd round list)", ErrIssuing, Day(d.At).Format(time.DateOnly))
	}
	d.Round, d.Claimed = r.ID, 0
	line := findLine(pool, r.ID, d.Category)
	if line == nil || line.AvailableFen < d.ValueFen() {
		var avail Fen
		if line != nil {
			avail = line.AvailableFen
		}
		return d, fmt.Errorf("%w: drop of %d × %s is %s, %s of round %s has %s left", ErrIssuing,
			d.Count, d.Denomination, d.ValueFen(), d.Category, r.ID, avail)
	}
	return d, nil
}
