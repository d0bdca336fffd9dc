package stack_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/voucherpos/voucherpos/cmd/internal/agent/stack"
	"github.com/voucherpos/voucherpos/cmd/internal/till"
	"github.com/voucherpos/voucherpos/terminal"
)

// chromium starts headless Chromium with a DevTools port and returns a
// connection to its first page. The test fails (not skips) without a
// Chromium: .ci/run installs Debian's.
func chromium(t *testing.T) *cdp {
	t.Helper()
	var bin string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Fatal("no chromium on PATH: install Debian's chromium (apt-get install chromium), as .ci/run does")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1", "--window-size=1024,600",
		"--user-data-dir="+t.TempDir(), "--remote-debugging-port=0", "about:blank")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	found := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`DevTools listening on (ws://\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	var browserURL string
	select {
	case browserURL = <-found:
	case <-time.After(30 * time.Second):
		t.Fatal("chromium did not start its DevTools endpoint")
	}
	host := strings.TrimPrefix(browserURL, "ws://")
	host = host[:strings.Index(host, "/")]
	var targets []struct {
		Type string `json:"type"`
		WS   string `json:"webSocketDebuggerUrl"`
	}
	for range 50 {
		resp, err := http.Get("http://" + host + "/json/list")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&targets)
			resp.Body.Close()
		}
		if err == nil && len(targets) > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, tg := range targets {
		if tg.Type == "page" {
			ws, _, err := websocket.DefaultDialer.Dial(tg.WS, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ws.Close() })
			return &cdp{t: t, ws: ws}
		}
	}
	t.Fatal("no page target in chromium")
	return nil
}

// cdp is a minimal Chrome DevTools Protocol client over gorilla/websocket.
type cdp struct {
	t  *testing.T
	ws *websocket.Conn
	id int
}

func (c *cdp) call(method string, params any, result any) {
	c.t.Helper()
	c.id++
	if err := c.ws.WriteJSON(map[string]any{"id": c.id, "method": method, "params": params}); err != nil {
		c.t.Fatal(err)
	}
	_ = c.ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		var m struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := c.ws.ReadJSON(&m); err != nil {
			c.t.Fatalf("%s: %v", method, err)
		}
		if m.ID != c.id {
			continue // an event
		}
		if m.Error != nil {
			c.t.Fatalf("%s: %s", method, m.Error.Message)
		}
		if result != nil {
			if err := json.Unmarshal(m.Result, result); err != nil {
				c.t.Fatal(err)
			}
		}
		return
	}
}

// eval evaluates a JavaScript expression in the page and returns its value.
func (c *cdp) eval(expr string) any {
	c.t.Helper()
	var r struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
	}
	c.call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &r)
	return r.Result.Value
}

// waitFor polls expr until it is true.
func (c *cdp) waitFor(what, expr string) {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if v, _ := c.eval(expr).(bool); v {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("page never showed %s; body: %v", what, c.eval("document.body.innerText"))
}

// screenshot saves the page as PNG under docs/screens when
// VOUCHERPOS_SCREENS is set (to regenerate the committed pictures), else
// in the test's temp directory.
func (c *cdp) screenshot(name string) {
	c.t.Helper()
	var r struct {
		Data string `json:"data"`
	}
	c.call("Page.captureScreenshot", map[string]any{"format": "png"}, &r)
	b, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil {
		c.t.Fatal(err)
	}
	dir := c.t.TempDir()
	if os.Getenv("VOUCHERPOS_SCREENS") != "" {
		dir = filepath.Join("..", "..", "..", "..", "docs", "screens")
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// cashierPage starts a stack of one terminal and shows its cashier screen in
// Chromium, 1024 pixels wide by height, once the screen shows it is online.
func cashierPage(t *testing.T, height int) (*stack.Stack, *cdp) {
	t.Helper()
	s := startStack(t, "T1")
	page := chromium(t)
	page.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": 1024, "height": height, "deviceScaleFactor": 1, "mobile": false}, nil)
	page.call("Page.navigate", map[string]any{"url": s.Terminals[0].Agent.URL() + "/"}, nil)
	page.waitFor("the status", `document.readyState === "complete" && document.getElementById("net").classList.contains("on")`)
	return s, page
}

// TestBrowser_CashierSeesApproval loads the cashier screen in headless
// Chromium, opens a checkout through the API, scans a voucher through the
// simulated scanner and sees the approval appear without a reload; then a
// decline.
func TestBrowser_CashierSeesApproval(t *testing.T) {
	s, page := cashierPage(t, 600)
	ctx := context.Background()
	term := s.Terminals[0]
	page.eval(`window.__noReload = 42`)

	co, err := term.Open(ctx, terminal.Item{SKU: "rice", Name: "东北大米 10kg", Category: "grocery", Qty: 2, UnitPriceFen: 10000},
		terminal.Item{SKU: "oil", Name: "花生油 5L", Category: "grocery", Qty: 1, UnitPriceFen: 5880})
	if err != nil {
		t.Fatal(err)
	}
	page.waitFor("the basket", fmt.Sprintf(`document.getElementById("costatus").textContent.includes(%q)`, co.ID))
	code, err := s.Today(ctx, terminal.Retail, 20000, 4000, 0xB1)
	if err != nil {
		t.Fatal(err)
	}
	if err := term.Sim.Scan(code); err != nil {
		t.Fatal(err)
	}
	page.waitFor("the approval", `document.getElementById("result").classList.contains("ok") && document.getElementById("verdict").textContent.includes("可以使用")`)
	if got := page.eval(`document.getElementById("payable").textContent + "|" + window.__noReload`); got != "¥218.80|42" {
		t.Fatalf("payable and marker: %v", got)
	}
	page.screenshot("cashier-approved.png")
	if _, err := term.Complete(ctx, co.ID); err != nil {
		t.Fatal(err)
	}

	// A decline: a 200−40 voucher on a ¥150 basket.
	co, err = term.Open(ctx, terminal.Item{SKU: "tea", Name: "绿茶礼盒", Category: "grocery", Qty: 1, UnitPriceFen: 15000})
	if err != nil {
		t.Fatal(err)
	}
	page.waitFor("the new basket", fmt.Sprintf(`document.getElementById("costatus").textContent.includes(%q)`, co.ID))
	code, err = s.Today(ctx, terminal.Retail, 20000, 4000, 0xB2)
	if err != nil {
		t.Fatal(err)
	}
	if err := term.Sim.Scan(code); err != nil {
		t.Fatal(err)
	}
	page.waitFor("the decline", `document.getElementById("result").classList.contains("bad") && document.getElementById("reason").textContent.includes("未达到满减门槛")`)
	if got := page.eval(`window.__noReload`); got != float64(42) {
		t.Fatalf("the page reloaded: %v", got)
	}
	page.screenshot("cashier-declined.png")
	page.eval(`document.querySelector(".lang-switch").click()`)
	page.waitFor("the English switch", `document.getElementById("verdict").textContent.includes("Declined") && document.getElementById("reason").textContent.includes("minimum spend")`)
	page.eval(`document.querySelector(".lang-switch").click()`)

	// The dashboard lists the day.
	page.call("Page.navigate", map[string]any{"url": term.Agent.URL() + "/dashboard"}, nil)
	page.waitFor("the day's redemption", `document.readyState === "complete" && document.getElementById("t-count").textContent === "1"`)
	page.screenshot("dashboard.png")
}

// TestBrowser_CashierPartialRefund: after a voucher sale, the cashier finds
// the sale by its redemption id, returns one of the two bags of rice (a
// quantity over what was sold is refused on the page first), and the screen
// shows the refund the ledger recorded.
func TestBrowser_CashierPartialRefund(t *testing.T) {
	s, page := cashierPage(t, 768)
	ctx := context.Background()
	term := s.Terminals[0]

	co, err := term.Open(ctx, terminal.Item{SKU: "rice", Name: "东北大米 10kg", Category: "grocery", Qty: 2, UnitPriceFen: 10000},
		terminal.Item{SKU: "oil", Name: "花生油 5L", Category: "grocery", Qty: 1, UnitPriceFen: 5880})
	if err != nil {
		t.Fatal(err)
	}
	code, err := s.Today(ctx, terminal.Retail, 20000, 4000, 0xC1)
	if err != nil {
		t.Fatal(err)
	}
	if err := term.Sim.Scan(code); err != nil {
		t.Fatal(err)
	}
	page.waitFor("the approval", `document.getElementById("result").classList.contains("ok")`)
	co, err = term.Complete(ctx, co.ID)
	if err != nil || co.RedemptionID == "" {
		t.Fatalf("complete: %+v, %v", co, err)
	}
	page.waitFor("the redemption id offered for a refund", fmt.Sprintf(`document.getElementById("refundid").value === %q`, co.RedemptionID))

	page.eval(`document.getElementById("refundfind").click()`)
	page.waitFor("the sale's lines", `document.querySelectorAll("#refunditems input.qty").length === 2 && !document.getElementById("refundpart").classList.contains("hidden")`)
	setQty := func(sku, qty string) {
		page.eval(fmt.Sprintf(`document.querySelector('#refunditems input[data-sku=%q]').value = %q`, sku, qty))
	}
	setQty("rice", "3")
	page.eval(`document.getElementById("refundpart").click()`)
	page.waitFor("a quantity over the sale refused", `document.getElementById("refundmsg").textContent.includes("退货数量")`)
	setQty("rice", "1")
	page.screenshot("cashier-partial-refund.png")
	// A double tap refunds once.
	page.eval(`const b = document.getElementById("refundpart"); b.click(); b.click()`)
	page.waitFor("the refund", `document.getElementById("refundmsg").textContent.includes("已退款")`)
	page.screenshot("cashier-refunded.png")

	var rep till.Report
	if err := term.Call(ctx, "GET", "/api/v1/redemptions", nil, &rep); err != nil {
		t.Fatal(err)
	}
	var row *till.Row
	for i := range rep.Records {
		if rep.Records[i].Kind == string(terminal.KindRefund) {
			if row != nil {
				t.Fatalf("two refunds: %+v and %+v", *row, rep.Records[i])
			}
			row = &rep.Records[i]
		}
	}
	if row == nil || row.RefundOf != co.RedemptionID || row.Returned {
		t.Fatalf("refund row: %+v (want one refund of %s, voucher kept)", row, co.RedemptionID)
	}
	if row.RefundFen+row.ShareFen != 10000 {
		t.Fatalf("refund %d + voucher share %d, want the bag's ¥100.00", row.RefundFen, row.ShareFen)
	}
	var rec terminal.Redemption
	if err := term.Call(ctx, "GET", "/api/v1/redemptions/"+row.ID, nil, &rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.Items) != 1 || rec.Items[0].SKU != "rice" || rec.Items[0].Qty != 1 {
		t.Fatalf("refunded items %+v, want one bag of rice", rec.Items)
	}
	msg := page.eval(`document.getElementById("refundmsg").textContent`).(string)
	if want := fmt.Sprintf("已退款 ¥%d.%02d", row.RefundFen/100, row.RefundFen%100); !strings.Contains(msg, want) {
		t.Fatalf("the screen says %q, want %q (the ledger's refund)", msg, want)
	}
	if got := page.eval(`document.getElementById("refunditems").classList.contains("hidden")`); got != true {
		t.Fatal("the refund lines stay on screen after the refund")
	}
}
