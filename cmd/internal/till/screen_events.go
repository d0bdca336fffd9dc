package till

import (
	"errors"

	"github.com/voucherpos/voucherpos/terminal"
)

// Events the screens see besides the lane's own: a complete whose outcome
// the agent cannot tell, or that it knows did not commit. The till that
// called complete gets the error; the cashier must see it too, since the
// customer is still at the counter.
const (
	EventOutcomeUnknown terminal.EventKind = "outcome_unknown"
	EventNotCommitted   terminal.EventKind = "not_committed"
)

// The messages of a complete that failed so, Chinese then English: the
// till's error answer and the screens' event say the same.
var (
	msgOutcomeUnknown = [2]string{"记账结果未知：请勿重复收款或重新开单，稍后查询此订单或重试完成，会得到确定结果",
		"the sale's outcome is unknown (storage failed): do not charge again; ask for this checkout later, or retry complete, for a definite answer"}
	msgNotCommitted = [2]string{"未记账（本地存储写入失败），消费券未使用；请重试完成或取消订单",
		"not committed (the storage write failed), the voucher is not used; retry complete or cancel"}
)

// completeFailed tells the screens about a complete of checkout id that
// failed with err, when the cashier must act on it (outcome unknown, not
// committed); other failures (a wrong state, an unknown id) are the till's.
func (s *Server) completeFailed(id string, err error) {
	ev := terminal.LaneEvent{At: s.cfg.Now.Now()}
	switch {
	case errors.Is(err, terminal.ErrOutcomeUnknown):
		ev.Kind = EventOutcomeUnknown
		ev.Decline = &terminal.Error{Code: CodeOutcomeUnknown, Message: msgOutcomeUnknown[0], MessageEN: msgOutcomeUnknown[1]}
	case errors.Is(err, terminal.ErrNotCommitted):
		ev.Kind = EventNotCommitted
		ev.Decline = &terminal.Error{Code: CodeNotCommitted, Message: msgNotCommitted[0], MessageEN: msgNotCommitted[1]}
	default:
		return
	}
	if co, cerr := s.cfg.Lane.Checkout(id); cerr == nil {
		ev.Checkout = &co
	}
	s.hub.broadcastLane(ev)
}
