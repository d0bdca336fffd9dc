package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/cmd/internal/county"
)

// headless runs Debian's Chromium headless on url with args (a screenshot,
// a DOM dump, a PDF) and returns its standard output. It fails, never
// skips, without a Chromium: .ci/run installs it.
func headless(t *testing.T, url string, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("no chromium on PATH: install Debian's chromium (apt-get install chromium), as .ci/run does")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	all := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
		"--force-device-scale-factor=1", "--user-data-dir=" + t.TempDir()}, args...)
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, append(all, url)...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, errb.String())
	}
	return out.String()
}

// picture is where a committed picture goes: docs/reports when
// VOUCHERPOS_SCREENS is set (to regenerate them), else a temp directory.
func picture(t *testing.T, name string) string {
	if os.Getenv("VOUCHERPOS_SCREENS") != "" {
		return filepath.Join("..", "..", "docs", "reports", name)
	}
	return filepath.Join(t.TempDir(), name)
}

// TestCounty_Console signs in to /console/, blocks and unblocks a merchant
// with a confirmation and a reason, finds both in the admin log and in the
// programme report, and loads the console and the HTML report in headless
// Chromium.
func TestCounty_Console(t *testing.T) {
	d := playCountyDay(t)
	ctx := context.Background()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	base := d.srv.URL + "/console/"

	resp, err := c.Get(base)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/console/login" {
		t.Fatalf("without a session: landed on %s, want the login page", resp.Request.URL)
	}
	post := func(path string, form url.Values) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", d.srv.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", d.srv.URL)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp, b.String()
	}
	if _, page := post("/console/login", url.Values{"name": {"王审计"}}); !strings.Contains(page, "县级监管台") || !strings.Contains(page, "王审计") {
		t.Fatalf("console after login:\n%s", page)
	}
	blocked := func() bool {
		ms, err := d.s.Hub.Merchants(ctx)
		if err != nil || len(ms) != 1 {
			t.Fatalf("merchants %v %v", ms, err)
		}
		return ms[0].Blocked
	}
	if _, page := post("/console/merchants/M1/block", url.Values{"reason": {"核查套现"}}); !strings.Contains(page, "需填写原因并确认") || blocked() {
		t.Fatalf("block without the confirmation went through (blocked %v):\n%s", blocked(), page)
	}
	if _, page := post("/console/merchants/M1/block", url.Values{"reason": {"疑似刷空单,暂停核查"}, "confirm": {"yes"}}); !blocked() || !strings.Contains(page, "已停用 blocked") {
		t.Fatalf("block with reason and confirmation: blocked %v\n%s", blocked(), page)
	}
	req, _ := http.NewRequest("POST", d.srv.URL+"/console/merchants/M1/unblock", strings.NewReader("reason=x&confirm=yes"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://evil.example")
	if resp, err := c.Do(req); err != nil || resp.StatusCode != http.StatusForbidden || !blocked() {
		t.Fatalf("cross-origin unblock: %v %v, blocked %v", resp.StatusCode, err, blocked())
	}
	if _, _ = post("/console/merchants/M1/unblock", url.Values{"reason": {"核查无误,恢复"}, "confirm": {"yes"}}); blocked() {
		t.Fatal("unblock did not unblock")
	}
	acts, err := d.s.Hub.Actions(ctx)
	if err != nil || len(acts) != 2 || acts[0].Why != "疑似刷空单,暂停核查" || !strings.HasPrefix(acts[0].Who, "王审计") ||
		acts[0].Target != "M1" || acts[1].Why != "核查无误,恢复" {
		t.Fatalf("admin log %+v %v", acts, err)
	}
	// The command line's block and unblock are logged too.
	voucherd(t, 0, "merchant", "block", "-id", "M1", "-reason", "夜间复核", "-who", "李科长", "-server", d.srv.URL)
	voucherd(t, 0, "merchant", "unblock", "-id", "M1", "-server", d.srv.URL)
	acts, err = d.s.Hub.Actions(ctx)
	if err != nil || len(acts) != 4 || acts[2].What != county.WhatBlock || acts[2].Why != "夜间复核" ||
		!strings.HasPrefix(acts[2].Who, "李科长") || acts[3].What != county.WhatUnblock || acts[3].Why == "" || blocked() {
		t.Fatalf("admin log after the command line: %+v %v", acts, err)
	}
	var prog county.Report
	if err := json.Unmarshal([]byte(voucherd(t, 0, "report", "programme", "-from", d.day, "-until", d.day, "-server", d.srv.URL, "-format", "json")), &prog); err != nil {
		t.Fatal(err)
	}
	if len(prog.Actions) != 4 {
		t.Errorf("programme report's admin log: %+v", prog.Actions)
	}

	// Chromium loads the console (the session's cookie added by a proxy,
	// as the browser would send it) and the HTML report.
	var session *http.Cookie
	u, _ := url.Parse(base)
	for _, ck := range jar.Cookies(u) {
		session = ck
	}
	h := d.handler
	signed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.AddCookie(session)
		h.ServeHTTP(w, r)
	}))
	defer signed.Close()
	dom := headless(t, signed.URL+"/console/", "--dump-dom")
	for _, want := range []string{"县级监管台", "预算使用", "今日分时核销", "<svg", "沁水县百货超市", "疑似刷空单,暂停核查", "待核查的风险信号"} {
		if !strings.Contains(dom, want) {
			t.Errorf("console in Chromium lacks %q", want)
		}
	}
	headless(t, signed.URL+"/console/", "--window-size=1200,1900", "--screenshot="+picture(t, "console.png"))

	html := filepath.Join(t.TempDir(), "programme.html")
	voucherd(t, 0, "report", "programme", "-from", d.day, "-until", d.day, "-server", d.srv.URL, "-format", "html", "-out", html)
	dom = headless(t, "file://"+html, "--dump-dom")
	if n := strings.Count(dom, "<svg"); n != 4 || !strings.Contains(dom, prog.Total.SubsidyFen.Plain()) {
		t.Errorf("report in Chromium: %d charts, subsidy %s present %v", n, prog.Total.SubsidyFen.Plain(), strings.Contains(dom, prog.Total.SubsidyFen.Plain()))
	}
	headless(t, "file://"+html, "--window-size=1000,2400", "--screenshot="+picture(t, "programme-report.png"))
	pdf := filepath.Join(t.TempDir(), "programme-report.pdf")
	headless(t, "file://"+html, "--no-pdf-header-footer", "--print-to-pdf="+pdf)
	if b, err := os.ReadFile(pdf); err != nil || !bytes.HasPrefix(b, []byte("%PDF")) || !bytes.Contains(b, []byte("/MediaBox [0 0 594.9")) {
		t.Errorf("the report does not print on A4 (595×842 pt): %v, %.40q", err, b)
	}
}
