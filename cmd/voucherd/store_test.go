package main

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/voucherpos/voucherpos/sync/boltstore"
	"github.com/voucherpos/voucherpos/sync/hub"
)

// voucherdErr runs voucherd expecting exit 1 and returns its stderr.
func voucherdErr(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(args, &out, &errb); code != 1 {
		t.Fatalf("voucherd %s: exit %d, want 1\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out.String(), errb.String())
	}
	return errb.String()
}

func TestVoucherd_CheckBackup(t *testing.T) {
	dir := t.TempDir()
	voucherd(t, 0, "init", "-data", dir)
	voucherd(t, 0, "merchant", "add", "-data", dir, "-id", "M1", "-name", "沁水百货", "-category", "retail")
	if out := voucherd(t, 0, "check", "-data", dir); !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("check of a good ledger: %q", out)
	}

	// A hot backup from a running server, then one of the stopped directory.
	h, err := boltstore.OpenHub(dir, hub.Options{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h.Handler()}
	go srv.Serve(ln)
	hot := t.TempDir()
	voucherd(t, 0, "backup", "-server", "http://"+ln.Addr().String(), "-out", filepath.Join(hot, boltstore.File))
	if msg := voucherdErr(t, "check", "-data", dir); !strings.Contains(msg, "in use") {
		t.Errorf("check of a running server's ledger: %q", msg)
	}
	srv.Close()
	h.Close()
	if out := voucherd(t, 0, "check", "-data", hot); !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("check of the hot backup: %q", out)
	}
	cold := t.TempDir()
	voucherd(t, 0, "backup", "-data", dir, "-out", filepath.Join(cold, boltstore.File))
	voucherd(t, 1, "backup", "-data", dir, "-out", filepath.Join(cold, boltstore.File)) // never overwrites
	out := voucherd(t, 0, "report", "-data", cold, "-day", "2022-10-01", "-format", "csv")
	if !strings.Contains(out, "TOTAL") {
		t.Fatalf("report from the backup: %q", out)
	}

	// A damaged ledger: a clear error from every command, never a panic.
	path := boltstore.Path(dir)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	clear(b[:2*4096]) // both meta pages
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"check", "-data", dir},
		{"report", "-data", dir, "-day", "2022-10-01"},
		{"serve", "-data", dir, "-listen", "127.0.0.1:0"},
	} {
		if msg := voucherdErr(t, args...); !strings.Contains(msg, "ledger damaged") {
			t.Errorf("voucherd %s: %q, want it to say the ledger is damaged", args[0], msg)
		}
	}
}
