package terminal_test

import (
	"encoding/json"
	"testing"

	"github.com/voucherpos/voucherpos/terminal"
)

// exampleDay is the worked example of docs/reports.md: one merchant's day
// with an online sale fully refunded, an online sale partly refunded, an
// offline sale, a conflict (the same voucher on another till) and a record
// whose amounts break the rules. The refunds' amounts come from PlanRefund.
func exampleDay(t *testing.T) []terminal.Line {
	t.Helper()
	sale := func(id string, online bool, spend, off, total terminal.Fen, items ...terminal.Item) *terminal.Redemption {
		v := voucher(terminal.Retail, spend, off)
		return &terminal.Redemption{ID: id, Kind: terminal.KindRedemption, At: noon, Voucher: v, Items: items,
			TotalFen: total, EligibleFen: total, DiscountFen: off, PayableFen: total - off, Online: online}
	}
	refund := func(id string, orig *terminal.Redemption, lines ...terminal.Item) *terminal.Redemption {
		p, err := terminal.PlanRefund(orig, nil, lines, noon)
		if err != nil {
			t.Fatal(err)
		}
		return &terminal.Redemption{ID: id, Kind: terminal.KindRefund, At: noon, Voucher: orig.Voucher,
			Items: p.Items, TotalFen: p.GrossFen, RefundOf: orig.ID, RefundFen: p.RefundFen,
			VoucherShareFen: p.VoucherShareFen, VoucherReturned: p.VoucherReturned}
	}
	r1 := sale("T1-0000000001", true, 200_00, 40_00, 250_00, item("rice", 1, 250_00))
	r2 := sale("T1-0000000002", true, 50_00, 10_00, 80_00, item("oil", 1, 50_00), item("tea", 1, 30_00))
	r3 := sale("T1-0000000003", false, 200_00, 40_00, 220_00, item("coat", 1, 220_00))
	r4 := sale("T2-0000000001", false, 200_00, 40_00, 210_00, item("shoes", 1, 210_00))
	r5 := sale("T2-0000000002", false, 200_00, 40_00, 150_00, item("hat", 1, 150_00))
	return []terminal.Line{
		{Record: r1, Result: terminal.Accepted},
		{Record: r2, Result: terminal.Accepted},
		{Record: r3, Result: terminal.Accepted},
		{Record: r4, Result: terminal.Conflict, Detail: "voucher already redeemed by T1-0000000003"},
		{Record: r5, Result: terminal.Conflict, Detail: terminal.RuleBreakPrefix + "eligible ¥150.00 below the minimum spend ¥200.00"},
		{Record: refund("T1-0000000004", r1), Result: terminal.Accepted},
		{Record: refund("T1-0000000005", r2, terminal.Item{SKU: "tea", Qty: 1}), Result: terminal.Accepted},
	}
}

func TestSum_WorkedExample(t *testing.T) {
	lines := exampleDay(t)
	got := terminal.Sum(lines)
	want := terminal.Account{
		Redemptions: 3, Refunds: 2, VouchersReturned: 1,
		SalesFen: 550_00, RefundedSalesFen: 280_00, NetSalesFen: 270_00,
		DiscountFen: 90_00, SubsidyReturnedFen: 43_75, SubsidyFen: 46_25, RefundPaidFen: 236_25,
		Leverage: 584, Offline: 1, OfflineDiscountFen: 40_00,
		Conflicts:  terminal.Apart{Redemptions: 1, SalesFen: 210_00, DiscountFen: 40_00},
		RuleBreaks: terminal.Apart{Redemptions: 1, SalesFen: 150_00, DiscountFen: 40_00},
	}
	if got != want {
		t.Fatalf("Sum of the worked example:\n got %+v\nwant %+v", got, want)
	}
	if s := got.OfflineShare(); s != 3333 {
		t.Errorf("OfflineShare = %v, want 33.33", s)
	}
}

func TestAccount_Add(t *testing.T) {
	lines := exampleDay(t)
	r1, r2, r4 := lines[0].Record, lines[1].Record, lines[3].Record
	full, partial := lines[5].Record, lines[6].Record
	conflictRefund := &terminal.Redemption{ID: "T2-0000000003", Kind: terminal.KindRefund, RefundOf: r4.ID,
		TotalFen: r4.TotalFen, VoucherShareFen: 40_00, RefundFen: 170_00}
	tests := []struct {
		name  string
		lines []terminal.Line
		want  terminal.Account
	}{
		{"OnlineSale", []terminal.Line{{Record: r1, Result: terminal.Accepted}},
			terminal.Account{Redemptions: 1, SalesFen: 250_00, NetSalesFen: 250_00, DiscountFen: 40_00, SubsidyFen: 40_00, Leverage: 625}},
		{"Duplicate", []terminal.Line{{Record: r1, Result: terminal.Duplicate}},
			terminal.Account{Redemptions: 1, SalesFen: 250_00, NetSalesFen: 250_00, DiscountFen: 40_00, SubsidyFen: 40_00, Leverage: 625}},
		{"FullRefund", []terminal.Line{{Record: r1, Result: terminal.Accepted}, {Record: full, Result: terminal.Accepted}},
			terminal.Account{Redemptions: 1, Refunds: 1, VouchersReturned: 1, SalesFen: 250_00, RefundedSalesFen: 250_00,
				DiscountFen: 40_00, SubsidyReturnedFen: 40_00, RefundPaidFen: 210_00}},
		{"PartialRefund", []terminal.Line{{Record: r2, Result: terminal.Accepted}, {Record: partial, Result: terminal.Accepted}},
			terminal.Account{Redemptions: 1, Refunds: 1, SalesFen: 80_00, RefundedSalesFen: 30_00, NetSalesFen: 50_00,
				DiscountFen: 10_00, SubsidyReturnedFen: 3_75, SubsidyFen: 6_25, RefundPaidFen: 26_25, Leverage: 800}},
		{"RefundOfEarlierDay", []terminal.Line{{Record: partial, Result: terminal.Accepted, Of: terminal.Accepted}},
			terminal.Account{Refunds: 1, RefundedSalesFen: 30_00, NetSalesFen: -30_00, SubsidyReturnedFen: 3_75,
				SubsidyFen: -3_75, RefundPaidFen: 26_25}},
		{"PendingSale", []terminal.Line{{Record: r1}},
			terminal.Account{Pending: terminal.Apart{Redemptions: 1, SalesFen: 250_00, DiscountFen: 40_00}}},
		{"RefundOfPendingSale", []terminal.Line{{Record: r1}, {Record: full, Result: terminal.Accepted}},
			terminal.Account{Pending: terminal.Apart{Redemptions: 1, Refunds: 1, SalesFen: 250_00, DiscountFen: 40_00}}},
		{"Conflict", []terminal.Line{lines[3]},
			terminal.Account{Conflicts: terminal.Apart{Redemptions: 1, SalesFen: 210_00, DiscountFen: 40_00}}},
		{"RefundOfConflict", []terminal.Line{lines[3], {Record: conflictRefund, Result: terminal.Accepted}},
			terminal.Account{Conflicts: terminal.Apart{Redemptions: 1, Refunds: 1, SalesFen: 210_00, DiscountFen: 40_00}}},
		{"RuleBreak", []terminal.Line{lines[4]},
			terminal.Account{RuleBreaks: terminal.Apart{Redemptions: 1, SalesFen: 150_00, DiscountFen: 40_00}}},
		{"Flagged", []terminal.Line{{Record: &terminal.Redemption{Kind: terminal.KindRedemption, TotalFen: 200_01,
			DiscountFen: 40_00, Online: true, Flags: []string{"linked: …"}}, Result: terminal.Accepted}},
			terminal.Account{Redemptions: 1, SalesFen: 200_01, NetSalesFen: 200_01, DiscountFen: 40_00, SubsidyFen: 40_00,
				Leverage: 500, Flagged: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := terminal.Sum(tt.lines); got != tt.want {
				t.Fatalf("\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestAccount_Merge(t *testing.T) {
	lines := exampleDay(t)
	terminal.ResolveRefunds(lines)
	var a, b terminal.Account
	for i, l := range lines {
		if i%2 == 0 {
			a.Add(l)
		} else {
			b.Add(l)
		}
	}
	a.Merge(&b)
	if want := terminal.Sum(exampleDay(t)); a != want {
		t.Fatalf("merged halves:\n got %+v\nwant %+v", a, want)
	}
}

func TestLeverage(t *testing.T) {
	tests := []struct {
		sales, subsidy terminal.Fen
		want           string
	}{
		{270_00, 46_25, "5.84"},
		{250_00, 40_00, "6.25"},
		{1, 3, "0.33"},
		{1, 200, "0.01"}, // 0.005 rounds half up
		{1, 201, "0.00"},
		{100, 0, "0.00"},
		{-100, 40, "0.00"},
		{terminal.MaxFen, 1, "10000000000.00"},
	}
	for _, tt := range tests {
		if got := terminal.Leverage(tt.sales, tt.subsidy).String(); got != tt.want {
			t.Errorf("Leverage(%d, %d) = %s, want %s", tt.sales, tt.subsidy, got, tt.want)
		}
	}
}

func TestShare(t *testing.T) {
	tests := []struct {
		part, whole int
		want        string
	}{{1, 3, "33.33"}, {2, 3, "66.67"}, {0, 3, "0.00"}, {3, 0, "0.00"}, {10, 10, "100.00"}}
	for _, tt := range tests {
		if got := terminal.Share(tt.part, tt.whole).String(); got != tt.want {
			t.Errorf("Share(%d, %d) = %s, want %s", tt.part, tt.whole, got, tt.want)
		}
	}
}

func TestRatio_JSON(t *testing.T) {
	for _, r := range []terminal.Ratio{0, 5, 584, -12, 100000} {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var got terminal.Ratio
		if err := json.Unmarshal(b, &got); err != nil || got != r {
			t.Errorf("round trip of %v through %s: %v, %v", r, b, got, err)
		}
	}
	var r terminal.Ratio
	for _, bad := range []string{`"5"`, `5.255`, `x`, `1e3`, `.`} {
		if err := json.Unmarshal([]byte(bad), &r); err == nil {
			t.Errorf("Unmarshal(%s) = %v, want an error", bad, r)
		}
	}
}

func TestStandingOf(t *testing.T) {
	tests := []struct {
		detail string
		want   terminal.Standing
	}{
		{"already_redeemed: 此券已核销，不能重复使用 / voucher already redeemed (T1-0000000003)", terminal.Conflicted},
		{"revoked: x / y", terminal.Conflicted},
		{"voucher already redeemed by T1-0000000003", terminal.Conflicted},
		{"voucher held by terminal T2 for an online redemption", terminal.Conflicted},
		{"below_threshold: 未达到使用门槛 / below the minimum spend", terminal.RuleBreak},
		{"amount_mismatch: a / b", terminal.RuleBreak},
		{"fork: a / b", terminal.RuleBreak},
		{terminal.RuleBreakPrefix + "eligible ¥1.00 below the minimum spend ¥200.00", terminal.RuleBreak},
		{"nonsense: not a code", terminal.Conflicted},
	}
	for _, tt := range tests {
		if got := terminal.StandingOf(tt.detail); got != tt.want {
			t.Errorf("StandingOf(%q) = %s, want %s", tt.detail, got, tt.want)
		}
	}
}
