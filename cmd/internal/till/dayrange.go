package till

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/voucherpos/voucherpos/terminal"
)

// MaxRangeDays bounds a report over several days (GET
// /api/v1/redemptions?from=&until=): two months.
const MaxRangeDays = 62

// redemptions answers GET /api/v1/redemptions: one day (?day=, default
// today) or a range of days (?from=&until=), as JSON or as CSV
// (?format=csv, column names in Chinese with &lang=zh).
func (s *Server) redemptions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	today := terminal.Day(s.cfg.Now.Now())
	from, ok := dayParam(w, q.Get("from")+q.Get("day"), today)
	if !ok {
		return
	}
	until, ok := dayParam(w, q.Get("until"), from)
	if !ok {
		return
	}
	if until.Before(from) || until.Sub(from) > MaxRangeDays*24*time.Hour {
		writeError(w, http.StatusBadRequest, "bad_day", fmt.Sprintf("日期范围应为 1 到 %d 天，且结束不早于开始", MaxRangeDays+1),
			fmt.Sprintf("range %s..%s: want until ≥ from, at most %d days", from.Format(time.DateOnly), until.Format(time.DateOnly), MaxRangeDays+1))
		return
	}
	rep, err := RangeReport(r.Context(), s.cfg.Ledger, from, until)
	if err != nil {
		s.laneError(w, err)
		return
	}
	if q.Get("format") == FormatCSV {
		name := rep.Day
		if rep.Until != "" {
			name += "_" + rep.Until
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=\"redemptions-%s.csv\"", name))
		_, _ = w.Write([]byte("\ufeff")) // so spreadsheet programs read UTF-8 Chinese
		_ = WriteCSV(w, &rep, q.Get("lang") == "zh")
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// dayParam parses a YYYY-MM-DD query value; empty means def. It answers
// 400 and returns false for anything else.
func dayParam(w http.ResponseWriter, text string, def time.Time) (time.Time, bool) {
	if text == "" {
		return def, true
	}
	d, err := terminal.ParseDay(text)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_day", "日期格式应为 YYYY-MM-DD", "day: want YYYY-MM-DD, got "+text)
		return time.Time{}, false
	}
	return d, true
}

// RangeReport reads the records of the days from..until (inclusive) and
// builds one report of them; for one day it is DayReport.
func RangeReport(ctx context.Context, l Journal, from, until time.Time) (Report, error) {
	from, until = terminal.Day(from), terminal.Day(until)
	var all []terminal.JournalEntry
	for d := from; !d.After(until); d = terminal.Day(d.Add(36 * time.Hour)) {
		es, err := l.DayEntries(ctx, d)
		if err != nil && !errors.Is(err, terminal.ErrNotFound) {
			return Report{}, fmt.Errorf("read day %s: %w", d.Format(time.DateOnly), err)
		}
		all = append(all, es...)
	}
	of := func(id string) (terminal.JournalEntry, bool) {
		e, err := l.Entry(ctx, id)
		return e, err == nil
	}
	rep := BuildReport(from, all, of)
	if until.After(from) {
		rep.Until = until.Format(time.DateOnly)
	}
	return rep, nil
}
