package client_test

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	gosync "sync"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/offline"
	"github.com/voucherpos/voucherpos/sync/boltstore"
	"github.com/voucherpos/voucherpos/sync/client"
	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/wire"
	"github.com/voucherpos/voucherpos/terminal"
)

// day is 2022-10-01 UTC+8, a day of the programme; noon is when sales happen.
var (
	day  = time.Date(2022, 10, 1, 0, 0, 0, 0, terminal.Zone)
	noon = day.Add(12 * time.Hour)
)

// server is a real hub behind a real HTTP server on loopback, restartable
// on the same data directory.
type server struct {
	tb   testing.TB
	dir  string
	opts hub.Options
	hub  *hub.Hub
	srv  *http.Server
	addr string
	done chan struct{}
}

func mustServer(tb testing.TB, opts hub.Options) *server {
	tb.Helper()
	opts.Create = true
	if opts.Logf == nil {
		opts.Logf = tb.Logf
	}
	if opts.Now == nil {
		// The server's clock at the test day's noon, when the kit's sales
		// are made: the server bounds a record's time by its own clock.
		opts.Now = func() time.Time { return noon }
	}
	s := &server{tb: tb, dir: tb.TempDir(), opts: opts}
	s.start()
	tb.Cleanup(s.stop)
	// The kit's terminals commit thousands of sales straight into their
	// ledgers, past any till's offline allowance: these tests are about
	// syncing them, so the server's allowance is wide.
	if err := s.hub.SetParams(context.Background(), terminal.Params{OfflineLimitFen: terminal.MaxFen, OfflineMaxDiscountFen: terminal.MaxFen}); err != nil {
		tb.Fatal(err)
	}
	return s
}

func (s *server) start() {
	s.tb.Helper()
	h, err := boltstore.OpenHub(s.dir, s.opts)
	if err != nil {
		s.tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.tb.Fatal(err)
	}
	s.hub, s.addr = h, ln.Addr().String()
	s.srv = &http.Server{Handler: h.Handler()}
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.tb.Errorf("serve: %v", err)
		}
	}()
}

// stop shuts the server down as voucherd does: terminals get 1012, the ledger closes.
func (s *server) stop() {
	if s.hub == nil {
		return
	}
	if err := s.hub.Close(); err != nil {
		s.tb.Errorf("hub close: %v", err)
	}
	_ = s.srv.Close()
	<-s.done
	s.hub = nil
}

func (s *server) restart() { s.stop(); s.start() }

func (s *server) url() string { return "ws://" + s.addr + wire.Path }

// merchant enrols merchant m (retail) with terminals ids and returns their credentials.
func (s *server) merchant(m string, ids ...string) []wire.Credential {
	s.tb.Helper()
	ctx := context.Background()
	err := s.hub.AddMerchant(ctx, terminal.Merchant{ID: m, Name: "沁水百货 " + m, Category: terminal.Retail})
	if err != nil && !errors.Is(err, hub.ErrExists) {
		s.tb.Fatal(err)
	}
	var creds []wire.Credential
	for _, id := range ids {
		c, err := s.hub.AddTerminal(ctx, m, id)
		if err != nil {
			s.tb.Fatal(err)
		}
		creds = append(creds, c)
	}
	return creds
}

// mint mints n retail 200−40 vouchers valid on day.
func (s *server) mint(n int) []string {
	s.tb.Helper()
	from, until := terminal.ClaimDay(day)
	codes, err := s.hub.Mint(context.Background(), hub.MintRequest{Category: terminal.Retail,
		SpendFen: terminal.Yuan(200), OffFen: terminal.Yuan(40), Holder: 0xABC, From: from, Until: until, N: n, EachHolder: true})
	if err != nil {
		s.tb.Fatal(err)
	}
	return codes
}

// lane is one terminal: its real offline ledger and its sync client.
type lane struct {
	tb     testing.TB
	cred   wire.Credential
	path   string
	url    string
	copts  client.Options
	ledger *offline.Ledger
	client *client.Client
	states chan terminal.ServerState
}

func mustLane(tb testing.TB, cred wire.Credential, url string, copts client.Options) *lane {
	tb.Helper()
	l := &lane{tb: tb, cred: cred, path: filepath.Join(tb.TempDir(), "terminal.db"), url: url, copts: copts,
		states: make(chan terminal.ServerState, 64)}
	l.open()
	tb.Cleanup(l.close)
	return l
}

func (l *lane) open() {
	l.tb.Helper()
	led, err := offline.Open(l.path, offline.Options{TerminalID: l.cred.TerminalID, MerchantID: l.cred.MerchantID,
		Key: l.cred.PrivateKey()})
	if err != nil {
		l.tb.Fatal(err)
	}
	o := l.copts
	o.URL, o.Credential, o.Outbox, o.State = l.url, l.cred, led, led
	if o.Logf == nil {
		o.Logf = l.tb.Logf
	}
	o.OnState = func(s terminal.ServerState) {
		select {
		case l.states <- s:
		default:
		}
	}
	l.ledger, l.client = led, client.New(o)
	if err := l.client.Open(); err != nil {
		l.tb.Fatal(err)
	}
}

func (l *lane) close() {
	if l.client == nil {
		return
	}
	_ = l.client.Close()
	if err := l.ledger.Close(); err != nil {
		l.tb.Errorf("ledger close: %v", err)
	}
	l.client, l.ledger = nil, nil
}

func (l *lane) restart() { l.close(); l.open() }

// firstSync waits for the lane's first handshake: a till takes no voucher
// offline before it has synced once, and the server holds records made
// before that to the same rule.
func (l *lane) firstSync() *lane {
	l.tb.Helper()
	select {
	case s := <-l.states:
		l.states <- s
	case <-time.After(20 * time.Second):
		l.tb.Fatalf("terminal %s never synced", l.cred.TerminalID)
	}
	return l
}

// sale returns a redemption of code at noon: a basket of 260 yuan.
func sale(tb testing.TB, code string) *terminal.Redemption {
	tb.Helper()
	v, err := terminal.ParseCode(code)
	if err != nil {
		tb.Fatal(err)
	}
	total := v.SpendFen + terminal.Yuan(60)
	return &terminal.Redemption{Kind: terminal.KindRedemption, At: noon, Code: code, Voucher: v,
		Items:    []terminal.Item{{SKU: "rice-5kg", Name: "大米 5kg", Category: "grocery", Qty: 1, UnitPriceFen: total}},
		TotalFen: total, EligibleFen: total, DiscountFen: v.OffFen, PayableFen: total - v.OffFen}
}

// commit commits redemptions of codes on the lane in chunks of chunk.
func (l *lane) commit(codes []string, chunk int) {
	l.tb.Helper()
	for len(codes) > 0 {
		n := min(chunk, len(codes))
		recs := make([]*terminal.Redemption, n)
		for i := range recs {
			recs[i] = sale(l.tb, codes[i])
		}
		if err := l.ledger.CommitMany(context.Background(), recs); err != nil {
			l.tb.Fatal(err)
		}
		codes = codes[n:]
		l.client.SyncNow()
	}
}

// waitSynced waits until the lane's outbox is empty and the server's
// watermark for it is want.
func waitSynced(tb testing.TB, s *server, l *lane, want uint64) {
	tb.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		st := l.client.Status()
		w, err := s.hub.Watermark(context.Background(), l.cred.TerminalID)
		if err != nil {
			tb.Fatal(err)
		}
		if st.QueueDepth == 0 && w == want && l.ledger.Watermark() == want {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s not synced: status %+v, server watermark %d, ledger watermark %d, want %d",
				l.cred.TerminalID, st, w, l.ledger.Watermark(), want)
		}
		l.client.SyncNow()
		time.Sleep(20 * time.Millisecond)
	}
}

// waitOnline waits until the lane's client is online.
func waitOnline(tb testing.TB, l *lane) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !l.client.Status().Online {
		if time.Now().After(deadline) {
			tb.Fatalf("%s never came online: %+v", l.cred.TerminalID, l.client.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fastOpts are client options for tests: quick reconnection and dead-link detection.
func fastOpts() client.Options {
	return client.Options{Backoff: client.Backoff{Base: 20 * time.Millisecond, Cap: 200 * time.Millisecond},
		PongWait: time.Second, PollEvery: 50 * time.Millisecond, BatchSize: 100}
}

// proxy is a TCP proxy between terminals and the server that can cut,
// reset and stall connections, at random when chaos is on.
type proxy struct {
	tb     testing.TB
	ln     net.Listener
	mu     gosync.Mutex
	target string
	links  map[*link]struct{}
	wg     gosync.WaitGroup
	quit   chan struct{}
	cuts   int
}

type link struct {
	a, b    net.Conn
	stalled chan struct{} // closed when the stall ends
	mu      gosync.Mutex
}

func mustProxy(tb testing.TB, target string) *proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &proxy{tb: tb, ln: ln, target: target, links: map[*link]struct{}{}, quit: make(chan struct{})}
	p.wg.Add(1)
	go p.accept()
	tb.Cleanup(p.close)
	return p
}

func (p *proxy) url() string { return "ws://" + p.ln.Addr().String() + wire.Path }

func (p *proxy) setTarget(addr string) {
	p.mu.Lock()
	p.target = addr
	p.mu.Unlock()
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		a, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		target := p.target
		p.mu.Unlock()
		b, err := net.Dial("tcp", target)
		if err != nil {
			a.Close()
			continue
		}
		l := &link{a: a, b: b}
		p.mu.Lock()
		p.links[l] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(l, a, b)
		go p.pipe(l, b, a)
	}
}

func (p *proxy) pipe(l *link, dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			l.mu.Lock()
			st := l.stalled
			l.mu.Unlock()
			if st != nil {
				<-st
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				err = werr
			}
		}
		if err != nil {
			p.drop(l, false)
			return
		}
	}
}

// drop closes both sides of a link; with reset, with an RST.
func (p *proxy) drop(l *link, reset bool) {
	p.mu.Lock()
	_, ok := p.links[l]
	delete(p.links, l)
	p.mu.Unlock()
	if !ok {
		return
	}
	if reset {
		for _, c := range []net.Conn{l.a, l.b} {
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
		}
	}
	l.mu.Lock()
	if l.stalled != nil {
		close(l.stalled)
		l.stalled = nil
	}
	l.mu.Unlock()
	_ = l.a.Close()
	_ = l.b.Close()
}

// disrupt does one random thing to one random link: cut, reset, or stall
// (for up to 1.5 s, then resume or cut).
func (p *proxy) disrupt(r *rand.Rand) {
	p.mu.Lock()
	var ls []*link
	for l := range p.links {
		ls = append(ls, l)
	}
	p.mu.Unlock()
	if len(ls) == 0 {
		return
	}
	l := ls[r.IntN(len(ls))]
	p.mu.Lock()
	p.cuts++
	p.mu.Unlock()
	switch r.IntN(3) {
	case 0:
		p.drop(l, false)
	case 1:
		p.drop(l, true)
	default:
		st := make(chan struct{})
		l.mu.Lock()
		if l.stalled != nil {
			l.mu.Unlock()
			return
		}
		l.stalled = st
		l.mu.Unlock()
		d := time.Duration(100+r.IntN(1400)) * time.Millisecond
		cut := r.IntN(2) == 0
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			select {
			case <-time.After(d):
			case <-p.quit:
			}
			if cut {
				p.drop(l, false)
				return
			}
			l.mu.Lock()
			if l.stalled == st {
				close(st)
				l.stalled = nil
			}
			l.mu.Unlock()
		}()
	}
}

// chaos disrupts links at random intervals until stop is closed.
func (p *proxy) chaos(seed uint64, every time.Duration, stop <-chan struct{}) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
		for {
			d := every/2 + time.Duration(r.Int64N(int64(every)))
			select {
			case <-time.After(d):
				p.disrupt(r)
			case <-stop:
				return
			case <-p.quit:
				return
			}
		}
	}()
}

func (p *proxy) cutAll() {
	p.mu.Lock()
	var ls []*link
	for l := range p.links {
		ls = append(ls, l)
	}
	p.mu.Unlock()
	for _, l := range ls {
		p.drop(l, false)
	}
}

func (p *proxy) close() {
	select {
	case <-p.quit:
		return
	default:
	}
	close(p.quit)
	_ = p.ln.Close()
	p.cutAll()
	p.wg.Wait()
}

var _ io.Closer = (*offline.Ledger)(nil)
