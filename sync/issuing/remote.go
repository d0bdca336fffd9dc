package issuing

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/voucherpos/voucherpos/terminal"
)

// maxAdminBody is the largest admin request body read.
const maxAdminBody = 64 << 10

// adminHandler serves the county's issuing API (admin authentication):
//
//	POST /admin/issuing/rounds        IssueRound → IssueRound
//	GET  /admin/issuing/rounds        → [IssueRound]
//	POST /admin/issuing/drops         DropRequest → Drop
//	GET  /admin/issuing/drops?day=D   → [Drop]
//	POST /admin/issuing/moves         BudgetMove → {}
//	POST /admin/issuing/love          {"holder","value_fen"} → [Issued]
//	GET  /admin/issuing/pool?day=D    → Pool
func (s *Service) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /admin/issuing/rounds", s.adminJSON(func(ctx context.Context, b []byte) (any, error) {
		var r terminal.IssueRound
		if err := decodeStrict(b, &r); err != nil {
			return nil, err
		}
		return s.AddRound(ctx, r)
	}))
	mux.HandleFunc("GET /admin/issuing/rounds", func(w http.ResponseWriter, r *http.Request) {
		rs, err := s.Rounds(r.Context())
		s.writeResult(w, rs, err)
	})
	mux.HandleFunc("POST /admin/issuing/drops", s.adminJSON(func(ctx context.Context, b []byte) (any, error) {
		var req DropRequest
		if err := decodeStrict(b, &req); err != nil {
			return nil, err
		}
		return s.AddDrop(ctx, req)
	}))
	mux.HandleFunc("GET /admin/issuing/drops", func(w http.ResponseWriter, r *http.Request) {
		day, err := dayParam(r, s.now())
		if err != nil {
			s.writeErr(w, err)
			return
		}
		ds, err := s.Drops(r.Context(), day)
		s.writeResult(w, ds, err)
	})
	mux.HandleFunc("POST /admin/issuing/moves", s.adminJSON(func(ctx context.Context, b []byte) (any, error) {
		var m terminal.BudgetMove
		if err := decodeStrict(b, &m); err != nil {
			return nil, err
		}
		return map[string]string{}, s.MoveBudget(ctx, m)
	}))
	mux.HandleFunc("POST /admin/issuing/love", s.adminJSON(func(ctx context.Context, b []byte) (any, error) {
		var req struct {
			Holder   string       `json:"holder"`
			ValueFen terminal.Fen `json:"value_fen"`
		}
		if err := decodeStrict(b, &req); err != nil {
			return nil, err
		}
		return s.AddLove(ctx, req.Holder, req.ValueFen)
	}))
	mux.HandleFunc("GET /admin/issuing/pool", func(w http.ResponseWriter, r *http.Request) {
		day, err := dayParam(r, s.now())
		if err != nil {
			s.writeErr(w, err)
			return
		}
		p, err := s.Pool(r.Context(), day)
		s.writeResult(w, p, err)
	})
	return mux
}

func dayParam(r *http.Request, now time.Time) (time.Time, error) {
	q := r.URL.Query().Get("day")
	if q == "" {
		return terminal.Day(now), nil
	}
	d, err := terminal.ParseDay(q)
	if err != nil {
		return d, fmt.Errorf("%w: day: want YYYY-MM-DD", ErrInvalid)
	}
	return d, nil
}

func (s *Service) adminJSON(fn func(ctx context.Context, body []byte) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := readBody(r, maxAdminBody)
		if err != nil {
			s.writeErr(w, err)
			return
		}
		v, err := fn(r.Context(), b)
		s.writeResult(w, v, err)
	}
}

func (s *Service) writeResult(w http.ResponseWriter, v any, err error) {
	if err != nil {
		s.writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// Remote does the issuing admin operations through a running server.
type Remote struct {
	// URL is the server's base URL ("http://127.0.0.1:8443").
	URL string
	// Token is the admin token, if the server has one.
	Token string
	// Client is the HTTP client; nil means one with a 30 s timeout.
	Client *http.Client
}

func (r *Remote) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(r.URL, "/")+path, body)
	if err != nil {
		return err
	}
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	req.Header.Set("Content-Type", "application/json")
	c := r.Client
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("admin %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("admin %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error apiError `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		msg := e.Error.Detail
		if msg == "" {
			msg = strings.TrimSpace(string(b))
		}
		if resp.StatusCode == http.StatusBadRequest {
			return fmt.Errorf("%s (%w)", msg, ErrInvalid)
		}
		return fmt.Errorf("admin %s: %s: %s", path, resp.Status, msg)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("admin %s: answer: %w", path, err)
		}
	}
	return nil
}

// AddRound adds a round on the remote server.
func (r *Remote) AddRound(ctx context.Context, rd terminal.IssueRound) (terminal.IssueRound, error) {
	var out terminal.IssueRound
	err := r.do(ctx, http.MethodPost, "/admin/issuing/rounds", rd, &out)
	return out, err
}

// Rounds lists the remote server's rounds.
func (r *Remote) Rounds(ctx context.Context) ([]terminal.IssueRound, error) {
	var out []terminal.IssueRound
	err := r.do(ctx, http.MethodGet, "/admin/issuing/rounds", nil, &out)
	return out, err
}

// AddDrop adds a drop on the remote server.
func (r *Remote) AddDrop(ctx context.Context, req DropRequest) (terminal.Drop, error) {
	var out terminal.Drop
	err := r.do(ctx, http.MethodPost, "/admin/issuing/drops", req, &out)
	return out, err
}

// Drops lists a day's drops on the remote server.
func (r *Remote) Drops(ctx context.Context, day time.Time) ([]terminal.Drop, error) {
	var out []terminal.Drop
	err := r.do(ctx, http.MethodGet, "/admin/issuing/drops?day="+url.QueryEscape(terminal.Day(day).Format(time.DateOnly)), nil, &out)
	return out, err
}

// MoveBudget moves budget on the remote server.
func (r *Remote) MoveBudget(ctx context.Context, m terminal.BudgetMove) error {
	return r.do(ctx, http.MethodPost, "/admin/issuing/moves", m, nil)
}

// AddLove registers a person on the remote server.
func (r *Remote) AddLove(ctx context.Context, platformID string, value terminal.Fen) ([]Issued, error) {
	var out []Issued
	err := r.do(ctx, http.MethodPost, "/admin/issuing/love", map[string]any{"holder": platformID, "value_fen": value}, &out)
	return out, err
}

// Pool fetches the remote server's pool.
func (r *Remote) Pool(ctx context.Context, day time.Time) (*Pool, error) {
	var out Pool
	err := r.do(ctx, http.MethodGet, "/admin/issuing/pool?day="+url.QueryEscape(terminal.Day(day).Format(time.DateOnly)), nil, &out)
	return &out, err
}
