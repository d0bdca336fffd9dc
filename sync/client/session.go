package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	gosync "sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/voucherpos/voucherpos/sync/wire"
	"github.com/voucherpos/voucherpos/terminal"
)

// outMsg is one message for the writer.
type outMsg struct {
	kind int
	data []byte
}

// session is one websocket connection: the reader and the writer each run
// in their own goroutine, the sender (outbox → batches) in the client's.
type session struct {
	c        *Client
	ws       *websocket.Conn
	send     chan outMsg // batches
	frames   chan []byte // batch frames written, for the sender to fill again (released when idle)
	ctrl     chan outMsg // claims and releases, written before any queued batch
	quit     chan struct{}
	wdone    chan struct{}
	rdone    chan struct{}
	acked    chan struct{}
	stopOnce gosync.Once
	wsOnce   gosync.Once

	mu       gosync.Mutex
	code     int               // close code sent or received
	err      error             // why the session ended
	inflight int               // batches sent and not acknowledged
	sent     []sentBatch       // their sizes and send times, oldest first
	window   int               // from the welcome
	batch    int               // records per batch
	start    uint64            // the sender sends records after it
	recs     []terminal.Sealed // the sender's, for ViewPending to fill
	asks     map[uint64]chan *wire.Message
	fork     string // the server holds the ledger as a fork (state.Fork)
	fault    string // Options.Report's Fault as the hello carried it
	// localFork is why this terminal holds itself forked (the welcome's
	// watermark above its ledger): kept over every state of the session.
	localFork string
	// open checks the server's sealed frames (reader only); nil: a server
	// that sends plain text (protocol 1), accepted only without server_key.
	open *wire.Opener
}

// session runs one connection until it fails or ctx ends. It reports
// whether the server welcomed the terminal, the close code and the error.
func (c *Client) session(ctx context.Context) (welcomed bool, code int, err error) {
	dctx, cancel := context.WithTimeout(ctx, handshakeWait)
	defer cancel()
	ws, resp, err := c.opts.Dialer.DialContext(dctx, c.url, nil)
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusServiceUnavailable {
			return false, wire.CloseTryAgainLater, fmt.Errorf("dial: server shutting down")
		}
		return false, 0, fmt.Errorf("dial: %w", err)
	}
	ws.SetReadLimit(wire.MaxMessage)
	s := &session{c: c, ws: ws, send: make(chan outMsg, sendQueue), ctrl: make(chan outMsg, sendQueue), quit: make(chan struct{}),
		wdone: make(chan struct{}), rdone: make(chan struct{}), acked: make(chan struct{}, 1),
		asks: map[uint64]chan *wire.Message{}}
	welcome, err := s.handshake(ctx)
	if err != nil {
		s.closeWS()
		return false, closeCode(err), err
	}
	s.window, s.batch = welcome.Window, min(welcome.BatchMax, c.opts.BatchSize)
	s.start = welcome.Watermark
	// As many spare frames as batches may be in flight: acks come in
	// bursts, and the frames they free are filled again at once.
	s.frames = make(chan []byte, min(s.window, maxSpareFrames))
	if w, ok := c.opts.Outbox.(watermarker); ok && w.Watermark() < s.start {
		// Acknowledgements were lost: resend those records too, so their
		// outcomes come back (as duplicates with the stored verdict).
		s.start = w.Watermark()
	}
	go s.writer()
	go s.reader()
	c.mu.Lock()
	c.sess = s
	c.mu.Unlock()
	c.setStatus(func(st *Status) {
		st.Online, st.Watermark, st.LastError = true, welcome.Watermark, ""
		if welcome.State.Fork == "" { // a failed sync never moves the last sync
			st.LastSync = c.now()
		}
	})
	c.refreshCounts(ctx, false)
	s.sender(ctx)
	c.mu.Lock()
	c.sess = nil
	c.mu.Unlock()
	s.stop(websocket.CloseGoingAway, nil)
	<-s.rdone
	<-s.wdone
	s.mu.Lock()
	defer s.mu.Unlock()
	return true, s.code, s.err
}

// watermarker is an Outbox that knows the last watermark it stored
// (offline.Ledger does).
type watermarker interface{ Watermark() uint64 }

// closeCode returns the close code in err, or 0.
func closeCode(err error) int {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

func (s *session) handshake(ctx context.Context) (*wire.Message, error) {
	c := s.c
	w, high, err := s.exchange(ctx)
	if err != nil {
		return nil, err
	}
	if w.Watermark > high && w.State.Fork == "" {
		// The server holds more of this terminal's chain than its ledger
		// does: the ledger was wiped or restored. Nothing is redeemed until
		// an administrator resets the terminal; the records are still sent,
		// and the server keeps them as a fork.
		s.localFork = terminal.Explain(terminal.Errorf(terminal.Fork,
			"this ledger holds sequence %d, the server %d", high, w.Watermark))
		c.logf("sync: ALARM the server holds %d records of this terminal, the ledger %d: wiped or restored; redeeming stops until the terminal is reset", w.Watermark, high)
	}
	if err := s.saveState(ctx, w.State); err != nil {
		return nil, err
	}
	return w, nil
}

// exchange reads the challenge, sends the hello and reads the welcome,
// checked; it returns the welcome and the high sequence the hello said.
func (s *session) exchange(ctx context.Context) (*wire.Message, uint64, error) {
	c := s.c
	cred := &c.opts.Credential
	_ = s.ws.SetReadDeadline(time.Now().Add(handshakeWait))
	ch, err := s.readMsg(wire.TypeChallenge)
	if err != nil {
		return nil, 0, err
	}
	high, err := c.opts.Outbox.HighSeq(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("outbox: %w", err)
	}
	sig := ed25519.Sign(cred.PrivateKey(), wire.HelloMessage(ch.Nonce, cred.TerminalID, cred.MerchantID))
	rep, fault := c.report(ctx)
	s.fault = fault
	hello := &wire.Message{Type: wire.TypeHello, Version: wire.Version, TerminalID: cred.TerminalID,
		MerchantID: cred.MerchantID, HighSeq: high, Sig: sig, Report: rep}
	b, err := wire.Encode(hello)
	if err != nil {
		return nil, 0, err
	}
	_ = s.ws.SetWriteDeadline(time.Now().Add(c.opts.WriteWait))
	if err := s.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		return nil, 0, fmt.Errorf("hello: %w", err)
	}
	w, err := s.readWelcome(ch.Nonce, sig)
	if err != nil {
		return nil, 0, err
	}
	return w, high, nil
}

// readWelcome reads the welcome. A server speaking protocol 2 seals it
// (message 0 of the connection) and every message after it; a credential
// with server_key accepts nothing else, so that only the server it names
// can prune the outbox, push a state or answer a claim.
func (s *session) readWelcome(nonce, helloSig []byte) (*wire.Message, error) {
	key := s.c.opts.Credential.ServerKey
	kind, b, err := s.ws.ReadMessage()
	if err != nil {
		return nil, fmt.Errorf("handshake: %w", err)
	}
	if kind == websocket.BinaryMessage {
		s.open = wire.NewOpener(key, nonce, helloSig)
		if b, err = s.open.Open(b); err != nil {
			return nil, fmt.Errorf("welcome: %w: %w", ErrServerKey, err)
		}
	} else if len(key) != 0 {
		return nil, fmt.Errorf("welcome: %w: it came unsigned (a voucherd older than protocol %d, or someone on the path)", ErrServerKey, wire.SealedVersion)
	}
	w, err := wire.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("handshake: %w", err)
	}
	if w.Type != wire.TypeWelcome {
		return nil, fmt.Errorf("handshake: got %s, want %s", w.Type, wire.TypeWelcome)
	}
	if len(key) == ed25519.PublicKeySize && !ed25519.Verify(key, wire.WelcomeMessage(nonce, helloSig, w.Watermark), w.Sig) {
		return nil, ErrServerKey
	}
	return w, nil
}

// readMsg reads one control message of type t (handshake only).
func (s *session) readMsg(t wire.Type) (*wire.Message, error) {
	kind, b, err := s.ws.ReadMessage()
	if err != nil {
		return nil, fmt.Errorf("handshake: %w", err)
	}
	if kind != websocket.TextMessage {
		return nil, fmt.Errorf("handshake: binary message, want %s", t)
	}
	m, err := wire.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("handshake: %w", err)
	}
	if m.Type != t {
		return nil, fmt.Errorf("handshake: got %s, want %s", m.Type, t)
	}
	return m, nil
}

func (s *session) saveState(ctx context.Context, st *terminal.ServerState) error {
	st.LocalTime = s.c.now()
	if st.Fork == "" && s.localFork != "" {
		// The server has not seen this ledger's records yet, but its
		// watermark said the ledger lost some: every state of the session
		// keeps the fork, so a state push cannot lift it.
		st.Fork = s.localFork
	}
	if st.Fork != "" {
		// The server holds this ledger as a fork: this is no sync, and the
		// offline limits keep counting from the last good one.
		prev, err := s.c.opts.State.LoadState(ctx)
		if err != nil {
			prev = terminal.ServerState{}
		}
		st.ServerTime, st.LocalTime = prev.ServerTime, prev.LocalTime
	}
	s.mu.Lock()
	s.fork = st.Fork
	s.mu.Unlock()
	s.c.setStatus(func(cs *Status) { cs.Fork = st.Fork })
	if err := s.c.opts.State.SaveState(ctx, *st); err != nil {
		return fmt.Errorf("save server state: %w", err)
	}
	if s.c.opts.OnState != nil {
		s.c.opts.OnState(*st)
	}
	return nil
}

// stop ends the session: the writer sends a close frame (unless the link is
// already broken) and the reader waits briefly for the server's. Idempotent.
func (s *session) stop(code int, err error) {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		if s.code == 0 {
			s.code = code
		}
		if s.err == nil {
			s.err = err
		}
		for _, ch := range s.asks {
			close(ch)
		}
		s.asks = nil
		s.mu.Unlock()
		close(s.quit)
	})
}

func (s *session) closeWS() { s.wsOnce.Do(func() { _ = s.ws.Close() }) }

func (s *session) writer() {
	defer close(s.wdone)
	o := &s.c.opts
	ticker := time.NewTicker(o.PongWait / 2)
	defer ticker.Stop()
	fail := func(err error) {
		s.stop(websocket.CloseAbnormalClosure, fmt.Errorf("write: %w", err))
		s.closeWS()
	}
	write := func(m outMsg) bool {
		_ = s.ws.SetWriteDeadline(time.Now().Add(o.WriteWait))
		if err := s.ws.WriteMessage(m.kind, m.data); err != nil {
			fail(err)
			return false
		}
		return true
	}
	for {
		select {
		case m := <-s.ctrl:
			if !write(m) {
				return
			}
			continue
		default:
		}
		select {
		case m := <-s.ctrl:
			if !write(m) {
				return
			}
		case m := <-s.send:
			if !write(m) {
				return
			}
			select { // WriteMessage copied it out: the sender may fill it again
			case s.frames <- m.data[:0]:
			default:
			}
		case <-ticker.C:
			_ = s.ws.SetWriteDeadline(time.Now().Add(o.WriteWait))
			if err := s.ws.WriteMessage(websocket.PingMessage, nil); err != nil {
				fail(err)
				return
			}
		case <-s.quit:
			s.mu.Lock()
			code := s.code
			s.mu.Unlock()
			if code != websocket.CloseAbnormalClosure {
				_ = s.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(o.WriteWait))
			}
			_ = s.ws.NetConn().SetReadDeadline(time.Now().Add(closeGrace))
			return
		}
	}
}

func (s *session) reader() {
	defer func() {
		select {
		case <-s.wdone:
		case <-time.After(closeGrace):
		}
		s.closeWS()
		close(s.rdone)
	}()
	in := make(chan inMsg, maxSpareFrames)
	go s.readLoop(in)
	var acks []*wire.Message
	var held *inMsg // a message taken while gathering acks, handled next
	for {
		var it inMsg
		if held != nil {
			it, held = *held, nil
		} else {
			var ok bool
			if it, ok = <-in; !ok {
				return
			}
		}
		switch {
		case it.err != nil:
			s.stop(it.code, it.err)
		case it.m.Type == wire.TypeAck:
			// Acks that came together are stored together: one commit.
			acks = append(acks[:0], it.m)
		gather:
			for len(acks) < maxAcksTogether {
				select {
				case next, ok := <-in:
					if ok && next.err == nil && next.m.Type == wire.TypeAck {
						acks = append(acks, next.m)
						continue
					}
					if ok {
						held = &next
					}
					break gather
				default:
					break gather
				}
			}
			s.handleAcks(acks)
			clear(acks)
		default:
			if err := s.handle(it.m); err != nil {
				s.stop(websocket.CloseInternalServerErr, err)
			}
		}
	}
}

// inMsg is a server message read, opened and decoded; or, with err, why
// the session stops (code).
type inMsg struct {
	m    *wire.Message
	code int
	err  error
}

// readLoop reads, opens and decodes the server's messages into in, in
// order, until the connection fails; then it closes in.
func (s *session) readLoop(in chan<- inMsg) {
	defer close(in)
	o := &s.c.opts
	extend := func(string) error { return s.ws.SetReadDeadline(time.Now().Add(o.PongWait)) }
	_ = extend("")
	s.ws.SetPongHandler(extend)
	// Messages are read into buf's memory: nothing the reader decodes
	// from one aliases it.
	var buf bytes.Buffer
	for {
		buf.Reset()
		kind, r, err := s.ws.NextReader()
		if err == nil {
			_, err = buf.ReadFrom(r)
		}
		b := buf.Bytes()
		if buf.Cap() > maxReadBuffer {
			buf = bytes.Buffer{} // a large state push is not kept for the session
		}
		if err != nil {
			code := closeCode(err)
			if code == 0 {
				code = websocket.CloseAbnormalClosure
			}
			in <- inMsg{code: code, err: fmt.Errorf("read: %w", err)}
			return
		}
		_ = extend("")
		switch {
		case kind == websocket.BinaryMessage && s.open != nil:
			if b, err = s.open.Open(b); err != nil {
				// Not the server's, or not for this connection: nothing of
				// it is applied (no outcome stored, nothing pruned).
				s.c.logf("sync: ALARM refused a server message: %v", err)
				in <- inMsg{code: wire.CloseProtocol, err: err}
				continue
			}
		case s.open != nil:
			err := fmt.Errorf("%w: an unsigned text message after a sealed welcome", wire.ErrSealed)
			s.c.logf("sync: ALARM refused a server message: %v", err)
			in <- inMsg{code: wire.CloseProtocol, err: err}
			continue
		case kind != websocket.TextMessage:
			in <- inMsg{code: wire.CloseProtocol, err: errors.New("unexpected binary message")}
			continue
		}
		m, err := wire.Decode(b)
		if err != nil {
			in <- inMsg{code: wire.CloseProtocol, err: err}
			continue
		}
		in <- inMsg{m: m}
	}
}

// sentBatch is a batch in flight: acknowledgements come in the order sent.
type sentBatch struct {
	records int
	at      time.Time // wall clock, for the round trip only
}

// handle applies one server message (on the reader goroutine).
func (s *session) handle(m *wire.Message) error {
	c := s.c
	ctx := c.ctx
	switch m.Type {
	case wire.TypeAck:
		// The outbox keeps every record whose outcome has not come back.
		// A batch sent again after a reconnect is answered with the
		// server's head, which may be past the batch when the records
		// after it were stored from the lost connection: their outcomes
		// come with their own batches, sent next.
		if err := c.opts.Outbox.Ack(ctx, ackWatermark(m), m.Outcomes); err != nil {
			return fmt.Errorf("outbox ack: %w", err)
		}
		s.acknowledged(m)
	case wire.TypeState:
		return s.saveState(ctx, m.State)
	case wire.TypeClaimResult:
		s.mu.Lock()
		if ch := s.asks[m.ID]; ch != nil {
			delete(s.asks, m.ID)
			ch <- m // buffered, and closed only under s.mu
		}
		s.mu.Unlock()
	default:
		s.stop(wire.CloseProtocol, fmt.Errorf("unexpected %s", m.Type))
	}
	return nil
}

// ackWatermark is the watermark to store for ack m.
func ackWatermark(m *wire.Message) uint64 {
	if m.Upto != 0 && m.Upto < m.Watermark {
		return m.Upto
	}
	return m.Watermark
}

// ackBatcher is an Outbox that stores acks that came together in one
// transaction, as Ack would one after another (offline.Ledger does).
type ackBatcher interface {
	AckMany(ctx context.Context, watermarks []uint64, outcomes [][]terminal.Outcome) ([]error, error)
}

// handleAcks applies acks that came together, each as handle would; with
// an ackBatcher, in one transaction.
func (s *session) handleAcks(ms []*wire.Message) {
	ab, ok := s.c.opts.Outbox.(ackBatcher)
	if !ok || len(ms) == 1 {
		for _, m := range ms {
			if err := s.handle(m); err != nil {
				s.stop(websocket.CloseInternalServerErr, err)
			}
		}
		return
	}
	ws, outs := make([]uint64, len(ms)), make([][]terminal.Outcome, len(ms))
	for i, m := range ms {
		ws[i], outs[i] = ackWatermark(m), m.Outcomes
	}
	errs, txErr := ab.AckMany(s.c.ctx, ws, outs)
	for i, m := range ms {
		err := txErr // none of them stored
		if err == nil {
			err = errs[i]
		}
		if err != nil {
			s.stop(websocket.CloseInternalServerErr, fmt.Errorf("outbox ack: ack %d: %w", ws[i], err))
			continue
		}
		s.acknowledged(m)
	}
}

// acknowledged does what follows a stored ack m: the batch is no longer in
// flight, the status and the callbacks hear of it.
func (s *session) acknowledged(m *wire.Message) {
	c := s.c
	ctx := c.ctx
	s.mu.Lock()
	s.inflight--
	idle := s.inflight <= 0
	var b sentBatch
	if len(s.sent) > 0 {
		b, s.sent = s.sent[0], s.sent[1:]
	}
	s.mu.Unlock()
	if c.opts.OnBatch != nil && !b.at.IsZero() {
		c.opts.OnBatch(b.records, time.Since(b.at))
	}
	select {
	case s.acked <- struct{}{}:
	default:
	}
	s.mu.Lock()
	forked := s.fork != ""
	s.mu.Unlock()
	c.setStatus(func(st *Status) {
		st.Watermark = m.Watermark
		if !forked { // records kept as a fork are no sync
			st.LastSync = c.now()
		}
	})
	if c.opts.OnOutcomes != nil {
		c.opts.OnOutcomes(m.Outcomes)
	}
	c.refreshCounts(ctx, !idle)
}

// ask sends a claim or release and waits for its answer.
func (s *session) ask(ctx context.Context, m *wire.Message) (*wire.Message, error) {
	b, err := wire.Encode(m)
	if err != nil {
		return nil, err
	}
	ch := make(chan *wire.Message, 1)
	s.mu.Lock()
	if s.asks == nil {
		s.mu.Unlock()
		return nil, ErrOffline
	}
	s.asks[m.ID] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.asks != nil {
			delete(s.asks, m.ID)
		}
		s.mu.Unlock()
	}()
	select {
	case s.ctrl <- outMsg{websocket.TextMessage, b}:
	case <-s.quit:
		return nil, ErrOffline
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case ans, ok := <-ch:
		if !ok {
			return nil, ErrOffline
		}
		return ans, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// sender drains the outbox: it keeps up to window batches in flight,
// starting with the oldest unacknowledged record (records the server
// already has come back as duplicates with their stored verdict).
func (s *session) sender(ctx context.Context) {
	c := s.c
	poll := time.NewTicker(c.opts.PollEvery)
	defer poll.Stop()
	after := s.start
	size := 0 // of the last frame: the next is about as big
	for {
		for {
			s.mu.Lock()
			full := s.inflight >= s.window
			s.mu.Unlock()
			if full {
				break
			}
			frame, n, last, err := s.nextFrame(ctx, after, size)
			if err != nil {
				s.stop(websocket.CloseGoingAway, err)
				return
			}
			if n == 0 {
				break
			}
			size = len(frame)
			s.mu.Lock()
			s.inflight++
			s.sent = append(s.sent, sentBatch{n, time.Now()})
			s.mu.Unlock()
			select {
			case s.send <- outMsg{websocket.BinaryMessage, frame}:
			case <-s.quit:
				return
			case <-ctx.Done():
				return
			}
			after = last
		}
		select {
		case <-s.acked:
		case <-c.kick:
			c.refreshCounts(ctx, true)
		case <-poll.C:
			if s.faultChanged() {
				s.stop(websocket.CloseNormalClosure, errRehello)
				return
			}
		case <-s.quit:
			return
		case <-ctx.Done():
			return
		}
	}
}

// pendingViewer is an Outbox that lends its pending records for the time
// of a call instead of copying them out (offline.Ledger does).
type pendingViewer interface {
	ViewPending(ctx context.Context, after uint64, n int, buf []terminal.Sealed, fn func([]terminal.Sealed) error) error
}

// nextFrame returns the batch frame of the next records after after: n of
// them, the last with sequence last (n == 0: none pending, and no frame).
// The frame is a spare one the writer has written, or a new one of about
// size bytes.
func (s *session) nextFrame(ctx context.Context, after uint64, size int) (frame []byte, n int, last uint64, err error) {
	encode := func(recs []terminal.Sealed) error {
		if n = len(recs); n == 0 {
			s.releaseFrames()
			return nil
		}
		select {
		case frame = <-s.frames:
		default:
			frame = make([]byte, 0, size+size/16) // the next batch may be a little longer
		}
		last = recs[n-1].Seq
		frame, err = wire.AppendBatch(frame, recs)
		return err
	}
	pv, ok := s.c.opts.Outbox.(pendingViewer)
	if !ok {
		recs, perr := s.c.opts.Outbox.Pending(ctx, after, s.batch)
		if perr != nil {
			return nil, 0, 0, fmt.Errorf("outbox: %w", perr)
		}
		return frame, n, last, encode(recs)
	}
	verr := pv.ViewPending(ctx, after, s.batch, s.recs, func(recs []terminal.Sealed) error {
		defer func() { // the buffer is kept while there are records to send
			if s.recs = recs[:0]; len(recs) == 0 {
				s.recs = nil
			}
		}()
		defer clear(recs) // keep nothing of the ledger's memory past the call
		if encode(recs) != nil {
			return errEncode
		}
		return nil
	})
	if verr != nil && err == nil {
		return nil, 0, 0, fmt.Errorf("outbox: %w", verr)
	}
	return frame, n, last, err
}

// releaseFrames lets the spare frames go: a terminal with nothing to send
// holds no megabytes of them.
func (s *session) releaseFrames() {
	for {
		select {
		case <-s.frames:
		default:
			return
		}
	}
}

// errEncode stops ViewPending when a batch does not encode (the error is
// AppendBatch's).
var errEncode = errors.New("batch does not encode")

// faultChanged reports whether the terminal's fault (Options.Report) is no
// longer the one the hello carried and a new handshake may report it now:
// nothing in flight, and none made for that reason in the last rehelloEvery.
func (s *session) faultChanged() bool {
	c := s.c
	if c.opts.Report == nil || c.opts.Report().Fault == s.fault {
		return false
	}
	s.mu.Lock()
	busy := s.inflight > 0 || len(s.asks) > 0
	s.mu.Unlock()
	if busy {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); c.rehello.IsZero() || now.Sub(c.rehello) >= rehelloEvery {
		c.rehello = now
		return true
	}
	return false
}

// Probe makes one handshake with the server, as the client would, and
// ends the connection at once: it saves nothing and sends no record. It
// reports the server's watermark for this terminal and why the server holds
// it as a fork ("" if it does not). The agent asks it before it starts a
// fresh ledger. It tries the URLs in turn until one answers; the client
// need not be open.
func (c *Client) Probe(ctx context.Context) (watermark uint64, fork string, err error) {
	if err := c.opts.Credential.Check(); err != nil {
		return 0, "", err
	}
	if c.opts.Outbox == nil {
		return 0, "", fmt.Errorf("sync client: Outbox is required")
	}
	if err := c.checkKey(); err != nil {
		return 0, "", err
	}
	err = fmt.Errorf("sync client: no server URL")
	for _, u := range c.urls {
		var w *wire.Message
		if w, err = c.probe(ctx, u); err == nil {
			return w.Watermark, w.State.Fork, nil
		}
		err = fmt.Errorf("%s: %w", u, err)
	}
	return 0, "", err
}

func (c *Client) probe(ctx context.Context, u string) (*wire.Message, error) {
	dctx, cancel := context.WithTimeout(ctx, handshakeWait)
	defer cancel()
	ws, _, err := c.opts.Dialer.DialContext(dctx, u, nil)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	defer ws.Close()
	ws.SetReadLimit(wire.MaxMessage)
	s := &session{c: c, ws: ws}
	w, _, err := s.exchange(dctx)
	if err != nil {
		return nil, err
	}
	_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "probe"), time.Now().Add(time.Second))
	return w, nil
}
