package stack_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/voucherpos/voucherpos/cmd/internal/agent"
	"github.com/voucherpos/voucherpos/cmd/internal/agent/stack"
	"github.com/voucherpos/voucherpos/cmd/internal/browsertest"
	"github.com/voucherpos/voucherpos/cmd/internal/till"
	"github.com/voucherpos/voucherpos/sync/wire"
	"github.com/voucherpos/voucherpos/terminal"
)

// The cashier screen's states, each reached the way it happens at a till
// and checked in headless Chromium at the terminal's 1024×600. Run with
// VOUCHERPOS_SCREENS=1 to rewrite the pictures under docs/screens.

// shiftClock is the stack's clock: noon today (UTC+8), running, plus an
// offset a test moves to set the terminal's clock back or forward.
type shiftClock struct {
	base, start time.Time
	off         atomic.Int64
}

func (c *shiftClock) Now() time.Time {
	return c.base.Add(time.Since(c.start) + time.Duration(c.off.Load()))
}

func (c *shiftClock) shift(d time.Duration) { c.off.Add(int64(d)) }

// screenStack starts hub and terminals on a shiftable clock and opens
// Chromium at 1024×600 on the first terminal's cashier screen.
func screenStack(t *testing.T, terminals ...string) (*stack.Stack, *shiftClock, *cdp) {
	t.Helper()
	return screenStackWith(t, stack.Options{Terminals: terminals})
}

// screenStackWith is screenStack with more options (Dir, Now and Log are set here).
func screenStackWith(t *testing.T, o stack.Options) (*stack.Stack, *shiftClock, *cdp) {
	t.Helper()
	browsertest.CJKFont(t)
	clk := &shiftClock{base: terminal.Day(time.Now()).Add(12 * time.Hour), start: time.Now()}
	o.Dir, o.Now, o.Log = t.TempDir(), clk.Now, slog.New(slog.DiscardHandler)
	s, err := stack.Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	page := chromium(t)
	page.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": 1024, "height": 600, "deviceScaleFactor": 1, "mobile": false}, nil)
	// Every page keeps its script errors; the test fails if there are any.
	page.call("Page.enable", map[string]any{}, nil)
	page.call("Page.addScriptToEvaluateOnNewDocument", map[string]any{"source": `window.__errs = [];
		addEventListener("error", (e) => __errs.push(String(e.message)));
		addEventListener("unhandledrejection", (e) => __errs.push(String((e.reason && (e.reason.message || e.reason.code)) || e.reason)));`}, nil)
	t.Cleanup(func() {
		if errs, _ := page.eval(`window.__errs === undefined ? "no error collector" : window.__errs.join("; ")`).(string); errs != "" {
			t.Errorf("script errors on the page: %s", errs)
		}
	})
	page.open(s.Terminals[0].Agent.URL() + "/")
	return s, clk, page
}

// open navigates to url and waits until the page shows the agent's status.
func (c *cdp) open(url string) {
	c.t.Helper()
	c.call("Page.navigate", map[string]any{"url": url}, nil)
	c.waitFor("the page and its status", `document.readyState === "complete" && !document.body.classList.contains("dead")`)
}

// text is the text of the element with id.
func (c *cdp) text(id string) string {
	c.t.Helper()
	s, _ := c.eval(fmt.Sprintf(`(document.getElementById(%q) || {}).textContent || ""`, id)).(string)
	return s
}

// click clicks the element matching the CSS selector.
func (c *cdp) click(sel string) {
	c.t.Helper()
	if ok, _ := c.eval(fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return false; e.click(); return true })()`, sel)).(bool); !ok {
		c.t.Fatalf("no %s on the page; body: %v", sel, c.eval("document.body.innerText"))
	}
}

// verdict waits for the big panel to show class cls with reason text
// containing want.
func (c *cdp) verdict(what, cls, want string) {
	c.t.Helper()
	c.waitFor(what, fmt.Sprintf(`document.getElementById("result").classList.contains(%q) && document.getElementById("reason").textContent.includes(%q)`, cls, want))
}

// noOverflow fails if the page scrolls sideways or down at its size.
func (c *cdp) noOverflow(what string, vertical bool) {
	c.t.Helper()
	got := c.eval(`[document.documentElement.scrollWidth, document.documentElement.clientWidth, document.documentElement.scrollHeight, document.documentElement.clientHeight].join(" ")`).(string)
	var sw, cw, sh, ch int
	fmt.Sscan(got, &sw, &cw, &sh, &ch)
	if sw > cw || (vertical && sh > ch) {
		c.t.Fatalf("%s overflows: scroll %dx%d in a %dx%d window", what, sw, sh, cw, ch)
	}
}

var basket200 = []terminal.Item{
	{SKU: "rice", Name: "东北大米 10kg", Category: "grocery", Qty: 2, UnitPriceFen: 10000},
	{SKU: "oil", Name: "花生油 5L", Category: "grocery", Qty: 1, UnitPriceFen: 5880},
}

// scanInto opens a checkout of items on term, waits for the screen to show
// it, mints a 200−40 retail voucher for holder and scans it.
func scanInto(t *testing.T, s *stack.Stack, term *stack.Terminal, page *cdp, holder terminal.HolderID, items ...terminal.Item) terminal.Checkout {
	t.Helper()
	ctx := context.Background()
	co, err := term.Open(ctx, items...)
	if err != nil {
		t.Fatal(err)
	}
	page.waitFor("the basket "+co.ID, fmt.Sprintf(`document.getElementById("costatus").textContent.includes(%q)`, co.ID))
	code, err := s.Today(ctx, terminal.Retail, 20000, 4000, holder)
	if err != nil {
		t.Fatal(err)
	}
	if err := term.Sim.Scan(code); err != nil {
		t.Fatal(err)
	}
	return co
}

// TestBrowser_Messages reaches the declines and states of the cashier
// screen one after the other, each as it happens at the till, and checks
// the words shown (Chinese, and English on the switch for one).
func TestBrowser_Messages(t *testing.T) {
	s, clk, page := screenStack(t, "T1")
	ctx := context.Background()
	term := s.Terminals[0]
	// The pill shows once the agent's status has come (it failed once when
	// read right after the page loaded, on a loaded machine).
	page.waitFor("a pill for the configured scanner", `!document.getElementById("scanner").classList.contains("hidden")`)

	// An approval, live.
	co := scanInto(t, s, term, page, 0xA1, basket200...)
	page.verdict("the approval", "ok", "已联网核验")
	page.screenshot("cashier-approved.png")
	if _, err := term.Complete(ctx, co.ID); err != nil {
		t.Fatal(err)
	}

	// Below the minimum spend: how much more to buy.
	co = scanInto(t, s, term, page, 0xA2, terminal.Item{SKU: "tea", Name: "绿茶礼盒", Category: "grocery", Qty: 1, UnitPriceFen: 15050})
	page.verdict("below threshold", "bad", "还差 ¥49.50")
	page.screenshot("cashier-below-threshold.png")
	page.click(".lang-switch")
	page.verdict("below threshold in English", "bad", "¥49.50 short")
	page.waitFor("the English verdict", `document.getElementById("verdict").textContent.includes("Declined") && document.getElementById("net").textContent === "Online"`)
	page.screenshot("cashier-below-threshold-en.png")
	page.click(".lang-switch")
	if err := term.Cancel(ctx, co.ID); err != nil {
		t.Fatal(err)
	}

	// Merchant blocked by the county: the decline and a banner.
	if err := s.Hub.Block(ctx, s.Merchant.ID); err != nil {
		t.Fatal(err)
	}
	page.waitFor("the blocked banner", `document.getElementById("alerts").textContent.includes("暂停核销")`)
	co = scanInto(t, s, term, page, 0xA3, basket200...)
	page.verdict("merchant blocked", "bad", "本商户已暂停核销资格")
	page.screenshot("cashier-merchant-blocked.png")
	if err := term.Cancel(ctx, co.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Hub.Unblock(ctx, s.Merchant.ID); err != nil {
		t.Fatal(err)
	}
	page.waitFor("the banner gone", `document.getElementById("alerts").classList.contains("hidden")`)

	// Offline: the banner with the allowance, an offline approval, then
	// the allowance used up.
	if err := s.Hub.SetParams(ctx, terminal.Params{OfflineLimitFen: terminal.Yuan(60)}); err != nil {
		t.Fatal(err)
	}
	if err := term.WaitSynced(ctx, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if st, _ := term.Agent.Lane().State(); st.Params.OfflineLimitFen == terminal.Yuan(60) {
			break
		}
		if i == 100 {
			t.Fatal("the new offline limit never reached the terminal")
		}
		time.Sleep(50 * time.Millisecond)
	}
	term.Net.Down()
	if err := term.WaitOffline(ctx, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	page.waitFor("the offline banner", `!document.getElementById("offline").classList.contains("hidden") && document.getElementById("offline").textContent.includes("¥60.00")`)
	page.click("#sync")
	page.waitFor("a failed sync said where the cashier looks", `document.getElementById("syncmsg").textContent.includes("同步失败") && document.getElementById("syncmsg").classList.contains("bad")`)
	co = scanInto(t, s, term, page, 0xA4, basket200...)
	page.verdict("an offline approval", "ok", "离线核销")
	if _, err := term.Complete(ctx, co.ID); err != nil {
		t.Fatal(err)
	}
	page.waitFor("the allowance left and the unsynced count", `document.getElementById("offline").textContent.includes("剩余 ¥20.00") && document.getElementById("offline").textContent.includes("未同步 1 笔")`)
	page.screenshot("cashier-offline.png")
	co = scanInto(t, s, term, page, 0xA5, basket200...)
	page.verdict("the allowance used up", "bad", "离线核销额度已用完")
	page.screenshot("cashier-offline-allowance.png")

	// The clock set back: its own reason.
	clk.shift(-time.Hour)
	if err := term.Cancel(ctx, co.ID); err != nil {
		t.Fatal(err)
	}
	co = scanInto(t, s, term, page, 0xA6, terminal.Item{SKU: "tv", Name: "电视机", Category: "appliance", Qty: 1, UnitPriceFen: 20000})
	page.verdict("the clock set back", "bad", "时钟不准")
	page.screenshot("cashier-offline-clock.png")
	if err := term.Cancel(ctx, co.ID); err != nil {
		t.Fatal(err)
	}
	clk.shift(time.Hour)

	// A day without a sync: the age limit (a voucher valid for two days).
	clk.shift(25 * time.Hour)
	co, err := term.Open(ctx, basket200...)
	if err != nil {
		t.Fatal(err)
	}
	from := clk.Now().Add(-26 * time.Hour)
	code, err := s.Mint(ctx, terminal.Retail, 20000, 4000, 0xA7, from, from.Add(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	page.waitFor("the basket", fmt.Sprintf(`document.getElementById("costatus").textContent.includes(%q)`, co.ID))
	if err := term.Sim.Scan(code); err != nil {
		t.Fatal(err)
	}
	page.verdict("offline too long", "bad", "离线时间过长")
	page.screenshot("cashier-offline-age.png")
	if err := term.Cancel(ctx, co.ID); err != nil {
		t.Fatal(err)
	}
	clk.shift(-25 * time.Hour)

	// Back online: sync now says what it did.
	term.Net.Up()
	if err := term.WaitSynced(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	page.waitFor("online", `document.getElementById("net").classList.contains("on") && document.getElementById("offline").classList.contains("hidden")`)
	page.click("#sync")
	page.waitFor("what the sync did", `document.getElementById("syncmsg").textContent.includes("同步完成")`)

	// A terminal that has never synced: not "merchant suspended".
	cred, err := s.Hub.AddTerminal(ctx, s.Merchant.ID, "T9")
	if err != nil {
		t.Fatal(err)
	}
	a := agent.New(agent.Options{DataDir: t.TempDir(), Credential: cred, HTTP: "127.0.0.1:0",
		Server: "ws://127.0.0.1:1" + wire.Path, Now: clk.Now, Log: slog.New(slog.DiscardHandler)})
	if err := a.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	never := &stack.Terminal{ID: "T9", Agent: a}
	page.open(a.URL() + "/")
	page.waitFor("the never-synced banner", `document.getElementById("offline").textContent.includes("从未与服务器同步")`)
	if page.eval(`document.getElementById("scanner").classList.contains("hidden")`) != true {
		t.Error("a terminal without a scanner shows a scanner pill")
	}
	nco, err := never.Open(ctx, basket200...)
	if err != nil {
		t.Fatal(err)
	}
	page.waitFor("the basket", fmt.Sprintf(`document.getElementById("costatus").textContent.includes(%q)`, nco.ID))
	code, err = s.Today(ctx, terminal.Retail, 20000, 4000, 0xA8)
	if err != nil {
		t.Fatal(err)
	}
	page.eval(fmt.Sprintf(`document.getElementById("code").value = %q`, code))
	page.click("#apply")
	page.verdict("never synced", "bad", "尚未与服务器同步")
	if strings.Contains(page.text("reason"), "暂停") {
		t.Fatalf("a never-synced terminal says the merchant is suspended: %q", page.text("reason"))
	}
	page.screenshot("cashier-never-synced.png")
}

// TestBrowser_HeldElsewhere: a voucher held by another till's online claim
// (that till's sale still open) is declined as in use there, until when,
// not as already redeemed.
func TestBrowser_HeldElsewhere(t *testing.T) {
	s, _, page := screenStack(t, "T1", "T2")
	ctx := context.Background()
	t1, t2 := s.Terminals[0], s.Terminals[1]
	co2, err := t2.Open(ctx, basket200...)
	if err != nil {
		t.Fatal(err)
	}
	code, err := s.Today(ctx, terminal.Retail, 20000, 4000, 0xB1)
	if err != nil {
		t.Fatal(err)
	}
	var got terminal.Checkout
	if err := t2.Call(ctx, "POST", "/api/v1/checkouts/"+co2.ID+"/vouchers", map[string]string{"code": code}, &got); err != nil || got.Status != terminal.StatusVoucherApplied {
		t.Fatalf("T2 applies: %+v, %v", got, err)
	}
	co, err := t1.Open(ctx, basket200...)
	if err != nil {
		t.Fatal(err)
	}
	page.waitFor("the basket", fmt.Sprintf(`document.getElementById("costatus").textContent.includes(%q)`, co.ID))
	if err := t1.Sim.Scan(code); err != nil {
		t.Fatal(err)
	}
	page.verdict("held elsewhere", "bad", "其他收银台")
	page.waitFor("until when", `/\d\d:\d\d/.test(document.getElementById("reason").textContent)`)
	page.screenshot("cashier-held-elsewhere.png")
}

// TestBrowser_ReloadAndAgentGone: a reload with a voucher applied shows the
// approval again (the agent's state, not the page's); a completed sale
// survives a reload too; when the agent dies, nothing stays green; when it
// is back, the page reconnects by itself.
func TestBrowser_ReloadAndAgentGone(t *testing.T) {
	s, _, page := screenStack(t, "T1")
	ctx := context.Background()
	term := s.Terminals[0]
	co := scanInto(t, s, term, page, 0xC1, basket200...)
	page.verdict("the approval", "ok", "已联网核验")
	page.open(term.Agent.URL() + "/")
	page.verdict("the approval after a reload", "ok", "")
	if got := page.text("payable"); got != "¥218.80" {
		t.Fatalf("payable after reload %q", got)
	}
	page.waitFor("the online claim after a reload", `document.getElementById("reason").textContent.includes("已联网核验")`)
	done, err := term.Complete(ctx, co.ID)
	if err != nil {
		t.Fatal(err)
	}
	page.verdict("the sale", "done", done.RedemptionID)
	page.open(term.Agent.URL() + "/")
	page.verdict("the sale after a reload", "done", done.RedemptionID)

	if err := term.Agent.Close(); err != nil {
		t.Fatal(err)
	}
	page.waitFor("the page greyed", `document.body.classList.contains("dead") && !document.getElementById("lost").classList.contains("hidden")`)
	if got := page.eval(`[...document.querySelectorAll(".pill.on")].filter(e => !e.classList.contains("hidden")).length`); got != float64(0) {
		t.Fatalf("%v green pills with the agent gone", got)
	}
	if got := page.eval(`getComputedStyle(document.getElementById("result")).filter`); !strings.Contains(fmt.Sprint(got), "grayscale") {
		t.Fatalf("the verdict is not greyed: filter %v", got)
	}
	if got := page.text("net"); strings.Contains(got, "在线") {
		t.Fatalf("net pill %q with the agent gone", got)
	}
	page.screenshot("cashier-agent-gone.png")

	// The agent comes back (its supervisor restarts it): the page reconnects
	// by itself and shows the agent's state, live again.
	if err := term.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	page.waitFor("the page live again", `!document.body.classList.contains("dead") && document.getElementById("lost").classList.contains("hidden") && document.getElementById("net").textContent !== "状态未知"`)
	scanInto(t, s, term, page, 0xC2, basket200...)
	page.verdict("an approval after the restart", "ok", "")
}

// TestBrowser_KeypadSale: a shop without till software keys in ¥250 of
// which ¥50 is a stored-value top-up, opens the checkout, scans a 200−40
// voucher (eligible ¥200: approved) and completes; the ledger has the sale.
func TestBrowser_KeypadSale(t *testing.T) {
	s, _, page := screenStack(t, "T1")
	ctx := context.Background()
	term := s.Terminals[0]
	page.click(`.tab[data-tab="keypad"]`)
	for _, k := range "250" {
		page.click(fmt.Sprintf(`.key:nth-child(%d)`, keyIndex(k)))
	}
	page.click(`.kp-field[data-field="topup"]`)
	for _, k := range "50" {
		page.click(fmt.Sprintf(`.key:nth-child(%d)`, keyIndex(k)))
	}
	if got := page.text("kp-amount") + "|" + page.text("kp-topup"); got != "250|50" {
		t.Fatalf("keyed %q", got)
	}
	page.noOverflow("the keypad", true)
	page.screenshot("cashier-keypad.png")
	page.click("#kp-open")
	page.waitFor("the checkout", `document.getElementById("verdict").textContent.includes("请扫描消费券") && !document.getElementById("kp-complete").classList.contains("hidden")`)
	code, err := s.Today(ctx, terminal.Retail, 20000, 4000, 0xD1)
	if err != nil {
		t.Fatal(err)
	}
	if err := term.Sim.Scan(code); err != nil {
		t.Fatal(err)
	}
	page.verdict("the approval", "ok", "")
	if got := page.text("payable"); got != "¥210.00" {
		t.Fatalf("payable %q, want ¥210.00 (¥250 − ¥40)", got)
	}
	page.screenshot("cashier-keypad-approved.png")
	page.click("#kp-complete")
	page.waitFor("the sale", `document.getElementById("result").classList.contains("done") && document.getElementById("kp-msg").textContent.includes("¥210.00")`)
	var rep till.Report
	if err := term.Call(ctx, "GET", "/api/v1/redemptions", nil, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Records) != 1 || rep.Records[0].SaleFen != 25000 || rep.Records[0].DiscountFen != 4000 {
		t.Fatalf("ledger: %+v", rep.Records)
	}
}

// keyIndex is the position of key k in the keypad's grid (7 8 9 / 4 5 6 /
// 1 2 3 / . 0 ⌫).
func keyIndex(k rune) int {
	return strings.IndexRune("789456123.0", k) + 1
}

// TestBrowser_Refund: two voucher sales; the cashier finds the first by its
// amount in today's list, picks one bag of rice, sees what the customer
// gets back in cash and that the voucher stays used, confirms with the
// manager's PIN (refused without it and with a wrong one), and the screen
// and the ledger agree.
func TestBrowser_Refund(t *testing.T) {
	s, _, page := screenStackWith(t, stack.Options{RefundPIN: "2468"})
	ctx := context.Background()
	term := s.Terminals[0]
	co := scanInto(t, s, term, page, 0xE1, basket200...)
	page.verdict("the approval", "ok", "")
	sale, err := term.Complete(ctx, co.ID)
	if err != nil {
		t.Fatal(err)
	}
	co = scanInto(t, s, term, page, 0xE2, terminal.Item{SKU: "tv", Name: "电视机", Category: "appliance", Qty: 1, UnitPriceFen: 30000})
	page.verdict("the approval", "ok", "")
	if _, err := term.Complete(ctx, co.ID); err != nil {
		t.Fatal(err)
	}

	page.click(`.tab[data-tab="refund"]`)
	page.waitFor("today's sales", `document.querySelectorAll("#rf-sales tr[data-id]").length === 2`)
	page.screenshot("cashier-refund-list.png")
	page.eval(`const q = document.getElementById("rf-search"); q.value = "258.80"; q.dispatchEvent(new Event("input"))`)
	page.waitFor("the sale found by amount", fmt.Sprintf(`document.querySelectorAll("#rf-sales tr[data-id]").length === 1 && document.querySelector("#rf-sales tr[data-id]").dataset.id === %q`, sale.RedemptionID))
	page.click("#rf-sales tr[data-id]")
	page.waitFor("the sale's lines", `document.querySelectorAll("#rf-lines output.qty").length === 2`)
	page.click(`#rf-lines button[data-sku="rice"][data-d="1"]`)
	page.click(`#rf-lines button[data-sku="rice"][data-d="1"]`)
	page.click(`#rf-lines button[data-sku="rice"][data-d="1"]`) // three taps: capped at the two sold
	page.click(`#rf-lines button[data-sku="rice"][data-d="-1"]`)
	if got := page.text("rf-lines"); !strings.Contains(got, "−1+") {
		t.Fatalf("lines %q, want one bag chosen", got)
	}
	page.noOverflow("the refund lines", true)
	page.screenshot("cashier-refund-lines.png")
	page.click("#rf-next")
	page.waitFor("the confirmation", `!document.getElementById("rf-confirm").classList.contains("hidden") && document.getElementById("rf-cash").textContent.startsWith("¥")`)
	cash := page.text("rf-cash")
	if v := page.text("rf-voucher"); !strings.Contains(v, "仍算已使用") {
		t.Fatalf("voucher line %q, want the voucher kept", v)
	}
	page.noOverflow("the confirmation", true)
	page.screenshot("cashier-refund-confirm.png")
	var rep till.Report
	if err := term.Call(ctx, "GET", "/api/v1/redemptions", nil, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Records) != 2 {
		t.Fatalf("the confirmation refunded already: %d records", len(rep.Records))
	}
	if page.eval(`document.getElementById("rf-pinrow").classList.contains("hidden")`) != false {
		t.Fatal("no PIN field though refunds need the manager's PIN")
	}
	page.click("#rf-do")
	page.waitFor("the PIN asked for", `document.getElementById("refundmsg").textContent.includes("请输入店长密码")`)
	page.eval(`document.getElementById("rf-pin").value = "1111"`)
	page.click("#rf-do")
	page.waitFor("a wrong PIN refused", `document.getElementById("refundmsg").textContent.includes("店长密码不对")`)
	page.eval(`document.getElementById("rf-pin").value = "2468"`)
	page.eval(`const b = document.getElementById("rf-do"); b.click(); b.click()`) // a double tap refunds once
	page.waitFor("the refund", `document.getElementById("refundmsg").textContent.includes("已退款")`)
	page.verdict("the refund on the big panel", "done", "仍算已使用")
	if got := page.text("payable"); got != cash {
		t.Fatalf("the panel shows %q back, the confirmation said %q", got, cash)
	}
	page.screenshot("cashier-refunded.png")
	if err := term.Call(ctx, "GET", "/api/v1/redemptions", nil, &rep); err != nil {
		t.Fatal(err)
	}
	var refunds []till.Row
	for _, r := range rep.Records {
		if r.Kind == string(terminal.KindRefund) {
			refunds = append(refunds, r)
		}
	}
	if len(refunds) != 1 || refunds[0].RefundOf != sale.RedemptionID || refunds[0].Returned || refunds[0].RefundFen+refunds[0].ShareFen != 10000 {
		t.Fatalf("refunds %+v, want one of ¥100.00 of %s, voucher kept", refunds, sale.RedemptionID)
	}
	if want := terminal.Fen(refunds[0].RefundFen).String(); cash != want {
		t.Fatalf("confirmation said %s, the ledger refunded %s", cash, want)
	}
	page.waitFor("the list marks the refund", `document.getElementById("rf-sales").textContent.includes("已退")`)
}

// TestBrowser_Dashboard: the owner's day at 1024×600 with no sideways
// scroll (a refund and a long conflict-like text included), in both
// languages, the pill telling the truth after the switch, the CSV's column
// names in the page's language, a range of days, "this till only".
func TestBrowser_Dashboard(t *testing.T) {
	s, _, page := screenStack(t, "T1")
	ctx := context.Background()
	term := s.Terminals[0]
	for i, h := range []terminal.HolderID{0xF1, 0xF2} {
		co := scanInto(t, s, term, page, h, basket200...)
		page.verdict("the approval", "ok", "")
		done, err := term.Complete(ctx, co.ID)
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			if err := term.Call(ctx, "POST", "/api/v1/redemptions/"+done.RedemptionID+"/refund", map[string]any{"items": []map[string]any{{"sku": "oil", "qty": 1}}}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	page.open(term.Agent.URL() + "/dashboard")
	page.waitFor("the day's redemptions", `document.getElementById("t-count").textContent === "2" && document.querySelectorAll("#rows tr").length === 3`)
	// The scope comes with the agent's status, fetched beside the report.
	page.waitFor("the till's status", `document.getElementById("scope").textContent !== ""`)
	if got := page.text("scope"); !strings.Contains(got, "仅本收银台") || !strings.Contains(got, "T1") {
		t.Fatalf("scope %q, want this till only", got)
	}
	if got := page.eval(`document.querySelectorAll("#chart rect").length`); got != float64(1) {
		t.Fatalf("%v bars for one hour of sales", got)
	}
	page.noOverflow("the dashboard", false)
	page.screenshot("dashboard.png")
	csvHead := func() string {
		page.eval(`window.__csv = ""; fetch(document.getElementById("csv").href).then(r => r.text()).then(t => { window.__csv = t.split("\n")[0] })`)
		page.waitFor("the CSV", `window.__csv !== ""`)
		return page.eval(`window.__csv`).(string)
	}
	if got := csvHead(); !strings.Contains(got, "单号") || !strings.Contains(got, "券类") {
		t.Fatalf("Chinese CSV header %q", got)
	}

	page.click(".lang-switch")
	page.waitFor("English", `document.getElementById("net").textContent === "Online" && document.getElementById("net").classList.contains("on") && document.getElementById("t-count").previousElementSibling.textContent === "Redemptions"`)
	if got := csvHead(); !strings.HasPrefix(strings.TrimPrefix(got, "\ufeff"), "id,kind,time") {
		t.Fatalf("English CSV header %q", got)
	}
	page.noOverflow("the dashboard in English", false)
	page.screenshot("dashboard-en.png")
	page.click(".lang-switch")

	// A range: the last seven days.
	page.click("#week")
	page.waitFor("the range", `location.search.includes("from=") && document.getElementById("t-count").textContent === "2"`)
	page.noOverflow("the range", false)
}

// TestBrowser_LedgerFault: a record altered on disk while the agent was
// down (one digit of an amount) is found by the agent's own audit after it
// restarts, and the cashier screen says so in red; offline redemptions stop.
func TestBrowser_LedgerFault(t *testing.T) {
	s, _, page := screenStack(t, "T1")
	ctx := context.Background()
	term := s.Terminals[0]
	co := scanInto(t, s, term, page, 0x91, basket200...)
	page.verdict("the approval", "ok", "")
	if _, err := term.Complete(ctx, co.ID); err != nil {
		t.Fatal(err)
	}
	if err := term.Agent.Close(); err != nil {
		t.Fatal(err)
	}
	alterAmount(t, filepath.Join(term.DataDir(), agent.LedgerFile), "25880", "25881")
	if err := term.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	page.waitFor("the ledger fault", `document.getElementById("alerts").textContent.includes("离线账本校验异常") && !document.getElementById("alerts").classList.contains("hidden")`)
	page.screenshot("cashier-ledger-fault.png")
	page.click(".lang-switch")
	page.waitFor("the fault in English", `document.getElementById("alerts").textContent.includes("ledger failed its audit")`)
	page.click(".lang-switch")
}

// alterAmount changes the first stored record holding the text from to
// to, in place, as a careless or dishonest hand with a bbolt editor would.
func alterAmount(t *testing.T, path, from, to string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	done := false
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("records"))
		if b == nil {
			return fmt.Errorf("no records bucket")
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil && !done; k, v = c.Next() {
			if i := bytes.Index(v, []byte(from)); i >= 0 {
				nv := append([]byte(nil), v...)
				copy(nv[i:], to)
				done = true
				return b.Put(append([]byte(nil), k...), nv)
			}
		}
		return nil
	})
	if err != nil || !done {
		t.Fatalf("alter %s in %s: %v (found: %v)", from, path, err, done)
	}
}

// unknownOutcome is the agent's own lane whose completes cannot tell
// whether the sale was recorded, as after a failed write of the ledger's
// meta page (the failure itself is the ledger's tests'; this one checks what
// the cashier is told).
type unknownOutcome struct{ *terminal.Lane }

func (u unknownOutcome) Complete(ctx context.Context, id string) (terminal.Checkout, error) {
	return terminal.Checkout{}, fmt.Errorf("complete checkout %s: commit: %w", id, terminal.ErrOutcomeUnknown)
}

// agentLink shows the agent's own link to the server on a second server.
type agentLink struct{ a *agent.Agent }

func (l agentLink) Online() bool                      { return l.a.Online() }
func (l agentLink) SyncNow(ctx context.Context) error { return l.a.SyncNow(ctx) }
func (l agentLink) LastSync() time.Time {
	if t := l.a.Server().Status(context.Background()).LastSync; t != nil {
		return *t
	}
	return time.Time{}
}

// TestBrowser_OutcomeUnknown: a complete whose outcome the agent cannot
// know shows on the cashier screen as such (not as a failure, not as a sale).
func TestBrowser_OutcomeUnknown(t *testing.T) {
	s, clk, page := screenStack(t, "T1")
	term := s.Terminals[0]
	srv := till.NewServer(till.ServerConfig{Lane: unknownOutcome{term.Agent.Lane()}, Ledger: term.Agent.Ledger(),
		Link: agentLink{term.Agent}, TerminalID: term.ID, Now: clk.Now,
		Scanner: func() terminal.ScannerState { return term.Agent.Server().Status(context.Background()).Scanner }})
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { srv.Close(); hs.Close() })
	co := scanInto(t, s, term, page, 0x92, basket200...)
	page.verdict("the approval", "ok", "")
	page.open(hs.URL + "/")
	page.verdict("the approval, from the agent's state", "ok", "")
	resp, err := http.Post(hs.URL+"/api/v1/checkouts/"+co.ID+"/complete", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("complete: %d, want 503", resp.StatusCode)
	}
	page.verdict("the unknown outcome", "warn", "请勿重复收款")
	page.waitFor("the verdict", `document.getElementById("verdict").textContent.includes("记账结果未知")`)
	page.screenshot("cashier-outcome-unknown.png")
}

// TestBrowser_Fork: the terminal's ledger is wiped and the agent starts on a
// fresh one; the server holds more of its chain, so the screen says the
// ledger does not continue and a voucher is declined for it, in plain words.
func TestBrowser_Fork(t *testing.T) {
	s, _, page := screenStack(t, "T1")
	ctx := context.Background()
	term := s.Terminals[0]
	co := scanInto(t, s, term, page, 0x93, basket200...)
	page.verdict("the approval", "ok", "")
	if _, err := term.Complete(ctx, co.ID); err != nil {
		t.Fatal(err)
	}
	if err := term.WaitSynced(ctx, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := term.Agent.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(term.DataDir(), agent.LedgerFile)); err != nil {
		t.Fatal(err)
	}
	// Told the ledger is lost (without it the agent refuses to start).
	if err := term.RestartWith(ctx, func(o *agent.Options) { o.NewLedgerAfterLoss = true }); err != nil {
		t.Fatal(err)
	}
	fork := terminal.Declinef(terminal.OfflineLimit, terminal.ReasonFork, "").Message
	page.waitFor("the fork banner", fmt.Sprintf(`document.getElementById("alerts").textContent.includes(%q)`, fork))
	scanInto(t, s, term, page, 0x94, basket200...)
	page.verdict("a voucher declined for the fork", "bad", fork)
	page.screenshot("cashier-fork.png")
}
