package county

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/voucherpos/voucherpos/terminal"
)

// Signal kinds. docs/reports.md says what each means and does not mean.
const (
	SignalThreshold     = "threshold"       // baskets clustered just above a voucher's minimum spend
	SignalLinked        = "linked"          // sales the till flagged as linked (a possible split bill)
	SignalOfflineShare  = "offline_share"   // a merchant approving unusually many vouchers offline
	SignalQuickRefund   = "quick_refund"    // refunds soon after the redemption
	SignalHolderAtPlace = "holder_at_place" // one holder's vouchers at one merchant
)

// Thresholds of the signals.
const (
	// ThresholdBand is how far above the minimum spend a basket counts as
	// "just above": ¥200.00 to ¥202.00 for a 200−40 voucher.
	ThresholdBand terminal.Fen = 2_00
	// ThresholdMin is the fewest such baskets at one merchant that raise the
	// signal, and ThresholdShare the least share of its redemptions (in
	// hundredths of a percent) they must be.
	ThresholdMin   = 3
	ThresholdShare = 50_00
	// OfflineMin is the fewest redemptions a merchant needs before its
	// offline share is judged; OfflineShareMin the share that raises it.
	OfflineMin      = 3
	OfflineShareMin = 50_00
	// QuickRefund is how soon after the sale a refund raises the signal.
	QuickRefund = 30 * time.Minute
	// HolderAtPlaceMin is the fewest vouchers of one holder at one merchant
	// that raise the signal.
	HolderAtPlaceMin = 3
)

// Signal is one pattern for the auditors to look at, with its records.
type Signal struct {
	Kind    string `json:"kind"`
	Title   string `json:"title"`
	Subject string `json:"subject"`
	Detail  string `json:"detail"`
	Records []Row  `json:"records"`
}

var signalTitles = map[string]string{
	SignalThreshold:     "临界金额聚集 baskets just above the threshold",
	SignalLinked:        "关联交易 linked sales",
	SignalOfflineShare:  "离线核销偏高 unusual offline share",
	SignalQuickRefund:   "核销后速退 refund soon after redemption",
	SignalHolderAtPlace: "同一用户集中于一商户 one holder's vouchers at one merchant",
}

// Signals computes the fraud signals of a period over its counted
// redemptions and refunds.
func Signals(p *Period) []Signal {
	type perMerchant struct {
		redemptions, offline []*terminal.Line
		near                 []*terminal.Line
		linked               []*terminal.Line
		holders              map[terminal.HolderID][]*terminal.Line
	}
	byM := map[string]*perMerchant{}
	var quick []Signal
	for i := range p.Lines {
		l := &p.Lines[i]
		r := l.Record
		if l.Standing() != terminal.Counted {
			continue
		}
		if r.Kind == terminal.KindRefund {
			if s, ok := quickRefund(p, l); ok {
				quick = append(quick, s)
			}
			continue
		}
		m := byM[r.MerchantID]
		if m == nil {
			m = &perMerchant{holders: map[terminal.HolderID][]*terminal.Line{}}
			byM[r.MerchantID] = m
		}
		m.redemptions = append(m.redemptions, l)
		if !r.Online {
			m.offline = append(m.offline, l)
		}
		if v := r.Voucher; v.SpendFen > 0 && r.EligibleFen >= v.SpendFen && r.EligibleFen <= v.SpendFen+ThresholdBand {
			m.near = append(m.near, l)
		}
		if slices.ContainsFunc(r.Flags, func(f string) bool { return strings.HasPrefix(f, "linked") }) {
			m.linked = append(m.linked, l)
		}
		m.holders[r.Voucher.Holder] = append(m.holders[r.Voucher.Holder], l)
	}
	var out []Signal
	ids := make([]string, 0, len(byM))
	for id := range byM {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		m := byM[id]
		n := len(m.redemptions)
		if len(m.near) >= ThresholdMin && terminal.Share(len(m.near), n) >= ThresholdShare {
			out = append(out, signal(SignalThreshold, id, fmt.Sprintf("%d of %d baskets within %s above the minimum spend",
				len(m.near), n, ThresholdBand), m.near))
		}
		if len(m.linked) > 0 {
			out = append(out, signal(SignalLinked, id, fmt.Sprintf("%d sales flagged linked by the till", len(m.linked)), m.linked))
		}
		if n >= OfflineMin && terminal.Share(len(m.offline), n) >= OfflineShareMin {
			out = append(out, signal(SignalOfflineShare, id, fmt.Sprintf("%d of %d redemptions offline (%s%%)",
				len(m.offline), n, terminal.Share(len(m.offline), n)), m.offline))
		}
		hs := make([]terminal.HolderID, 0, len(m.holders))
		for h, ls := range m.holders {
			if len(ls) >= HolderAtPlaceMin {
				hs = append(hs, h)
			}
		}
		slices.Sort(hs)
		for _, h := range hs {
			out = append(out, signal(SignalHolderAtPlace, id+" / "+h.String(),
				fmt.Sprintf("holder %s redeemed %d vouchers here", h, len(m.holders[h])), m.holders[h]))
		}
	}
	out = append(out, quick...)
	slices.SortStableFunc(out, func(a, b Signal) int { return cmp.Compare(a.Kind, b.Kind) })
	if out == nil {
		out = []Signal{}
	}
	return out
}

func quickRefund(p *Period, l *terminal.Line) (Signal, bool) {
	r := l.Record
	sale := p.Sales[r.RefundOf]
	if sale == nil || r.At.Sub(sale.At) > QuickRefund {
		return Signal{}, false
	}
	saleLine := terminal.Line{Record: sale, Result: l.Of, Detail: l.OfDetail}
	return signal(SignalQuickRefund, r.MerchantID, fmt.Sprintf("%s refunded %s after the sale %s",
		r.ID, r.At.Sub(sale.At).Round(time.Second), sale.ID), []*terminal.Line{&saleLine, l}), true
}

func signal(kind, subject, detail string, ls []*terminal.Line) Signal {
	s := Signal{Kind: kind, Title: signalTitles[kind], Subject: subject, Detail: detail}
	for _, l := range ls {
		s.Records = append(s.Records, rowOf(l))
	}
	return s
}
