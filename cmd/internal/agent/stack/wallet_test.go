package stack_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/cmd/internal/agent/stack"
	"github.com/voucherpos/voucherpos/cmd/internal/browsertest"
	"github.com/voucherpos/voucherpos/drivers/qrimage"
	"github.com/voucherpos/voucherpos/sync/issuing"
	"github.com/voucherpos/voucherpos/terminal"
)

// TestBrowser_Wallet: the consumer's wallet on a phone-sized headless
// Chromium. Before 10:00 it counts down and the buttons say when the drop
// opens; at 10:00 a tap claims a 200−40 voucher, whose QR code (drawn on
// the server with gozxing) carries the code; the last voucher goes to
// someone else and another user sees it sold out; the voucher is scanned at
// a till, approved online, and the wallet shows it used.
func TestBrowser_Wallet(t *testing.T) {
	browsertest.CJKFont(t)
	clk := &shiftClock{base: terminal.Day(time.Now()).Add(9*time.Hour + 59*time.Minute), start: time.Now()}
	s, err := stack.Start(context.Background(), stack.Options{Dir: t.TempDir(), Now: clk.Now, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	ctx := context.Background()
	y := terminal.Yuan
	if err := s.OpenDay(ctx, issuing.DropRequest{Category: terminal.Retail, SpendFen: y(200), OffFen: y(40), Count: 2},
		issuing.DropRequest{Category: terminal.Retail, SpendFen: y(50), OffFen: y(10), Count: 5}); err != nil {
		t.Fatal(err)
	}
	page := chromium(t)
	page.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": true}, nil)
	page.call("Page.navigate", map[string]any{"url": s.HubURL + "/wallet/?holder=ysf-1001"}, nil)
	first := `document.querySelector("#drops li button")`
	page.waitFor("the countdown", `document.getElementById("countdown").textContent.includes("开抢还有") && document.querySelectorAll("#drops li").length === 2`)
	page.waitFor("a button not open yet", first+`.disabled && `+first+`.textContent === "10:00开抢"`)
	page.noOverflow("the wallet", false)

	clk.shift(2 * time.Minute) // 10:01
	page.waitFor("the open drop", first+`.textContent === "立即领取" && !`+first+`.disabled`)
	page.click("#drops li button")
	page.waitFor("the claim", `document.getElementById("notice").textContent.includes("领取成功") && document.querySelectorAll("#mine li").length === 1`)
	page.waitFor("the QR image", `document.querySelector("#mine img").complete && document.querySelector("#mine img").naturalWidth > 0`)
	if got := page.eval(`document.querySelector("#mine .status").textContent`).(string); got == "" || got[:len("可使用")] != "可使用" {
		t.Fatalf("status %q", got)
	}
	page.screenshot("wallet.png")
	code := page.eval(`document.querySelector("#mine .code").textContent`).(string)
	if _, err := terminal.ParseCode(code); err != nil {
		t.Fatalf("the page shows %q: %v", code, err)
	}
	resp, err := http.Get(s.HubURL + "/wallet/qr.png?code=" + url.QueryEscape(code))
	if err != nil {
		t.Fatal(err)
	}
	qrs, err := qrimage.DecodeReader(resp.Body)
	resp.Body.Close()
	if err != nil || len(qrs) != 1 || qrs[0].Text != code {
		t.Fatalf("the QR image reads %+v, %v; want the code", qrs, err)
	}

	// Someone else takes the last 200−40; a third user sees it sold out.
	if _, err := s.Claim(ctx, "ysf-1002", terminal.Retail, y(200), y(40), ""); err != nil {
		t.Fatal(err)
	}
	page.eval(`(() => { const h = document.getElementById("holder"); h.value = "ysf-1003"; h.dispatchEvent(new Event("change")); })()`)
	page.waitFor("sold out", first+`.textContent === "已抢光" && `+first+`.disabled`)

	// At the till: the code the wallet shows is approved online.
	term := s.Terminals[0]
	w, err := term.Watch()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	co, err := term.Open(ctx, basket200...)
	if err != nil {
		t.Fatal(err)
	}
	if err := term.Sim.Scan(code); err != nil {
		t.Fatal(err)
	}
	ev, err := w.Verdict(5 * time.Second)
	if err != nil || ev.Kind != terminal.EventApproved || !ev.Online || ev.Checkout.DiscountFen != y(40) {
		t.Fatalf("at the till: %+v, %v", ev, err)
	}
	if _, err := term.Complete(ctx, co.ID); err != nil {
		t.Fatal(err)
	}
	if err := term.WaitSynced(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	page.eval(`(() => { const h = document.getElementById("holder"); h.value = "ysf-1001"; h.dispatchEvent(new Event("change")); })()`)
	page.waitFor("the voucher used", `(document.querySelector("#mine .status") || {}).textContent === "已使用"`)
	page.waitFor("already claimed", first+`.textContent === "已领取"`)

	// Night: a voucher claimed today and not used expires at midnight; the
	// till declines it expired and the wallet shows it expired.
	late, err := s.Claim(ctx, "ysf-1003", terminal.Retail, y(50), y(10), "")
	if err != nil {
		t.Fatal(err)
	}
	clk.shift(terminal.DayEnd(clk.Now()).Sub(clk.Now()) + time.Minute)
	if n, err := s.Issuing.Sweep(ctx); err != nil || n != 2 {
		t.Fatalf("sweep after midnight: %d, %v; want the two unused vouchers (ysf-1002, ysf-1003)", n, err)
	}
	if _, err := term.Open(ctx, basket200...); err != nil {
		t.Fatal(err)
	}
	if err := term.Sim.Scan(late.Code); err != nil {
		t.Fatal(err)
	}
	if ev, err := w.Verdict(5 * time.Second); err != nil || ev.Decline == nil || ev.Decline.Code != terminal.Expired {
		t.Fatalf("yesterday's claimed voucher at the till: %+v, %v; want declined expired", ev, err)
	}
	page.eval(`(() => { const h = document.getElementById("holder"); h.value = "ysf-1003"; h.dispatchEvent(new Event("change")); })()`)
	page.waitFor("the voucher expired", `(document.querySelector("#mine .status") || {}).textContent === "已过期"`)
}
