package client_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/offline"
	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/pgstore"
	"github.com/voucherpos/voucherpos/sync/pgstore/pgtest"
	"github.com/voucherpos/voucherpos/sync/wire"
	"github.com/voucherpos/voucherpos/terminal"
)

// helperEnv makes the test binary a hub on PostgreSQL (TestMain): the
// instance the multi-instance test kills with SIGKILL.
const helperEnv = "VOUCHERD_TEST_HUB_HELPER"

func TestMain(m *testing.M) {
	if url := os.Getenv(helperEnv); url != "" {
		os.Exit(runHelper(url, os.Getenv(helperEnv+"_KEY")))
	}
	os.Exit(m.Run())
}

// runHelper serves a hub on the database at url and prints its address.
func runHelper(url, keyFile string) int {
	st, err := pgstore.Open(context.Background(), url, pgstore.Options{KeyFile: keyFile})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	h, err := hub.New(st, hub.Options{Now: func() time.Time { return noon }, Logf: func(string, ...any) {}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(ln.Addr())
	_ = http.Serve(ln, h.Handler())
	return 0
}

// instance is a hub on a shared PostgreSQL database behind a real HTTP server.
type instance struct {
	hub  *hub.Hub
	addr string
}

func (i *instance) url() string { return "ws://" + i.addr + wire.Path }

// migratedDB returns a fresh database made ready for voucherd (the
// migrations applied) and the issuing key file its instances share.
func migratedDB(tb testing.TB) (dbURL, keyFile string) {
	tb.Helper()
	dbURL, keyFile = pgtest.DB(tb), filepath.Join(tb.TempDir(), "issuing.key")
	if _, err := pgstore.Migrate(context.Background(), dbURL, pgstore.Options{KeyFile: keyFile}); err != nil {
		tb.Fatal(err)
	}
	return dbURL, keyFile
}

func mustInstance(tb testing.TB, dbURL, keyFile string, create bool) *instance {
	tb.Helper()
	return newInstance(tb, dbURL, keyFile, hub.Options{Create: create})
}

// newInstance is a hub with opts (its clock at noon, logging to tb) on
// PostgreSQL, serving websockets on a loopback port; wrap, if given, wraps
// the store the hub runs on.
func newInstance(tb testing.TB, dbURL, keyFile string, opts hub.Options, wrap ...func(*pgstore.Store) hub.Store) *instance {
	tb.Helper()
	st, err := pgstore.Open(context.Background(), dbURL, pgstore.Options{KeyFile: keyFile})
	if err != nil {
		tb.Fatal(err)
	}
	var hs hub.Store = st
	for _, w := range wrap {
		hs = w(st)
	}
	opts.Now, opts.Logf = func() time.Time { return noon }, tb.Logf
	h, err := hub.New(hs, opts)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: h.Handler()}
	go srv.Serve(ln)
	tb.Cleanup(func() {
		if err := h.Close(); err != nil {
			tb.Errorf("hub close: %v", err)
		}
		srv.Close()
	})
	return &instance{hub: h, addr: ln.Addr().String()}
}

// TestClient_TwoInstances runs two hubs on one PostgreSQL database (and a
// third, killed with SIGKILL mid-drain) with terminals connected to
// different instances: the contract's guarantees hold across them.
func TestClient_TwoInstances(t *testing.T) {
	dbURL, keyFile := migratedDB(t)
	ctx := context.Background()
	a := mustInstance(t, dbURL, keyFile, true)
	b := mustInstance(t, dbURL, keyFile, false)
	if !a.hub.PublicKey().Equal(b.hub.PublicKey()) {
		t.Fatal("the instances do not share the issuing key")
	}
	for _, m := range []string{"M1", "M2"} {
		if err := a.hub.AddMerchant(ctx, terminal.Merchant{ID: m, Name: "沁水百货 " + m, Category: terminal.Retail}); err != nil {
			t.Fatal(err)
		}
	}
	cred := func(m, id string) wire.Credential {
		c, err := a.hub.AddTerminal(ctx, m, id)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	from, until := terminal.ClaimDay(day)
	mint := func(n int) []string {
		codes, err := b.hub.Mint(ctx, hub.MintRequest{Category: terminal.Retail, SpendFen: terminal.Yuan(200),
			OffFen: terminal.Yuan(40), Holder: 0xABC, From: from, Until: until, N: n, EachHolder: true})
		if err != nil {
			t.Fatal(err)
		}
		return codes
	}

	t.Run("SameVoucherOnBoth", func(t *testing.T) {
		l1 := mustLane(t, cred("M1", "T1"), a.url(), fastOpts()).firstSync()
		l2 := mustLane(t, cred("M1", "T2"), b.url(), fastOpts()).firstSync()
		code := mint(1)
		l1.commit(code, 1)
		l2.commit(code, 1)
		waitWatermark(t, a.hub, l1, 1)
		waitWatermark(t, b.hub, l2, 1)
		c1, err := l1.ledger.Conflicts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := l2.ledger.Conflicts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(c1)+len(c2) != 1 {
			t.Fatalf("conflicts on the terminals: %+v and %+v, want one in all", c1, c2)
		}
		confl, err := b.hub.Conflicts(ctx)
		if err != nil || len(confl) != 1 {
			t.Fatalf("server conflicts %+v, %v", confl, err)
		}
	})

	t.Run("BlockReachesTheOtherInstance", func(t *testing.T) {
		l := mustLane(t, cred("M1", "T3"), b.url(), fastOpts()).firstSync()
		drain(l)
		if err := a.hub.Block(ctx, "M1"); err != nil {
			t.Fatal(err)
		}
		select {
		case st := <-l.states:
			if !st.Merchant.Blocked {
				t.Fatalf("state pushed through the other instance: %+v", st.Merchant)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the block made through instance A never reached the terminal on instance B")
		}
		st, err := l.ledger.LoadState(ctx)
		if err != nil || !st.Merchant.Blocked {
			t.Fatalf("terminal's saved state %+v, %v", st.Merchant, err)
		}
		// The till's rules decline every voucher of a blocked merchant (merchant_blocked).
	})

	// Instance B keeps the terminal, its merchant, the parameters and the
	// revocations in memory after the first sync (hub/cache.go); changes
	// made through A must reach it all the same.
	t.Run("RevocationsReachTheOtherInstance", func(t *testing.T) {
		l := mustLane(t, cred("M2", "T6"), b.url(), fastOpts()).firstSync()
		drain(l)
		v, err := terminal.ParseCode(mint(1)[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := a.hub.Revoke(ctx, v.ID); err != nil {
			t.Fatal(err)
		}
		deadline := time.After(10 * time.Second)
		for got := false; !got; {
			select {
			case st := <-l.states:
				got = slices.Contains(st.Revocations, v.ID)
			case <-deadline:
				t.Fatal("the revocation made through instance A never reached the terminal on instance B")
			}
		}
		if err := a.hub.RevokeTerminal(ctx, "T6"); err != nil {
			t.Fatal(err)
		}
		// B ends the terminal's connection and refuses its reconnections.
		for st := l.client.Status(); !strings.Contains(st.LastError, "revoked"); st = l.client.Status() {
			select {
			case <-deadline:
				t.Fatalf("terminal revoked through instance A: on instance B online %v, last error %q", st.Online, st.LastError)
			case <-time.After(10 * time.Millisecond):
			}
		}
		time.Sleep(300 * time.Millisecond) // its reconnections, with fastOpts' backoff
		if st := l.client.Status(); st.Online || !strings.Contains(st.LastError, "revoked") {
			t.Fatalf("revoked terminal on instance B: online %v, last error %q", st.Online, st.LastError)
		}
	})

	t.Run("KilledMidDrain", func(t *testing.T) {
		const backlog = 3000
		c := startHelper(t, dbURL, keyFile)
		cr := cred("M2", "T4")
		cr.Server, cr.Servers = "ws://"+c.addr+wire.Path, []string{b.url()}
		l := mustLane(t, cr, "", fastOpts()).firstSync()
		// A backlog queued while offline, then the terminal comes back to instance C.
		l.close()
		led, err := offline.Open(l.path, offline.Options{TerminalID: cr.TerminalID, MerchantID: cr.MerchantID, Key: cr.PrivateKey()})
		if err != nil {
			t.Fatal(err)
		}
		codes := mint(backlog)
		for i := 0; i < backlog; i += 500 {
			recs := make([]*terminal.Redemption, 0, 500)
			for _, code := range codes[i : i+500] {
				recs = append(recs, sale(t, code))
			}
			if err := led.CommitMany(ctx, recs); err != nil {
				t.Fatal(err)
			}
		}
		if err := led.Close(); err != nil {
			t.Fatal(err)
		}
		l.open()
		deadline := time.Now().Add(60 * time.Second)
		for {
			w, err := b.hub.Watermark(ctx, cr.TerminalID)
			if err != nil {
				t.Fatal(err)
			}
			if w > 0 && w < backlog {
				t.Logf("SIGKILL instance C at watermark %d of %d", w, backlog)
				break
			}
			if w == backlog || time.Now().After(deadline) {
				t.Fatalf("could not catch instance C mid-drain (watermark %d of %d)", w, backlog)
			}
			time.Sleep(time.Millisecond)
		}
		c.kill()
		waitWatermark(t, b.hub, l, backlog)
		// Every record exactly once: each sequence stored once, counted once
		// in the day's account (a backlog this long is mostly over the
		// offline allowance: the server's review counts those as rule breaks).
		st, err := pgstore.Open(ctx, dbURL, pgstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		seen := make(map[uint64]int, backlog)
		err = st.DayRecords(ctx, day, "M2", func(r *hub.StoredRecord) error { seen[r.Seq]++; return nil })
		if err != nil {
			t.Fatal(err)
		}
		for seq := uint64(1); seq <= backlog; seq++ {
			if seen[seq] != 1 {
				t.Fatalf("seq %d stored %d times", seq, seen[seq])
			}
		}
		if len(seen) != backlog {
			t.Fatalf("%d sequences stored, want %d", len(seen), backlog)
		}
		rep, err := b.hub.Report(ctx, day, "M2")
		if err != nil {
			t.Fatal(err)
		}
		tot := rep.Total
		if n := tot.Redemptions + tot.RuleBreaks.Redemptions + tot.Conflicts.Redemptions + tot.Pending.Redemptions; n != backlog {
			t.Fatalf("M2's day counts %d redemptions, want %d: %+v", n, backlog, tot)
		}
		if got := l.ledger.Watermark(); got != backlog {
			t.Fatalf("terminal's watermark %d, want %d", got, backlog)
		}
	})
}

// drain empties a lane's state channel.
func drain(l *lane) {
	for {
		select {
		case <-l.states:
		default:
			return
		}
	}
}

// waitWatermark waits until the terminal's outbox is empty and the
// server's watermark for it (read through h) is want.
func waitWatermark(tb testing.TB, h *hub.Hub, l *lane, want uint64) {
	tb.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st := l.client.Status()
		w, err := h.Watermark(context.Background(), l.cred.TerminalID)
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

// helper is a hub in a process of its own.
type helper struct {
	cmd  *exec.Cmd
	addr string
}

func startHelper(tb testing.TB, dbURL, keyFile string) *helper {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+dbURL, helperEnv+"_KEY="+keyFile)
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	h := &helper{cmd: cmd}
	tb.Cleanup(h.kill)
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		tb.Fatalf("helper hub: %v; stderr %s", err, stderr.String())
	}
	h.addr = strings.TrimSpace(line)
	return h
}

func (h *helper) kill() {
	if h.cmd.ProcessState == nil {
		_ = h.cmd.Process.Kill() // SIGKILL
		_ = h.cmd.Wait()
	}
}
