package till

import (
	"crypto/subtle"
	"fmt"
	"net/http"

	"github.com/voucherpos/voucherpos/terminal"
)

// RefundAnswer is the answer of POST /api/v1/redemptions/{id}/refund and,
// without RefundID, of its preview.
type RefundAnswer struct {
	RefundID        string          `json:"refund_id,omitempty"`
	RefundOf        string          `json:"refund_of"`
	RefundFen       terminal.Fen    `json:"refund_fen"`
	GrossFen        terminal.Fen    `json:"gross_fen"`
	VoucherShareFen terminal.Fen    `json:"voucher_share_fen"`
	VoucherReturned bool            `json:"voucher_returned"`
	Items           []terminal.Item `json:"items"`
}

// refundLines reads a refund body; it answers and returns false when the
// body is not one.
func refundLines(w http.ResponseWriter, body []byte) ([]terminal.Item, bool) {
	var b itemsBody
	if !decode(w, body, &b, true) {
		return nil, false
	}
	for i, it := range b.Items {
		if it.SKU == "" || len(it.SKU) > 64 || it.Qty <= 0 || it.Qty > terminal.MaxQty {
			writeError(w, http.StatusBadRequest, "invalid_items", "退货清单无效（商品编码或数量不对）",
				fmt.Sprintf("item %d: want a sku and a quantity 1..%d", i+1, terminal.MaxQty))
			return nil, false
		}
	}
	return b.Items, true
}

// pinOK checks the manager's PIN when one is configured; it answers 403
// and returns false when the request does not carry it.
func (s *Server) pinOK(w http.ResponseWriter, r *http.Request) bool {
	if s.cfg.RefundPIN == "" {
		return true
	}
	got := r.Header.Get("X-Manager-PIN")
	if subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.RefundPIN)) == 1 {
		return true
	}
	if got == "" {
		writeError(w, http.StatusForbidden, "pin_required", "退货需要店长密码", "a refund needs the manager's PIN")
	} else {
		s.cfg.Log.Warn("refund refused: wrong manager PIN", "redemption", r.PathValue("id"))
		writeError(w, http.StatusForbidden, "bad_pin", "店长密码不对", "wrong manager PIN")
	}
	return false
}

func (s *Server) refund(w http.ResponseWriter, r *http.Request, body []byte) {
	lines, ok := refundLines(w, body)
	if !ok || !s.pinOK(w, r) {
		return
	}
	rec, err := s.cfg.Lane.Refund(r.Context(), r.PathValue("id"), lines)
	if err != nil {
		s.laneError(w, err)
		return
	}
	s.cfg.Log.Info("refund", "redemption", rec.RefundOf, "refund", rec.ID, "amount", rec.RefundFen.String(), "voucher_returned", rec.VoucherReturned)
	writeJSON(w, http.StatusOK, RefundAnswer{RefundID: rec.ID, RefundOf: rec.RefundOf, RefundFen: rec.RefundFen,
		GrossFen: rec.TotalFen, VoucherShareFen: rec.VoucherShareFen, VoucherReturned: rec.VoucherReturned, Items: rec.Items})
}

// refundPreview answers what a refund of the same body would do (cash back,
// the voucher's share, whether the voucher goes back) without doing it: the
// same terminal.PlanRefund the lane's refund runs, so the confirmation the
// cashier reads is the refund that follows (unless another refund of the
// sale lands in between, which the refund itself then accounts for).
func (s *Server) refundPreview(w http.ResponseWriter, r *http.Request, body []byte) {
	lines, ok := refundLines(w, body)
	if !ok {
		return
	}
	id := r.PathValue("id")
	orig, err := s.cfg.Ledger.Get(r.Context(), id)
	if err != nil {
		s.laneError(w, err)
		return
	}
	prior, err := s.cfg.Ledger.Refunds(r.Context(), id)
	if err != nil {
		s.laneError(w, err)
		return
	}
	plan, err := terminal.PlanRefund(orig, prior, lines, s.cfg.Now.Now())
	if err != nil {
		s.laneError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, RefundAnswer{RefundOf: orig.ID, RefundFen: plan.RefundFen, GrossFen: plan.GrossFen,
		VoucherShareFen: plan.VoucherShareFen, VoucherReturned: plan.VoucherReturned, Items: plan.Items})
}
