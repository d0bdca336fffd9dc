package hub

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net/http"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/voucherpos/voucherpos/sync/wire"
)

// Connection timings.
const (
	// writeWait is the time allowed to write one message to the terminal.
	writeWait = 10 * time.Second
	// pongWait is the time allowed between two messages (or pongs) from the terminal.
	pongWait = 60 * time.Second
	// pingPeriod is how often the terminal is pinged; below pongWait.
	pingPeriod = pongWait * 9 / 10
	// handshakeWait is the time allowed for the terminal's hello.
	handshakeWait = 10 * time.Second
	// closeGrace is how long a closing side waits for the peer's close frame.
	closeGrace = 2 * time.Second
)

var upgrader = websocket.Upgrader{
	HandshakeTimeout: handshakeWait,
	// A 1 KiB read buffer, which every idle terminal holds (the HTTP
	// server's 4 KiB one is let go with the request): frame headers and
	// small messages are read through it, while the body of a batch,
	// read in pieces larger than the buffer, goes straight into the
	// message (bufio.Reader.Read skips its buffer for them).
	ReadBufferSize:  1 << 10,
	WriteBufferSize: 16 << 10,
	// Write buffers are held only while a message is written.
	WriteBufferPool:   &gosync.Pool{},
	EnableCompression: false,
}

// outMsg is one message for the writer.
type outMsg struct {
	kind int // websocket.TextMessage or BinaryMessage
	data []byte
}

// conn is one terminal's websocket: the reader runs in a goroutine of its
// own, the writer in one started while messages are queued (kick); sends
// go through the buffered send channel; stop is idempotent and the socket
// is closed exactly once.
type conn struct {
	h        *Hub
	ws       *websocket.Conn
	send     chan outMsg
	quit     chan struct{}
	wdone    chan struct{} // closed once the writing has ended (closing)
	stopOnce gosync.Once
	// started is set when the writing starts (or would have, had the
	// connection not been stopped): from then on stop calls closing.
	started   atomic.Bool
	closeOnce gosync.Once
	ping      *time.Timer // the next ping (startWriting)
	wmu       gosync.Mutex
	writing   bool // a writer goroutine runs (kick)
	wclosed   bool // no writer starts again (closing)
	writers   gosync.WaitGroup
	wsOnce    gosync.Once
	code      int
	reason    string

	term, merchant string
	pub            ed25519.PublicKey
	chain          string       // where the terminal's records are kept (its id, or "T1#2" after a fork)
	forked         string       // why the terminal's records are kept as a fork ("": they are not)
	helloAt        time.Time    // when this connection was authenticated (server clock)
	helloSeq       uint64       // the highest sequence the terminal reported then
	seal           *wire.Sealer // signs every message from the welcome on (nil: a version 1 terminal)
	next           uint64       // reader: next sequence expected
	batchSize      int          // reader: the size of the last batch message
	last           [32]byte     // reader: hash of the record before next
}

// serveSync is the /v1/sync handler.
func (h *Hub) serveSync(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	h.connWG.Add(1)
	h.mu.Unlock()
	handedOver := false // to the connection's reader goroutine, which calls connWG.Done
	defer func() {
		if !handedOver {
			h.connWG.Done()
		}
	}()
	if !h.admit(r.Context()) {
		h.refused.logf(h, "hub: refused %s: %d unauthenticated connections open", r.RemoteAddr, cap(h.unauth))
		w.Header().Set("Retry-After", "10")
		http.Error(w, "too many connections awaiting authentication", http.StatusServiceUnavailable)
		return
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		h.admitted()
		return // the upgrader answered with an HTTP error
	}
	// Until the terminal is authenticated it may send one small frame.
	ws.SetReadLimit(wire.MaxHello)
	// The outgoing buffer holds twice the window (Options.Window, 8 by
	// default; a backlog's window is larger: handshake): the acks of a full
	// window and as many claim answers and state pushes. A terminal that
	// lets it fill is too slow and is disconnected (offer). Every
	// connection holds it, idle or not.
	c := &conn{h: h, ws: ws, send: make(chan outMsg, 2*h.opts.Window), quit: make(chan struct{}), wdone: make(chan struct{})}
	err = c.handshake()
	h.admitted()
	if err != nil {
		h.refused.logf(h, "hub: handshake from %s: %v", r.RemoteAddr, err)
		var ce *closeErr
		code, reason := wire.CloseProtocol, "handshake failed"
		if errors.As(err, &ce) {
			code, reason = ce.code, ce.reason
		}
		_ = ws.WriteControl(websocket.CloseMessage, closeMsg(code, reason), time.Now().Add(writeWait))
		c.closeWS()
		return
	}
	ws.SetReadLimit(wire.MaxMessage)
	// The reader runs on a goroutine of its own and this handler returns:
	// net/http then lets go of what it holds for the request while its
	// handler runs (its 4 KiB write buffer, the response's 2 KiB one, the
	// request, and this goroutine's stack, grown by the handshake), which an
	// idle terminal would otherwise keep for as long as it is connected.
	handedOver = true
	c.startWriting()
	go func() {
		defer h.connWG.Done()
		c.reader()
	}()
}

// closeErr is a handshake refusal with its close code.
type closeErr struct {
	code   int
	reason string
}

func (e *closeErr) Error() string { return fmt.Sprintf("close %d: %s", e.code, e.reason) }

func closeMsg(code int, reason string) []byte {
	if len(reason) > 120 {
		reason = reason[:120]
	}
	return websocket.FormatCloseMessage(code, reason)
}

func (c *conn) handshake() error {
	h := c.h
	nonce := wire.NewNonce()
	if err := c.writeNow(&wire.Message{Type: wire.TypeChallenge, Nonce: nonce, ServerTime: h.now()}); err != nil {
		return err
	}
	_ = c.ws.SetReadDeadline(time.Now().Add(handshakeWait))
	kind, b, err := c.ws.ReadMessage()
	if err != nil {
		return err
	}
	if kind != websocket.TextMessage {
		return &closeErr{wire.CloseProtocol, "expected hello"}
	}
	m, err := wire.Decode(b)
	if err != nil || m.Type != wire.TypeHello {
		return &closeErr{wire.CloseProtocol, "expected hello"}
	}
	ctx, cancel := context.WithTimeout(h.ctx, handshakeWait)
	defer cancel()
	gen := h.cache.generation()
	rec, ok, err := h.terminal(ctx, m.TerminalID)
	switch {
	case err != nil:
		return err
	case !ok:
		return &closeErr{wire.CloseUnauthorized, "unknown terminal " + m.TerminalID}
	case rec.Revoked:
		return &closeErr{wire.CloseRevoked, "terminal " + m.TerminalID + " is revoked"}
	case rec.MerchantID != m.MerchantID:
		return &closeErr{wire.CloseUnauthorized, fmt.Sprintf("terminal %s is not enrolled for merchant %s", m.TerminalID, m.MerchantID)}
	case !wire.VerifyHello(rec.Public, nonce, m.TerminalID, m.MerchantID, m.Sig):
		return &closeErr{wire.CloseUnauthorized, "bad signature for terminal " + m.TerminalID}
	}
	// Which chain the terminal is on (its own, or a fork it is kept in),
	// and the handshake remembered: a record made after it is dated after
	// it, and the offline limits count from it (the terminal's last sync).
	c.helloAt, c.helloSeq = h.now(), m.HighSeq
	cs, hd, err := h.commitHello(ctx, m.TerminalID, c.helloAt, m.HighSeq)
	if err != nil {
		return err
	}
	// A terminal reporting less than the server holds sees it in the
	// welcome's watermark and stops; the server marks the fork when its
	// records arrive and differ (a hello delayed in the network can be
	// stale, records cannot).
	c.chain, c.forked = cs.current(m.TerminalID), cs.notice()
	st, err := h.state(ctx, m.MerchantID)
	if err != nil {
		return err
	}
	st.Fork = c.forked
	wm := hd.Seq
	c.next, c.last = wm+1, hd.Hash
	if c.forked != "" && wm == 0 {
		c.next = 0 // a new fork chain starts wherever the terminal's records do
	}
	// A terminal with more than a window of records to send drains a
	// backlog: it gets twice the window, and a send queue to match. On
	// PostgreSQL the group commits in flight then overlap (Pipeliner);
	// with the default window they ran short of records.
	window := h.opts.Window
	if m.HighSeq > wm && m.HighSeq-wm > uint64(window)*uint64(h.opts.BatchMax) {
		window *= 2
		c.send = make(chan outMsg, 2*window)
	}
	welcome := &wire.Message{Type: wire.TypeWelcome, Watermark: wm, Window: window,
		BatchMax: h.opts.BatchMax, State: st, ServerTime: st.ServerTime,
		Sig: ed25519.Sign(h.identity, wire.WelcomeMessage(nonce, m.Sig, wm))}
	c.term, c.merchant, c.pub = m.TerminalID, m.MerchantID, rec.Public
	if m.Version >= wire.SealedVersion {
		// Every message from the welcome on is signed for this connection:
		// no one on the path can forge, alter or replay an ack or a state.
		c.seal = wire.NewSealer(h.identity, nonce, m.Sig)
	}
	h.noteHello(c.term, m, h.now())
	if m.HighSeq < welcome.Watermark {
		h.noteAlarm(c.term, "reports high seq %d below the server's watermark %d (ledger restored or replaced?)", m.HighSeq, welcome.Watermark)
	}
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		return &closeErr{wire.CloseServiceRestart, "server shutting down"}
	}
	old := h.conns[c.term]
	h.conns[c.term] = c
	h.mu.Unlock()
	if old != nil {
		old.stop(wire.CloseReplaced, "replaced by a newer connection of "+c.term)
	}
	if h.cache.generation() != gen {
		// Something changed since the terminal was read (a revocation
		// through another instance, say): read it again, now that the
		// connection is where endRevoked finds it.
		if rec, ok, err := h.store.Terminal(ctx, c.term); err != nil || !ok || rec.Revoked {
			h.mu.Lock()
			if h.conns[c.term] == c {
				delete(h.conns, c.term)
			}
			h.mu.Unlock()
			if err != nil {
				return err
			}
			return &closeErr{wire.CloseRevoked, "terminal " + c.term + " is revoked"}
		}
	}
	return c.writeNow(welcome)
}

// writeNow writes m directly: only before the writing starts (startWriting).
func (c *conn) writeNow(m *wire.Message) error {
	b, err := wire.Encode(m)
	if err != nil {
		return err
	}
	kind, b := c.sealed(outMsg{websocket.TextMessage, b})
	_ = c.ws.SetWriteDeadline(time.Now().Add(writeWait))
	return c.ws.WriteMessage(kind, b)
}

// sealed returns what to write for m: a control message in a sealed frame
// once the connection seals (on the one goroutine that writes).
func (c *conn) sealed(m outMsg) (int, []byte) {
	if c.seal == nil || m.kind != websocket.TextMessage {
		return m.kind, m.data
	}
	return websocket.BinaryMessage, c.seal.Seal(m.data)
}

// stop ends the connection: the writing ends and a close frame with code
// goes (closing), once the writing has started (startWriting). Safe to
// call many times from any goroutine.
func (c *conn) stop(code int, reason string) {
	c.stopOnce.Do(func() {
		c.code, c.reason = code, reason
		close(c.quit)
		if c.started.Load() {
			go c.closing()
		}
	})
}

// closeWS closes the socket, exactly once.
func (c *conn) closeWS() { c.wsOnce.Do(func() { _ = c.ws.Close() }) }

// startWriting starts what writes to the terminal once the connection
// is authenticated: the pings, on a timer. The queued messages are
// written by a goroutine started when there are some (kick) that ends
// once the queue is empty: an idle connection has no writer goroutine
// and its stack (4 KiB that a blocked writer kept, or 8 KiB after it
// signed a message: a grown stack shrinks only by halves, and only while
// the goroutine uses under a quarter of it), only its reader.
func (c *conn) startWriting() {
	c.ping = time.AfterFunc(pingPeriod, c.pingNow)
	c.started.Store(true) // after ping is set: closing stops it
	select {
	case <-c.quit: // stopped during the handshake (replaced, say)
		go c.closing()
	default:
		c.kick() // what was queued during the handshake
	}
}

// pingNow pings the terminal and sets the next ping. WriteControl may run
// beside the messages' writer (gorilla/websocket's concurrency rules).
func (c *conn) pingNow() {
	select {
	case <-c.quit:
		return
	default:
	}
	if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)); err != nil {
		c.stop(websocket.CloseAbnormalClosure, "")
		c.closeWS()
		return
	}
	c.ping.Reset(pingPeriod)
}

// kick starts the messages' writer unless it runs, the connection is
// closing, or the handshake is still writing (the welcome goes first;
// startWriting kicks for what was queued meanwhile).
func (c *conn) kick() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if !c.started.Load() || c.writing || c.wclosed {
		return
	}
	c.writing = true
	c.writers.Add(1)
	go c.write()
}

// write writes the queued messages in order and ends when there are none
// (after a last look under wmu: a message queued after it is kicked
// anew). A connection that stops still gets what was queued before: an
// ack before the close frame that says why (a fork, say).
func (c *conn) write() {
	defer c.writers.Done()
	for {
		select {
		case m := <-c.send:
			kind, b := c.sealed(m)
			_ = c.ws.SetWriteDeadline(time.Now().Add(writeWait))
			if err := c.ws.WriteMessage(kind, b); err != nil {
				c.stop(websocket.CloseAbnormalClosure, "")
				c.closeWS()
				c.wmu.Lock()
				c.writing = false
				c.wmu.Unlock()
				return
			}
			continue
		default:
		}
		c.wmu.Lock()
		if len(c.send) == 0 {
			c.writing = false
			c.wmu.Unlock()
			return
		}
		c.wmu.Unlock()
	}
}

// closing ends the writing once the connection stops: no writer starts
// again, the one running ends (having written what was queued), then the
// close frame goes (unless the connection broke) and the reader is given
// a little time for the peer's. wdone is closed after it.
func (c *conn) closing() { c.closeOnce.Do(c.closeWriting) }

func (c *conn) closeWriting() {
	defer close(c.wdone)
	if c.ping != nil {
		c.ping.Stop()
	}
	c.wmu.Lock()
	c.wclosed = true
	c.wmu.Unlock()
	c.writers.Wait()
	if c.code != websocket.CloseAbnormalClosure {
		_ = c.ws.WriteControl(websocket.CloseMessage, closeMsg(c.code, c.reason), time.Now().Add(writeWait))
	}
	// Let the reader wait a little for the peer's close frame.
	_ = c.ws.NetConn().SetReadDeadline(time.Now().Add(closeGrace))
}

func (c *conn) reader() {
	h := c.h
	defer func() {
		c.stop(websocket.CloseNormalClosure, "")
		select {
		case <-c.wdone:
		case <-time.After(closeGrace):
		}
		c.closeWS()
		<-c.wdone
		h.mu.Lock()
		if h.conns[c.term] == c {
			delete(h.conns, c.term)
		}
		h.mu.Unlock()
	}()
	c.extendRead("")
	c.ws.SetPongHandler(c.extendRead)
	for {
		kind, r, err := c.ws.NextReader()
		if err != nil || !c.handle(kind, r) {
			return
		}
	}
}

// extendRead moves the read deadline on: a message or a pong came.
func (c *conn) extendRead(string) error { return c.ws.SetReadDeadline(time.Now().Add(pongWait)) }

// handle reads and handles one message of the terminal; false: the
// connection is over. Kept apart from the reader's loop so that the loop's
// frame, below the read an idle connection is blocked in, stays small: the
// stack of a goroutine blocked under 1.2 KiB deep shrinks back to 4 KiB
// after a batch grew it to 8 KiB (the collector halves a stack only while
// under a quarter of it is used, with 800 bytes counted for a call
// without a stack check).
func (c *conn) handle(kind int, r io.Reader) bool {
	h := c.h
	// A buffer is taken only once a message has come: an idle
	// connection holds none.
	buf := getMsgBuf()
	hint := 0
	if kind == websocket.BinaryMessage {
		hint = c.batchSize + c.batchSize/16
	}
	b, err := readMsg(r, buf, hint)
	if err != nil {
		return false
	}
	if kind == websocket.BinaryMessage {
		c.batchSize = len(b)
	}
	_ = c.extendRead("")
	select {
	case <-c.quit:
		return false
	default:
	}
	if kind == websocket.BinaryMessage {
		queued, err := c.batch(b, buf)
		if err != nil {
			h.logf("hub: terminal %s: %v", c.term, err)
			code := wire.CloseRejected
			if errors.Is(err, wire.ErrBatch) {
				code = wire.CloseProtocol
			}
			c.stop(code, err.Error())
		}
		if !queued {
			putMsgBuf(buf) // nothing of the batch was kept
		}
		return true
	}
	// wire.Decode keeps nothing of b (encoding/json copies what it
	// decodes), so the buffer is free again at once.
	m, err := wire.Decode(b)
	putMsgBuf(buf)
	if err != nil {
		c.stop(wire.CloseProtocol, err.Error())
		return true
	}
	switch m.Type {
	case wire.TypeClaim:
		c.submit(&job{kind: jobClaim, c: c, term: c.term, merchant: c.merchant, req: m})
	case wire.TypeRelease:
		c.submit(&job{kind: jobRelease, c: c, term: c.term, merchant: c.merchant, req: m})
	default:
		c.stop(wire.CloseProtocol, "unexpected "+string(m.Type))
	}
	return true
}

// batch verifies the batch message b (read into buf) and queues it for
// the committer. Its records' bodies and signatures alias b: once queued,
// the job holds buf (queued true) until its answer (done).
func (c *conn) batch(b []byte, buf *msgBuf) (queued bool, err error) {
	recs, err := wire.DecodeBatch(b)
	if err != nil {
		return false, err
	}
	if len(recs) > c.h.opts.BatchMax {
		return false, fmt.Errorf("%w: %d records, at most %d", wire.ErrBatch, len(recs), c.h.opts.BatchMax)
	}
	if c.next == 0 { // a fresh fork chain: it starts with this batch
		c.next, c.last = recs[0].Seq, recs[0].Prev
	}
	meta, err := verifyBatch(buf.meta, recs, c.term, c.merchant, c.pub, c.next, c.last)
	if err != nil {
		return false, err
	}
	buf.meta = meta
	if l := &recs[len(recs)-1]; l.Seq >= c.next {
		c.next, c.last = l.Seq+1, l.Hash
	}
	c.h.prefetchMinted(meta)
	prepare(meta, recs, c.chain, c.merchant)
	return c.submit(&job{kind: jobBatch, c: c, term: c.term, chain: c.chain, forked: c.forked != "", merchant: c.merchant, recs: recs, meta: meta, buf: buf}), nil
}

// submit queues j for the committer, unless the connection is ending; it
// reports whether j was queued.
func (c *conn) submit(j *job) bool {
	q := c.h.jobs
	if j.kind != jobBatch {
		q = c.h.claims
	}
	select {
	case q <- j:
		return true
	case <-c.quit:
		return false
	}
}

// done receives a committed job's answer on the committer's goroutine.
func (c *conn) done(j *job) {
	if j.buf != nil {
		// The job is over: its group committed, or failed. Only after a
		// commit known to be done is the message's buffer read into again
		// (a store keeps nothing of what PutRecord was given, Tx). After a
		// failure (a result unknown, a store that may still hold the
		// values) it is left to the garbage collector.
		if j.err == nil {
			putMsgBuf(j.buf)
		}
		j.buf = nil
	}
	if j.err != nil {
		code := wire.CloseRejected
		if !errors.Is(j.err, errRejected) {
			code = websocket.CloseInternalServerErr
		}
		c.stop(code, j.err.Error())
		return
	}
	b, err := wire.Encode(j.msg)
	if err != nil {
		c.stop(websocket.CloseInternalServerErr, err.Error())
		return
	}
	c.offer(b) // never block the committer on one slow terminal
	if j.forkedNow {
		// The terminal hears of the fork in the welcome of its next connection.
		c.stop(wire.CloseFork, "ledger fork: reconnect")
	}
}

// pushState sends the merchant's current state to one connection.
func (c *conn) pushState() {
	st, err := c.h.state(c.h.ctx, c.merchant)
	if err != nil {
		c.h.logf("hub: state for %s: %v", c.term, err)
		return
	}
	st.Fork = c.forked
	if b, err := wire.Encode(&wire.Message{Type: wire.TypeState, State: st, ServerTime: st.ServerTime}); err == nil {
		c.offer(b)
	}
}

// offer queues a text message without blocking; a terminal too slow to
// take it is disconnected (1013) and gets the news when it reconnects.
func (c *conn) offer(b []byte) {
	select {
	case c.send <- outMsg{websocket.TextMessage, b}:
		c.kick()
	case <-c.quit:
	default:
		c.stop(wire.CloseTryAgainLater, "terminal too slow to read")
	}
}

// msgBuf is a buffer messages are read into, reused through msgBufs: a
// batch of a thousand records is about 1 MB, and reading each into a
// fresh slice grown by io.ReadAll allocated twice that. A batch's records
// are decoded into meta (verifyBatch), reused with the buffer.
type msgBuf struct {
	b    bytes.Buffer
	meta []recMeta
}

// msgBufs holds the buffers no message uses. A buffer is taken when a
// message arrives and put back once nothing refers to the message: at
// once for a control message or a refused batch, after its answer for a
// queued batch (conn.done). The pool lets go of unused buffers at garbage
// collections, so idle connections keep none.
var msgBufs = gosync.Pool{New: func() any {
	b := new(msgBuf)
	b.b.Grow(minMsgBuf)
	return b
}}

// minMsgBuf is the size a new message buffer starts at; it grows to the
// largest message read into it.
const minMsgBuf = 4 << 10

// minPooledBuf is the smallest buffer kept in msgBufs: a smaller one is
// cheap to make again, and pooling the small batches of thousands of
// terminals reconnecting at once would keep them (in the pool until two
// garbage collections pass) after the terminals fall idle.
const minPooledBuf = 64 << 10

func getMsgBuf() *msgBuf { return msgBufs.Get().(*msgBuf) }

func putMsgBuf(b *msgBuf) {
	if c := b.b.Cap(); c < minPooledBuf || c > wire.MaxMessage {
		return // small, or grown past the largest message: let go
	}
	b.b.Reset() // meta is set record by record when used again (verifyBatch)
	msgBufs.Put(b)
}

// readMsg reads the rest of a message from r into buf and returns it,
// valid until buf is used again. buf has room for hint bytes (the size the
// message is expected to have) first, and grows for a larger one. The
// connection's read limit bounds the size.
func readMsg(r io.Reader, buf *msgBuf, hint int) ([]byte, error) {
	buf.b.Reset()
	buf.b.Grow(hint)
	if _, err := buf.b.ReadFrom(r); err != nil {
		return nil, err
	}
	return buf.b.Bytes(), nil
}
