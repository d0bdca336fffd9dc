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
