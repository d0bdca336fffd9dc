package stack_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/cmd/internal/agent"
	"github.com/voucherpos/voucherpos/cmd/internal/agent/stack"
	"github.com/voucherpos/voucherpos/sync/client"
	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/wire"
	"github.com/voucherpos/voucherpos/terminal"
)

// agentStatus reads an agent's GET /api/v1/status.
func agentStatus(t *testing.T, a *agent.Agent) (st struct {
	LastSync *time.Time `json:"last_sync"`
	Alerts   []struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"alerts"`
}) {
	t.Helper()
	resp, err := http.Get(a.URL() + "/api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return st
}

// waitState waits until the agent's lane holds a server state that satisfies ok.
func waitState(t *testing.T, a *agent.Agent, ok func(terminal.ServerState) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if st, has := a.Lane().State(); has && ok(st) {
			return
		}
		if time.Now().After(deadline) {
			st, _ := a.Lane().State()
			t.Fatalf("the pushed state never arrived: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func hasAlert(st any, code string) bool {
	b, _ := json.Marshal(st)
	return strings.Contains(string(b), `"code":"`+code+`"`)
}

// TestStack_WipedLedger: T1's ledger is wiped at noon and the agent starts
// again on a fresh one with the same credential. Nothing T1 sent is lost on
// the server; the fresh ledger's records are kept as a fork, each a
// conflict, so no voucher is redeemed twice without a conflict; the cashier
// screen says so and the lane redeems nothing (its last sync does not
// move); `voucherd terminal reset` accepts the new chain and trade goes on.
// wipeLedger closes the terminal's agent and deletes the ledger file in its
// data directory tdir, as a wiped or replaced disk would.
func wipeLedger(t *testing.T, term *stack.Terminal, tdir string) {
	t.Helper()
	if err := term.Agent.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(tdir, agent.LedgerFile)); err != nil {
		t.Fatal(err)
	}
}

func TestStack_WipedLedger(t *testing.T) {
	clk := &testClock{base: terminal.Day(time.Now()).Add(12 * time.Hour), start: time.Now()}
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	s, err := stack.Start(context.Background(), stack.Options{Dir: dir, Terminals: []string{"T1", "T2"}, Now: clk.Now, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	t1, t2 := s.Terminals[0], s.Terminals[1]
	from, until := terminal.ClaimDay(clk.Now())
	codes, err := s.Hub.Mint(ctx, hub.MintRequest{Category: terminal.Retail, SpendFen: terminal.Yuan(200), OffFen: terminal.Yuan(40),
		Holder: 0x900, From: from, Until: until, N: 5, EachHolder: true})
	if err != nil {
		t.Fatal(err)
	}
	sale := func(term, code string) *terminal.Redemption {
		v, _ := terminal.ParseCode(code)
		return &terminal.Redemption{Kind: terminal.KindRedemption, TerminalID: term, MerchantID: "M1", At: clk.Now(), Code: code, Voucher: v,
			Items:    []terminal.Item{{SKU: "rice", Name: "大米", Category: "grocery", Qty: 1, UnitPriceFen: terminal.Yuan(250)}},
			TotalFen: terminal.Yuan(250), EligibleFen: terminal.Yuan(250), DiscountFen: terminal.Yuan(40), PayableFen: terminal.Yuan(210)}
	}
	// The morning: two sales on T1, synced and accepted.
	for _, c := range codes[:2] {
		if err := t1.Agent.Ledger().Commit(ctx, sale("T1", c)); err != nil {
			t.Fatal(err)
		}
	}
	if err := t1.WaitSynced(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	// Noon: the ledger file is wiped; the agent starts again on a fresh one.
	tdir := filepath.Join(dir, "t1")
	wipeLedger(t, t1, tdir)
	opts := agent.Options{DataDir: tdir, Credential: t1.Credential, HTTP: "127.0.0.1:0",
		Server: "ws://" + t1.Net.Addr() + wire.Path, Now: clk.Now, Log: log,
		SyncBackoff: client.Backoff{Base: 50 * time.Millisecond, Cap: 200 * time.Millisecond}}
	// The agent refuses to start a fresh ledger the server holds records
	// of, and says what to do, in Chinese and English.
	t1.Agent = agent.New(opts)
	err = t1.Agent.Open(ctx)
	if !errors.Is(err, agent.ErrLedgerLost) || !strings.Contains(err.Error(), "服务器已保存终端 T1 的 2 条记录") ||
		!strings.Contains(err.Error(), "the server holds 2 records of terminal T1") || !strings.Contains(err.Error(), "-new-ledger-after-loss") {
		t.Fatalf("a fresh ledger for a terminal the server holds 2 records of: %v; want it refused, saying so", err)
	}
	// Told the ledger is lost, it starts.
	opts.NewLedgerAfterLoss = true
	t1.Agent = agent.New(opts)
	if err := t1.Agent.Open(ctx); err != nil {
		t.Fatal(err)
	}
	// The terminal hears it at the handshake: the server holds more of its chain.
	deadline := time.Now().Add(10 * time.Second)
	for !hasAlert(agentStatus(t, t1.Agent), "fork") {
		if time.Now().After(deadline) {
			t.Fatalf("no fork alert on the cashier status: %+v", agentStatus(t, t1.Agent))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A state the server pushes (it has seen no record of the fresh
	// ledger yet) does not lift the fork the terminal found itself.
	if err := s.Hub.Block(ctx, "M1"); err != nil {
		t.Fatal(err)
	}
	waitState(t, t1.Agent, func(st terminal.ServerState) bool { return st.Merchant.Blocked })
	if err := s.Hub.Unblock(ctx, "M1"); err != nil {
		t.Fatal(err)
	}
	waitState(t, t1.Agent, func(st terminal.ServerState) bool { return !st.Merchant.Blocked })
	if st, _ := t1.Agent.Lane().State(); st.Fork == "" || !hasAlert(agentStatus(t, t1.Agent), "fork") {
		t.Fatalf("a state push lifted the fork: %+v", st)
	}
	// The lane redeems nothing, online or offline.
	co, err := t1.Agent.Lane().Open(ctx, []terminal.Item{{SKU: "rice", Name: "大米", Category: "grocery", Qty: 1, UnitPriceFen: terminal.Yuan(250)}})
	if err != nil {
		t.Fatal(err)
	}
	_, ev, err := t1.Agent.Lane().Apply(ctx, co.ID, codes[4])
	if err != nil || ev.Decline == nil || ev.Decline.Reason != terminal.ReasonFork {
		t.Fatalf("a voucher on the forked lane: %+v, %v; want declined (fork)", ev.Decline, err)
	}
	if _, err := t1.Agent.Lane().Cancel(ctx, co.ID); err != nil {
		t.Fatal(err)
	}
	// Records on the fresh ledger anyway (a tool, or a lane of an older
	// version): a morning voucher again, and a new one.
	if err := t1.Agent.Ledger().Commit(ctx, sale("T1", codes[0])); err != nil {
		t.Fatal(err)
	}
	if err := t1.Agent.Ledger().Commit(ctx, sale("T1", codes[2])); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		if n, _, _ := t1.Agent.Ledger().Unsynced(ctx); n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the fresh ledger's records never reached the server")
		}
		_ = t1.Agent.SyncNow(ctx)
		time.Sleep(20 * time.Millisecond)
	}
	// T2 redeems the voucher T1's fresh ledger used: accepted, and T1's
	// record of it stays a conflict.
	if err := t2.Agent.Ledger().Commit(ctx, sale("T2", codes[2])); err != nil {
		t.Fatal(err)
	}
	if err := t2.WaitSynced(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	// Nothing lost on the server: the morning's two accepted, the fresh
	// ledger's two kept as fork conflicts; T2's sale accepted.
	rep, err := s.Hub.Report(ctx, clk.Now(), "M1")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total.Redemptions != 3 || rep.Total.SubsidyFen != terminal.Yuan(120) {
		t.Errorf("report: %d redemptions, subsidy %s; want 3, ¥120.00", rep.Total.Redemptions, rep.Total.SubsidyFen)
	}
	forks := map[terminal.VoucherID]bool{}
	for _, c := range rep.Conflicts {
		if c.Code == terminal.Fork && c.TerminalID == "T1" {
			forks[c.Voucher] = true
		}
	}
	v0, _ := terminal.ParseCode(codes[0])
	v2, _ := terminal.ParseCode(codes[2])
	if len(forks) != 2 || !forks[v0.ID] || !forks[v2.ID] {
		all, _ := s.Hub.Conflicts(ctx)
		t.Errorf("fork conflicts %+v (all %+v), want T1's fresh records of %s and %s", rep.Conflicts, all, v0.ID, v2.ID)
	}
	if st := agentStatus(t, t1.Agent); st.LastSync != nil || !hasAlert(st, "fork") {
		t.Errorf("forked terminal's status: last sync %v, alerts %+v; want no sync and the fork", st.LastSync, st.Alerts)
	}

	// After investigation the county resets the terminal (what `voucherd
	// terminal reset -id T1 -server URL` does): its new chain is accepted.
	if err := (&hub.Remote{URL: s.HubURL}).ResetTerminal(ctx, "T1"); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for hasAlert(agentStatus(t, t1.Agent), "fork") {
		if time.Now().After(deadline) {
			t.Fatal("the fork alert stays after the reset")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := t1.WaitSynced(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	next := sale("T1", codes[3])
	if err := t1.Agent.Ledger().Commit(ctx, next); err != nil {
		t.Fatal(err)
	}
	if err := t1.WaitSynced(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	rep, err = s.Hub.Report(ctx, clk.Now(), "M1")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total.Redemptions != 4 {
		t.Errorf("after the reset: %d redemptions, want 4 (the new chain's sale accepted)", rep.Total.Redemptions)
	}
}

// TestStack_FreshLedgerServerUnreachable: T1's ledger is wiped and the
// agent starts again while the server is out of reach, so nothing can
// confirm its fresh ledger. It starts, takes no voucher (a ledger that never
// synced has no merchant profile or issuer keys), and when the server
// answers and holds records of T1, it holds itself forked and still takes
// none.
func TestStack_FreshLedgerServerUnreachable(t *testing.T) {
	clk := &testClock{base: terminal.Day(time.Now()).Add(12 * time.Hour), start: time.Now()}
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	s, err := stack.Start(context.Background(), stack.Options{Dir: dir, Terminals: []string{"T1"}, Now: clk.Now, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	t1 := s.Terminals[0]
	from, until := terminal.ClaimDay(clk.Now())
	codes, err := s.Hub.Mint(ctx, hub.MintRequest{Category: terminal.Retail, SpendFen: terminal.Yuan(200), OffFen: terminal.Yuan(40),
		Holder: 0x900, From: from, Until: until, N: 3, EachHolder: true})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := terminal.ParseCode(codes[0])
	if err := t1.Agent.Ledger().Commit(ctx, &terminal.Redemption{Kind: terminal.KindRedemption, TerminalID: "T1", MerchantID: "M1",
		At: clk.Now(), Code: codes[0], Voucher: v,
		Items:    []terminal.Item{{SKU: "rice", Name: "大米", Category: "grocery", Qty: 1, UnitPriceFen: terminal.Yuan(250)}},
		TotalFen: terminal.Yuan(250), EligibleFen: terminal.Yuan(250), DiscountFen: terminal.Yuan(40), PayableFen: terminal.Yuan(210)}); err != nil {
		t.Fatal(err)
	}
	if err := t1.WaitSynced(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	tdir := filepath.Join(dir, "t1")
	wipeLedger(t, t1, tdir)
	t1.Net.Down()
	t1.Agent = agent.New(agent.Options{DataDir: tdir, Credential: t1.Credential, HTTP: "127.0.0.1:0",
		Server: "ws://" + t1.Net.Addr() + wire.Path, Now: clk.Now, Log: log,
		SyncBackoff: client.Backoff{Base: 50 * time.Millisecond, Cap: 200 * time.Millisecond}})
	if err := t1.Agent.Open(ctx); err != nil {
		t.Fatalf("a fresh ledger with the server out of reach: %v; want the agent started", err)
	}
	try := func() *terminal.Error {
		t.Helper()
		co, err := t1.Agent.Lane().Open(ctx, []terminal.Item{{SKU: "rice", Name: "大米", Category: "grocery", Qty: 1, UnitPriceFen: terminal.Yuan(250)}})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _, _ = t1.Agent.Lane().Cancel(ctx, co.ID) }()
		_, ev, err := t1.Agent.Lane().Apply(ctx, co.ID, codes[1])
		if err != nil {
			t.Fatal(err)
		}
		return ev.Decline
	}
	if d := try(); d == nil {
		t.Fatal("a fresh ledger the server never confirmed took a voucher offline")
	}
	t1.Net.Up()
	deadline := time.Now().Add(10 * time.Second)
	for !hasAlert(agentStatus(t, t1.Agent), "fork") {
		if time.Now().After(deadline) {
			t.Fatalf("no fork alert once the server answered: %+v", agentStatus(t, t1.Agent))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d := try(); d == nil || d.Reason != terminal.ReasonFork {
		t.Fatalf("once the server answered: %+v; want declined (fork)", d)
	}
}
