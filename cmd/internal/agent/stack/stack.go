// Package stack runs the whole system in one process: the central hub on a
// temporary ledger behind loopback HTTP, a merchant with its terminals, each
// terminal an agent with a simulated scanner on a pty and a cuttable network
// link to the hub. posdemo plays its day on it; the agent's end-to-end tests,
// browser test and benchmark use it too.
package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/voucherpos/voucherpos/cmd/internal/agent"
	"github.com/voucherpos/voucherpos/cmd/internal/hubmetrics"
	"github.com/voucherpos/voucherpos/drivers/qrimage"
	"github.com/voucherpos/voucherpos/drivers/serial"
	firmwaresim "github.com/voucherpos/voucherpos/firmware-sim"
	"github.com/voucherpos/voucherpos/sync/boltstore"
	"github.com/voucherpos/voucherpos/sync/client"
	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/issuing"
	"github.com/voucherpos/voucherpos/sync/wire"
	"github.com/voucherpos/voucherpos/terminal"
)

// Options configure a stack. Dir is required.
type Options struct {
	// Dir holds the hub's and the terminals' data.
	Dir string
	// Merchant is enrolled; the zero value means a retail shop in Qinshui.
	Merchant terminal.Merchant
	// Terminals are the terminal ids; nil means one, "T1".
	Terminals []string
	// HTTP are the agents' listen addresses, by index; missing or busy
	// ones mean a free loopback port.
	HTTP []string
	// Now is everyone's clock; nil means time.Now.
	Now func() time.Time
	// Advance moves Now forward by d; PlayDay calls it between steps so the
	// demo's day spreads over the morning. Nil means the day runs in real time.
	Advance func(d time.Duration)
	// Log receives the agents' logs; nil discards them.
	Log *slog.Logger
	// ClaimTimeout is the agents' online claim timeout; zero means the default.
	ClaimTimeout time.Duration
	// RefundPIN is the agents' manager PIN for refunds; empty means none.
	RefundPIN string
	// AdminToken is the hub's admin token (hub.Options.AdminToken); empty
	// means loopback callers only.
	AdminToken string
}

// Stack is a running system.
type Stack struct {
	Hub *hub.Hub
	// Issuing is the issuing side (claims, drops, the pool, /wallet/) on the hub's ledger.
	Issuing   *issuing.Service
	HubURL    string
	Merchant  terminal.Merchant
	Terminals []*Terminal
	now       func() time.Time
	advance   func(time.Duration)
	srv       *http.Server
	ln        net.Listener
}

// Terminal is one enrolled terminal: its agent, scanner and network link.
type Terminal struct {
	ID         string
	Credential wire.Credential
	Agent      *agent.Agent
	Sim        *firmwaresim.Sim
	Net        *Cut
	opts       agent.Options // what Restart starts the agent with again
}

// DataDir is the directory of the terminal's ledger.
func (t *Terminal) DataDir() string { return t.opts.DataDir }

// Start starts the hub, enrols the merchant and terminals and starts each
// terminal's scanner simulator and agent. It returns once every agent has
// synced with the hub.
func Start(ctx context.Context, o Options) (s *Stack, err error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Merchant.ID == "" {
		o.Merchant = terminal.Merchant{ID: "M1", Name: "沁水县百货超市", Category: terminal.Retail, Region: 140521}
	}
	if o.Terminals == nil {
		o.Terminals = []string{"T1"}
	}
	s = &Stack{Merchant: o.Merchant, now: o.Now, advance: o.Advance}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	metrics := hubmetrics.New()
	s.Hub, s.Issuing, err = boltstore.OpenServer(filepath.Join(o.Dir, "hub"), hub.Options{Create: true, Now: o.Now, AdminToken: o.AdminToken,
		Logf:  func(f string, a ...any) { o.Log.Debug(fmt.Sprintf(f, a...), "component", "hub") },
		Hooks: metrics.Hooks(), Metrics: metrics.Handler(o.Log)},
		issuing.Options{QR: func(w io.Writer, code string) error { return qrimage.WritePNG(w, code, 300) }})
	if err != nil {
		return s, err
	}
	metrics.Watch(s.Hub)
	s.ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return s, err
	}
	s.HubURL = "http://" + s.ln.Addr().String()
	s.srv = &http.Server{Handler: s.Issuing.Wrap(s.Hub.Handler()), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(s.ln) }()
	if err := s.Hub.AddMerchant(ctx, o.Merchant); err != nil {
		return s, err
	}
	for i, id := range o.Terminals {
		t := &Terminal{ID: id}
		s.Terminals = append(s.Terminals, t)
		if t.Credential, err = s.Hub.AddTerminal(ctx, o.Merchant.ID, id); err != nil {
			return s, err
		}
		if t.Net, err = NewCut(s.ln.Addr().String()); err != nil {
			return s, err
		}
		dir := filepath.Join(o.Dir, strings.ToLower(id))
		t.Sim, err = firmwaresim.Start(ctx, firmwaresim.Config{Link: filepath.Join(o.Dir, "scanner-"+strings.ToLower(id)),
			Logger: o.Log.With("sim", id)})
		if err != nil {
			return s, err
		}
		addr := "127.0.0.1:0"
		if i < len(o.HTTP) && o.HTTP[i] != "" {
			if ln, err := net.Listen("tcp", o.HTTP[i]); err == nil {
				ln.Close()
				addr = o.HTTP[i]
			}
		}
		t.opts = agent.Options{DataDir: dir, Credential: t.Credential, HTTP: addr,
			Server: "ws://" + t.Net.Addr() + wire.Path, Now: o.Now, Log: o.Log.With("terminal", id),
			ClaimTimeout: o.ClaimTimeout, RefundPIN: o.RefundPIN, SyncBackoff: client.Backoff{Base: 100 * time.Millisecond, Cap: time.Second},
			Scanner: serial.Config{Device: t.Sim.Path(), Profile: serial.HoneywellProfile()}}
		t.Agent = agent.New(t.opts)
		if err := t.Agent.Open(ctx); err != nil {
			return s, err
		}
	}
	for _, t := range s.Terminals {
		if err := t.WaitSynced(ctx, 10*time.Second); err != nil {
			return s, fmt.Errorf("terminal %s: first sync: %w", t.ID, err)
		}
	}
	return s, nil
}

// Restart stops the terminal's agent (if it still runs) and starts it again
// on the same ledger, scanner and HTTP address, as a supervisor does after
// a crash or an upgrade.
func (t *Terminal) Restart(ctx context.Context) error { return t.RestartWith(ctx, nil) }

// RestartWith restarts the terminal's agent as Restart does, with its
// options changed by change first (nil: unchanged), for this start only.
func (t *Terminal) RestartWith(ctx context.Context, change func(*agent.Options)) error {
	o := t.opts
	o.HTTP = t.Agent.Addr()
	if change != nil {
		change(&o)
	}
	if err := t.Agent.Close(); err != nil {
		return fmt.Errorf("terminal %s: stop: %w", t.ID, err)
	}
	a := agent.New(o)
	if err := a.Open(ctx); err != nil {
		return fmt.Errorf("terminal %s: restart: %w", t.ID, err)
	}
	t.Agent = a
	return nil
}

// WaitSynced waits until the terminal is online and its outbox is empty.
func (t *Terminal) WaitSynced(ctx context.Context, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		if t.Agent.Online() {
			if _, ok := t.Agent.Lane().State(); ok {
				if err := t.Agent.SyncNow(ctx); err == nil {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return errors.New("not synced in time")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// WaitOffline waits until the terminal has noticed that it is offline.
func (t *Terminal) WaitOffline(ctx context.Context, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for t.Agent.Online() {
		select {
		case <-ctx.Done():
			return errors.New("still online")
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// Mint mints one voucher of category c and denomination spend/off (face
// value off for love) for holder, valid from..until.
func (s *Stack) Mint(ctx context.Context, c terminal.Category, spend, off terminal.Fen, holder terminal.HolderID, from, until time.Time) (string, error) {
	if c == terminal.Love {
		spend = 0
	}
	codes, err := s.Hub.Mint(ctx, hub.MintRequest{Category: c, SpendFen: spend, OffFen: off, Holder: holder, From: from, Until: until, N: 1})
	if err != nil {
		return "", err
	}
	return codes[0], nil
}

// Today mints a voucher valid today (10:00 to midnight UTC+8 on the stack's clock).
func (s *Stack) Today(ctx context.Context, c terminal.Category, spend, off terminal.Fen, holder terminal.HolderID) (string, error) {
	from, until := terminal.ClaimDay(s.now())
	return s.Mint(ctx, c, spend, off, holder, from, until)
}

// Close stops the agents, simulators, links and the hub.
func (s *Stack) Close() error {
	var first error
	for _, t := range s.Terminals {
		if t.Agent != nil {
			if err := t.Agent.Close(); err != nil && first == nil {
				first = err
			}
		}
		if t.Sim != nil {
			t.Sim.Close()
		}
		if t.Net != nil {
			t.Net.Close()
		}
	}
	if s.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = s.srv.Shutdown(ctx)
		cancel()
	}
	if s.Issuing != nil {
		if err := s.Issuing.Close(); err != nil && first == nil {
			first = err
		}
	}
	if s.Hub != nil {
		if err := s.Hub.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
