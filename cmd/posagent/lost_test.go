package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/cmd/internal/agent"
	"github.com/voucherpos/voucherpos/cmd/internal/agent/stack"
	"github.com/voucherpos/voucherpos/cmd/internal/till"
	"github.com/voucherpos/voucherpos/sync/wire"
	"github.com/voucherpos/voucherpos/terminal"
)

// TestKill_OpenCheckout kills a real posagent with SIGKILL while a
// checkout holds a voucher's online claim at the server, and restarts it
// with the server out of reach: the status says the checkout was lost
// (checkout_lost, naming it), the checkout is definitely not committed, and
// the claim is still held (another terminal cannot take the voucher). Once
// the server is back the agent gives the claim back by itself, the alert
// goes, and the voucher is redeemed at the other terminal.
func TestKill_OpenCheckout(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := stack.Start(ctx, stack.Options{Dir: filepath.Join(dir, "stack"), Terminals: []string{"T2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	other := "http://" + s.Terminals[0].Agent.Addr()

	c, err := s.Hub.AddTerminal(ctx, s.Merchant.ID, "T1")
	if err != nil {
		t.Fatal(err)
	}
	cred := filepath.Join(dir, "credential.json")
	if err := c.Write(cred); err != nil {
		t.Fatal(err)
	}
	link, err := stack.NewCut(strings.TrimPrefix(s.HubURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(link.Close)
	bin, data, addr := buildAgent(t), filepath.Join(dir, "t1"), freeAddr(t)
	base := "http://" + addr
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "-data", data, "-credential", cred, "-scanner", "none", "-http", addr,
			"-server", "ws://"+link.Addr()+wire.Path, "-log-level", "error")
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		waitStatus(t, base, "the agent answering", func(till.Status) bool { return true })
		return cmd
	}
	cmd := start()
	waitStatus(t, base, "online", func(st till.Status) bool { return st.Online })

	// The agent runs on the real clock: a voucher valid around now, at any
	// hour (a day's vouchers are valid only from 10:00 UTC+8).
	now := time.Now()
	code, err := s.Mint(ctx, terminal.Retail, terminal.Yuan(200), terminal.Yuan(40), 77, now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	co := openCheckout(t, base)
	if got := applyCode(t, base, co, code); got.Status != terminal.StatusVoucherApplied {
		t.Fatalf("apply at T1: %s %+v", got.Status, got.Decline)
	}
	_ = cmd.Process.Kill() // the agent dies with the checkout open
	_ = cmd.Wait()

	// The server still holds the claim for T1's lost checkout.
	held := openCheckout(t, other)
	if got := applyCode(t, other, held, code); got.Status == terminal.StatusVoucherApplied || got.Decline == nil {
		t.Fatalf("T2 took the voucher T1's open checkout holds: %s", got.Status)
	} else {
		t.Logf("T2 while T1's lost checkout holds the claim: %s %s", got.Decline.Code, got.Decline.MessageEN)
	}
	if a := call(other, "POST", "/api/v1/checkouts/"+held+"/cancel", ""); a.status != http.StatusOK {
		t.Fatalf("cancel at T2: %d %s", a.status, a.code)
	}

	link.Down()
	start()
	st := waitStatus(t, base, "the lost checkout's alert", func(st till.Status) bool { return alerted(st, co) })
	t.Logf("after the restart: %+v", st.Alerts)
	if look := call(base, "GET", "/api/v1/checkouts/"+co, ""); look.status != http.StatusNotFound || look.code != "not_committed" {
		t.Fatalf("GET the lost checkout: %d %s, want 404 not_committed", look.status, look.code)
	}
	if retry := call(base, "POST", "/api/v1/checkouts/"+co+"/complete", "k1"); retry.status != http.StatusNotFound || retry.code != "not_committed" {
		t.Fatalf("complete the lost checkout: %d %s, want 404 not_committed", retry.status, retry.code)
	}

	link.Up()
	waitStatus(t, base, "the claim given back", func(st till.Status) bool { return st.Online && !alerted(st, "") })
	co2 := openCheckout(t, other)
	if got := applyCode(t, other, co2, code); got.Status != terminal.StatusVoucherApplied {
		t.Fatalf("apply at T2 after the claim was given back: %s %+v", got.Status, got.Decline)
	}
	done := call(other, "POST", "/api/v1/checkouts/"+co2+"/complete", "k2")
	if done.status != http.StatusOK || done.co.RedemptionID == "" {
		t.Fatalf("complete at T2: %d %s %+v", done.status, done.code, done.co)
	}
}

// alerted reports whether st carries the checkout_lost alert (naming co, if
// co is not empty).
func alerted(st till.Status, co string) bool {
	for _, a := range st.Alerts {
		if a.Code == agent.AlertCheckoutLost && strings.Contains(a.MessageEN, co) {
			return true
		}
	}
	return false
}

// waitStatus polls the agent's status until ok holds, for at most 60 s.
func waitStatus(t *testing.T, base, what string, ok func(till.Status) bool) till.Status {
	t.Helper()
	var st till.Status
	for deadline := time.Now().Add(60 * time.Second); ; {
		if resp, err := http.Get(base + "/api/v1/status"); err == nil {
			st = till.Status{}
			err = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if err == nil && ok(st) {
				return st
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: status %+v", what, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// openCheckout opens a ¥250 grocery checkout at the agent at base.
func openCheckout(t *testing.T, base string) string {
	t.Helper()
	body := `{"items":[{"sku":"rice","name":"大米","category":"grocery","qty":2,"unit_price_fen":12500}]}`
	resp, err := http.Post(base+"/api/v1/checkouts", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var co terminal.Checkout
	if err := json.NewDecoder(resp.Body).Decode(&co); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("open: %d %v", resp.StatusCode, err)
	}
	return co.ID
}

// applyCode applies a voucher code to checkout co and returns the checkout.
func applyCode(t *testing.T, base, co, code string) terminal.Checkout {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"code": code})
	resp, err := http.Post(base+"/api/v1/checkouts/"+co+"/vouchers", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got terminal.Checkout
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatalf("apply: %d %v", resp.StatusCode, err)
	}
	return got
}
