package till_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/cmd/internal/till"
	"github.com/voucherpos/voucherpos/terminal"
)

// stubLane is a lane whose Complete fails with err, and that knows no
// checkout (as after a restart) when err is terminal.ErrNotFound.
type stubLane struct{ err error }

func (l stubLane) Open(context.Context, []terminal.Item) (terminal.Checkout, error) {
	return terminal.Checkout{}, nil
}
func (l stubLane) Checkout(id string) (terminal.Checkout, error) {
	return terminal.Checkout{}, fmt.Errorf("checkout %s: %w", id, terminal.ErrNotFound)
}
func (l stubLane) Current() (terminal.Checkout, bool) { return terminal.Checkout{}, false }
func (l stubLane) Apply(context.Context, string, string) (terminal.Checkout, terminal.LaneEvent, error) {
	return terminal.Checkout{}, terminal.LaneEvent{}, nil
}
func (l stubLane) Complete(context.Context, string) (terminal.Checkout, error) {
	return terminal.Checkout{}, l.err
}
func (l stubLane) Cancel(context.Context, string) (terminal.Checkout, error) {
	return terminal.Checkout{}, nil
}
func (l stubLane) Refund(context.Context, string, []terminal.Item) (*terminal.Redemption, error) {
	return nil, nil
}
func (l stubLane) State() (terminal.ServerState, bool) { return terminal.ServerState{}, false }

// stubRecords holds one committed sale.
type stubRecords struct{ sale *terminal.Redemption }

func (r stubRecords) DayEntries(context.Context, time.Time) ([]terminal.JournalEntry, error) {
	return nil, nil
}
func (r stubRecords) Entry(context.Context, string) (terminal.JournalEntry, error) {
	return terminal.JournalEntry{}, terminal.ErrNotFound
}
func (r stubRecords) Unsynced(context.Context) (int, terminal.Fen, error) { return 0, 0, nil }
func (r stubRecords) Get(context.Context, string) (*terminal.Redemption, error) {
	return nil, terminal.ErrNotFound
}
func (r stubRecords) Refunds(context.Context, string) ([]*terminal.Redemption, error) {
	return nil, nil
}
func (r stubRecords) ByCheckout(_ context.Context, id string) (*terminal.Redemption, error) {
	if r.sale != nil && r.sale.CheckoutID == id {
		return r.sale, nil
	}
	return nil, terminal.ErrNotFound
}

// TestComplete_Answers: what the till hears from complete when storage
// fails, and for a checkout the agent lost in a restart.
func TestComplete_Answers(t *testing.T) {
	const sold, lost = "CO20221001120000a1b2c3d4", "CO20221001120500a1b2c3d5"
	sale := &terminal.Redemption{ID: "T1-0000000007", Kind: terminal.KindRedemption, CheckoutID: sold,
		IdempotencyKey: "k1", TotalFen: 25000, DiscountFen: 4000, PayableFen: 21000}
	for _, c := range []struct {
		name, id, key string
		err           error
		status        int
		code          string
	}{
		{"OutcomeUnknown", sold, "", fmt.Errorf("commit: %w", terminal.ErrOutcomeUnknown), http.StatusServiceUnavailable, till.CodeOutcomeUnknown},
		{"NotCommitted", sold, "", fmt.Errorf("commit: %w", terminal.ErrNotCommitted), http.StatusServiceUnavailable, till.CodeNotCommitted},
		{"LedgerFull", sold, "", fmt.Errorf("commit: %w", terminal.ErrLedgerFull), http.StatusServiceUnavailable, till.CodeLedgerFull},
		{"AfterRestartCommitted", sold, "k1", terminal.ErrNotFound, http.StatusOK, ""},
		{"AfterRestartOtherKey", sold, "k2", terminal.ErrNotFound, http.StatusUnprocessableEntity, "idempotency_key_reused"},
		{"AfterRestartLost", lost, "k3", terminal.ErrNotFound, http.StatusNotFound, till.CodeNotCommitted},
		{"NotALaneID", "nope", "", terminal.ErrNotFound, http.StatusNotFound, "not_found"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := till.NewServer(till.ServerConfig{Lane: stubLane{err: c.err}, Ledger: stubRecords{sale: sale}})
			req := httptest.NewRequest("POST", "http://127.0.0.1:8080/api/v1/checkouts/"+c.id+"/complete", strings.NewReader(""))
			if c.key != "" {
				req.Header.Set("Idempotency-Key", c.key)
			}
			w := httptest.NewRecorder()
			s.ServeHTTP(w, req)
			var body struct {
				Error        struct{ Code string } `json:"error"`
				Status       terminal.Status       `json:"status"`
				RedemptionID string                `json:"redemption_id"`
			}
			_ = json.Unmarshal(w.Body.Bytes(), &body)
			if w.Code != c.status || body.Error.Code != c.code {
				t.Fatalf("got %d %s, want %d %q", w.Code, w.Body, c.status, c.code)
			}
			if c.status == http.StatusOK && (body.Status != terminal.StatusCompleted || body.RedemptionID != sale.ID) {
				t.Fatalf("after a restart: %s, want the completed sale %s", w.Body, sale.ID)
			}
		})
	}
}
