package terminal_test

import (
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/terminal"
)

// FuzzParseDay: ParseDay reads a day as time.ParseInLocation(DateOnly) in
// Zone does, day for day and error for error, its fast path included.
func FuzzParseDay(f *testing.F) {
	for _, s := range []string{"2022-05-01", "2024-02-29", "2023-02-29", "2023-12-31", "2023-13-01", "2023-00-10",
		"2023-04-31", "0000-01-01", "9999-12-31", "2023-1-01", "2023-01-1", "2023/01/01", "2023-01-01x", " 2023-01-01",
		"+023-01-01", "2023-01-00", "1941-03-16", "1986-05-04", "", "２０２３-01-01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := terminal.ParseDay(s)
		want, werr := time.ParseInLocation(time.DateOnly, s, terminal.Zone)
		if (err == nil) != (werr == nil) {
			t.Fatalf("ParseDay(%q) error %v, time.ParseInLocation %v", s, err, werr)
		}
		if err == nil && (!got.Equal(want) || got.Location() != want.Location()) {
			t.Fatalf("ParseDay(%q) = %v, time.ParseInLocation %v", s, got, want)
		}
	})
}

// TestDayEnd: the end of a day is the start of the next in Zone, at month
// and year ends, on a leap day and across the 1986-1991 summer times
// Asia/Shanghai kept, from any zone the time is given in.
func TestDayEnd(t *testing.T) {
	for _, s := range []string{"2022-05-01 10:00", "2022-05-31 23:59", "2023-12-31 00:00", "2024-02-28 12:00",
		"2024-02-29 23:59", "1986-05-03 23:30", "1986-05-04 00:30", "1991-09-14 23:00", "1991-09-15 00:30"} {
		at, err := time.ParseInLocation("2006-01-02 15:04", s, terminal.Zone)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range []*time.Location{terminal.Zone, time.UTC, time.FixedZone("X", -11*3600)} {
			got := terminal.DayEnd(at.In(in))
			want := terminal.Day(at).AddDate(0, 0, 1)
			if !got.Equal(want) || got.Location() != terminal.Zone {
				t.Errorf("DayEnd(%s in %s) = %s, want %s", s, in, got, want)
			}
			if d := terminal.Day(at.In(in)); !d.Equal(time.Date(at.Year(), at.Month(), at.Day(), 0, 0, 0, 0, terminal.Zone)) {
				t.Errorf("Day(%s in %s) = %s", s, in, d)
			}
		}
	}
}
