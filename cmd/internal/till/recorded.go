package till

import (
	"errors"
	"net/http"

	"github.com/voucherpos/voucherpos/terminal"
)

// Error codes of the API beyond the decline codes: what a complete that
// failed in storage tells the till (stable names; docs/screens.md).
const (
	// CodeOutcomeUnknown (503): nobody can tell yet whether the sale is
	// recorded; do not charge again, ask for the checkout later.
	CodeOutcomeUnknown = "outcome_unknown"
	// CodeNotCommitted (503 from complete, 404 for a checkout the agent no
	// longer holds): the sale is certainly not recorded.
	CodeNotCommitted = "not_committed"
	// CodeLedgerFull (503): no room for more redemptions.
	CodeLedgerFull = "ledger_full"
	// CodeLedgerFault (503): the ledger failed its audit; offline redemption refused.
	CodeLedgerFault = "ledger_fault"
)

// recorded answers for a checkout the lane does not hold (the agent
// restarted since it was opened): the committed sale from the ledger, as
// its complete answered, or a definite "not committed". A retried complete
// with an Idempotency-Key gets the original answer; a key the sale was not
// made with is refused as reused.
func (s *Server) recorded(w http.ResponseWriter, r *http.Request, id string) {
	if _, ok := terminal.CheckoutOpened(id); !ok {
		writeError(w, http.StatusNotFound, "not_found", "找不到该订单或记录", "no checkout "+id)
		return
	}
	rec, err := s.cfg.Ledger.ByCheckout(r.Context(), id)
	switch {
	case errors.Is(err, terminal.ErrNotFound):
		writeError(w, http.StatusNotFound, CodeNotCommitted,
			"本机没有此订单的用券记录：未记账（终端重启前未完成）；如需用券请重新开单",
			"no sale of this checkout is recorded on this terminal: it was not committed (the agent restarted before it completed); open a new checkout to use the voucher")
		return
	case err != nil:
		s.laneError(w, err)
		return
	}
	if key := r.Header.Get("Idempotency-Key"); r.Method == http.MethodPost && key != "" {
		if rec.IdempotencyKey != "" && rec.IdempotencyKey != key {
			writeError(w, http.StatusUnprocessableEntity, "idempotency_key_reused",
				"Idempotency-Key 已用于另一个请求", "Idempotency-Key differs from the one this sale was completed with")
			return
		}
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeJSON(w, http.StatusOK, terminal.CheckoutOf(rec))
}
