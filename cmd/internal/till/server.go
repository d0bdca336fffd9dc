// Package till is the agent's side facing the till and the people at the
// counter: the ECR's JSON API (with its idempotency layer), the events
// websocket, the cashier screen and merchant dashboard (web/), and the day
// report they and `posagent report` share. It is typed against small
// interfaces (Lane, Records, Link) that the lane, the ledger and the sync
// client satisfy; cmd/internal/agent wires the concrete ones.
package till

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/voucherpos/voucherpos/sync/httpguard"
	"github.com/voucherpos/voucherpos/terminal"
)

// maxBody bounds every request body: a basket of MaxItems lines fits well.
const maxBody = 1 << 20

// Lane is the checkout counter the API drives. *terminal.Lane implements it.
type Lane interface {
	Open(ctx context.Context, items []terminal.Item) (terminal.Checkout, error)
	Checkout(id string) (terminal.Checkout, error)
	Current() (terminal.Checkout, bool)
	Apply(ctx context.Context, id, code string) (terminal.Checkout, terminal.LaneEvent, error)
	Complete(ctx context.Context, id string) (terminal.Checkout, error)
	Cancel(ctx context.Context, id string) (terminal.Checkout, error)
	Refund(ctx context.Context, id string, lines []terminal.Item) (*terminal.Redemption, error)
	// State returns the server state the lane decides with, and whether
	// there is one yet.
	State() (terminal.ServerState, bool)
}

// Journal reads a terminal's records of a day with their sync state.
// offline.Ledger implements it.
type Journal interface {
	DayEntries(ctx context.Context, day time.Time) ([]terminal.JournalEntry, error)
	// Entry returns one record with its sync state (the sale an earlier
	// day's refund refunds), or terminal.ErrNotFound.
	Entry(ctx context.Context, id string) (terminal.JournalEntry, error)
}

// Records is the ledger as the API reads it: single records, the day's
// journal, and the queue depth and offline exposure. offline.Ledger
// implements it.
type Records interface {
	Journal
	terminal.Unsynced
	// Get returns the record with id, or terminal.ErrNotFound.
	Get(ctx context.Context, id string) (*terminal.Redemption, error)
	// Refunds returns the refunds recorded against redemption id.
	Refunds(ctx context.Context, id string) ([]*terminal.Redemption, error)
	// ByCheckout returns the redemption that completed checkout id, or
	// terminal.ErrNotFound: then that checkout's sale is not recorded.
	ByCheckout(ctx context.Context, id string) (*terminal.Redemption, error)
}

// Link is the agent's connection to the server, as the API shows it.
type Link interface {
	// Online reports whether the server is reachable now.
	Online() bool
	// LastSync returns the terminal's clock at the last completed sync (zero: never).
	LastSync() time.Time
	// SyncNow pushes the outbox and pulls the server's state now.
	SyncNow(ctx context.Context) error
}

// Status is GET /api/v1/status and the "status" frames of /api/v1/events.
type Status struct {
	Online             bool                  `json:"online"`
	QueueDepth         int                   `json:"queue_depth"`
	LastSync           *time.Time            `json:"last_sync"`
	Scanner            terminal.ScannerState `json:"scanner"`
	OfflineExposureFen terminal.Fen          `json:"offline_exposure_fen"`
	OfflineLimitFen    terminal.Fen          `json:"offline_limit_fen"`
	Merchant           string                `json:"merchant"`
	MerchantName       string                `json:"merchant_name"`
	MerchantBlocked    bool                  `json:"merchant_blocked"`
	Terminal           string                `json:"terminal"`
	// ScannerConfigured is false when the agent runs without a scanner
	// (codes keyed in or sent by the till only): the screen shows no pill.
	ScannerConfigured bool `json:"scanner_configured"`
	// RefundPIN says a refund needs the manager's PIN (X-Manager-PIN).
	RefundPIN bool `json:"refund_pin"`
	// Alerts are the faults the cashier must see (a ledger fault, a fork,
	// a full disk), Chinese first; empty when all is well.
	Alerts []Alert `json:"alerts"`
}

// Alert is one fault the screens show as a red banner.
type Alert struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	MessageEN string `json:"message_en"`
	// Detail is for the log and the operator (the ledger's error), not the
	// cashier; empty when the code and the messages say it all.
	Detail string `json:"detail,omitempty"`
}

// ServerConfig wires the HTTP API.
type ServerConfig struct {
	Lane Lane
	// Ledger holds the records; it gives the queue depth and the offline exposure too.
	Ledger Records
	// Link is the server connection; nil means offline only.
	Link Link
	// Scanner reports the scanner's state; nil means the agent has no
	// scanner configured.
	Scanner func() terminal.ScannerState
	// RefundPIN, if set, is the manager's PIN every refund must carry in
	// the X-Manager-PIN header; empty means refunds need none.
	RefundPIN string
	// Alerts reports the faults to show on the screens; nil means none.
	Alerts func() []Alert
	// Backup writes a consistent copy of the ledger (GET /api/v1/backup,
	// for posagent backup and verify while the agent runs); nil means the
	// call is not served.
	Backup     func(ctx context.Context, w io.Writer) (int64, error)
	TerminalID string
	Log        *slog.Logger
	Now        terminal.Clock
	// Hosts are the host names (no port) the API answers to beyond the
	// loopback ones: the -http address when it is not loopback. Requests
	// naming any other host are refused (DNS rebinding).
	Hosts []string
}

// Server is the agent's HTTP side: the ECR API, the events websocket and
// the web pages.
type Server struct {
	cfg  ServerConfig
	hub  *hub
	idem *idempotency
	mux  *http.ServeMux

	mu   sync.Mutex
	last []byte // the last status frame sent
}

// NewServer returns the server; it does no I/O.
func NewServer(cfg ServerConfig) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, hub: newHub(), idem: newIdempotency(cfg.Now.Now)}
	m := http.NewServeMux()
	m.HandleFunc("POST /api/v1/checkouts", s.post(s.open))
	m.HandleFunc("GET /api/v1/checkouts/{id}", s.getCheckout)
	m.HandleFunc("GET /api/v1/checkouts/current", s.current)
	m.HandleFunc("POST /api/v1/checkouts/{id}/vouchers", s.post(s.apply))
	m.HandleFunc("POST /api/v1/checkouts/{id}/complete", s.post(s.complete))
	m.HandleFunc("POST /api/v1/checkouts/{id}/cancel", s.post(s.cancel))
	m.HandleFunc("POST /api/v1/redemptions/{id}/refund", s.post(s.refund))
	m.HandleFunc("POST /api/v1/redemptions/{id}/refund/preview", s.post(s.refundPreview))
	m.HandleFunc("GET /api/v1/redemptions", s.redemptions)
	m.HandleFunc("GET /api/v1/redemptions/{id}", s.redemption)
	m.HandleFunc("GET /api/v1/status", s.status)
	m.HandleFunc("POST /api/v1/sync", s.post(s.syncNow))
	m.HandleFunc("GET /api/v1/events", s.events)
	m.HandleFunc("GET /api/v1/backup", s.backup)
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "没有这个接口", "no such API call: "+r.Method+" "+r.URL.Path)
	})
	s.pages(m)
	s.mux = m
	return s
}

// ServeHTTP serves the API and the pages.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		v := recover()
		if v == http.ErrAbortHandler { //nolint:errorlint // sentinel by identity
			panic(v) // net/http cuts the connection: a stream stops short, not cleanly
		}
		if v != nil {
			s.cfg.Log.Error("http handler panic", "path", r.URL.Path, "panic", fmt.Sprint(v))
			writeError(w, http.StatusInternalServerError, "internal", "内部错误", "internal error")
		}
	}()
	if strings.HasPrefix(r.URL.Path, "/api/") {
		// A foreign web page in the cashier's browser cannot drive the till.
		if ref := (httpguard.Policy{Hosts: s.cfg.Hosts}).Check(r); ref != nil {
			writeError(w, ref.Status, ref.Code, ref.Message, ref.MessageEN)
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// OnLaneEvent publishes a lane event to the screens; pass it as
// LaneConfig.OnEvent. It never blocks.
func (s *Server) OnLaneEvent(ev terminal.LaneEvent) {
	s.hub.broadcastLane(ev)
}

// PublishStatus sends the status to the screens if it changed since the
// last time.
func (s *Server) PublishStatus(ctx context.Context) { s.publishStatus(ctx) }

// publishStatus is PublishStatus; it returns the status it read.
func (s *Server) publishStatus(ctx context.Context) Status {
	st := s.Status(ctx)
	b, err := json.Marshal(Message{Type: "status", Status: &st})
	if err != nil {
		return st
	}
	s.mu.Lock()
	same := bytes.Equal(b, s.last)
	s.last = b
	s.mu.Unlock()
	if !same {
		s.hub.send(b)
	}
	return st
}

// Close disconnects the screens.
func (s *Server) Close() { s.hub.close() }

// Status returns the agent's status now.
func (s *Server) Status(ctx context.Context) Status {
	st := Status{Scanner: terminal.ScannerDisconnected, Terminal: s.cfg.TerminalID, RefundPIN: s.cfg.RefundPIN != "", Alerts: []Alert{}}
	if s.cfg.Scanner != nil {
		st.Scanner, st.ScannerConfigured = s.cfg.Scanner(), true
	}
	if s.cfg.Alerts != nil {
		st.Alerts = append(st.Alerts, s.cfg.Alerts()...)
	}
	if s.cfg.Link != nil {
		st.Online = s.cfg.Link.Online()
		if t := s.cfg.Link.LastSync(); !t.IsZero() {
			st.LastSync = &t
		}
	}
	n, fen, err := s.cfg.Ledger.Unsynced(ctx)
	if err != nil {
		s.cfg.Log.Warn("read unsynced", "err", err)
	}
	st.QueueDepth, st.OfflineExposureFen = n, fen
	// Before the first server state, the zero state gives the defaults.
	state, _ := s.cfg.Lane.State()
	st.Merchant, st.MerchantName, st.MerchantBlocked = state.Merchant.ID, state.Merchant.Name, state.Merchant.Blocked
	st.OfflineLimitFen = state.Params.WithDefaults().OfflineLimitFen
	if st.LastSync == nil && !state.LocalTime.IsZero() {
		t := state.LocalTime
		st.LastSync = &t
	}
	return st
}

// post reads a POST body within the limit and runs h through the
// idempotency cache.
func (s *Server) post(h func(w http.ResponseWriter, r *http.Request, body []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				writeError(w, http.StatusRequestEntityTooLarge, "too_large", "请求内容过大", fmt.Sprintf("request body over %d bytes", maxBody))
				return
			}
			writeError(w, http.StatusBadRequest, "bad_request", "请求读取失败", "read request body: "+err.Error())
			return
		}
		s.idem.do(w, r, body, func(w http.ResponseWriter) { h(w, r, body) })
	}
}

// decode parses body strictly into v: one JSON object, no unknown fields.
// An empty body is allowed when emptyOK.
func decode(w http.ResponseWriter, body []byte, v any, emptyOK bool) bool {
	if len(bytes.TrimSpace(body)) == 0 {
		if emptyOK {
			return true
		}
		writeError(w, http.StatusBadRequest, "bad_request", "请求内容为空", "request body is empty; want a JSON object")
		return false
	}
	if t := bytes.TrimSpace(body); t[0] != '{' {
		writeError(w, http.StatusBadRequest, "bad_request", "请求内容必须是一个 JSON 对象", "request body must be a JSON object, got "+jsonKind(t))
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "请求格式错误（JSON 无效、字段未知或数值类型不符）", "invalid JSON: "+jsonError(err))
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "bad_request", "请求格式错误：只能包含一个 JSON 对象", "invalid JSON: trailing data after the object")
		return false
	}
	return true
}

// jsonKind names the JSON value starting t, for an error message.
func jsonKind(t []byte) string {
	switch t[0] {
	case 'n':
		return "null"
	case '[':
		return "an array"
	case '"':
		return "a string"
	}
	return "something else"
}

func jsonError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q: want %s, got JSON %s", te.Field, te.Type, te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("syntax error at byte %d: %v", se.Offset, se)
	}
	return err.Error()
}

// itemsBody is the body of POST /api/v1/checkouts and of a refund.
type itemsBody struct {
	Items []terminal.Item `json:"items"`
}

func (s *Server) open(w http.ResponseWriter, r *http.Request, body []byte) {
	var b itemsBody
	if !decode(w, body, &b, false) {
		return
	}
	co, err := s.cfg.Lane.Open(r.Context(), b.Items)
	switch {
	case errors.Is(err, terminal.ErrCheckoutOpen):
		cur, _ := s.cfg.Lane.Current()
		writeJSON(w, http.StatusConflict, map[string]any{"error": apiError{Code: "checkout_open",
			Message: "已有未结束的订单，请先完成或取消", MessageEN: "a checkout is already open on this lane; complete or cancel it first"},
			"checkout": cur})
	case err != nil:
		writeError(w, http.StatusBadRequest, "invalid_items", "商品清单无效（数量或价格超出范围、商品编码为空或重复不同价）", err.Error())
	default:
		w.Header().Set("Location", "/api/v1/checkouts/"+co.ID)
		writeJSON(w, http.StatusCreated, co)
	}
}

func (s *Server) getCheckout(w http.ResponseWriter, r *http.Request) {
	co, err := s.cfg.Lane.Checkout(r.PathValue("id"))
	if errors.Is(err, terminal.ErrNotFound) {
		s.recorded(w, r, r.PathValue("id"))
		return
	}
	if err != nil {
		s.laneError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, co)
}

func (s *Server) current(w http.ResponseWriter, r *http.Request) {
	co, ok := s.cfg.Lane.Current()
	if !ok {
		writeError(w, http.StatusNotFound, "no_open_checkout", "当前没有未结束的订单", "no open checkout")
		return
	}
	writeJSON(w, http.StatusOK, co)
}

type voucherBody struct {
	Code string `json:"code"`
}

func (s *Server) apply(w http.ResponseWriter, r *http.Request, body []byte) {
	var b voucherBody
	if !decode(w, body, &b, false) {
		return
	}
	if len(b.Code) > 4096 {
		writeError(w, http.StatusBadRequest, "bad_request", "券码过长", "voucher code longer than 4096 bytes")
		return
	}
	co, _, err := s.cfg.Lane.Apply(r.Context(), r.PathValue("id"), strings.TrimSpace(b.Code))
	if err != nil {
		s.laneError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, co)
}

func (s *Server) complete(w http.ResponseWriter, r *http.Request, body []byte) {
	if !decode(w, body, &struct{}{}, true) {
		return
	}
	ctx := terminal.WithIdempotencyKey(r.Context(), r.Header.Get("Idempotency-Key"))
	co, err := s.cfg.Lane.Complete(ctx, r.PathValue("id"))
	if errors.Is(err, terminal.ErrNotFound) {
		s.recorded(w, r, r.PathValue("id"))
		return
	}
	if err != nil {
		s.completeFailed(r.PathValue("id"), err)
		s.laneError(w, err)
		return
	}
	s.cfg.Log.Info("checkout completed", "checkout", co.ID, "redemption", co.RedemptionID, "payable", co.PayableFen.String())
	writeJSON(w, http.StatusOK, co)
}

func (s *Server) cancel(w http.ResponseWriter, r *http.Request, body []byte) {
	if !decode(w, body, &struct{}{}, true) {
		return
	}
	co, err := s.cfg.Lane.Cancel(r.Context(), r.PathValue("id"))
	if err != nil {
		s.laneError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, co)
}

func (s *Server) redemption(w http.ResponseWriter, r *http.Request) {
	rec, err := s.cfg.Ledger.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		s.laneError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

// DayReport reads day's records from the ledger and builds the report.
func DayReport(ctx context.Context, l Journal, day time.Time) (Report, error) {
	return RangeReport(ctx, l, day, day)
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Status(r.Context()))
}

func (s *Server) syncNow(w http.ResponseWriter, r *http.Request, body []byte) {
	if !decode(w, body, &struct{}{}, true) {
		return
	}
	if s.cfg.Link == nil {
		writeError(w, http.StatusServiceUnavailable, "offline", "未配置服务器连接", "no server link configured")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if err := s.cfg.Link.SyncNow(ctx); err != nil {
		s.PublishStatus(r.Context())
		writeError(w, http.StatusServiceUnavailable, "offline", "同步失败，网络不通，稍后自动重试", "sync failed: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, s.publishStatus(r.Context()))
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	st := s.Status(r.Context())
	hello := Message{Type: "hello", Status: &st}
	if co, ok := s.cfg.Lane.Current(); ok {
		hello.Checkout = co
	}
	s.hub.serve(w, r, hello)
}

// laneError maps lane and ledger errors to answers.
func (s *Server) laneError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, terminal.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", "找不到该订单或记录", err.Error())
	case errors.Is(err, terminal.ErrCheckoutState):
		writeError(w, http.StatusConflict, "checkout_state", "订单状态不允许此操作（已完成或已取消）", err.Error())
	case errors.Is(err, terminal.ErrRefund):
		writeError(w, http.StatusUnprocessableEntity, "refund_mismatch", "退货与原销售不符（商品不存在、数量超出或已全部退货）", err.Error())
	case errors.Is(err, terminal.ErrOutcomeUnknown):
		s.cfg.Log.Error("commit outcome unknown", "err", err)
		writeError(w, http.StatusServiceUnavailable, CodeOutcomeUnknown, msgOutcomeUnknown[0], msgOutcomeUnknown[1])
	case errors.Is(err, terminal.ErrNotCommitted):
		s.cfg.Log.Error("commit failed, not committed", "err", err)
		writeError(w, http.StatusServiceUnavailable, CodeNotCommitted, msgNotCommitted[0], msgNotCommitted[1])
	case errors.Is(err, terminal.ErrLedgerFull):
		writeError(w, http.StatusServiceUnavailable, CodeLedgerFull, "账本或磁盘空间已满，不能再用券；请联网同步并清理空间", err.Error())
	case errors.Is(err, terminal.ErrLedgerFault):
		writeError(w, http.StatusServiceUnavailable, CodeLedgerFault, "离线账本校验异常，已停止离线用券；请联系维护人员", err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusServiceUnavailable, "unavailable", "操作超时，请重试", err.Error())
	default:
		s.cfg.Log.Error("storage", "err", err)
		writeError(w, http.StatusServiceUnavailable, "storage", "本地存储出错，请重试；如持续出现请联系维护人员", err.Error())
	}
}

type apiError struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	MessageEN string `json:"message_en"`
}

func writeError(w http.ResponseWriter, status int, code, zh, en string) {
	writeJSON(w, status, map[string]apiError{"error": {Code: code, Message: zh, MessageEN: en}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// backup streams a consistent copy of the ledger file.
func (s *Server) backup(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Backup == nil {
		writeError(w, http.StatusNotFound, "not_found", "没有这个接口", "no backup on this agent")
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Cache-Control", "no-store")
	if _, err := s.cfg.Backup(r.Context(), w); err != nil {
		// The status is sent; a cut stream fails the copy's verification.
		s.cfg.Log.Error("backup", "err", err)
		panic(http.ErrAbortHandler)
	}
}
