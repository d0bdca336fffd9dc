package agent_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/terminal"
)

// TestAPI_RefundPreview: the preview answers what the refund then does, and
// does nothing itself; a preview of more than was sold is refused like the
// refund.
func TestAPI_RefundPreview(t *testing.T) {
	k := startKit(t, false)
	co := k.open(`[{"sku":"rice","name":"大米","category":"grocery","qty":2,"unit_price_fen":10000},{"sku":"oil","name":"油","category":"grocery","qty":1,"unit_price_fen":5880}]`)
	k.post("/api/v1/checkouts/"+co.ID+"/vouchers", fmt.Sprintf(`{"code":%q}`, k.code(terminal.Retail, 20000, 4000)), 200)
	done := k.post("/api/v1/checkouts/"+co.ID+"/complete", "", 200)
	path := "/api/v1/redemptions/" + done.RedemptionID + "/refund"
	type answer struct {
		RefundID        string `json:"refund_id"`
		RefundFen       int64  `json:"refund_fen"`
		VoucherShareFen int64  `json:"voucher_share_fen"`
		VoucherReturned bool   `json:"voucher_returned"`
	}
	body := `{"items":[{"sku":"rice","qty":1}]}`
	var pre, got answer
	if a := k.do("POST", path+"/preview", body); a.status != 200 {
		t.Fatalf("preview: %d %s", a.status, a.body)
	} else {
		a.json(t, &pre)
	}
	if pre.RefundID != "" || pre.RefundFen+pre.VoucherShareFen != 10000 || pre.VoucherReturned {
		t.Fatalf("preview %+v, want ¥100.00 split, no id, voucher kept", pre)
	}
	if n, _, _ := k.a.Ledger().Unsynced(t.Context()); n != 1 {
		t.Fatalf("the preview recorded something: %d records", n)
	}
	if a := k.do("POST", path+"/preview", `{"items":[{"sku":"rice","qty":3}]}`); a.status != http.StatusUnprocessableEntity {
		t.Fatalf("preview of 3 of 2: %d %s", a.status, a.body)
	}
	k.do("POST", path, body).json(t, &got)
	if got.RefundID == "" || got.RefundFen != pre.RefundFen || got.VoucherShareFen != pre.VoucherShareFen || got.VoucherReturned != pre.VoucherReturned {
		t.Fatalf("refund %+v, preview said %+v", got, pre)
	}
}

// TestAPI_ReportRange: a range of days in one report, the CSV's column
// names in Chinese on request, and bad ranges refused.
func TestAPI_ReportRange(t *testing.T) {
	k := startKit(t, false)
	co := k.open(basket)
	k.post("/api/v1/checkouts/"+co.ID+"/vouchers", fmt.Sprintf(`{"code":%q}`, k.code(terminal.Retail, 20000, 4000)), 200)
	done := k.post("/api/v1/checkouts/"+co.ID+"/complete", "", 200)
	today := terminal.Day(k.clock.Now())
	d := func(n int) string { return today.AddDate(0, 0, n).Format(time.DateOnly) }
	var rep struct {
		Day     string                `json:"day"`
		Until   string                `json:"until"`
		Records []struct{ ID string } `json:"redemptions"`
	}
	k.do("GET", "/api/v1/redemptions?from="+d(-3)+"&until="+d(0), "").json(t, &rep)
	if rep.Day != d(-3) || rep.Until != d(0) || len(rep.Records) != 1 || rep.Records[0].ID != done.RedemptionID {
		t.Fatalf("range report: %+v", rep)
	}
	k.do("GET", "/api/v1/redemptions?from="+d(-3)+"&until="+d(-1), "").json(t, &rep)
	if len(rep.Records) != 0 {
		t.Fatalf("the days before: %+v", rep.Records)
	}
	zh := k.do("GET", "/api/v1/redemptions?day="+d(0)+"&format=csv&lang=zh", "")
	en := k.do("GET", "/api/v1/redemptions?day="+d(0)+"&format=csv", "")
	if head := strings.SplitN(string(zh.body), "\n", 2)[0]; !strings.Contains(head, "单号") || !strings.Contains(head, "券类") {
		t.Fatalf("Chinese CSV header %q", head)
	}
	if head := strings.SplitN(string(en.body), "\n", 2)[0]; !strings.Contains(head, "id,kind,time") {
		t.Fatalf("English CSV header %q", head)
	}
	for _, q := range []string{"from=" + d(0) + "&until=" + d(-1), "from=" + d(-70) + "&until=" + d(0), "from=yesterday"} {
		if a := k.do("GET", "/api/v1/redemptions?"+q, ""); a.status != http.StatusBadRequest || a.errCode() != "bad_day" {
			t.Errorf("%s: %d %s, want 400 bad_day", q, a.status, a.body)
		}
	}
}
