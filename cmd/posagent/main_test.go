package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/cmd/internal/agent"
	"github.com/voucherpos/voucherpos/offline"
	"github.com/voucherpos/voucherpos/sync/wire"
	"github.com/voucherpos/voucherpos/terminal"
)

func runArgs(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestRun_Usage(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		args []string
		want int
		in   string // in stdout (0) or stderr
	}{
		{"Help", []string{"-h"}, 0, "usage:"},
		{"ReportHelp", []string{"report", "-h"}, 0, "usage:"},
		{"BadFlag", []string{"-bogus"}, 2, "flag provided but not defined"},
		{"NoData", []string{"-credential", "x", "-scanner", "none"}, 2, "-data DIR is required"},
		{"NoScanner", []string{"-data", "d", "-credential", "x"}, 2, "-scanner DEVICE is required"},
		{"BadProfile", []string{"-data", "d", "-credential", "x", "-scanner", "none", "-profile", "acme"}, 2, "unknown scanner profile"},
		{"Extra", []string{"-data", "d", "-credential", "x", "-scanner", "none", "extra"}, 2, "unexpected argument"},
		{"ReportBadDay", []string{"report", "-day", "2022-02-30"}, 2, "want YYYY-MM-DD"},
		{"ReportBadFormat", []string{"report", "-format", "xml"}, 2, "want table, csv or json"},
		{"MissingCredential", []string{"-data", t.TempDir(), "-credential", "/nonexistent/cred.json", "-scanner", "none"}, 1, "load credential"},
	}
	_, cred := setup(t)
	tests = append(tests, []struct {
		name string
		args []string
		want int
		in   string
	}{
		{"PlainWSToTheNetwork", []string{"-data", t.TempDir(), "-credential", cred, "-scanner", "none", "-server", "ws://192.0.2.7:8443/v1/sync"}, 1, "plain ws://"},
		{"NotASyncURL", []string{"-data", t.TempDir(), "-credential", cred, "-scanner", "none", "-server", "http://192.0.2.7:8443/v1/sync"}, 1, "want ws or wss"},
	}...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runArgs(t, ctx, tt.args...)
			got := out
			if tt.want != 0 {
				got = errs
				if strings.Count(errs, "\n") != 1 {
					t.Errorf("stderr is not one line: %q", errs)
				}
			}
			if code != tt.want || !strings.Contains(got, tt.in) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %d with %q", code, out, errs, tt.want, tt.in)
			}
		})
	}
}

// setup writes a credential and a ledger with one redemption of 2022-10-01.
func setup(t *testing.T) (dir, cred string) {
	t.Helper()
	dir = t.TempDir()
	c := wire.Credential{TerminalID: "T9", MerchantID: "M9", Seed: bytes.Repeat([]byte{9}, ed25519.SeedSize)}
	cred = filepath.Join(dir, "credential.json")
	if err := c.Write(cred); err != nil {
		t.Fatal(err)
	}
	l, err := offline.Open(filepath.Join(dir, agent.LedgerFile), offline.Options{TerminalID: "T9", MerchantID: "M9", Key: c.PrivateKey()})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2022, 10, 1, 14, 30, 0, 0, terminal.Zone)
	from, until := terminal.ClaimDay(at)
	r := &terminal.Redemption{Kind: terminal.KindRedemption, TerminalID: "T9", MerchantID: "M9", At: at,
		Voucher: terminal.Voucher{ID: 77, Holder: 1, Category: terminal.Retail, SpendFen: 20000, OffFen: 4000, ValidFrom: from, ValidUntil: until},
		Items:   []terminal.Item{{SKU: "rice", Qty: 2, UnitPriceFen: 12500}}, TotalFen: 25000, EligibleFen: 25000, DiscountFen: 4000, PayableFen: 21000}
	if err := l.Commit(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	// The server accepted it: only accepted records count (docs/reports.md).
	if err := l.Ack(context.Background(), 1, []terminal.Outcome{{Seq: 1, Result: terminal.Accepted}}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, cred
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestReport_AgentStopped(t *testing.T) {
	dir, cred := setup(t)
	closed := freeAddr(t)
	for _, f := range []struct{ format, want string }{
		{"table", "带动比 leverage 6.25"}, {"csv", "T9-0000000001,redemption,2022-10-01T14:30:00+08:00,retail"}, {"json", `"leverage": 6.25`},
	} {
		code, out, errs := runArgs(t, context.Background(), "report", "-day", "2022-10-01", "-format", f.format, "-http", closed, "-data", dir, "-credential", cred)
		if code != 0 || !strings.Contains(out, f.want) {
			t.Fatalf("%s: exit %d, %s %s; want %q", f.format, code, out, errs, f.want)
		}
	}
	if code, _, errs := runArgs(t, context.Background(), "report", "-http", closed); code != 1 || !strings.Contains(errs, "-data DIR") {
		t.Fatalf("no agent, no data: exit %d %q", code, errs)
	}
}

func TestServe_ReportWhileRunningAndShutdown(t *testing.T) {
	dir, cred := setup(t)
	if err := os.Chmod(cred, 0o644); err != nil { // readable by all: the agent warns
		t.Fatal(err)
	}
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var errs bytes.Buffer
	go func() {
		done <- run(ctx, []string{"-data", dir, "-credential", cred, "-scanner", "none", "-http", addr, "-log-format", "json"}, &bytes.Buffer{}, &errs)
	}()
	var out string
	var code int
	for range 100 { // until the agent listens
		if code, out, _ = runArgs(t, context.Background(), "report", "-day", "2022-10-01", "-http", addr); code == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code != 0 || !strings.Contains(out, "T9") || !strings.Contains(out, "pending") {
		t.Fatalf("report through the running agent: exit %d %s", code, out)
	}
	// The ledger is locked by the agent: the direct read is refused.
	if code, _, e := runArgs(t, context.Background(), "report", "-http", freeAddr(t), "-data", dir, "-credential", cred); code != 1 || !strings.Contains(e, "holds the ledger") {
		t.Fatalf("direct read while running: exit %d %q", code, e)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("shutdown: exit %d, log %s", code, errs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("agent did not stop")
	}
	if !strings.Contains(errs.String(), `"msg":"posagent stopped"`) {
		t.Fatalf("log: %s", errs.String())
	}
	if !strings.Contains(errs.String(), `credential file is readable by others`) || !strings.Contains(errs.String(), `"mode":"0644"`) {
		t.Fatalf("no warning about the world-readable credential: %s", errs.String())
	}
}
