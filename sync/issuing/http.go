package issuing

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
	"strings"
	"time"

	"github.com/voucherpos/voucherpos/sync/httpguard"
	"github.com/voucherpos/voucherpos/terminal"
)

// maxClaimBody is the largest claim request body read; a claim is ~100 bytes.
const maxClaimBody = 4 << 10

// maxKey is the longest Idempotency-Key accepted.
const maxKey = 128

// The API's own error codes, beside the claim refusals of terminal.
const (
	codeBadRequest   = "bad_request"
	codeTooLarge     = "too_large"
	codeKeyReused    = "idempotency_key_reused"
	codeUnauthorized = "unauthorized"
	codeUnavailable  = "unavailable"
)

var apiMessages = map[string][2]string{
	codeBadRequest:   {"请求格式不对", "malformed request"},
	codeTooLarge:     {"请求太大", "request too large"},
	codeKeyReused:    {"这个请求编号已用于另一次领取", "this Idempotency-Key was used for another claim"},
	codeUnauthorized: {"平台身份验证失败", "platform token required"},
	codeUnavailable:  {"系统繁忙，请稍后用同一请求编号重试", "service unavailable; retry with the same Idempotency-Key"},
}

// apiError is the body of every refusal: {"error":{"code","message","message_en","detail"}}.
type apiError struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	MessageEN string `json:"message_en"`
	Detail    string `json:"detail,omitempty"`
}

// Handler serves the platform's claim API and the consumer's wallet:
//
//	POST /v1/claims                 ClaimRequest, Idempotency-Key → 201 Issued
//	GET  /v1/claims?holder=H        → {"vouchers":[Issued with status]}
//	GET  /v1/drops?day=YYYY-MM-DD   → {"now","drops":[...]} (the wallet's list)
//	/wallet/                        the consumer's page
//
// and the county's admin API under /admin/issuing/ (AdminHandler).
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /v1/claims", s.platformAuth(http.HandlerFunc(s.servePostClaim)))
	mux.Handle("GET /v1/claims", s.platformAuth(http.HandlerFunc(s.serveGetClaims)))
	mux.Handle("GET /v1/drops", s.platformAuth(http.HandlerFunc(s.serveDrops)))
	mux.Handle("/admin/issuing/", s.adminAuth(s.adminHandler()))
	mux.HandleFunc("GET /wallet/qr.png", s.serveQR)
	mux.Handle("/wallet/", walletHandler())
	return mux
}

func (s *Service) platformAuth(next http.Handler) http.Handler {
	return tokenAuth(s.opts.PlatformToken, next)
}

func (s *Service) adminAuth(next http.Handler) http.Handler {
	return tokenAuth(s.opts.AdminToken, next)
}

// tokenAuth lets in callers with "Authorization: Bearer TOKEN" when a token
// is configured, and loopback callers when none is; then, as the hub's
// admin API does, it turns away browsers acting for a foreign page
// (httpguard: wrong Host, cross-origin, bodies not JSON).
func tokenAuth(tok string, next http.Handler) http.Handler {
	next = httpguard.Policy{AnyHost: tok != ""}.Wrap(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(tok)) != 1 {
				writeAPIError(w, http.StatusUnauthorized, codeUnauthorized, "")
				return
			}
		} else if !loopback(r.RemoteAddr) {
			writeAPIError(w, http.StatusForbidden, codeUnauthorized, "loopback callers only without a token")
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

// readBody reads at most limit bytes; more is ErrTooLarge.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: body: %v", ErrInvalid, err)
	}
	if int64(len(b)) > limit {
		return nil, errTooLarge
	}
	return b, nil
}

var errTooLarge = errors.New("body too large")

// decodeStrict decodes exactly one JSON object with known fields only.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: more than one JSON value", ErrInvalid)
	}
	return nil
}

func (s *Service) servePostClaim(w http.ResponseWriter, r *http.Request) {
	b, err := readBody(r, maxClaimBody)
	if err != nil {
		s.writeErr(w, err)
		return
	}
	var req ClaimRequest
	if err := decodeStrict(b, &req); err != nil {
		s.writeErr(w, err)
		return
	}
	req.Key = r.Header.Get("Idempotency-Key")
	if len(req.Key) > maxKey || strings.ContainsFunc(req.Key, func(c rune) bool { return c < '!' || c > '~' }) {
		s.writeErr(w, fmt.Errorf("%w: Idempotency-Key: want up to %d printable ASCII characters", ErrInvalid, maxKey))
		return
	}
	switch {
	case req.SpendFen < 0 || req.OffFen < 0 || req.FaceFen < 0:
		s.writeErr(w, terminal.Errorf(terminal.UnknownDenomination, "negative amount"))
		return
	case !req.Category.Valid():
		s.writeErr(w, terminal.Errorf(terminal.UnknownDenomination, "no category"))
		return
	}
	iss, err := s.Claim(r.Context(), req)
	if err != nil {
		s.writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, iss)
}

func (s *Service) serveGetClaims(w http.ResponseWriter, r *http.Request) {
	vs, err := s.Holdings(r.Context(), r.URL.Query().Get("holder"))
	if err != nil {
		s.writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"vouchers": vs})
}

// DropView is a drop as the wallet shows it.
type DropView struct {
	ID       uint64            `json:"id"`
	Category terminal.Category `json:"category"`
	Name     string            `json:"name"`
	SpendFen terminal.Fen      `json:"spend_fen"`
	OffFen   terminal.Fen      `json:"off_fen"`
	Count    int               `json:"count"`
	Left     int               `json:"left"`
	At       time.Time         `json:"at"`
	Until    time.Time         `json:"until"`
}

func (s *Service) serveDrops(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	day := now
	if q := r.URL.Query().Get("day"); q != "" {
		d, err := terminal.ParseDay(q)
		if err != nil {
			s.writeErr(w, fmt.Errorf("%w: day: want YYYY-MM-DD", ErrInvalid))
			return
		}
		day = d
	}
	ds, err := s.Drops(r.Context(), day)
	if err != nil {
		s.writeErr(w, err)
		return
	}
	out := make([]DropView, 0, len(ds))
	for _, d := range ds {
		out = append(out, DropView{ID: d.ID, Category: d.Category, Name: d.Category.Name(), SpendFen: d.Denomination.SpendFen,
			OffFen: d.Denomination.OffFen, Count: d.Count, Left: d.Left(), At: d.At.In(terminal.Zone), Until: d.End().In(terminal.Zone)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"now": now.In(terminal.Zone), "drops": out})
}

// writeErr answers an error: a claim refusal with its code and 409 (400
// for an unknown denomination), bad input 400/413/422, and a failure of
// the service 503 with a hint to retry with the same key.
func (s *Service) writeErr(w http.ResponseWriter, err error) {
	var te *terminal.Error
	switch {
	case errors.As(err, &te):
		st := http.StatusConflict
		if te.Code == terminal.UnknownDenomination {
			st = http.StatusBadRequest
		}
		writeJSON(w, st, map[string]apiError{"error": {Code: string(te.Code), Message: te.Message, MessageEN: te.MessageEN, Detail: te.Detail}})
	case errors.Is(err, errTooLarge):
		writeAPIError(w, http.StatusRequestEntityTooLarge, codeTooLarge, fmt.Sprintf("at most %d bytes", maxClaimBody))
	case errors.Is(err, ErrKeyReused):
		writeAPIError(w, http.StatusUnprocessableEntity, codeKeyReused, "")
	case errors.Is(err, ErrInvalid):
		writeAPIError(w, http.StatusBadRequest, codeBadRequest, err.Error())
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		writeAPIError(w, http.StatusServiceUnavailable, codeUnavailable, "request ended")
	default:
		s.logf("issuing: %v", err)
		writeAPIError(w, http.StatusServiceUnavailable, codeUnavailable, "")
	}
}

func writeAPIError(w http.ResponseWriter, status int, code, detail string) {
	m := apiMessages[code]
	writeJSON(w, status, map[string]apiError{"error": {Code: code, Message: m[0], MessageEN: m[1], Detail: detail}})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// Wrap serves the issuing side's paths (/v1/claims, /v1/drops, /wallet/,
// /admin/issuing/) and passes every other request to next (the hub).
func (s *Service) Wrap(next http.Handler) http.Handler {
	own := s.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if p == "/v1/claims" || p == "/v1/drops" || strings.HasPrefix(p, "/wallet/") || strings.HasPrefix(p, "/admin/issuing/") {
			own.ServeHTTP(w, r)
			return
		}
		if p == "/wallet" {
			http.Redirect(w, r, "/wallet/", http.StatusMovedPermanently)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// serveQR draws a voucher code (and nothing else) as a QR image.
func (s *Service) serveQR(w http.ResponseWriter, r *http.Request) {
	code := r.URL.Query().Get("code")
	if _, err := terminal.ParseCode(code); err != nil || s.opts.QR == nil {
		writeAPIError(w, http.StatusBadRequest, codeBadRequest, "want ?code= a voucher code")
		return
	}
	var buf bytes.Buffer
	if err := s.opts.QR(&buf, code); err != nil {
		s.writeErr(w, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "private, max-age=86400")
	_, _ = w.Write(buf.Bytes())
}
