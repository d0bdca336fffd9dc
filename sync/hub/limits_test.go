package hub_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/wire"
)

// TestHub_Unauthenticated: with every unauthenticated place taken by
// connections that never say hello, a new connection waits for a place:
// it gets one when a holder leaves, and is refused with 503 when none does.
func TestHub_Unauthenticated(t *testing.T) {
	h, _ := MustOpen(t, hub.Options{MaxUnauthenticated: 2})
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + wire.Path
	dial := func() (*websocket.Conn, int, error) {
		ws, resp, err := websocket.DefaultDialer.Dial(url, nil)
		if resp != nil {
			return ws, resp.StatusCode, err
		}
		return ws, 0, err
	}
	var holders []*websocket.Conn
	for range 2 {
		ws, _, err := dial()
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := ws.ReadMessage(); err != nil { // the challenge: the place is taken
			t.Fatal(err)
		}
		holders = append(holders, ws)
	}
	defer func() {
		for _, ws := range holders {
			_ = ws.Close()
		}
	}()
	t.Run("Refused", func(t *testing.T) {
		if ws, status, err := dial(); err == nil || status != http.StatusServiceUnavailable {
			if ws != nil {
				_ = ws.Close()
			}
			t.Fatalf("dial with every place taken: status %d, %v; want 503", status, err)
		}
	})
	t.Run("Waits", func(t *testing.T) {
		type result struct {
			ws     *websocket.Conn
			status int
			err    error
		}
		got := make(chan result, 1)
		go func() {
			ws, status, err := dial()
			got <- result{ws, status, err}
		}()
		_ = holders[0].Close() // a place comes free while the dial waits
		r := <-got
		if r.err != nil {
			t.Fatalf("dial while a place came free: status %d, %v", r.status, r.err)
		}
		defer r.ws.Close()
		if _, _, err := r.ws.ReadMessage(); err != nil {
			t.Fatalf("no challenge: %v", err)
		}
	})
}
