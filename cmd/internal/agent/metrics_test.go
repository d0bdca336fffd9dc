package agent_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/voucherpos/voucherpos/terminal"
)

// TestAgent_Metrics: /metrics carries every family the operator watches,
// and the counts follow what the lane did.
func TestAgent_Metrics(t *testing.T) {
	k := startKit(t, false)
	co := k.open(basket)
	k.post("/api/v1/checkouts/"+co.ID+"/vouchers", fmt.Sprintf(`{"code":%q}`, k.code(terminal.Retail, 20000, 4000)), 200)
	k.post("/api/v1/checkouts/"+co.ID+"/vouchers", fmt.Sprintf(`{"code":%q}`, k.code(terminal.Retail, 5000, 1000)), 200)
	k.post("/api/v1/checkouts/"+co.ID+"/complete", "", 200)

	a := k.do("GET", "/metrics", "")
	if a.status != 200 {
		t.Fatalf("GET /metrics: %d %s", a.status, a.body)
	}
	body := string(a.body)
	for _, want := range []string{
		"# TYPE posagent_scans_total counter",
		`posagent_decisions_total{code="approved"} 1`,
		`posagent_decisions_total{code="one_voucher_per_transaction"} 1`,
		"# TYPE posagent_claims_total counter",
		"posagent_commit_seconds_count 1",
		"# TYPE posagent_sync_batch_seconds histogram",
		"posagent_queue_depth 1",
		"posagent_offline_exposure_fen 4000",
		"posagent_connected 0",
		"go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}
