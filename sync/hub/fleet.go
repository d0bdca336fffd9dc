package hub

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/voucherpos/voucherpos/sync/wire"
	"github.com/voucherpos/voucherpos/terminal"
)

// The fleet view: every enrolled terminal with what this instance heard
// from it (voucherd terminal list, GET /admin/terminals). What a terminal
// reports at its hello and when this instance last acknowledged its records
// are kept in memory: after a restart, or on another instance of a shared
// database, a terminal shows "never seen here" until it next connects.

// TerminalStatus is one terminal in the fleet view.
type TerminalStatus struct {
	ID         string `json:"id"`
	MerchantID string `json:"merchant_id"`
	Revoked    bool   `json:"revoked,omitempty"`
	// Connected is true while the terminal has a session with this instance.
	Connected bool `json:"connected"`
	// Watermark is the last record the server has durably (every instance).
	Watermark uint64 `json:"watermark"`
	// LastHello is the terminal's last handshake with this instance, LastSync
	// the last time this instance acknowledged its records or welcomed it
	// (zero: not since this instance started).
	LastHello time.Time `json:"last_hello,omitzero"`
	LastSync  time.Time `json:"last_sync,omitzero"`
	// QueueDepth and UnsyncedFen are the records the terminal holds that the
	// server has not acknowledged, and their discount (its offline
	// exposure), as of its last hello less what was acknowledged since.
	QueueDepth  int          `json:"queue_depth"`
	UnsyncedFen terminal.Fen `json:"unsynced_fen"`
	// Agent is the agent version the terminal reported.
	Agent string `json:"agent,omitempty"`
	// Fault is a fault the terminal reported; Alarm one the server saw (a
	// ledger restored or replaced, a record resent with another hash: a
	// fork of its chain). Empty when none.
	Fault string `json:"fault,omitempty"`
	Alarm string `json:"alarm,omitempty"`
}

// live is what this instance heard from one terminal.
type live struct {
	hello, sync time.Time
	highSeq     uint64
	report      wire.Report
	alarm       string
}

// maxReportText bounds the reported strings kept per terminal.
const maxReportText = 200

// noteHello records a terminal's handshake.
func (h *Hub) noteHello(term string, m *wire.Message, now time.Time) {
	h.fleetMu.Lock()
	defer h.fleetMu.Unlock()
	l := h.live(term)
	l.hello, l.sync, l.highSeq = now, now, m.HighSeq
	l.report = wire.Report{}
	if m.Report != nil {
		l.report = *m.Report
		l.report.Agent, l.report.Fault = clip(l.report.Agent), clip(l.report.Fault)
	}
}

// noteSync records an acknowledgement of a terminal's records.
func (h *Hub) noteSync(term string, now time.Time) {
	h.fleetMu.Lock()
	defer h.fleetMu.Unlock()
	h.live(term).sync = now
}

// noteAlarm records (and logs) something wrong the server saw of a terminal.
func (h *Hub) noteAlarm(term, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	h.logf("hub: ALARM terminal %s %s", term, msg)
	h.fleetMu.Lock()
	defer h.fleetMu.Unlock()
	h.live(term).alarm = clip(msg)
}

// live returns term's entry, made if missing; h.fleetMu is held.
func (h *Hub) live(term string) *live {
	l := h.fleet[term]
	if l == nil {
		l = &live{}
		h.fleet[term] = l
	}
	return l
}

func clip(s string) string {
	if len(s) <= maxReportText {
		return s
	}
	s = s[:maxReportText]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// Connected returns the number of terminals with a session on this instance.
func (h *Hub) Connected() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

// Terminals returns the fleet view: every enrolled terminal, by id.
func (h *Hub) Terminals(ctx context.Context) ([]TerminalStatus, error) {
	recs, err := h.store.Terminals(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]TerminalStatus, 0, len(recs))
	for _, r := range recs {
		hd, err := h.store.Head(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, TerminalStatus{ID: r.ID, MerchantID: r.MerchantID, Revoked: r.Revoked, Watermark: hd.Seq})
	}
	h.mu.Lock()
	for i := range out {
		_, out[i].Connected = h.conns[out[i].ID]
	}
	h.mu.Unlock()
	h.fleetMu.Lock()
	defer h.fleetMu.Unlock()
	for i := range out {
		t := &out[i]
		l := h.fleet[t.ID]
		if l == nil {
			continue
		}
		t.LastHello, t.LastSync, t.Agent, t.Fault, t.Alarm = l.hello, l.sync, l.report.Agent, l.report.Fault, l.alarm
		if l.highSeq > t.Watermark {
			t.QueueDepth = int(l.highSeq - t.Watermark)
			t.UnsyncedFen = l.report.UnsyncedFen
		}
	}
	return out, nil
}
