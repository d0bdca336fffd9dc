package till

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Websocket timings for /api/v1/events (gorilla/websocket examples/chat).
const (
	writeWait      = 5 * time.Second
	pongWait       = 60 * time.Second
	pingPeriod     = pongWait * 9 / 10
	maxClientMsg   = 512
	clientSendSize = 64
)

// Message is one frame on /api/v1/events: a lane event or a status change.
type Message struct {
	// Type is "lane", "status" or "hello" (the first frame: status and the
	// open checkout).
	Type string `json:"type"`
	// Event is set for "lane".
	Event any `json:"event,omitempty"`
	// Status is set for "status" and "hello".
	Status *Status `json:"status,omitempty"`
	// Checkout is the open checkout in "hello", if any.
	Checkout any `json:"checkout,omitempty"`
	// In "hello", Event is the lane's last event since the agent started
	// (the verdict, the completed sale or the refund on screen), so a
	// reloaded or reconnected page shows what it showed before.
}

// hub fans messages out to the websocket clients. A client that cannot keep
// up is dropped rather than slowing the lane.
type hub struct {
	mu      sync.Mutex
	last    any // the last lane event broadcast, for hello
	clients map[*wsClient]struct{}
	closed  bool
	wg      sync.WaitGroup
}

type wsClient struct {
	conn *websocket.Conn
	send chan []byte
	once sync.Once
}

func newHub() *hub { return &hub{clients: map[*wsClient]struct{}{}} }

var upgrader = websocket.Upgrader{
	ReadBufferSize:  1024,
	WriteBufferSize: 4096,
	// The pages are served by the agent itself; other origins (a web page
	// the terminal's browser happens to show) may not listen in.
	CheckOrigin: sameOrigin,
}

func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	return o == "http://"+r.Host || o == "https://"+r.Host
}

// broadcastLane sends a lane event to every client and keeps it for the
// hello of the next one; both under one lock, so no client sees them out
// of order.
func (h *hub) broadcastLane(ev any) {
	b, err := json.Marshal(Message{Type: "lane", Event: ev})
	if err != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.last = ev
	h.sendLocked(b)
}

// send sends the frame b to every client.
func (h *hub) send(b []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sendLocked(b)
}

// sendLocked is send with h.mu held.
func (h *hub) sendLocked(b []byte) {
	for c := range h.clients {
		select {
		case c.send <- b:
		default: // too slow: drop it; the page reconnects
			delete(h.clients, c)
			c.stop()
		}
	}
}

func (c *wsClient) stop() { c.once.Do(func() { close(c.send) }) }

// serve upgrades r and runs the client's reader and writer; hello is the
// first frame.
func (h *hub) serve(w http.ResponseWriter, r *http.Request, hello Message) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	c := &wsClient{conn: conn, send: make(chan []byte, clientSendSize)}
	b, err := json.Marshal(hello)
	if err != nil {
		conn.Close()
		return
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		conn.Close()
		return
	}
	if h.last != nil {
		hello.Event = h.last
		if b, err = json.Marshal(hello); err != nil {
			h.mu.Unlock()
			conn.Close()
			return
		}
	}
	// hello goes first and, being queued under the lock that broadcast
	// takes, every event after it: a client that has read hello misses nothing.
	c.send <- b
	h.clients[c] = struct{}{}
	h.wg.Add(2)
	h.mu.Unlock()
	go func() { defer h.wg.Done(); h.write(c) }()
	go func() { defer h.wg.Done(); h.read(c) }()
}

// read discards what the page sends and notices when it goes away.
func (h *hub) read(c *wsClient) {
	defer func() {
		h.remove(c)
		c.conn.Close()
	}()
	c.conn.SetReadLimit(maxClientMsg)
	_ = c.conn.SetReadDeadline(time.Now().Add(pongWait))
	c.conn.SetPongHandler(func(string) error { return c.conn.SetReadDeadline(time.Now().Add(pongWait)) })
	for {
		if _, _, err := c.conn.ReadMessage(); err != nil {
			return
		}
	}
}

// write owns the connection's writes and its ping ticker.
func (h *hub) write(c *wsClient) {
	t := time.NewTicker(pingPeriod)
	defer func() {
		t.Stop()
		c.conn.Close()
	}()
	for {
		select {
		case b, ok := <-c.send:
			_ = c.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if !ok {
				_ = c.conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""))
				return
			}
			if err := c.conn.WriteMessage(websocket.TextMessage, b); err != nil {
				return
			}
		case <-t.C:
			_ = c.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := c.conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				return
			}
		}
	}
}

func (h *hub) remove(c *wsClient) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.clients[c]; ok {
		delete(h.clients, c)
		c.stop()
	}
}

// close disconnects every client and waits for their goroutines.
func (h *hub) close() {
	h.mu.Lock()
	h.closed = true
	for c := range h.clients {
		delete(h.clients, c)
		c.stop()
	}
	h.mu.Unlock()
	h.wg.Wait()
}
