package county

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/voucherpos/voucherpos/terminal"
)

// Formats of the programme report.
const (
	FormatTable = "table"
	FormatCSV   = "csv"
	FormatJSON  = "json"
	FormatHTML  = "html"
)

// Write prints the report as table, csv, json or html.
func (rep *Report) Write(w io.Writer, format string) error {
	switch format {
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case FormatCSV:
		return rep.writeCSV(w)
	case FormatHTML:
		return rep.writeHTML(w)
	case FormatTable, "":
		return rep.writeTable(w)
	}
	return fmt.Errorf("unknown format %q (want table, csv, json or html)", format)
}

// sections lists the report's grouped accounts with their names.
func (rep *Report) sections() []struct {
	name   string
	groups []Group
} {
	mer := make([]Group, 0, len(rep.ByMerchant))
	for _, m := range rep.ByMerchant {
		mer = append(mer, m.Group)
	}
	return []struct {
		name   string
		groups []Group
	}{
		{"category", rep.ByCategory}, {"round", rep.ByRound}, {"denomination", rep.ByDenomination},
		{"day", rep.ByDay}, {"merchant", mer},
	}
}

func (rep *Report) writeCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(append([]string{"section", "key", "name"}, terminal.AccountHeader...))
	_ = cw.Write(append([]string{"total", "", ""}, rep.Total.Cells()...))
	for _, s := range rep.sections() {
		for i := range s.groups {
			g := &s.groups[i]
			_ = cw.Write(append([]string{s.name, g.Key, g.Name}, g.Account.Cells()...))
		}
	}
	cw.Flush()
	return cw.Error()
}

func (rep *Report) writeTable(w io.Writer) error {
	t := &rep.Total
	fmt.Fprintf(w, "%s 统计报告 / programme report %s – %s (UTC+8)\n\n", rep.Programme, rep.From, rep.Until)
	fmt.Fprint(w, t.Summary())
	if iss := rep.Issuance; iss != nil {
		t := &iss.Total
		fmt.Fprintf(w, "发放 issuance (round %s and love): released ¥%s claimed ¥%s redeemed ¥%s expired ¥%s returned ¥%s  核销率 redemption rate %s%%\n",
			iss.Round, t.ReleasedFen.Plain(), t.ClaimedFen.Plain(), t.RedeemedFen.Plain(), t.ExpiredFen.Plain(),
			t.ReturnedFen.Plain(), iss.RedemptionRate)
	} else {
		fmt.Fprintln(w, "发放 issuance: not reported by the issuing side; redemption figures only")
	}
	cv := &rep.Coverage
	fmt.Fprintf(w, "覆盖 coverage: holders %d  merchants %d of %d (%s%%)\n\n", cv.Holders, cv.Merchants, cv.MerchantsEnrolled, cv.MerchantShare)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "预算 budget\tbudget\tsubsidy\tburn %\t")
	for _, b := range rep.Budget {
		fmt.Fprintf(tw, "%s %s\t%s\t%s\t%s\t\n", b.Name, b.Category, b.BudgetFen.Plain(), b.SubsidyFen.Plain(), b.Share)
	}
	fmt.Fprintln(tw, "\t\t\t\t")
	short := []int{0, 1, 3, 6, 7, 8, 11, 13}
	head := []string{}
	for _, i := range short {
		head = append(head, terminal.AccountHeader[i])
	}
	for _, s := range rep.sections() {
		fmt.Fprintf(tw, "%s\t%s\t\n", s.name, strings.Join(head, "\t"))
		for i := range s.groups {
			g := &s.groups[i]
			all := g.Account.Cells()
			cells := []string{}
			for _, j := range short {
				cells = append(cells, all[j])
			}
			fmt.Fprintf(tw, "%s %s\t%s\t\n", g.Key, g.Name, strings.Join(cells, "\t"))
		}
		fmt.Fprintln(tw, "\t\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "离线占比 offline share by merchant:")
	for _, m := range rep.ByMerchant {
		fmt.Fprintf(w, "  %s %s %s%%\n", m.Key, m.Name, m.OfflineShare)
	}
	writeRows(w, "冲突 conflicts", rep.Conflicts)
	writeRows(w, "违规 rule breaks", rep.RuleBreaks)
	writeRows(w, "标记 flagged", rep.Flagged)
	fmt.Fprintf(w, "\n风险信号 signals (%d)\n", len(rep.Signals))
	for _, s := range rep.Signals {
		ids := make([]string, 0, len(s.Records))
		for _, r := range s.Records {
			ids = append(ids, r.ID)
		}
		fmt.Fprintf(w, "  %s  %s: %s [%s]\n", s.Title, s.Subject, s.Detail, strings.Join(ids, " "))
	}
	fmt.Fprintf(w, "\n管理操作 admin actions (%d)\n", len(rep.Actions))
	for _, a := range rep.Actions {
		fmt.Fprintf(w, "  %s %s %s %s: %s\n", a.At.In(terminal.Zone).Format("2006-01-02 15:04:05"), a.Who, a.What, a.Target, a.Why)
	}
	return nil
}

func writeRows(w io.Writer, title string, rows []Row) {
	fmt.Fprintf(w, "\n%s (%d)\n", title, len(rows))
	for _, r := range rows {
		fmt.Fprintf(w, "  %s %s %s voucher %s sale %s discount %s %s\n", r.ID, r.At, r.MerchantID, r.Voucher,
			r.SalesFen.Plain(), r.DiscountFen.Plain(), r.Detail+strings.Join(r.Flags, "; "))
	}
}
