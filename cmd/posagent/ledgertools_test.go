package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/cmd/internal/agent"
	"github.com/voucherpos/voucherpos/offline"
)

// TestBackup_WhileSelling takes a backup of a running agent's ledger (a
// posagent process) while
// the till keeps selling: the copy passes posagent verify and holds every
// sale answered before the backup began. verify works on the running
// agent's ledger too, and on the stopped one; a tampered ledger fails it.
func TestBackup_WhileSelling(t *testing.T) {
	dir, cred, issuer := killSetup(t)
	addr := freeAddr(t)
	base := "http://" + addr
	// Under go test -race the agent is built with the race detector too: a
	// race in it ends it with a report on stderr and exit status 66.
	agentProc := exec.Command(buildAgent(t, raceFlags...), "-data", dir, "-credential", cred, "-scanner", "none", "-http", addr, "-log-level", "error")
	agentProc.Stderr = os.Stderr
	if err := agentProc.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if resp, err := http.Get(base + "/api/v1/status"); err == nil {
			resp.Body.Close()
			break
		}
		if i == 3000 {
			t.Fatal("the agent did not answer in 30 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	var mu sync.Mutex
	var sold []string // redemption ids, in the order the till got them
	stop := make(chan struct{})
	selling := make(chan struct{})
	go func() {
		defer close(selling)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			co := openWithVoucher(t, base, issuer, uint64(5000+i))
			a := call(base, "POST", "/api/v1/checkouts/"+co+"/complete", fmt.Sprint("k", i))
			if a.status != http.StatusOK {
				t.Errorf("complete: %d %s", a.status, a.code)
				return
			}
			mu.Lock()
			sold = append(sold, a.co.RedemptionID)
			mu.Unlock()
		}
	}()
	for {
		mu.Lock()
		n := len(sold)
		mu.Unlock()
		if n >= 20 {
			break
		}
		select {
		case <-selling:
			t.Fatalf("the till stopped selling after %d sales", n)
		case <-time.After(10 * time.Millisecond):
		}
	}
	mu.Lock()
	before := append([]string(nil), sold...)
	mu.Unlock()
	out := filepath.Join(t.TempDir(), "backup.db")
	code, stdout, stderr := runArgs(t, context.Background(), "backup", "-data", dir, "-out", out, "-http", addr)
	if code != 0 || !strings.Contains(stdout, "verified") {
		t.Fatalf("backup while selling: exit %d, %s %s", code, stdout, stderr)
	}
	if code, stdout, stderr := runArgs(t, context.Background(), "verify", "-data", dir, "-credential", cred, "-http", addr); code != 0 || !strings.Contains(stdout, "sound") {
		t.Fatalf("verify while running: exit %d, %s %s", code, stdout, stderr)
	}
	close(stop)
	<-selling
	_ = agentProc.Process.Signal(syscall.SIGTERM)
	if err := agentProc.Wait(); err != nil {
		t.Fatalf("agent: %v", err)
	}

	bdir := t.TempDir()
	if err := os.Rename(out, filepath.Join(bdir, agent.LedgerFile)); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := runArgs(t, context.Background(), "verify", "-data", bdir, "-credential", cred); code != 0 {
		t.Fatalf("verify the backup: exit %d, %s %s", code, stdout, stderr)
	}
	pub, err := offline.StoredKey(filepath.Join(bdir, agent.LedgerFile))
	if err != nil {
		t.Fatal(err)
	}
	o := offline.Options{TerminalID: "T9", MerchantID: "M9", Every: -1}
	o.Key = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))
	if !bytes.Equal(o.Key.Public().(ed25519.PublicKey), pub) {
		t.Fatal("backup signed with another key")
	}
	l, err := offline.Open(filepath.Join(bdir, agent.LedgerFile), o)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range before {
		if _, err := l.Get(context.Background(), id); err != nil {
			t.Errorf("sale %s answered before the backup began is not in it: %v", id, err)
		}
	}
	l.Close()

	// The stopped agent's ledger verifies directly; a tampered one fails.
	if code, _, stderr := runArgs(t, context.Background(), "verify", "-data", dir); code != 0 {
		t.Fatalf("verify the stopped ledger: exit %d %s", code, stderr)
	}
	path := filepath.Join(dir, agent.LedgerFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.ReplaceAll(b, []byte(`"discount_fen":4000`), []byte(`"discount_fen":9000`))
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runArgs(t, context.Background(), "verify", "-data", dir); code != 1 || !strings.Contains(stderr, "seq") {
		t.Fatalf("verify a tampered ledger: exit %d %q, want 1 naming the record", code, stderr)
	}
	if code, _, stderr := runArgs(t, context.Background(), "backup", "-data", dir); code != 2 || !strings.Contains(stderr, "-out") {
		t.Fatalf("backup without -out: exit %d %q", code, stderr)
	}
}
