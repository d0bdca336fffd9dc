package terminal

import (
	"time"
	_ "time/tzdata" // UTC+8 rules on terminals without zoneinfo
)

// Zone is China Standard Time (Asia/Shanghai, UTC+8), in which the programme's
// days, validity windows and reports are defined.
var Zone = loadZone()

func loadZone() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		return time.FixedZone("CST", 8*3600)
	}
	return loc
}

// Clock returns the current time. Components take a Clock so that expiry and
// split-bill windows can be tested; nil means time.Now.
type Clock func() time.Time

// Now returns c(), or time.Now() for a nil Clock.
func (c Clock) Now() time.Time {
	if c == nil {
		return time.Now()
	}
	return c()
}

// Day returns the start of t's calendar day in Zone.
func Day(t time.Time) time.Time {
	y, m, d := t.In(Zone).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, Zone)
}

// ParseDay parses "YYYY-MM-DD" as the start of that day in Zone. A well
// formed day is read directly (a claim's decision reads its round's days);
// anything else goes to time.ParseInLocation, which says what is wrong.
func ParseDay(s string) (time.Time, error) {
	if len(s) == len(time.DateOnly) && s[4] == '-' && s[7] == '-' {
		y, okY := digits(s[0:4])
		m, okM := digits(s[5:7])
		d, okD := digits(s[8:10])
		if okY && okM && okD && m >= 1 && m <= 12 && d >= 1 && d <= daysIn(time.Month(m), y) {
			return time.Date(y, time.Month(m), d, 0, 0, 0, 0, Zone), nil
		}
	}
	return time.ParseInLocation(time.DateOnly, s, Zone)
}

// digits returns the decimal number s spells, if it is all digits.
func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// daysIn returns the number of days of month m of year y.
func daysIn(m time.Month, y int) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// ClaimDay returns the validity window of a voucher released on day: 10:00 to
// 23:59 that day, UTC+8, as the plan says. Until is exclusive: the voucher is
// good through 23:59:59 and expired from midnight.
func ClaimDay(day time.Time) (from, until time.Time) {
	d := Day(day)
	return d.Add(10 * time.Hour), d.AddDate(0, 0, 1)
}
