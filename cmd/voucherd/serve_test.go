package main

import (
	"bufio"
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
	cmd := exec.Command(os.Args[0], "serve", "-data", dir, "-listen", "127.0.0.1:0")
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
	// Stopped: the directory is usable directly again, with what was done.
	if out := voucherd(t, 0, "merchant", "add", "-data", dir, "-id", "M2", "-name", "x", "-category", "fuel"); !strings.Contains(out, "M2") {
		t.Errorf("after stop: %q", out)
	}
	voucherd(t, 1, "merchant", "add", "-data", dir, "-id", "M1", "-name", "x", "-category", "fuel")
}
