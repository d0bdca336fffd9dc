package county

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/voucherpos/voucherpos/sync/issuing"
	"github.com/voucherpos/voucherpos/terminal"
)

// API serves the programme report and the audit sample to the admin
// commands of a running server (behind the admin authentication):
//
//	GET /admin/county/programme?from=YYYY-MM-DD&until=YYYY-MM-DD → Report
//	GET /admin/county/sample?from=&until=&rate_bp=1000&seed=S    → Bundle
//	POST /admin/county/actions Action                           → Action (appended to the admin log)
type API struct {
	Source Source
	// Log is the admin log the command line's actions are appended to.
	Log       ActionLog
	Programme *terminal.Programme
	// Pool is the issuing side's pool; nil means none (issuance is left out).
	Pool Pooler
	Now  func() time.Time
}

// Pooler gives the issuing side's pool of the round holding a day (sync/issuing).
type Pooler interface {
	Pool(ctx context.Context, day time.Time) (*issuing.Pool, error)
}

// Handler serves the API's routes.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/county/programme", func(w http.ResponseWriter, r *http.Request) {
		from, until, err := ParsePeriod(a.Programme, r.URL.Query().Get("from"), r.URL.Query().Get("until"), a.Now())
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		rep, err := ProgrammeReport(r.Context(), a.Source, a.Pool, a.Programme, from, until, a.Now())
		answer(w, rep, err)
	})
	mux.HandleFunc("GET /admin/county/sample", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		from, until, err := ParsePeriod(a.Programme, q.Get("from"), q.Get("until"), a.Now())
		bp, err2 := strconv.Atoi(q.Get("rate_bp"))
		if err != nil || err2 != nil || q.Get("seed") == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "want from, until (YYYY-MM-DD), rate_bp and seed"})
			return
		}
		b, err := Sample(r.Context(), a.Source, a.Programme, from, until, bp, q.Get("seed"))
		answer(w, b, err)
	})
	mux.HandleFunc("POST /admin/county/actions", func(w http.ResponseWriter, r *http.Request) {
		var act Action
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8192))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&act); err != nil || clean(act.Who) == "" || clean(act.What) == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "want an action {who, what, target, why}"})
			return
		}
		act = Action{At: a.Now(), Who: clean(act.Who) + " via " + r.RemoteAddr, What: clean(act.What), Target: clean(act.Target), Why: clean(act.Why)}
		answer(w, act, a.Log.AddAction(r.Context(), act))
	})
	return mux
}

func answer(w http.ResponseWriter, v any, err error) {
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// ParsePeriod parses a report's -from and -until; either may be empty: from
// defaults to the programme's first day, until to today (UTC+8).
func ParsePeriod(prog *terminal.Programme, from, until string, now time.Time) (time.Time, time.Time, error) {
	if from == "" {
		from = prog.Period.From
	}
	f, err := terminal.ParseDay(from)
	if err != nil {
		return f, f, fmt.Errorf("from %q: want YYYY-MM-DD", from)
	}
	u := terminal.Day(now)
	if until != "" {
		if u, err = terminal.ParseDay(until); err != nil {
			return f, u, fmt.Errorf("until %q: want YYYY-MM-DD", until)
		}
	}
	if u.Before(f) {
		return f, u, fmt.Errorf("until %s is before from %s", u.Format(time.DateOnly), f.Format(time.DateOnly))
	}
	return f, u, nil
}

// ProgrammeReport loads from..until and builds the programme report with
// the admin log and, when pool is not nil, the issuance of the round
// holding until.
func ProgrammeReport(ctx context.Context, src Source, pool Pooler, prog *terminal.Programme, from, until, now time.Time) (*Report, error) {
	p, err := Load(ctx, src, from, until)
	if err != nil {
		return nil, err
	}
	acts, err := src.Actions(ctx)
	if err != nil {
		return nil, fmt.Errorf("admin log: %w", err)
	}
	var iss *Issuance
	if pool != nil {
		pl, err := pool.Pool(ctx, until)
		if err != nil {
			return nil, fmt.Errorf("pool: %w", err)
		}
		iss = IssuanceOf(pl.Round, pl.Lines)
	}
	return Build(p, prog, acts, iss, now), nil
}

// Getter asks a running server's admin API (hub.Remote).
type Getter interface {
	Get(ctx context.Context, path string, out any) error
}

// RemoteProgramme fetches the programme report from a running server.
func RemoteProgramme(ctx context.Context, g Getter, from, until time.Time) (*Report, error) {
	var rep Report
	q := url.Values{"from": {from.Format(time.DateOnly)}, "until": {until.Format(time.DateOnly)}}
	return &rep, g.Get(ctx, "/admin/county/programme?"+q.Encode(), &rep)
}

// RemoteSample draws a sample on a running server.
func RemoteSample(ctx context.Context, g Getter, from, until time.Time, rateBP int, seed string) (*Bundle, error) {
	var b Bundle
	q := url.Values{"from": {from.Format(time.DateOnly)}, "until": {until.Format(time.DateOnly)},
		"rate_bp": {strconv.Itoa(rateBP)}, "seed": {seed}}
	return &b, g.Get(ctx, "/admin/county/sample?"+q.Encode(), &b)
}
