package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary run as voucherd itself (VOUCHERD_MAIN=1),
// so serve can be tested as a real process receiving a real signal.
func TestMain(m *testing.M) {
	if os.Getenv("VOUCHERD_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func TestVoucherd_Serve(t *testing.T) {
	dir := t.TempDir()
	voucherd(t, 0, "init", "-data", dir)
	cmd := exec.Command(os.Args[0], "serve", "-data", dir, "-listen", "127.0.0.1:0", "-log-format", "json")
	cmd.Env = append(os.Environ(), "VOUCHERD_MAIN=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("no banner: %v; stderr %s", err, stderr.String())
	}
	// "voucherd: serving on http://127.0.0.1:PORT (...)"
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[3], "http://") {
		t.Fatalf("banner %q", line)
	}
	url := f[3]
	voucherd(t, 0, "merchant", "add", "-server", url, "-id", "M1", "-name", "沁水百货", "-category", "retail")
	voucherd(t, 0, "report", "-server", url, "-day", "2022-10-01")
	voucherd(t, 0, "terminal", "add", "-server", url, "-merchant", "M1", "-id", "T1", "-out", dir+"/T1.json")
	if out := voucherd(t, 0, "terminal", "list", "-server", url); !strings.Contains(out, "TERMINAL") ||
		!strings.Contains(out, "T1") || !strings.Contains(out, "never seen here") {
		t.Errorf("terminal list:\n%s", out)
	}
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, fam := range []string{"voucherd_decisions_total", "voucherd_claims_total", "voucherd_commit_seconds",
		"voucherd_group_commit_records", "voucherd_connected_terminals 0", "voucherd_fleet_queue_depth 0",
		"voucherd_fleet_offline_exposure_fen 0", "go_goroutines"} {
		if resp.StatusCode != 200 || !strings.Contains(string(metrics), fam) {
			t.Errorf("/metrics (%d) lacks %s", resp.StatusCode, fam)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v; stderr %s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
	// -log-format json: every line of the log is a JSON object.
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("log line not JSON: %q", line)
		}
	}
	if !strings.Contains(stderr.String(), `"msg":"shutting down`) {
		t.Errorf("no shutdown record in the log: %s", stderr.String())
	}
	// Stopped: the directory is usable directly again, with what was done.
	if out := voucherd(t, 0, "merchant", "add", "-data", dir, "-id", "M2", "-name", "x", "-category", "fuel"); !strings.Contains(out, "M2") {
		t.Errorf("after stop: %q", out)
	}
	voucherd(t, 1, "merchant", "add", "-data", dir, "-id", "M1", "-name", "x", "-category", "fuel")
}
