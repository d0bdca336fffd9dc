package agent_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/voucherpos/voucherpos/cmd/internal/agent"
	"github.com/voucherpos/voucherpos/drivers/serial"
	"github.com/voucherpos/voucherpos/terminal"
)

// A foreign web page open in the cashier's browser cannot drive the till:
// wrong Host (DNS rebinding), cross-origin and non-JSON requests are
// refused before they reach the lane; the agent's own pages keep working.
func TestAPI_Browsers(t *testing.T) {
	k := startKit(t, false)
	for _, tt := range []struct {
		name string
		hdr  []string
		want int
		code string
	}{
		{"Rebinding", []string{"Host", "attacker.example:8080"}, 421, "wrong_host"},
		{"CrossOrigin", []string{"Origin", "http://attacker.example"}, 403, "cross_origin"},
		{"CrossSite", []string{"Sec-Fetch-Site", "cross-site"}, 403, "cross_origin"},
		{"FormPost", []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "not_json"},
		{"TextPlain", []string{"Content-Type", "text/plain"}, 415, "not_json"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := k.do("POST", "/api/v1/checkouts", `{"items":`+basket+`}`, tt.hdr...)
			if a.status != tt.want || a.errCode() != tt.code {
				t.Fatalf("got %d %s, want %d %s", a.status, a.body, tt.want, tt.code)
			}
		})
	}
	if _, ok := k.a.Lane().Current(); ok {
		t.Fatal("a refused request opened a checkout")
	}
	// The screen's own requests: same origin, JSON.
	origin := k.a.URL()
	co := k.do("POST", "/api/v1/checkouts", `{"items":`+basket+`}`, "Origin", origin, "Sec-Fetch-Site", "same-origin", "Content-Type", "application/json")
	if co.status != http.StatusCreated {
		t.Fatalf("same-origin open: %d %s", co.status, co.body)
	}
	for _, page := range []string{"/", "/dashboard"} {
		if a := k.do("GET", page, "", "Sec-Fetch-Site", "none"); a.status != http.StatusOK {
			t.Errorf("page %s: %d", page, a.status)
		}
	}
}

func TestAPI_Validation(t *testing.T) {
	k := startKit(t, false)
	many := "[" + strings.Repeat(`{"sku":"a","qty":1,"unit_price_fen":1},`, terminal.MaxItems) + `{"sku":"a","qty":1,"unit_price_fen":1}]`
	tests := []struct {
		name, method, path, body string
		want                     int
		code                     string
	}{
		{"MalformedJSON", "POST", "/api/v1/checkouts", `{"items":[`, 400, "bad_request"},
		{"EmptyBody", "POST", "/api/v1/checkouts", ``, 400, "bad_request"},
		{"NullBody", "POST", "/api/v1/checkouts", `null`, 400, "bad_request"},
		{"ArrayBody", "POST", "/api/v1/checkouts", `[]`, 400, "bad_request"},
		{"NoItems", "POST", "/api/v1/checkouts", `{"items":[]}`, 400, "invalid_items"},
		{"ItemsNull", "POST", "/api/v1/checkouts", `{"items":null}`, 400, "invalid_items"},
		{"ZeroQuantity", "POST", "/api/v1/checkouts", `{"items":[{"sku":"a","qty":0,"unit_price_fen":100}]}`, 400, "invalid_items"},
		{"VoucherNull", "POST", "/api/v1/checkouts/CO-nope/vouchers", `null`, 400, "bad_request"},
		{"RefundNull", "POST", "/api/v1/redemptions/T1-0000000099/refund", `null`, 400, "bad_request"},
		{"UnknownField", "POST", "/api/v1/checkouts", `{"items":[],"tip":1}`, 400, "bad_request"},
		{"UnknownItemField", "POST", "/api/v1/checkouts", `{"items":[{"sku":"a","qty":1,"unit_price_fen":1,"colour":"red"}]}`, 400, "bad_request"},
		{"TrailingData", "POST", "/api/v1/checkouts", `{"items":[]} {"items":[]}`, 400, "bad_request"},
		{"NegativePrice", "POST", "/api/v1/checkouts", `{"items":[{"sku":"a","qty":1,"unit_price_fen":-5}]}`, 400, "invalid_items"},
		{"OverflowingPrice", "POST", "/api/v1/checkouts", `{"items":[{"sku":"a","qty":1,"unit_price_fen":99999999999999999999}]}`, 400, "bad_request"},
		{"PriceOverMax", "POST", "/api/v1/checkouts", `{"items":[{"sku":"a","qty":1,"unit_price_fen":10000000001}]}`, 400, "invalid_items"},
		{"TotalOverflows", "POST", "/api/v1/checkouts", `{"items":[{"sku":"a","qty":100000,"unit_price_fen":10000000000}]}`, 400, "invalid_items"},
		{"AbsurdQuantity", "POST", "/api/v1/checkouts", `{"items":[{"sku":"a","qty":100000000,"unit_price_fen":1}]}`, 400, "invalid_items"},
		{"FractionalQuantity", "POST", "/api/v1/checkouts", `{"items":[{"sku":"a","qty":1.5,"unit_price_fen":1}]}`, 400, "bad_request"},
		{"QuantityAsString", "POST", "/api/v1/checkouts", `{"items":[{"sku":"a","qty":"1","unit_price_fen":1}]}`, 400, "bad_request"},
		{"NoSKU", "POST", "/api/v1/checkouts", `{"items":[{"qty":1,"unit_price_fen":1}]}`, 400, "invalid_items"},
		{"TooManyLines", "POST", "/api/v1/checkouts", `{"items":` + many + `}`, 400, "invalid_items"},
		{"TooLarge", "POST", "/api/v1/checkouts", `{"items":[` + strings.Repeat(" ", 2<<20) + `]}`, 413, "too_large"},
		{"UnknownCheckout", "GET", "/api/v1/checkouts/CO-nope", ``, 404, "not_found"},
		{"CompleteUnknown", "POST", "/api/v1/checkouts/CO-nope/complete", ``, 404, "not_found"},
		{"CancelUnknown", "POST", "/api/v1/checkouts/CO-nope/cancel", ``, 404, "not_found"},
		{"VoucherUnknownCheckout", "POST", "/api/v1/checkouts/CO-nope/vouchers", `{"code":"VC1:x"}`, 404, "not_found"},
		{"VoucherBadJSON", "POST", "/api/v1/checkouts/CO-nope/vouchers", `{"code":1}`, 400, "bad_request"},
		{"RefundUnknown", "POST", "/api/v1/redemptions/T1-0000000099/refund", ``, 404, "not_found"},
		{"RefundBadLine", "POST", "/api/v1/redemptions/T1-0000000099/refund", `{"items":[{"sku":"a","qty":-1}]}`, 400, "invalid_items"},
		{"BadDay", "GET", "/api/v1/redemptions?day=2022-13-45", ``, 400, "bad_day"},
		{"UnknownCall", "GET", "/api/v1/nothing", ``, 404, "not_found"},
		{"WrongMethod", "DELETE", "/api/v1/checkouts/x", ``, 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := k.do(tt.method, tt.path, tt.body)
			if a.status != tt.want || (tt.code != "" && a.errCode() != tt.code) {
				t.Fatalf("got %d %s, want %d %s", a.status, a.body, tt.want, tt.code)
			}
			if tt.code != "" && !strings.Contains(string(a.body), `"message_en"`) {
				t.Fatalf("no English message: %s", a.body)
			}
		})
	}
	// After all of that the lane still works.
	co := k.open(basket)
	if a := k.do("POST", "/api/v1/checkouts", `{"items":[]}`); a.status != http.StatusConflict || a.errCode() != "checkout_open" {
		t.Fatalf("second open: %d %s", a.status, a.body)
	}
	k.post("/api/v1/checkouts/"+co.ID+"/cancel", "", 200)
	if a := k.do("POST", "/api/v1/checkouts/"+co.ID+"/complete", ""); a.status != http.StatusConflict {
		t.Fatalf("complete cancelled: %d %s", a.status, a.body)
	}
}

func TestAPI_Flow(t *testing.T) {
	k := startKit(t, false)
	code := k.code(terminal.Retail, 20000, 4000)
	co := k.open(basket)
	got := k.post("/api/v1/checkouts/"+co.ID+"/vouchers", fmt.Sprintf(`{"code":%q}`, code), 200)
	if got.Status != "voucher_applied" || got.DiscountFen != 4000 || got.PayableFen != 16000 || got.Decline != nil {
		t.Fatalf("apply: %+v", got)
	}
	// A second voucher on the same checkout is declined, not an error.
	got = k.post("/api/v1/checkouts/"+co.ID+"/vouchers", fmt.Sprintf(`{"code":%q}`, k.code(terminal.Retail, 5000, 1000)), 200)
	if got.Decline == nil || got.Decline.Code != string(terminal.OneVoucherPerTransaction) || !strings.Contains(got.Decline.Message, "每笔交易限用一张券") {
		t.Fatalf("second voucher: %+v", got)
	}
	done := k.post("/api/v1/checkouts/"+co.ID+"/complete", "", 200)
	if done.Status != "completed" || done.RedemptionID == "" {
		t.Fatalf("complete: %+v", done)
	}
	// Durable before the answer: the ledger has it.
	rec, err := k.a.Ledger().Get(context.Background(), done.RedemptionID)
	if err != nil || rec.DiscountFen != 4000 {
		t.Fatalf("ledger: %+v %v", rec, err)
	}
	day := terminal.Day(k.clock.Now()).Format("2006-01-02")
	var rep struct {
		Records []struct{ ID, Sync string } `json:"redemptions"`
		Totals  struct {
			Redemptions int     `json:"redemptions"`
			Leverage    float64 `json:"leverage"`
			Pending     struct {
				Redemptions int   `json:"redemptions"`
				DiscountFen int64 `json:"discount_fen"`
			} `json:"pending"`
		} `json:"totals"`
	}
	k.do("GET", "/api/v1/redemptions?day="+day, "").json(t, &rep)
	if len(rep.Records) != 1 || rep.Records[0].Sync != "pending" ||
		rep.Totals.Redemptions != 0 || rep.Totals.Leverage != 0 || rep.Totals.Pending.Redemptions != 1 || rep.Totals.Pending.DiscountFen == 0 {
		// Not yet accepted by the server: shown apart, not counted (docs/reports.md).
		t.Fatalf("report: %+v", rep)
	}
	if a := k.do("GET", "/api/v1/redemptions?day="+day+"&format=csv", ""); a.status != 200 || !strings.Contains(string(a.body), done.RedemptionID) {
		t.Fatalf("csv: %d %s", a.status, a.body)
	}
	var ref struct {
		RefundFen       int64 `json:"refund_fen"`
		VoucherReturned bool  `json:"voucher_returned"`
	}
	a := k.do("POST", "/api/v1/redemptions/"+done.RedemptionID+"/refund", "")
	a.json(t, &ref)
	if a.status != 200 || ref.RefundFen != 16000 || !ref.VoucherReturned {
		t.Fatalf("refund: %d %s", a.status, a.body)
	}
	if a := k.do("POST", "/api/v1/redemptions/"+done.RedemptionID+"/refund", ""); a.status != http.StatusUnprocessableEntity {
		t.Fatalf("second refund: %d %s", a.status, a.body)
	}
	var st struct {
		QueueDepth int   `json:"queue_depth"`
		Exposure   int64 `json:"offline_exposure_fen"`
		Online     bool  `json:"online"`
		Scanner    string
	}
	k.do("GET", "/api/v1/status", "").json(t, &st)
	if st.QueueDepth != 2 || st.Online || st.Scanner != "disconnected" {
		t.Fatalf("status: %+v", st)
	}
}

func TestAPI_Idempotency(t *testing.T) {
	k := startKit(t, false)
	body := `{"items":` + basket + `}`
	first := k.do("POST", "/api/v1/checkouts", body, "Idempotency-Key", "till-1")
	again := k.do("POST", "/api/v1/checkouts", body, "Idempotency-Key", "till-1")
	if first.status != 201 || again.status != 201 || string(first.body) != string(again.body) || again.hdr.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %s / %d %s", first.status, first.body, again.status, again.body)
	}
	if a := k.do("POST", "/api/v1/checkouts", `{"items":[]}`, "Idempotency-Key", "till-1"); a.status != http.StatusUnprocessableEntity {
		t.Fatalf("reused key: %d %s", a.status, a.body)
	}
	var co checkout
	first.json(t, &co)
	code := k.code(terminal.Retail, 20000, 4000)
	k.do("POST", "/api/v1/checkouts/"+co.ID+"/vouchers", fmt.Sprintf(`{"code":%q}`, code), "Idempotency-Key", "till-2")
	c1 := k.do("POST", "/api/v1/checkouts/"+co.ID+"/complete", "", "Idempotency-Key", "till-3")
	c2 := k.do("POST", "/api/v1/checkouts/"+co.ID+"/complete", "", "Idempotency-Key", "till-3")
	if c1.status != 200 || string(c1.body) != string(c2.body) {
		t.Fatalf("complete replay: %s / %s", c1.body, c2.body)
	}
	recs, err := k.a.Ledger().Day(context.Background(), k.clock.Now())
	if err != nil || len(recs) != 1 {
		t.Fatalf("records %d, %v; want 1", len(recs), err)
	}
}

// FuzzAPI_Open sends arbitrary bodies to the open and voucher calls: the
// answer is never a 5xx and the lane keeps working.
func FuzzAPI_Open(f *testing.F) {
	for _, s := range []string{
		`{"items":[]}`, basket, `{"items":[{"sku":"a","qty":1e400,"unit_price_fen":1}]}`, `{"items":null}`,
		`[]`, `"x"`, `{"items":[{"sku":"","qty":-1}]}`, "\x00\xff", `{"code":"VC1:` + strings.Repeat("Z", 200) + `"}`,
	} {
		f.Add(s)
	}
	k := startKit(f, false)
	f.Fuzz(func(t *testing.T, body string) {
		k.t = t
		a := k.do("POST", "/api/v1/checkouts", body)
		if a.status >= 500 {
			t.Fatalf("open %q: %d %s", body, a.status, a.body)
		}
		if a.status == 201 {
			var co checkout
			a.json(t, &co)
			if v := k.do("POST", "/api/v1/checkouts/"+co.ID+"/vouchers", body); v.status >= 500 {
				t.Fatalf("voucher %q: %d %s", body, v.status, v.body)
			}
			k.post("/api/v1/checkouts/"+co.ID+"/cancel", "", 200)
		}
	})
}

// TestAgent_ScanOverPTY: a code read by the simulated scanner on a pty is
// applied to the open checkout and pushed to the screens; a scan with no
// checkout open is declined no_open_checkout.
func TestAgent_ScanOverPTY(t *testing.T) {
	k := startKit(t, true)
	next := k.events()
	co := k.open(basket)
	if err := k.sim.Scan(k.code(terminal.Retail, 20000, 4000)); err != nil {
		t.Fatal(err)
	}
	ev := next("approved")
	if c, _ := ev["checkout"].(map[string]any); c["id"] != co.ID || c["payable_fen"] != float64(16000) || ev["source"] != "scanner" {
		t.Fatalf("event: %v", ev)
	}
	k.post("/api/v1/checkouts/"+co.ID+"/complete", "", 200)
	if err := k.sim.Scan(k.code(terminal.Retail, 5000, 1000)); err != nil {
		t.Fatal(err)
	}
	ev = next("declined")
	if d, _ := ev["decline"].(map[string]any); d["code"] != string(terminal.NoOpenCheckout) {
		t.Fatalf("event: %v", ev)
	}
	var st struct{ Scanner string }
	k.do("GET", "/api/v1/status", "").json(t, &st)
	if st.Scanner != "connected" {
		t.Fatalf("scanner %q", st.Scanner)
	}
}

// TestAgent_FailedOpenFreesPort: an Open that fails after taking the HTTP
// port (here on a bad scanner setting) gives the port back.
func TestAgent_FailedOpenFreesPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	a := agent.New(agent.Options{DataDir: t.TempDir(), Credential: credential(), HTTP: addr, Log: testLog(t),
		Scanner: serial.Config{Device: "/dev/nonexistent-scanner", Baud: 12345}})
	if err := a.Open(context.Background()); err == nil {
		a.Close()
		t.Fatal("Open with baud 12345: no error")
	}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the port is still held after the failed Open: %v", err)
	}
	ln.Close()
}
