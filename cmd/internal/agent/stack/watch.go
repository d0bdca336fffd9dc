package stack

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/gorilla/websocket"

	"github.com/voucherpos/voucherpos/terminal"
)

// Watcher reads a terminal's /api/v1/events as a screen does.
type Watcher struct {
	ws *websocket.Conn
}

// Watch connects to the terminal's events stream.
func (t *Terminal) Watch() (*Watcher, error) {
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+t.Agent.Addr()+"/api/v1/events", nil)
	if err != nil {
		return nil, fmt.Errorf("events of %s: %w", t.ID, err)
	}
	// Subscribed once hello has come: nothing after it is missed.
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	var m struct {
		Type string `json:"type"`
	}
	if err := ws.ReadJSON(&m); err != nil || m.Type != "hello" {
		ws.Close()
		return nil, fmt.Errorf("events of %s: no hello (%v)", t.ID, err)
	}
	return &Watcher{ws: ws}, nil
}

// Close disconnects.
func (w *Watcher) Close() error { return w.ws.Close() }

// Verdict waits up to d for the next approval or decline.
func (w *Watcher) Verdict(d time.Duration) (terminal.LaneEvent, error) {
	_ = w.ws.SetReadDeadline(time.Now().Add(d))
	for {
		_, b, err := w.ws.ReadMessage()
		if err != nil {
			return terminal.LaneEvent{}, fmt.Errorf("waiting for a verdict: %w", err)
		}
		var m struct {
			Type  string             `json:"type"`
			Event terminal.LaneEvent `json:"event"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			return terminal.LaneEvent{}, err
		}
		if m.Type == "lane" && (m.Event.Kind == terminal.EventApproved || m.Event.Kind == terminal.EventDeclined) {
			return m.Event, nil
		}
	}
}
