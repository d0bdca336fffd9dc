package terminal

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// This file is the one definition of the programme's money. The agent's
// day, its dashboard, the server's day report and the programme report all
// sum records through Account, so they cannot disagree. docs/reports.md
// states the definitions in words with a worked example.

// Standing is where a record stands in the account.
type Standing string

// Standings of a record.
const (
	// Counted: an accepted redemption, or a refund of one. Only these move
	// sales and subsidy.
	Counted Standing = "counted"
	// Pending: the server has not decided yet (a record still in a
	// terminal's outbox, or a refund of such a record).
	Pending Standing = Standing(Awaiting)
	// Conflicted: the server kept the record but did not accept the
	// voucher because of another record or the issuer: it was redeemed or
	// held elsewhere, or revoked. Never subsidy.
	Conflicted Standing = Standing(Conflict)
	// RuleBreak: the server did not accept the record because the record
	// itself breaks the programme's rules (its amounts, threshold,
	// category, time, chain, or a code that does not verify). Never
	// subsidy.
	RuleBreak Standing = "rule_break"
)

// RuleBreakPrefix starts the detail of a rule break in the server's older
// free-text reasons; newer reasons start with their code (Explain).
const RuleBreakPrefix = "rules: "

// conflictCodes are the codes of a conflict over the voucher itself; any
// other code in a server's reason is a rule break.
var conflictCodes = []Code{AlreadyRedeemed, Revoked}

// StandingOf returns the standing of a conflict with the server's reason
// detail: "already_redeemed: …" and "revoked: …" (and the older free-text
// reasons) are conflicts; any other known code, or the RuleBreakPrefix,
// is a rule break.
func StandingOf(detail string) Standing {
	if strings.HasPrefix(detail, RuleBreakPrefix) {
		return RuleBreak
	}
	code, _, ok := strings.Cut(detail, ":")
	if !ok || !Code(code).Known() || slices.Contains(conflictCodes, Code(code)) {
		return Conflicted
	}
	return RuleBreak
}

// Line is one record as the account reads it: the record and the server's
// verdict on it.
type Line struct {
	Record *Redemption
	// Result is the server's verdict on the record: Accepted (or
	// Duplicate), Conflict, or "" while the record awaits the server.
	Result Result
	// Detail is the server's reason for a conflict.
	Detail string
	// Of is, for a refund, the verdict on the redemption it refunds, and
	// OfDetail its reason. Sum fills them when that redemption is among the
	// lines summed and Of is "".
	Of       Result
	OfDetail string
}

// Standing returns where l stands. A refund stands where the redemption it
// refunds stands: refunding a conflicted sale returns no subsidy, because
// none was counted.
func (l *Line) Standing() Standing {
	res, detail := l.Result, l.Detail
	if l.Record != nil && l.Record.Kind == KindRefund && res != Conflict {
		res, detail = l.Of, l.OfDetail
	}
	switch res {
	case Accepted, Duplicate:
		return Counted
	case Conflict:
		return StandingOf(detail)
	}
	return Pending
}

// Apart sums records kept out of sales and subsidy: pending, conflicted, or
// breaking the rules. Redemptions count records of kind redemption, Refunds
// those of kind refund; the amounts are the redemptions' own.
type Apart struct {
	Redemptions int `json:"redemptions"`
	Refunds     int `json:"refunds"`
	SalesFen    Fen `json:"sales_fen"`
	DiscountFen Fen `json:"discount_fen"`
}

func (a *Apart) add(r *Redemption) {
	if r.Kind == KindRefund {
		a.Refunds++
		return
	}
	a.Redemptions++
	a.SalesFen += r.TotalFen
	a.DiscountFen += r.DiscountFen
}

// Account is the money of a set of records (a day, a merchant, a
// category, the programme).
//
//   - SalesFen (gross sales) is the basket totals of counted redemptions,
//     the voucher's part included; RefundedSalesFen the value of the items
//     refunded from them; NetSalesFen the difference.
//   - DiscountFen is the discounts of counted redemptions;
//     SubsidyReturnedFen what refunds return of it (the voucher's share of
//     the refunded items, which the customer does not get back as cash);
//     SubsidyFen, what the county pays, the difference.
//   - RefundPaidFen is the cash paid back to customers.
//   - Leverage is NetSalesFen ÷ SubsidyFen: spending in voucher
//     transactions (whole baskets, after refunds) per yuan of subsidy, the
//     plan's 直接带动比. It is an accounting ratio, not a causal effect:
//     it does not say how much of the spending the vouchers caused.
//   - Pending, Conflicts and RuleBreaks are kept apart and never counted
//     in sales or subsidy.
type Account struct {
	Redemptions        int   `json:"redemptions"`
	Refunds            int   `json:"refunds"`
	VouchersReturned   int   `json:"vouchers_returned"`
	SalesFen           Fen   `json:"sales_fen"`
	RefundedSalesFen   Fen   `json:"refunded_sales_fen"`
	NetSalesFen        Fen   `json:"net_sales_fen"`
	DiscountFen        Fen   `json:"discount_fen"`
	SubsidyReturnedFen Fen   `json:"subsidy_returned_fen"`
	SubsidyFen         Fen   `json:"subsidy_fen"`
	RefundPaidFen      Fen   `json:"refund_paid_fen"`
	Leverage           Ratio `json:"leverage"`
	// Offline counts the counted redemptions approved without the server
	// (Record.Online false), OfflineDiscountFen their discounts.
	Offline            int `json:"offline"`
	OfflineDiscountFen Fen `json:"offline_discount_fen"`
	// Flagged counts counted redemptions carrying audit flags.
	Flagged    int   `json:"flagged"`
	Pending    Apart `json:"pending"`
	Conflicts  Apart `json:"conflicts"`
	RuleBreaks Apart `json:"rule_breaks"`
}

// Add puts one line into the account.
func (a *Account) Add(l Line) {
	r := l.Record
	if r == nil {
		return
	}
	switch l.Standing() {
	case Pending:
		a.Pending.add(r)
		return
	case Conflicted:
		a.Conflicts.add(r)
		return
	case RuleBreak:
		a.RuleBreaks.add(r)
		return
	}
	if r.Kind == KindRefund {
		a.Refunds++
		a.RefundedSalesFen += r.TotalFen
		a.SubsidyReturnedFen += r.VoucherShareFen
		a.RefundPaidFen += r.RefundFen
		if r.VoucherReturned {
			a.VouchersReturned++
		}
	} else {
		a.Redemptions++
		a.SalesFen += r.TotalFen
		a.DiscountFen += r.DiscountFen
		if !r.Online {
			a.Offline++
			a.OfflineDiscountFen += r.DiscountFen
		}
		if len(r.Flags) > 0 {
			a.Flagged++
		}
	}
	a.NetSalesFen = a.SalesFen - a.RefundedSalesFen
	a.SubsidyFen = a.DiscountFen - a.SubsidyReturnedFen
	a.Leverage = Leverage(a.NetSalesFen, a.SubsidyFen)
}

// Merge adds the account b into a (a category's days into its total).
func (a *Account) Merge(b *Account) {
	a.Redemptions += b.Redemptions
	a.Refunds += b.Refunds
	a.VouchersReturned += b.VouchersReturned
	a.SalesFen += b.SalesFen
	a.RefundedSalesFen += b.RefundedSalesFen
	a.DiscountFen += b.DiscountFen
	a.SubsidyReturnedFen += b.SubsidyReturnedFen
	a.RefundPaidFen += b.RefundPaidFen
	a.Offline += b.Offline
	a.OfflineDiscountFen += b.OfflineDiscountFen
	a.Flagged += b.Flagged
	for _, p := range [...][2]*Apart{{&a.Pending, &b.Pending}, {&a.Conflicts, &b.Conflicts}, {&a.RuleBreaks, &b.RuleBreaks}} {
		p[0].Redemptions += p[1].Redemptions
		p[0].Refunds += p[1].Refunds
		p[0].SalesFen += p[1].SalesFen
		p[0].DiscountFen += p[1].DiscountFen
	}
	a.NetSalesFen = a.SalesFen - a.RefundedSalesFen
	a.SubsidyFen = a.DiscountFen - a.SubsidyReturnedFen
	a.Leverage = Leverage(a.NetSalesFen, a.SubsidyFen)
}

// OfflineShare is the share of counted redemptions approved offline.
func (a *Account) OfflineShare() Ratio { return Share(a.Offline, a.Redemptions) }

// ResolveRefunds fills, for every refund among lines whose Of is "", the
// verdict on the redemption it refunds when that redemption is among lines.
func ResolveRefunds(lines []Line) {
	byID := make(map[string]*Line, len(lines))
	for i := range lines {
		if r := lines[i].Record; r != nil && r.Kind == KindRedemption {
			byID[r.ID] = &lines[i]
		}
	}
	for i := range lines {
		l := &lines[i]
		if l.Record == nil || l.Record.Kind != KindRefund || l.Of != "" {
			continue
		}
		if o := byID[l.Record.RefundOf]; o != nil {
			l.Of, l.OfDetail = o.Result, o.Detail
		}
	}
}

// Sum returns the account of lines, after ResolveRefunds.
func Sum(lines []Line) Account {
	ResolveRefunds(lines)
	var a Account
	for _, l := range lines {
		a.Add(l)
	}
	return a
}

// Ratio is a ratio in hundredths: 525 is 5.25. It is computed in integers
// so that every surface prints the same digits; JSON carries it as the
// number 5.25.
type Ratio int64

// Leverage returns sales ÷ subsidy in hundredths, rounded half up, or 0
// when there is no subsidy.
func Leverage(sales, subsidy Fen) Ratio {
	if subsidy <= 0 || sales <= 0 {
		return 0
	}
	return Ratio((int64(sales)*200 + int64(subsidy)) / (2 * int64(subsidy)))
}

// Share returns part ÷ whole as a percentage in hundredths (1250 is
// 12.50%), rounded half up, or 0 when whole is 0.
func Share(part, whole int) Ratio {
	if whole <= 0 || part <= 0 {
		return 0
	}
	return Ratio((int64(part)*20000 + int64(whole)) / (2 * int64(whole)))
}

// String prints r with two decimals: "5.25".
func (r Ratio) String() string {
	sign := ""
	u := int64(r)
	if u < 0 {
		sign, u = "-", -u
	}
	return fmt.Sprintf("%s%d.%02d", sign, u/100, u%100)
}

// MarshalJSON writes r as a number with two decimals.
func (r Ratio) MarshalJSON() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalJSON reads a number with at most two decimals.
func (r *Ratio) UnmarshalJSON(b []byte) error {
	s := string(b)
	neg := strings.HasPrefix(s, "-")
	whole, frac, _ := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	if len(frac) > 2 {
		return fmt.Errorf("ratio %s: more than two decimals", s)
	}
	frac += "00"[len(frac):]
	w, err1 := strconv.ParseUint(whole, 10, 40)
	f, err2 := strconv.ParseUint(frac, 10, 8)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("ratio %s: want a number with at most two decimals", s)
	}
	v := Ratio(w*100 + f)
	if neg {
		v = -v
	}
	*r = v
	return nil
}

// Summary prints the account in the words of docs/reports.md, Chinese
// first, as every report's table shows it.
func (a *Account) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "核销 redemptions %d  销售额 sales %s  退货 refunded sales %s  净销售额 net sales %s\n",
		a.Redemptions, a.SalesFen, a.RefundedSalesFen, a.NetSalesFen)
	fmt.Fprintf(&b, "补贴 subsidy %s = 优惠 discounts %s − 退款退回 returned by refunds %s\n",
		a.SubsidyFen, a.DiscountFen, a.SubsidyReturnedFen)
	fmt.Fprintf(&b, "带动比 leverage %s (net sales ÷ subsidy; an accounting ratio, not a causal effect)\n", a.Leverage)
	fmt.Fprintf(&b, "退款 refunds %d  退给顾客 paid back %s  退券 vouchers returned %d  离线 offline %d  标记 flagged %d\n",
		a.Refunds, a.RefundPaidFen, a.VouchersReturned, a.Offline, a.Flagged)
	fmt.Fprintf(&b, "另计 kept apart: 待同步 pending %d  冲突 conflicts %d (%s claimed)  违规 rule breaks %d (%s claimed)\n",
		a.Pending.Redemptions+a.Pending.Refunds, a.Conflicts.Redemptions+a.Conflicts.Refunds, a.Conflicts.DiscountFen,
		a.RuleBreaks.Redemptions+a.RuleBreaks.Refunds, a.RuleBreaks.DiscountFen)
	return b.String()
}

// AccountHeader names the columns of Cells, for CSV and tables.
var AccountHeader = []string{"redemptions", "sales", "refunded_sales", "net_sales", "discounts", "subsidy_returned",
	"subsidy", "leverage", "refunds", "refunds_paid", "vouchers_returned", "offline", "flagged", "conflicts", "rule_breaks", "pending"}

// Cells returns the account's figures in the order of AccountHeader,
// amounts as plain yuan ("12.50").
func (a *Account) Cells() []string {
	return []string{strconv.Itoa(a.Redemptions), a.SalesFen.Plain(), a.RefundedSalesFen.Plain(), a.NetSalesFen.Plain(),
		a.DiscountFen.Plain(), a.SubsidyReturnedFen.Plain(), a.SubsidyFen.Plain(), a.Leverage.String(),
		strconv.Itoa(a.Refunds), a.RefundPaidFen.Plain(), strconv.Itoa(a.VouchersReturned), strconv.Itoa(a.Offline),
		strconv.Itoa(a.Flagged), strconv.Itoa(a.Conflicts.Redemptions), strconv.Itoa(a.RuleBreaks.Redemptions),
		strconv.Itoa(a.Pending.Redemptions + a.Pending.Refunds)}
}
