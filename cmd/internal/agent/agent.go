// Package agent is the posagent program as a library, so that cmd/posagent,
// cmd/posdemo and the tests run the same thing: it wires the scanner driver,
// the lane (rules, ledger, online authorisation), the sync client and the
// HTTP side (package till: ECR API, events websocket, cashier screen and
// dashboard). It holds only that wiring.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/voucherpos/voucherpos/cmd/internal/till"
	"github.com/voucherpos/voucherpos/drivers/serial"
	"github.com/voucherpos/voucherpos/offline"
	"github.com/voucherpos/voucherpos/sync/client"
	"github.com/voucherpos/voucherpos/sync/wire"
	"github.com/voucherpos/voucherpos/terminal"
)

// LedgerFile is the name of the ledger in the data directory.
const LedgerFile = "ledger.db"

// DefaultHTTP is the default address of the HTTP side: loopback only.
const DefaultHTTP = "127.0.0.1:8080"

// statusEvery is how often the screens' status is refreshed when nothing
// else prompts it.
const statusEvery = time.Second

// Options configure an agent. DataDir and Credential are required.
type Options struct {
	// DataDir holds the ledger; created if missing.
	DataDir string
	// Credential is the terminal's enrolment (`voucherd terminal add`).
	Credential wire.Credential
	// Scanner configures the serial scanner; an empty Device means none
	// (the API still applies codes by hand).
	Scanner serial.Config
	// HTTP is the listen address; empty means DefaultHTTP. Port 0 picks one.
	HTTP string
	// Server is the sync websocket URL; empty means the credential's hint,
	// and if that is empty too the agent works offline only.
	Server string
	// SyncBackoff paces reconnections to the server; the zero value is the
	// sync client's default (1 s growing to 60 s).
	SyncBackoff client.Backoff
	// ClaimTimeout bounds an online claim; zero means terminal.DefaultClaimTimeout.
	ClaimTimeout time.Duration
	// Log receives the structured log; nil means slog.Default().
	Log *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// RefundPIN, if set, is the manager's PIN a refund must carry; empty
	// means refunds need none.
	RefundPIN string
	// InsecureSync syncs even with a server that cannot be authenticated:
	// a plain ws:// URL with a credential without server_key (posagent's
	// -insecure-sync). With a server_key the server's messages are
	// verified regardless.
	InsecureSync bool
	// NewLedgerAfterLoss starts a fresh ledger even when the server holds
	// records of this terminal (its ledger was lost: posagent's
	// -new-ledger-after-loss). Without it Open refuses that (ErrLedgerLost).
	NewLedgerAfterLoss bool
}

// The concrete types the HTTP side is wired with.
var (
	_ till.Lane    = (*terminal.Lane)(nil)
	_ till.Records = (*offline.Ledger)(nil)
)

// Agent is a running posagent.
type Agent struct {
	opts    Options
	log     *slog.Logger
	ledger  *offline.Ledger
	lane    *terminal.Lane
	server  *till.Server
	metrics *metrics
	scanner *serial.Scanner
	link    *link
	http    *http.Server
	ln      net.Listener
	poke    chan struct{}
	// lost are the online claims of checkouts lost when the agent last
	// stopped mid-sale, until they are given back (releaseLost).
	lostMu sync.Mutex
	lost   []offline.Hold
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	err    error
}

// New returns an agent for opts; it does no I/O.
func New(opts Options) *Agent {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.HTTP == "" {
		opts.HTTP = DefaultHTTP
	}
	if opts.Server == "" {
		opts.Server = opts.Credential.Server
	}
	return &Agent{opts: opts, log: opts.Log, poke: make(chan struct{}, 1)}
}

// Open opens the ledger, starts the scanner, the sync client and the HTTP
// side. The agent runs until Close or the end of ctx.
func (a *Agent) Open(ctx context.Context) (err error) {
	o := &a.opts
	if o.DataDir == "" {
		return errors.New("agent: no data directory")
	}
	if err := o.Credential.Check(); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return fmt.Errorf("agent: data directory: %w", err)
	}
	ctx, a.cancel = context.WithCancel(ctx)
	defer func() {
		if err != nil {
			a.cancel()
			a.closeAll()
		}
	}()
	a.ledger, err = offline.Open(filepath.Join(o.DataDir, LedgerFile), offline.Options{
		TerminalID: o.Credential.TerminalID, MerchantID: o.Credential.MerchantID,
		Key: o.Credential.PrivateKey(), Now: o.Now, Logger: a.log})
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	a.metrics = newMetrics(a)
	a.link = newLink(a)
	lcfg := terminal.LaneConfig{TerminalID: o.Credential.TerminalID, MerchantID: o.Credential.MerchantID,
		Ledger: timedLedger{a.ledger, a.metrics.commit}, Sync: a.ledger, Now: o.Now, ClaimTimeout: o.ClaimTimeout,
		OnEvent: a.onLaneEvent,
		OnError: func(op string, err error) {
			if errors.Is(err, serial.ErrUnsupported) {
				// A profile without beep commands (generic): the screen and
				// the scanner's own beep are the cashier's feedback.
				a.log.Debug("lane", "op", op, "err", err)
				return
			}
			a.log.Warn("lane", "op", op, "err", err)
		}}
	if a.link.enabled() {
		lcfg.Auth, lcfg.Holds = a.link, a.ledger
	}
	if a.lost, err = a.ledger.Holds(ctx); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if o.Scanner.Device != "" {
		sc := o.Scanner
		if sc.Logger == nil {
			sc.Logger = a.log
		}
		sc.OnState = func(s terminal.ScannerState) {
			a.log.Info("scanner", "state", s, "device", o.Scanner.Device)
			a.pokeStatus()
		}
		a.scanner = serial.New(sc)
		lcfg.Beeper = a.scanner
	}
	a.lane = terminal.NewLane(lcfg)
	scfg := till.ServerConfig{Lane: a.lane, Ledger: a.ledger, Link: a.link, RefundPIN: o.RefundPIN,
		TerminalID: o.Credential.TerminalID, Log: a.log, Now: o.Now, Hosts: listenHosts(o.HTTP)}
	if a.scanner != nil {
		scfg.Scanner = a.scannerState
	}
	scfg.Alerts, scfg.Backup = a.alerts, a.ledger.Backup
	a.server = till.NewServer(scfg)
	if st, err := a.ledger.LoadState(ctx); err == nil {
		a.lane.SetState(st)
	} else if !errors.Is(err, offline.ErrNoState) {
		return fmt.Errorf("agent: %w", err)
	}
	a.lane.SeenTime(a.ledger.HighWater())
	if err := a.checkFresh(ctx); err != nil {
		return err
	}

	a.ln, err = net.Listen("tcp", o.HTTP)
	if err != nil {
		return fmt.Errorf("agent: listen %s: %w", o.HTTP, err)
	}
	if a.scanner != nil {
		if err := a.scanner.Open(ctx); err != nil {
			return fmt.Errorf("agent: %w", err)
		}
		a.wg.Add(1)
		go func() { defer a.wg.Done(); a.scanLoop(ctx) }()
	}
	if err := a.link.open(ctx); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	// Built only now: closeAll closes the listener itself while no server
	// owns it (a start that failed above).
	a.http = &http.Server{Handler: a.handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)}
	a.wg.Add(2)
	go func() {
		defer a.wg.Done()
		if err := a.http.Serve(a.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("http", "err", err)
		}
	}()
	go func() { defer a.wg.Done(); a.statusLoop(ctx) }()
	if len(a.lost) > 0 {
		a.wg.Add(1)
		go func() { defer a.wg.Done(); a.releaseLost(ctx) }()
	}
	a.log.Info("posagent running", "terminal", o.Credential.TerminalID, "merchant", o.Credential.MerchantID,
		"http", "http://"+a.ln.Addr().String(), "scanner", o.Scanner.Device, "server", o.Server, "data", o.DataDir)
	return nil
}

// handler serves the metrics at /metrics and the till's side at the rest.
func (a *Agent) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.metrics.reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)}))
	mux.Handle("/", a.server)
	return mux
}

// Addr returns the HTTP address the agent listens on.
func (a *Agent) Addr() string { return a.ln.Addr().String() }

// URL returns the base URL of the HTTP side.
func (a *Agent) URL() string { return "http://" + a.Addr() }

// Lane returns the agent's lane.
func (a *Agent) Lane() *terminal.Lane { return a.lane }

// Ledger returns the agent's ledger.
func (a *Agent) Ledger() *offline.Ledger { return a.ledger }

// Server returns the HTTP side.
func (a *Agent) Server() *till.Server { return a.server }

// SyncNow syncs with the server now.
func (a *Agent) SyncNow(ctx context.Context) error { return a.link.SyncNow(ctx) }

// Online reports whether the agent is connected to the server.
func (a *Agent) Online() bool { return a.link.Online() }

// Close stops taking requests, lets the ones in flight finish (a complete
// in progress is committed), stops the scanner and the sync client and
// closes the ledger. It returns the first error.
func (a *Agent) Close() error {
	a.once.Do(func() {
		if a.http != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := a.http.Shutdown(ctx); err != nil {
				a.err = fmt.Errorf("http shutdown: %w", err)
			}
			cancel()
		}
		if a.cancel != nil {
			a.cancel()
		}
		a.closeAll()
	})
	return a.err
}

func (a *Agent) closeAll() {
	if a.server != nil {
		a.server.Close()
	}
	if a.scanner != nil {
		_ = a.scanner.Close()
	}
	if a.ln != nil && a.http == nil {
		a.ln.Close()
	}
	a.wg.Wait()
	if a.link != nil {
		if err := a.link.close(); err != nil && a.err == nil {
			a.err = err
		}
	}
	if a.ledger != nil {
		if err := a.ledger.Close(); err != nil && a.err == nil {
			a.err = err
		}
	}
	a.log.Info("posagent stopped")
}

// scanLoop applies every scan to the lane.
func (a *Agent) scanLoop(ctx context.Context) {
	for s := range a.scanner.Scans() {
		a.metrics.scans.Inc()
		ev := a.lane.Scan(ctx, s)
		a.logEvent(ev)
	}
}

func (a *Agent) onLaneEvent(ev terminal.LaneEvent) {
	a.ledger.Observe(ev.At) // the clock's high-water mark, durable (batched)
	a.metrics.decided(&ev)
	a.server.OnLaneEvent(ev)
	if ev.Kind == terminal.EventCompleted || ev.Kind == terminal.EventRefunded {
		a.pokeStatus()
		if ev.Record != nil {
			a.link.kick()
		}
	}
}

func (a *Agent) logEvent(ev terminal.LaneEvent) {
	attrs := []any{"kind", ev.Kind, "source", ev.Source, "online", ev.Online}
	if ev.Checkout != nil {
		attrs = append(attrs, "checkout", ev.Checkout.ID)
		if ev.Checkout.Voucher != nil {
			attrs = append(attrs, "voucher", ev.Checkout.Voucher.ID.String())
		}
	}
	if ev.Decline != nil {
		attrs = append(attrs, "decline", ev.Decline.Code, "detail", ev.Decline.Detail)
	}
	a.log.Info("voucher", attrs...)
}

func (a *Agent) scannerState() terminal.ScannerState {
	if a.scanner == nil {
		return terminal.ScannerDisconnected
	}
	return a.scanner.State()
}

func (a *Agent) pokeStatus() {
	select {
	case a.poke <- struct{}{}:
	default:
	}
}

// statusLoop pushes status changes to the screens.
func (a *Agent) statusLoop(ctx context.Context) {
	t := time.NewTicker(statusEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.poke:
		}
		a.server.PublishStatus(ctx)
	}
}

// listenHosts returns the host name of a listen address for the API's Host
// check when it is not a wildcard (loopback hosts are always accepted): a
// till reaching the agent at 192.168.1.20:8080 names that host.
func listenHosts(addr string) []string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" || host == "0.0.0.0" || host == "::" {
		return nil
	}
	return []string{host}
}

// Stable codes of the ledger's alerts in the status (Status.Alerts) and
// its events, for the screens, and in the fault the terminal reports to the
// server (fault).
const (
	AlertLedgerFault = string(terminal.ReasonLedgerFault) // the audit found damage, or the file cannot be read: offline vouchers stopped
	AlertDiskFull    = string(terminal.ReasonDiskFull)    // free disk below the reserve: redemptions refused
	AlertDiskLow     = "disk_low"                         // free disk below the warning
	AlertLedgerFull  = "ledger_full"                      // the ledger file reached its size limit for redemptions
	AlertLedgerAlarm = "ledger_alarm"                     // the ledger file passed its size alarm: sync and compact
)

// ledgerAlerts are the ledger's faults and warnings for the screens.
func (a *Agent) ledgerAlerts() []till.Alert {
	var out []till.Alert
	if err := a.ledger.Fault(); err != nil {
		out = append(out, till.Alert{Code: AlertLedgerFault,
			Message:   "离线账本校验异常（记录损坏或被改动，或账本文件无法读取），已停止离线用券；请联系维护人员",
			MessageEN: "the offline ledger failed its audit (a damaged or altered record, or the file cannot be read); offline vouchers are stopped: call support",
			Detail:    err.Error()})
	}
	if lost := a.lostHolds(); len(lost) > 0 {
		ids := make([]string, len(lost))
		for i, h := range lost {
			ids[i] = h.Checkout
		}
		out = append(out, till.Alert{Code: AlertCheckoutLost,
			Message:   "重启前未完成的订单未记账（" + strings.Join(ids, "、") + "），正在释放其券的锁定",
			MessageEN: "checkouts lost when the agent restarted were not committed (" + strings.Join(ids, ", ") + "); giving their vouchers' claims back"})
	}
	u := a.ledger.Usage()
	switch {
	case u.DiskFull:
		out = append(out, till.Alert{Code: AlertDiskFull, Message: "磁盘空间不足，已停止用券；请清理磁盘空间",
			MessageEN: "the disk is nearly full: vouchers are refused until space is freed"})
	case u.DiskLow:
		out = append(out, till.Alert{Code: AlertDiskLow, Message: "磁盘空间偏少，请尽快清理",
			MessageEN: "disk space is low: free some soon"})
	}
	switch {
	case u.Full:
		out = append(out, till.Alert{Code: AlertLedgerFull, Message: "离线账本已满，不能再用券；请联网同步后整理账本",
			MessageEN: "the offline ledger is full: vouchers are refused; sync and compact it"})
	case u.Alarm:
		out = append(out, till.Alert{Code: AlertLedgerAlarm, Message: "离线账本将满，请联网同步并安排整理",
			MessageEN: "the offline ledger is nearly full: sync and plan a compaction"})
	}
	return out
}

// alerts are the faults the screens show in red: the ledger's, and a fork
// of the ledger the server reported (the lane redeems nothing until the
// terminal is reset).
func (a *Agent) alerts() []till.Alert {
	out := a.ledgerAlerts()
	if st, ok := a.lane.State(); ok && st.Fork != "" {
		e := terminal.Declinef(terminal.OfflineLimit, terminal.ReasonFork, "%s", st.Fork)
		out = append(out, till.Alert{Code: string(terminal.ReasonFork), Message: e.Message, MessageEN: e.MessageEN + " (" + st.Fork + ")"})
	}
	return out
}

// fault is what the terminal reports of itself at each handshake, for the
// server's fleet view (voucherd terminal list's FAULT): the codes of the
// alerts the screens show, each with its detail (the ledger's error; a
// fork's reason is the server's own, in its alarm), "; " between them; ""
// when all is well. A lost checkout's claim being given back is no fault of
// the terminal and is left out. The sync client asks again while connected
// and makes a new handshake when it changes.
func (a *Agent) fault() string {
	var parts []string
	for _, al := range a.alerts() {
		switch {
		case al.Code == AlertCheckoutLost:
		case al.Detail != "":
			parts = append(parts, al.Code+": "+al.Detail)
		default:
			parts = append(parts, al.Code)
		}
	}
	return strings.Join(parts, "; ")
}

// AlertCheckoutLost is the alert shown while the online claims of checkouts
// lost when the agent stopped mid-sale are being given back.
const AlertCheckoutLost = "checkout_lost"

// releaseEvery paces the retries of giving back a lost checkout's claim.
const releaseEvery = 5 * time.Second

// releaseLost gives back the server's claims that checkouts lost in a crash
// held (their sales were not committed: a committed sale's record replaces
// its hold), retrying until the server takes each, then forgets them.
func (a *Agent) releaseLost(ctx context.Context) {
	for _, h := range a.lostHolds() {
		a.log.Warn("checkout lost when the agent stopped mid-sale: not committed; giving its voucher's online claim back (重启前未完成的订单未记账，释放券的锁定)",
			"checkout", h.Checkout, "voucher", h.Voucher.String())
	}
	t := time.NewTicker(releaseEvery)
	defer t.Stop()
	for len(a.lostHolds()) > 0 {
		for _, h := range a.lostHolds() {
			if err := a.link.Release(ctx, h.Voucher); err != nil {
				continue
			}
			if err := a.ledger.Unhold(ctx, h.Checkout); err != nil {
				a.log.Warn("forget a released claim", "checkout", h.Checkout, "err", err)
				continue
			}
			a.log.Info("lost checkout's claim given back", "checkout", h.Checkout, "voucher", h.Voucher.String())
			a.lostMu.Lock()
			a.lost = slices.DeleteFunc(a.lost, func(x offline.Hold) bool { return x == h })
			a.lostMu.Unlock()
			a.pokeStatus()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *Agent) lostHolds() []offline.Hold {
	a.lostMu.Lock()
	defer a.lostMu.Unlock()
	return slices.Clone(a.lost)
}

// ErrLedgerLost is returned by Open when the ledger is fresh (no record,
// never synced) but the server holds records of the terminal: the ledger
// was deleted, the machine replaced, or an older backup restored.
var ErrLedgerLost = errors.New("ledger lost")

// probeWait bounds the question to the server at a fresh ledger's start.
const probeWait = 10 * time.Second

// checkFresh asks the server, before a fresh ledger takes its first
// voucher, whether it holds records of this terminal, and refuses to start
// if it does unless NewLedgerAfterLoss says the loss is known. A server that
// does not answer cannot confirm: the agent starts, and takes no voucher
// until the server answers (a ledger that never synced has no merchant
// profile or issuer keys); if the server then holds records, the terminal
// holds itself forked and redeems nothing until it is reset.
func (a *Agent) checkFresh(ctx context.Context) error {
	o := &a.opts
	if !a.link.enabled() {
		return nil
	}
	high, err := a.ledger.HighSeq(ctx)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	_, serr := a.ledger.LoadState(ctx)
	if high != 0 || !errors.Is(serr, offline.ErrNoState) {
		if o.NewLedgerAfterLoss {
			a.log.Warn("-new-ledger-after-loss has no effect: the ledger holds records or has synced")
		}
		return nil
	}
	id := o.Credential.TerminalID
	if o.NewLedgerAfterLoss {
		a.log.Warn("starting a fresh ledger after a loss, as told (-new-ledger-after-loss): if the server holds records of this terminal, it redeems nothing until the county resets it (voucherd terminal reset)",
			"terminal", id)
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, probeWait)
	defer cancel()
	wm, fork, err := a.link.c.Probe(pctx)
	if err != nil {
		a.log.Warn("新账本：暂无法向服务器确认其没有本终端的记录，服务器应答前不受理用券 / a fresh ledger the server could not confirm yet: no voucher is taken until it answers",
			"terminal", id, "err", err)
		return nil
	}
	if wm == 0 && fork == "" {
		a.log.Info("fresh ledger: the server holds no record of this terminal", "terminal", id)
		return nil
	}
	path := filepath.Join(o.DataDir, LedgerFile)
	records := fmt.Sprintf("%d records", wm)
	if wm == 1 {
		records = "1 record"
	}
	return fmt.Errorf("agent: %w: 本机账本是空的，但服务器已保存终端 %s 的 %d 条记录（账本文件被删除、换了机器或恢复了更早的备份）。"+
		"请把原账本文件或其备份放回 %s；确认已丢失时，加 -new-ledger-after-loss 启动，本终端将停止用券，直至县里核查后执行 voucherd terminal reset -id %s。"+
		" / this ledger is empty but the server holds %s of terminal %s (the ledger file was deleted, the machine replaced, or an older backup restored): "+
		"put the lost ledger file or its backup back at %s; if it is truly lost, start with -new-ledger-after-loss, and the terminal redeems nothing until the county, after checking, runs voucherd terminal reset -id %s",
		ErrLedgerLost, id, wm, path, id, records, id, path, id)
}
