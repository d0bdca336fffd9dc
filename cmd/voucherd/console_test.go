package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/cmd/internal/browsertest"
	"github.com/voucherpos/voucherpos/cmd/internal/county"
	"github.com/voucherpos/voucherpos/terminal"
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

// TestCounty_Console: the county's console on a server with an admin
// token. Over HTTP: no session leads to the sign-in, a wrong token is
// refused, and so are a block without the confirmation and a form posted
// from another site. In headless Chromium, as the county's staff use it: a
// sign-in with name and token, a merchant blocked by clicking (a reason
// typed, the box ticked, the confirmation first dismissed, then accepted),
// the block in the admin log on the page, a till of that merchant declining
// merchant_blocked, then the unblock the same way and the till approving
// again. The command line's block and unblock are logged too, and the
// programme report carries the log.
func TestCounty_Console(t *testing.T) {
	const token = "county-console-token"
	d := playCountyDay(t, token)
	t.Setenv("VOUCHERD_TOKEN", token) // for the admin commands below
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
	if resp, page := post("/console/login", url.Values{"name": {"冒名者"}, "token": {"guess"}}); resp.Request.URL.Path != "/console/login" || !strings.Contains(page, "令牌错误") {
		t.Fatalf("a wrong token: landed on %s\n%s", resp.Request.URL, page)
	}
	if _, page := post("/console/login", url.Values{"name": {"王审计"}, "token": {token}}); !strings.Contains(page, "县级监管台") || !strings.Contains(page, "王审计") {
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
	req, _ := http.NewRequest("POST", d.srv.URL+"/console/merchants/M1/block", strings.NewReader("reason=x&confirm=yes"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://evil.example")
	if resp, err := c.Do(req); err != nil || resp.StatusCode != http.StatusForbidden || blocked() {
		t.Fatalf("cross-origin block: %v %v, blocked %v", resp.StatusCode, err, blocked())
	}
	if acts, err := d.s.Hub.Actions(ctx); err != nil || len(acts) != 0 {
		t.Fatalf("refused requests were logged: %+v %v", acts, err)
	}

	// In Chromium: sign in with the form.
	browsertest.CJKFont(t)
	page := browsertest.Chromium(t)
	page.Size(1200, 900)
	page.Navigate(base)
	page.WaitFor("the sign-in", `location.pathname === "/console/login" && !!document.getElementById("token")`)
	page.Type("#name", "王审计")
	page.Type("#token", token)
	page.Click(`form button[type=submit]`)
	page.WaitFor("the console", `location.pathname === "/console/" && document.body.innerText.includes("县级监管台") && document.body.innerText.includes("王审计")`)
	html := page.Eval(`document.documentElement.outerHTML`).(string)
	for _, want := range []string{"预算使用", "今日分时核销", "<svg", "沁水县百货超市", "待核查的风险信号", "正常 active"} {
		if !strings.Contains(html, want) {
			t.Errorf("console in Chromium lacks %q", want)
		}
	}

	// Block M1: the reason typed, the box ticked; the confirmation is
	// first dismissed (nothing happens), then accepted.
	blockForm := `form[action="/console/merchants/M1/block"]`
	var dialogs []string
	answer := false
	page.Dialog = func(msg string) bool { dialogs = append(dialogs, msg); return answer }
	// confirmations waits for the page's n-th confirmation dialog (answered
	// while the page is asked something: see browsertest.Page.Call).
	confirmations := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); len(dialogs) < n; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d confirmation dialogs, want %d: %q", len(dialogs), n, dialogs)
			}
			page.Eval("0")
		}
	}
	page.Type(blockForm+` input[name=reason]`, "疑似刷空单,暂停核查")
	page.Click(blockForm + ` input[name=confirm]`)
	page.Click(blockForm + ` button`)
	confirmations(1)
	if len(dialogs) != 1 || dialogs[0] != "确认停用商户 M1?\n原因:疑似刷空单,暂停核查" || blocked() {
		t.Fatalf("the block's confirmation: dialogs %q, blocked %v", dialogs, blocked())
	}
	answer = true
	page.Click(blockForm + ` button`)
	confirmations(2)
	page.WaitFor("the block done", `(document.getElementById("msg") || {}).textContent === "已停用商户 block merchant M1" && document.body.innerText.includes("已停用 blocked")`)
	if !blocked() || len(dialogs) != 2 {
		t.Fatalf("after the accepted confirmation: blocked %v, dialogs %q", blocked(), dialogs)
	}
	logRow := func(i int) string {
		t.Helper()
		s, _ := page.Eval(fmt.Sprintf(`(() => { const ts = document.querySelectorAll("table"); const rows = ts[ts.length - 1].querySelectorAll("tr"); return rows.length > %d ? rows[%d].innerText : "" })()`, i, i)).(string)
		return s
	}
	if row := logRow(1); !strings.Contains(row, "王审计") || !strings.Contains(row, county.WhatBlock) || !strings.Contains(row, "M1") || !strings.Contains(row, "疑似刷空单,暂停核查") {
		t.Errorf("the admin log's newest entry on the page: %q", row)
	}
	height, _ := page.Eval(`document.documentElement.scrollHeight`).(float64)
	page.Size(1200, int(height)) // the whole page
	page.Screenshot(picture(t, "console.png"))
	page.Size(1200, 900)

	// A till of M1 learns of the block and declines merchant_blocked.
	term := d.s.Terminals[0]
	tillState := func(want bool) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			var st struct {
				Blocked bool `json:"merchant_blocked"`
			}
			if err := term.Call(ctx, "GET", "/api/v1/status", nil, &st); err == nil && st.Blocked == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the till never showed merchant blocked = %v", want)
			}
		}
	}
	tillState(true)
	code, err := d.s.Today(ctx, terminal.Retail, 200_00, 40_00, 0xD001)
	if err != nil {
		t.Fatal(err)
	}
	co, err := term.Open(ctx, terminal.Item{SKU: "coat", Name: "coat", Category: "clothing", Qty: 1, UnitPriceFen: 300_00})
	if err != nil {
		t.Fatal(err)
	}
	applied := func() terminal.Checkout {
		t.Helper()
		var got terminal.Checkout
		if err := term.Call(ctx, "POST", "/api/v1/checkouts/"+co.ID+"/vouchers", map[string]string{"code": code}, &got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := applied(); got.Decline == nil || got.Decline.Code != terminal.MerchantBlocked {
		t.Fatalf("a voucher at a blocked merchant's till: %+v", got.Decline)
	}

	// Unblock by clicking, with a reason; the till approves again.
	unblockForm := `form[action="/console/merchants/M1/unblock"]`
	page.Type(unblockForm+` input[name=reason]`, "核查无误,恢复")
	page.Click(unblockForm + ` input[name=confirm]`)
	page.Click(unblockForm + ` button`)
	confirmations(3)
	page.WaitFor("the unblock done", `(document.getElementById("msg") || {}).textContent === "已恢复商户 unblock merchant M1" && document.body.innerText.includes("正常 active")`)
	if blocked() || len(dialogs) != 3 || dialogs[2] != "确认恢复商户 M1?\n原因:核查无误,恢复" {
		t.Fatalf("after the unblock: blocked %v, dialogs %q", blocked(), dialogs)
	}
	if row := logRow(1); !strings.Contains(row, county.WhatUnblock) || !strings.Contains(row, "核查无误,恢复") || !strings.Contains(logRow(2), county.WhatBlock) {
		t.Errorf("the admin log on the page: %q, %q", logRow(1), logRow(2))
	}
	tillState(false)
	if got := applied(); got.Decline != nil || got.Status != terminal.StatusVoucherApplied {
		t.Fatalf("a voucher after the unblock: %+v %s", got.Decline, got.Status)
	}
	if err := term.Cancel(ctx, co.ID); err != nil {
		t.Fatal(err)
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

	report := filepath.Join(t.TempDir(), "programme.html")
	voucherd(t, 0, "report", "programme", "-from", d.day, "-until", d.day, "-server", d.srv.URL, "-format", "html", "-out", report)
	dom := headless(t, "file://"+report, "--dump-dom")
	if n := strings.Count(dom, "<svg"); n != 4 || !strings.Contains(dom, prog.Total.SubsidyFen.Plain()) {
		t.Errorf("report in Chromium: %d charts, subsidy %s present %v", n, prog.Total.SubsidyFen.Plain(), strings.Contains(dom, prog.Total.SubsidyFen.Plain()))
	}
	headless(t, "file://"+report, "--window-size=1000,2400", "--screenshot="+picture(t, "programme-report.png"))
	pdf := filepath.Join(t.TempDir(), "programme-report.pdf")
	headless(t, "file://"+report, "--no-pdf-header-footer", "--print-to-pdf="+pdf)
	if b, err := os.ReadFile(pdf); err != nil || !bytes.HasPrefix(b, []byte("%PDF")) || !bytes.Contains(b, []byte("/MediaBox [0 0 594.9")) {
		t.Errorf("the report does not print on A4 (595×842 pt): %v, %.40q", err, b)
	}
}
