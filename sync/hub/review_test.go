package hub

import (
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/terminal"
)

// TestSender_DecodedCode: the code a connection's reader decodes (prepare)
// reaches the committer's review with the record (sender), so the review
// does not decode it again.
func TestSender_DecodedCode(t *testing.T) {
	sale := &terminal.Redemption{Kind: terminal.KindRedemption, Code: "VC1:NOT-A-REAL-CODE"}
	refund := &terminal.Redemption{Kind: terminal.KindRefund, Code: sale.Code}
	meta := []recMeta{{checked: true, rec: sale, Kind: sale.Kind}, {checked: true, rec: refund, Kind: refund.Kind}}
	prepare(meta, []terminal.Sealed{{Seq: 1}, {Seq: 2}}, "T1", "M1")
	j := &job{c: &conn{}, term: "T1"}
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, terminal.Zone)
	s := sender(j, &meta[0], now, now)
	if s.Code != &meta[0].code || !s.Code.Of(sale.Code) {
		t.Errorf("the sale's sender carries %p (decoded: %v), want its record's decoded code %p", s.Code, s.Code.Of(sale.Code), &meta[0].code)
	}
	if s.Code.Of(sale.Code + "x") {
		t.Error("the decoded code is taken for another code's")
	}
	if s := sender(j, &meta[1], now, now); s.Code.Of(refund.Code) {
		t.Error("a refund's code was decoded: a refund's review reads no code")
	}
}
