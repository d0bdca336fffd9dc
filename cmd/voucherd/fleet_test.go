package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/cmd/internal/agent"
	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/wire"
	"github.com/voucherpos/voucherpos/terminal"
)

// TestFleet_AgentFault: a real posagent reports its faults at the
// handshake, and `voucherd terminal list` shows them. A sound terminal
// shows none; one restarted on a ledger altered on disk (one digit of an
// amount) reports the fault its own audit finds after it connected; one
// restarted on a wiped ledger reports the fork the server told it of, beside
// the server's own alarm.
func TestFleet_AgentFault(t *testing.T) {
	dir := t.TempDir()
	voucherd(t, 0, "init", "-data", dir)
	voucherd(t, 0, "merchant", "add", "-data", dir, "-id", "M1", "-name", "沁水百货", "-category", "retail")
	cred := filepath.Join(t.TempDir(), "T1.json")
	voucherd(t, 0, "terminal", "add", "-data", dir, "-merchant", "M1", "-id", "T1", "-out", cred)
	_, base, _ := startServe(t, dir)
	syncURL := "ws" + strings.TrimPrefix(base, "http") + wire.Path

	bin := filepath.Join(t.TempDir(), "posagent")
	if out, err := exec.Command("go", "build", "-o", bin, "../posagent").CombinedOutput(); err != nil {
		t.Fatalf("build posagent: %v\n%s", err, out)
	}
	data := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var cmd *exec.Cmd
	start := func(extra ...string) {
		t.Helper()
		cmd = exec.Command(bin, append([]string{"-data", data, "-credential", cred, "-scanner", "none", "-http", addr,
			"-server", syncURL, "-log-level", "error"}, extra...)...)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for range 1000 {
			if resp, err := http.Get("http://" + addr + "/api/v1/status"); err == nil {
				resp.Body.Close()
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatal("posagent never listened")
	}
	stop := func() {
		t.Helper()
		_ = cmd.Process.Signal(os.Interrupt)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("posagent stopped with %v", err)
		}
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	// T1 as the fleet view shows it, once it satisfies ok (or the last seen).
	waitFleet := func(what string, ok func(hub.TerminalStatus) bool) hub.TerminalStatus {
		t.Helper()
		var ts []hub.TerminalStatus
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if err := json.Unmarshal([]byte(voucherd(t, 0, "terminal", "list", "-server", base, "-format", "json")), &ts); err != nil {
				t.Fatal(err)
			}
			if len(ts) == 1 && ok(ts[0]) {
				return ts[0]
			}
		}
		t.Fatalf("the fleet view never showed %s: %+v", what, ts)
		return hub.TerminalStatus{}
	}

	// A sound terminal sells a voucher and syncs: no fault.
	start()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var st struct {
			Online   bool   `json:"online"`
			Merchant string `json:"merchant_name"`
		}
		if resp, err := http.Get("http://" + addr + "/api/v1/status"); err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
		}
		if st.Online && st.Merchant != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("posagent never synced with the server")
		}
	}
	// posagent runs on the real clock: a voucher valid around now, at any
	// hour (a day's vouchers are valid only from 10:00 UTC+8).
	now := time.Now()
	code := strings.TrimSpace(voucherd(t, 0, "mint", "-server", base, "-category", "retail", "-spend", "200", "-off", "40",
		"-holder", "1a2b3c", "-from", now.Add(-time.Hour).Format(time.RFC3339), "-until", now.Add(time.Hour).Format(time.RFC3339), "-n", "1"))
	api := func(path string, body any, out any) {
		t.Helper()
		var b []byte
		if body != nil {
			b, _ = json.Marshal(body)
		}
		resp, err := http.Post("http://"+addr+path, "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode >= 300 {
			t.Fatalf("POST %s: %s", path, resp.Status)
		}
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
	var co terminal.Checkout
	api("/api/v1/checkouts", map[string]any{"items": []terminal.Item{{SKU: "coat", Name: "外套", Category: "clothing", Qty: 1, UnitPriceFen: 258_80}}}, &co)
	api("/api/v1/checkouts/"+co.ID+"/vouchers", map[string]string{"code": code}, &co)
	if co.Status != terminal.StatusVoucherApplied {
		t.Fatalf("voucher not applied: %+v", co.Decline)
	}
	api("/api/v1/checkouts/"+co.ID+"/complete", nil, &co)
	sound := waitFleet("the sale synced", func(s hub.TerminalStatus) bool { return s.Connected && s.Watermark >= 1 && s.QueueDepth == 0 })
	if sound.Fault != "" || sound.Alarm != "" || sound.Agent == "" {
		t.Errorf("a sound terminal: %+v", sound)
	}
	if table := voucherd(t, 0, "terminal", "list", "-server", base); !strings.Contains(table, "T1") || !strings.HasSuffix(strings.TrimSpace(table), " -") {
		t.Errorf("a sound terminal's line ends with a fault:\n%s", table)
	}

	// Stopped, its ledger altered on disk (the sale's amount, as a hex
	// editor would), restarted: its audit finds the damage after the
	// handshake, and a new handshake reports it.
	stop()
	path := filepath.Join(data, agent.LedgerFile)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte("25880")) {
		t.Fatal("the ledger does not hold the sale's amount as text")
	}
	if err := os.WriteFile(path, bytes.ReplaceAll(raw, []byte("25880"), []byte("25881")), 0o600); err != nil {
		t.Fatal(err)
	}
	start()
	faulted := waitFleet("the ledger fault", func(s hub.TerminalStatus) bool { return s.Connected && s.Fault != "" })
	if !strings.HasPrefix(faulted.Fault, agent.AlertLedgerFault+": ") {
		t.Errorf("fault %q, want %s: and the audit's finding", faulted.Fault, agent.AlertLedgerFault)
	}
	if table := voucherd(t, 0, "terminal", "list", "-server", base); !strings.Contains(table, agent.AlertLedgerFault) {
		t.Errorf("terminal list lacks the fault:\n%s", table)
	}

	// Stopped, its ledger wiped, restarted: posagent refuses the fresh
	// ledger (the server holds a record of T1) and says what to do.
	stop()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	refused := exec.Command(bin, "-data", data, "-credential", cred, "-scanner", "none", "-http", addr,
		"-server", syncURL, "-log-level", "error")
	var stderr bytes.Buffer
	refused.Stderr = &stderr
	if err := refused.Run(); refused.ProcessState == nil || refused.ProcessState.ExitCode() != 1 ||
		!strings.Contains(stderr.String(), "服务器已保存终端 T1 的 1 条记录") || !strings.Contains(stderr.String(), "-new-ledger-after-loss") ||
		!strings.Contains(stderr.String(), "the server holds 1 record of terminal T1") {
		t.Fatalf("posagent on a wiped ledger: %v, stderr %q; want exit 1 saying the server holds T1's record and naming the flag", err, stderr.String())
	}
	// Told the ledger is lost, it starts: the server's alarm and the
	// terminal's own report of the fork.
	start("-new-ledger-after-loss")
	forked := waitFleet("the fork", func(s hub.TerminalStatus) bool {
		return s.Connected && s.Fault == string(terminal.ReasonFork)
	})
	if forked.Alarm == "" {
		t.Errorf("no server alarm for a wiped ledger: %+v", forked)
	}
	table := voucherd(t, 0, "terminal", "list", "-server", base)
	if !strings.Contains(table, " "+string(terminal.ReasonFork)+"; server: ") {
		t.Errorf("terminal list lacks the fork or the alarm:\n%s", table)
	}
	t.Logf("terminal list:\n%s", table)
	stop()
}
