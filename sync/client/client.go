// Package client is the terminal's side of the sync protocol
// (docs/sync-protocol.md): it keeps one websocket to the server, proves the
// terminal's credential, drains the outbox in windowed batches and stores
// the server's acknowledgements and outcomes, asks the server to claim
// vouchers online, keeps the pushed server state, and reconnects with
// full-jitter backoff.
package client

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/voucherpos/voucherpos/sync/wire"
	"github.com/voucherpos/voucherpos/terminal"
)

// Connection timing defaults.
const (
	// DefaultPongWait is the longest silence from the server before the link is declared dead.
	DefaultPongWait = 30 * time.Second
	// DefaultWriteWait is the time allowed to write one message.
	DefaultWriteWait = 10 * time.Second
	// DefaultPollEvery is how often the outbox is checked for new records when nothing else wakes the client.
	DefaultPollEvery = 2 * time.Second
	// DefaultBatchSize is the most records per batch (the server may ask for fewer).
	DefaultBatchSize = 500
	// handshakeWait bounds the dial and the handshake.
	handshakeWait = 10 * time.Second
	// closeGrace is how long a closing client waits for the server's close frame.
	closeGrace = time.Second
	// sendQueue is the size of a connection's outgoing buffer.
	sendQueue = 64
	// maxSpareFrames is the most written batch frames a connection keeps
	// to fill again while it drains.
	maxSpareFrames = 16
	// maxAcksTogether is the most acks the reader stores in one transaction.
	maxAcksTogether = 64
	// maxReadBuffer is the largest buffer the reader keeps for the next
	// message (an ack of 2,000 outcomes is about 80 KB).
	maxReadBuffer = 256 << 10
	// statusEvery throttles outbox counts while a backlog drains.
	statusEvery = 250 * time.Millisecond
	// rehelloEvery is the least time between two new handshakes made to
	// report a changed fault (Options.Report): a fault that comes and goes
	// cannot make the client reconnect more often.
	rehelloEvery = time.Minute
)

// Errors of the client.
var (
	// ErrOffline is returned by Claim and Release when there is no
	// connection to the server: fall back to the offline rules.
	ErrOffline = errors.New("not connected to the server")
	// ErrClosed is returned by Open after Close.
	ErrClosed = errors.New("sync client closed")
	// ErrServerKey is the error of a session whose welcome was not signed by
	// the server key in the credential.
	ErrServerKey = errors.New("server did not prove its key")
	// ErrNoServerKey is returned by Open for a plain ws:// URL with a
	// credential without server_key: nothing could tell the server's acks
	// from anyone else's.
	ErrNoServerKey = errors.New("the credential has no server_key, so acks over plain ws:// cannot be verified: enrol the terminal again (voucherd terminal add) or use wss://")
)

// Options configure a Client.
type Options struct {
	// URL is the server's sync websocket ("ws://host:port/v1/sync"); empty
	// means the credential's URLs (Credential.URLs), tried in turn: after a
	// connection that was not welcomed, the next one at once, and after a
	// round of them the backoff.
	URL string
	// Credential is the terminal's enrolment (wire.LoadCredential).
	Credential wire.Credential
	// Outbox is the terminal's queue of sealed records (offline.Ledger). Required.
	Outbox terminal.Outbox
	// State keeps the pushed server state (offline.Ledger). Required.
	State terminal.StateStore
	// OnState, if set, is called with every server state received, after it is saved.
	OnState func(terminal.ServerState)
	// OnStatus, if set, is called when the Status changes (from the client's goroutines; do not block).
	OnStatus func(Status)
	// OnOutcomes, if set, is called with the outcomes of every acknowledgement, after Outbox.Ack.
	OnOutcomes func([]terminal.Outcome)
	// Report, if set, is asked at every hello for what the terminal tells
	// the server about itself (agent version, fault); the client fills in
	// the queue depth and unsynced discount from Outbox. It is asked again
	// every PollEvery while a session is up: when its Fault differs from
	// the one the hello carried, the client makes a new handshake as soon as
	// no batch or claim is in flight (at most once per rehelloEvery), so the
	// server's fleet view hears of a fault found mid-session. Keep it cheap.
	Report func() wire.Report
	// OnBatch, if set, is called at every acknowledgement with the batch's
	// record count and the time since it was sent (for metrics; do not block).
	OnBatch func(records int, rtt time.Duration)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// After waits on the clock between reconnections; nil means time.After.
	After func(time.Duration) <-chan time.Time
	// Backoff paces reconnections; its zero value is base 1 s, cap 60 s,
	// full jitter (see Backoff). Its After is not used: waits run on After.
	Backoff Backoff
	// Dialer dials the websocket; nil means one with compression off and a 10 s handshake timeout.
	Dialer *websocket.Dialer
	// BatchSize is the most records per batch; zero means DefaultBatchSize.
	BatchSize int
	// PongWait, WriteWait, PollEvery: zero means the defaults above. The
	// client pings every PongWait/2.
	PongWait, WriteWait, PollEvery time.Duration
	// Logf logs; nil means log.Printf.
	Logf func(format string, args ...any)
	// Insecure accepts a server that cannot be authenticated: a plain ws://
	// URL with a credential without server_key (the agent's -insecure-sync).
	// With a server_key every message is verified regardless.
	Insecure bool
}

// Status is what the agent shows about syncing.
type Status struct {
	// Online is true while a session with the server is up.
	Online bool `json:"online"`
	// LastSync is the terminal's clock at the last welcome or acknowledgement (zero: never in this run).
	LastSync time.Time `json:"last_sync"`
	// QueueDepth and UnsyncedFen are the records not yet acknowledged and their discount.
	QueueDepth  int          `json:"queue_depth"`
	UnsyncedFen terminal.Fen `json:"unsynced_fen"`
	// Watermark is the server's durable watermark for this terminal, as last heard.
	Watermark uint64 `json:"watermark"`
	// LastError is why the last session ended or failed, "" if none.
	LastError string `json:"last_error,omitempty"`
	// Fork, when set, is why the server holds this terminal's ledger as a
	// fork (wiped or restored): it redeems nothing until it is reset.
	Fork string `json:"fork,omitempty"`
}

// Client syncs one terminal with the server. Its methods are safe for concurrent use.
type Client struct {
	opts   Options
	url    string   // the URL in use (the run goroutine moves it along urls)
	urls   []string // the sync URLs tried in turn
	now    func() time.Time
	logf   func(string, ...any)
	kick   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	wg     gosync.WaitGroup
	nextID atomic.Uint64

	mu      gosync.Mutex
	status  Status
	sess    *session
	opened  bool
	closed  bool
	counted time.Time
	rehello time.Time // the last new handshake made to report a changed fault
}

// New returns a client with opts' defaults filled in. It does no I/O.
func New(opts Options) *Client {
	urls := []string{opts.URL}
	if opts.URL == "" {
		urls = opts.Credential.URLs()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.After == nil {
		opts.After = time.After
	}
	if opts.Logf == nil {
		opts.Logf = log.Printf
	}
	opts.Backoff = reconnectBackoff(opts.Backoff)
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	opts.BatchSize = min(opts.BatchSize, wire.MaxBatch)
	if opts.PongWait <= 0 {
		opts.PongWait = DefaultPongWait
	}
	if opts.WriteWait <= 0 {
		opts.WriteWait = DefaultWriteWait
	}
	if opts.PollEvery <= 0 {
		opts.PollEvery = DefaultPollEvery
	}
	if opts.Dialer == nil {
		opts.Dialer = &websocket.Dialer{HandshakeTimeout: handshakeWait, EnableCompression: false,
			ReadBufferSize: 16 << 10, WriteBufferSize: 64 << 10}
		// A wss:// server is authenticated with the credential's CA, if it
		// carries one (Check refused a credential whose CA does not parse).
		opts.Dialer.TLSClientConfig, _ = opts.Credential.TLSConfig()
	}
	c := &Client{opts: opts, urls: urls, now: opts.Now, logf: opts.Logf, kick: make(chan struct{}, 1)}
	if len(urls) > 0 {
		c.url = urls[0]
	}
	return c
}

// Open checks the options and starts syncing in the background.
func (c *Client) Open() error {
	o := &c.opts
	if err := o.Credential.Check(); err != nil {
		return err
	}
	if c.url == "" {
		return fmt.Errorf("sync client: no server URL")
	}
	if o.Outbox == nil || o.State == nil {
		return fmt.Errorf("sync client: Outbox and State are required")
	}
	if err := c.checkKey(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if c.opened {
		return nil
	}
	c.opened = true
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.wg.Add(1)
	go c.run()
	return nil
}

// checkKey refuses a plain ws:// URL when the credential has no server
// key to verify the server's messages with, unless Options.Insecure.
func (c *Client) checkKey() error {
	if len(c.opts.Credential.ServerKey) != 0 || c.opts.Insecure {
		return nil
	}
	for _, u := range c.urls {
		if strings.HasPrefix(u, "ws://") {
			return fmt.Errorf("sync client: %s: %w", u, ErrNoServerKey)
		}
	}
	return nil
}

// Close ends the session (close code 1001) and waits for the client's goroutines.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	opened := c.opened
	c.mu.Unlock()
	if opened {
		c.cancel()
		c.wg.Wait()
	}
	return nil
}

// SyncNow asks the client to send what the outbox holds now and refresh
// the status; while offline it also cuts the backoff wait short (at most one
// attempt per backoff base). Call it after each commit. It never blocks.
func (c *Client) SyncNow() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Status returns the current sync status.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

func (c *Client) setStatus(fn func(*Status)) {
	c.mu.Lock()
	fn(&c.status)
	s := c.status
	c.mu.Unlock()
	if c.opts.OnStatus != nil {
		c.opts.OnStatus(s)
	}
}

// refreshCounts reads the outbox's unsynced count and discount; with
// throttle it skips if it did so less than statusEvery ago.
func (c *Client) refreshCounts(ctx context.Context, throttle bool) {
	now := time.Now()
	c.mu.Lock()
	if throttle && now.Sub(c.counted) < statusEvery {
		c.mu.Unlock()
		return
	}
	c.counted = now
	c.mu.Unlock()
	n, fen, err := c.opts.Outbox.Unsynced(ctx)
	if err != nil {
		c.logf("sync: outbox count: %v", err)
		return
	}
	c.setStatus(func(s *Status) { s.QueueDepth, s.UnsyncedFen = n, fen })
}

// report is the hello's account of the terminal: Options.Report's, with
// the outbox's counts; nil when Options.Report is. fault is Options.Report's
// own Fault, which the session watches for a change.
func (c *Client) report(ctx context.Context) (r *wire.Report, fault string) {
	if c.opts.Report == nil {
		return nil, ""
	}
	rep := c.opts.Report()
	r, fault = &rep, rep.Fault
	n, fen, err := c.opts.Outbox.Unsynced(ctx)
	switch {
	case err != nil && r.Fault == "":
		r.Fault = "outbox: " + err.Error()
	case err == nil:
		r.QueueDepth, r.UnsyncedFen = n, fen
	}
	return r, fault
}

// errRehello ends a session whose terminal has a changed fault to report:
// the client connects again at once, and the new hello carries it.
var errRehello = errors.New("the terminal's fault changed: new handshake to report it")

// Claim asks the server to hold voucher id for this terminal before the
// cashier approves it. It returns nil if the server holds it (until the
// redemption syncs, Release, or the hold expires); a *terminal.Error with
// the decline code (already_redeemed, revoked, bad_signature,
// merchant_blocked) if the server refuses; and ErrOffline or ctx's error
// when there is no answer in time: then apply the offline rules. Claiming
// the same voucher again from the same terminal is harmless.
func (c *Client) Claim(ctx context.Context, id terminal.VoucherID, code string) error {
	ans, err := c.ask(ctx, &wire.Message{Type: wire.TypeClaim, Voucher: id, Code: code})
	if err != nil {
		return err
	}
	if ans.Result == wire.ClaimOK {
		return nil
	}
	dc := ans.Result.Decline()
	if dc == "" {
		return fmt.Errorf("claim %s: unexpected answer %q", id, ans.Result)
	}
	if ans.Result == wire.ClaimConflict && !ans.Until.IsZero() {
		return terminal.HeldElsewhere(ans.Until, "server: %s", ans.Detail)
	}
	return terminal.Errorf(dc, "server: %s", ans.Detail)
}

// Release gives up this terminal's hold on voucher id (checkout cancelled).
func (c *Client) Release(ctx context.Context, id terminal.VoucherID) error {
	_, err := c.ask(ctx, &wire.Message{Type: wire.TypeRelease, Voucher: id})
	return err
}

func (c *Client) ask(ctx context.Context, m *wire.Message) (*wire.Message, error) {
	c.mu.Lock()
	s := c.sess
	c.mu.Unlock()
	if s == nil {
		return nil, ErrOffline
	}
	m.ID = c.nextID.Add(1)
	return s.ask(ctx, m)
}

// run connects, syncs and reconnects until Close.
func (c *Client) run() {
	defer c.wg.Done()
	ctx := c.ctx
	bo := c.opts.Backoff
	c.refreshCounts(ctx, false)
	cur, failed := 0, 0 // the URL in use; URLs failed in a row
	for {
		attempt := c.now()
		welcomed, code, err := c.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if welcomed && errors.Is(err, errRehello) {
			c.logf("sync: %v", err)
			continue
		}
		if welcomed {
			bo.Reset()
			failed = 0
		} else if len(c.urls) > 1 {
			// Another instance may answer: try the next URL, at once
			// until each has failed once in this round.
			cur = (cur + 1) % len(c.urls)
			c.url = c.urls[cur]
			if failed++; failed < len(c.urls) {
				c.logf("sync: session ended (%v); trying %s", err, c.url)
				continue
			}
			failed = 0
		}
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		c.setStatus(func(s *Status) { s.Online, s.LastError = false, msg })
		wait := reconnectWait(&bo, code)
		c.logf("sync: session ended (%s); reconnecting in %s", msg, wait.Round(time.Millisecond))
		if !c.wait(ctx, attempt, wait) {
			return
		}
	}
}

// wait sleeps d on the injected clock; SyncNow shortens it to one backoff
// base after the last attempt. It returns false when ctx ends.
func (c *Client) wait(ctx context.Context, attempt time.Time, d time.Duration) bool {
	base, _ := c.opts.Backoff.Limits()
	timer := c.opts.After(d)
	for {
		select {
		case <-ctx.Done():
			return false
		case <-timer:
			return true
		case <-c.kick:
			c.refreshCounts(ctx, false)
			left := base - c.now().Sub(attempt)
			if left <= 0 {
				return true
			}
			if left < d {
				timer, d = c.opts.After(left), left
			}
		}
	}
}
