package hub

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/voucherpos/voucherpos/sync/httpguard"
	"github.com/voucherpos/voucherpos/sync/wire"
	"github.com/voucherpos/voucherpos/terminal"
)

// maxAdminBody is the largest admin request body read.
const maxAdminBody = 1 << 20

// Handler serves the terminals' websocket at /v1/sync, /healthz, and the
// admin API under /admin/ (loopback callers only, unless Options.AdminToken
// is set, in which case the token is required):
//
//	POST /admin/merchants                 {"id","name","category","region"}
//	POST /admin/merchants/{id}/block
//	POST /admin/merchants/{id}/unblock
//	POST /admin/terminals                 {"merchant_id","terminal_id"} → credential
//	POST /admin/terminals/{id}/revoke
//	POST /admin/terminals/{id}/reset      (accept a forked terminal's new chain)
//	POST /admin/mint                      MintRequest → {"codes":[...]}
//	POST /admin/revoke                    {"voucher":"16 hex digits"}
//	POST /admin/keys/rotate               → {"key_id": "8 hex digits"}
//	GET  /admin/report?day=YYYY-MM-DD&merchant=M → Report
//	GET  /admin/backup                    → the embedded ledger file, consistent (bbolt Tx.WriteTo)
//
// Errors answer {"error": "..."} with 400, 403, 404, 409 or 500.
func (h *Hub) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(wire.Path, h.serveSync)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-h.closed:
			http.Error(w, "closed", http.StatusServiceUnavailable)
		default:
			_, _ = io.WriteString(w, "ok\n")
		}
	})
	admin := http.NewServeMux()
	admin.HandleFunc("POST /admin/merchants", h.adminJSON(func(ctx context.Context, b []byte) (any, error) {
		var m terminal.Merchant
		if err := decodeBody(b, &m); err != nil {
			return nil, err
		}
		m.Blocked = false
		return m, h.AddMerchant(ctx, m)
	}))
	admin.HandleFunc("POST /admin/merchants/{id}/block", h.adminPath(h.Block))
	admin.HandleFunc("POST /admin/merchants/{id}/unblock", h.adminPath(h.Unblock))
	admin.HandleFunc("POST /admin/terminals", h.adminJSON(func(ctx context.Context, b []byte) (any, error) {
		var req struct {
			MerchantID string `json:"merchant_id"`
			TerminalID string `json:"terminal_id"`
		}
		if err := decodeBody(b, &req); err != nil {
			return nil, err
		}
		return h.AddTerminal(ctx, req.MerchantID, req.TerminalID)
	}))
	admin.HandleFunc("GET /admin/terminals", func(w http.ResponseWriter, r *http.Request) {
		ts, err := h.Terminals(r.Context())
		writeResult(w, ts, err)
	})
	admin.HandleFunc("POST /admin/terminals/{id}/revoke", h.adminPath(h.RevokeTerminal))
	admin.HandleFunc("POST /admin/terminals/{id}/reset", h.adminPath(h.ResetTerminal))
	admin.HandleFunc("POST /admin/mint", h.adminJSON(func(ctx context.Context, b []byte) (any, error) {
		var req MintRequest
		if err := decodeBody(b, &req); err != nil {
			return nil, err
		}
		codes, err := h.Mint(ctx, req)
		return map[string][]string{"codes": codes}, err
	}))
	admin.HandleFunc("POST /admin/revoke", h.adminJSON(func(ctx context.Context, b []byte) (any, error) {
		var req struct {
			Voucher terminal.VoucherID `json:"voucher"`
		}
		if err := decodeBody(b, &req); err != nil {
			return nil, err
		}
		return req, h.Revoke(ctx, req.Voucher)
	}))
	admin.HandleFunc("POST /admin/keys/rotate", h.adminJSON(func(ctx context.Context, _ []byte) (any, error) {
		id, err := h.RotateKey(ctx)
		return map[string]terminal.KeyID{"key_id": id}, err
	}))
	admin.HandleFunc("GET /admin/report", func(w http.ResponseWriter, r *http.Request) {
		day, err := terminal.ParseDay(r.URL.Query().Get("day"))
		if err != nil {
			writeErr(w, fmt.Errorf("%w: day: want YYYY-MM-DD", ErrInvalid))
			return
		}
		rep, err := h.Report(r.Context(), day, r.URL.Query().Get("merchant"))
		writeResult(w, rep, err)
	})
	admin.HandleFunc("GET /admin/backup", h.serveBackup)
	mux.Handle("/admin/", h.adminAuth(admin))
	if h.opts.Metrics != nil {
		mux.Handle("GET /metrics", h.adminAuth(h.opts.Metrics))
	}
	return mux
}

func decodeBody(b []byte, v any) error {
	if err := httpguard.DecodeObject(b, v); err != nil {
		return fmt.Errorf("%w: body: %v", ErrInvalid, err)
	}
	return nil
}

// adminAuth admits loopback callers (or, with a token, its bearers) that
// are not a browser acting for a foreign page (httpguard).
func (h *Hub) adminAuth(next http.Handler) http.Handler {
	guard := httpguard.Policy{AnyHost: h.opts.AdminToken != ""}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := h.opts.AdminToken; tok != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(tok)) != 1 {
				writeJSON(w, http.StatusForbidden, map[string]string{"error": "admin token required"})
				return
			}
		} else if !loopback(r.RemoteAddr) {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "admin API is loopback only (configure a token)"})
			return
		}
		if ref := guard.Check(r); ref != nil {
			h.refused.logf(h, "hub: admin %s %s from %s: %v", r.Method, r.URL.Path, r.RemoteAddr, ref)
			writeJSON(w, ref.Status, map[string]string{"error": ref.Code + ": " + ref.Message + " / " + ref.MessageEN})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (h *Hub) adminJSON(fn func(ctx context.Context, body []byte) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(io.LimitReader(r.Body, maxAdminBody+1))
		if err == nil && len(b) > maxAdminBody {
			err = fmt.Errorf("%w: body over %d bytes", ErrInvalid, maxAdminBody)
		}
		if err != nil {
			writeErr(w, err)
			return
		}
		v, err := fn(r.Context(), b)
		writeResult(w, v, err)
	}
}

func (h *Hub) adminPath(fn func(ctx context.Context, id string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		writeResult(w, map[string]string{"id": id}, fn(r.Context(), id))
	}
}

func writeResult(w http.ResponseWriter, v any, err error) {
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func writeErr(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrInvalid):
		code = http.StatusBadRequest
	case errors.Is(err, ErrUnknown):
		code = http.StatusNotFound
	case errors.Is(err, ErrExists):
		code = http.StatusConflict
	case errors.Is(err, ErrClosed):
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// Remote does the admin operations through a running server's HTTP admin API.
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
			Error string `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		if e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		var sentinel error
		switch resp.StatusCode {
		case http.StatusBadRequest:
			sentinel = ErrInvalid
		case http.StatusNotFound:
			sentinel = ErrUnknown
		case http.StatusConflict:
			sentinel = ErrExists
		default:
			return fmt.Errorf("admin %s: %s: %s", path, resp.Status, e.Error)
		}
		return fmt.Errorf("%s (%w)", e.Error, sentinel)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("admin %s: answer: %w", path, err)
		}
	}
	return nil
}

// AddMerchant enrols a merchant on the remote server.
func (r *Remote) AddMerchant(ctx context.Context, m terminal.Merchant) error {
	return r.do(ctx, http.MethodPost, "/admin/merchants", m, nil)
}

// Block suspends a merchant on the remote server.
func (r *Remote) Block(ctx context.Context, id string) error {
	return r.do(ctx, http.MethodPost, "/admin/merchants/"+url.PathEscape(id)+"/block", nil, nil)
}

// Unblock lifts a merchant's suspension on the remote server.
func (r *Remote) Unblock(ctx context.Context, id string) error {
	return r.do(ctx, http.MethodPost, "/admin/merchants/"+url.PathEscape(id)+"/unblock", nil, nil)
}

// AddTerminal enrols a terminal on the remote server and returns its credential.
func (r *Remote) AddTerminal(ctx context.Context, merchantID, terminalID string) (wire.Credential, error) {
	var c wire.Credential
	err := r.do(ctx, http.MethodPost, "/admin/terminals", map[string]string{"merchant_id": merchantID, "terminal_id": terminalID}, &c)
	return c, err
}

// ResetTerminal accepts a forked terminal's new chain on the remote server.
func (r *Remote) ResetTerminal(ctx context.Context, id string) error {
	return r.do(ctx, http.MethodPost, "/admin/terminals/"+url.PathEscape(id)+"/reset", nil, nil)
}

// RevokeTerminal revokes a terminal on the remote server.
func (r *Remote) RevokeTerminal(ctx context.Context, id string) error {
	return r.do(ctx, http.MethodPost, "/admin/terminals/"+url.PathEscape(id)+"/revoke", nil, nil)
}

// Mint mints vouchers on the remote server.
func (r *Remote) Mint(ctx context.Context, req MintRequest) ([]string, error) {
	var out struct {
		Codes []string `json:"codes"`
	}
	err := r.do(ctx, http.MethodPost, "/admin/mint", req, &out)
	return out.Codes, err
}

// Revoke revokes a voucher on the remote server.
func (r *Remote) Revoke(ctx context.Context, id terminal.VoucherID) error {
	return r.do(ctx, http.MethodPost, "/admin/revoke", map[string]terminal.VoucherID{"voucher": id}, nil)
}

// Report fetches a day's report from the remote server.
func (r *Remote) Report(ctx context.Context, day time.Time, merchantID string) (*Report, error) {
	var rep Report
	path := "/admin/report?day=" + terminal.Day(day).Format(time.DateOnly)
	if merchantID != "" {
		path += "&merchant=" + url.QueryEscape(merchantID)
	}
	err := r.do(ctx, http.MethodGet, path, nil, &rep)
	return &rep, err
}

// Terminals returns the remote server's fleet view.
func (r *Remote) Terminals(ctx context.Context) ([]TerminalStatus, error) {
	var ts []TerminalStatus
	err := r.do(ctx, http.MethodGet, "/admin/terminals", nil, &ts)
	return ts, err
}

// RotateKey makes a new issuing key current on the remote server.
func (r *Remote) RotateKey(ctx context.Context) (terminal.KeyID, error) {
	var out struct {
		KeyID terminal.KeyID `json:"key_id"`
	}
	err := r.do(ctx, http.MethodPost, "/admin/keys/rotate", nil, &out)
	return out.KeyID, err
}
