package main

import (
	"bytes"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/voucherpos/voucherpos/sync/boltstore"
	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/wire"
	"github.com/voucherpos/voucherpos/terminal"
)

func voucherd(t *testing.T, wantCode int, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	if code != wantCode {
		t.Fatalf("voucherd %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, wantCode, out.String(), errb.String())
	}
	if code == 2 && strings.Count(strings.TrimSpace(errb.String()), "\n") != 0 {
		t.Errorf("usage error is not one line: %q", errb.String())
	}
	return out.String()
}

func TestVoucherd_StoppedDir(t *testing.T) {
	dir := t.TempDir()
	key := voucherd(t, 0, "init", "-data", dir)
	if again := voucherd(t, 0, "init", "-data", dir); again != key {
		t.Fatalf("init again printed %q, first %q", again, key)
	}
	voucherd(t, 0, "merchant", "add", "-data", dir, "-id", "M1", "-name", "沁水百货", "-category", "retail")
	voucherd(t, 1, "merchant", "add", "-data", dir, "-id", "M1", "-name", "again", "-category", "retail")
	cred := filepath.Join(dir, "t1.json")
	voucherd(t, 0, "terminal", "add", "-data", dir, "-merchant", "M1", "-id", "T1", "-out", cred)
	c, err := wire.LoadCredential(cred)
	if err != nil || c.TerminalID != "T1" || c.MerchantID != "M1" {
		t.Fatalf("credential %+v, %v", c, err)
	}
	if fi, _ := os.Stat(cred); fi.Mode().Perm() != 0o600 {
		t.Errorf("credential mode %v", fi.Mode())
	}
	png := filepath.Join(dir, "png")
	out := voucherd(t, 0, "mint", "-data", dir, "-category", "fuel", "-spend", "100", "-off", "20", "-holder", "A1",
		"-day", "2022-10-01", "-n", "3", "-png", png)
	codes := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(codes) != 3 {
		t.Fatalf("mint printed %q", out)
	}
	v, err := terminal.ParseCode(codes[0])
	if err != nil || v.Category != terminal.Fuel || v.Region != 140521 || v.Campaign != 202202 || v.KeyID.String() != strings.TrimSpace(key) {
		t.Fatalf("minted %+v, %v", v, err)
	}
	from, until := terminal.ClaimDay(v.ValidFrom)
	if !v.ValidFrom.Equal(from) || !v.ValidUntil.Equal(until) {
		t.Errorf("validity %v..%v", v.ValidFrom, v.ValidUntil)
	}
	if files, _ := os.ReadDir(png); len(files) != 3 {
		t.Errorf("%d png files", len(files))
	}
	voucherd(t, 0, "mint", "-data", dir, "-category", "love", "-value", "100", "-holder", "A1",
		"-from", "2022-10-01T10:00:00+08:00", "-until", "2022-10-02T00:00:00+08:00")
	voucherd(t, 0, "revoke", "-data", dir, "-voucher", v.ID.String())
	voucherd(t, 0, "merchant", "block", "-data", dir, "-id", "M1")
	voucherd(t, 0, "merchant", "unblock", "-data", dir, "-id", "M1")
	for _, f := range []string{"table", "csv", "json"} {
		voucherd(t, 0, "report", "-data", dir, "-day", "2022-10-01", "-format", f)
	}
}

func TestVoucherd_Usage(t *testing.T) {
	dir := t.TempDir()
	voucherd(t, 0, "-h")
	voucherd(t, 0, "mint", "-h")
	for _, args := range [][]string{
		{},
		{"bogus"},
		{"serve", "-bogus"},
		{"init"},
		{"merchant"},
		{"merchant", "add", "-data", dir, "-id", "M1", "-name", "x", "-category", "love"},
		{"mint", "-data", dir, "-category", "retail", "-spend", "200", "-off", "41", "-holder", "1", "-day", "2022-10-01"},
		{"mint", "-data", dir, "-category", "love", "-spend", "200", "-off", "40", "-holder", "1", "-day", "2022-10-01"},
		{"mint", "-data", dir, "-category", "retail", "-spend", "200", "-off", "40", "-holder", "1"},
		{"mint", "-data", dir, "-category", "retail", "-spend", "200", "-off", "40", "-holder", "zz", "-day", "2022-10-01"},
		{"report", "-data", dir, "-day", "2022-13-01"},
		{"report", "-data", dir, "-day", "2022-10-01", "-format", "xml"},
		{"revoke", "-data", dir, "-voucher", "xyz"},
		{"report", "-day", "2022-10-01"},
		{"report", "-day", "2022-10-01", "extra"},
	} {
		voucherd(t, 2, args...)
	}
	voucherd(t, 1, "report", "-data", dir, "-day", "2022-10-01") // not initialised
}

// Admin commands reach a running server with -server; the data directory
// itself is locked while it runs, and the error says to use -server.
func TestVoucherd_Server(t *testing.T) {
	dir := t.TempDir()
	voucherd(t, 0, "init", "-data", dir)
	h, err := boltstore.OpenHub(dir, hub.Options{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(countyHandler(h, nil, h.Handler())) // as serve mounts it
	defer func() { srv.Close(); h.Close() }()

	var out, errb bytes.Buffer
	if code := run([]string{"report", "-data", dir, "-day", "2022-10-01"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "-server") {
		t.Fatalf("locked dir: exit %d, stderr %q", code, errb.String())
	}
	voucherd(t, 0, "merchant", "add", "-server", srv.URL, "-id", "M1", "-name", "沁水加油站", "-category", "fuel")
	voucherd(t, 1, "merchant", "add", "-server", srv.URL, "-id", "M1", "-name", "again", "-category", "fuel")
	cred := filepath.Join(dir, "t.json")
	voucherd(t, 0, "terminal", "add", "-server", srv.URL, "-merchant", "M1", "-id", "T1", "-out", cred)
	if c, err := wire.LoadCredential(cred); err != nil || !strings.HasPrefix(c.Server, "ws://") {
		t.Fatalf("credential %+v, %v", c, err)
	}
	out.Reset()
	codes := voucherd(t, 0, "mint", "-server", srv.URL, "-category", "fuel", "-spend", "200", "-off", "40", "-holder", "B2", "-day", "2022-10-01", "-n", "2")
	if len(strings.Split(strings.TrimRight(codes, "\n"), "\n")) != 2 {
		t.Fatalf("mint printed %q", codes)
	}
	voucherd(t, 0, "merchant", "block", "-server", srv.URL, "-id", "M1")
	if id := strings.TrimSpace(voucherd(t, 0, "key", "rotate", "-server", srv.URL)); id != h.KeyID().String() {
		t.Errorf("key rotate printed %q, hub mints with %s", id, h.KeyID())
	}
	voucherd(t, 1, "merchant", "block", "-server", srv.URL, "-id", "nobody")
	if js := voucherd(t, 0, "report", "-server", srv.URL, "-day", "2022-10-01", "-format", "json"); !strings.Contains(js, `"day": "2022-10-01"`) {
		t.Errorf("json report %s", js)
	}
}
