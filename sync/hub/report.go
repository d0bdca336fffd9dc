package hub

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/voucherpos/voucherpos/terminal"
)

// Report is one day's records (UTC+8) per merchant and voucher category,
// with the conflicts of that day. The money is summed by terminal.Account
// (docs/reports.md), as on the terminals and in the programme report.
type Report struct {
	Day        string      `json:"day"`
	MerchantID string      `json:"merchant_id,omitempty"`
	Rows       []ReportRow `json:"rows"`
	Total      ReportRow   `json:"total"`
	Conflicts  []Conflict  `json:"conflicts"`
}

// ReportRow is the account of one merchant and category.
type ReportRow struct {
	MerchantID   string            `json:"merchant_id"`
	MerchantName string            `json:"merchant_name"`
	Category     terminal.Category `json:"category,omitempty"`
	terminal.Account
}

// Report sums the day's synced records (by the time on the record, UTC+8),
// for one merchant or, with "", all. A refund of an earlier day's sale
// stands where that sale stands.
func (h *Hub) Report(ctx context.Context, day time.Time, merchantID string) (*Report, error) {
	day = terminal.Day(day)
	rep := &Report{Day: day.Format(time.DateOnly), MerchantID: merchantID, Rows: []ReportRow{}, Conflicts: []Conflict{}}
	var lines []terminal.Line
	err := h.store.DayRecords(ctx, day, merchantID, func(st *StoredRecord) error {
		var r terminal.Redemption
		if err := json.Unmarshal(st.Body, &r); err != nil {
			return fmt.Errorf("record %s: %w", st.ID(), err)
		}
		r.ID = st.ID()
		lines = append(lines, terminal.Line{Record: &r, Result: st.Result, Detail: st.Detail})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	terminal.ResolveRefunds(lines)
	type key struct {
		m string
		c terminal.Category
	}
	rows := map[key]*ReportRow{}
	for i := range lines {
		l := &lines[i]
		r := l.Record
		if r.Kind == terminal.KindRefund && (l.Of == "" || !r.Voucher.Category.Valid()) {
			if term, seq, ok := terminal.ParseRecordID(r.RefundOf); ok {
				orig, found, err := h.store.Record(ctx, term, seq)
				if err != nil {
					return nil, fmt.Errorf("report: sale %s: %w", r.RefundOf, err)
				}
				if found && l.Of == "" {
					l.Of, l.OfDetail = orig.Result, orig.Detail
				}
				if found {
					var sale terminal.Redemption
					if !r.Voucher.Category.Valid() && json.Unmarshal(orig.Body, &sale) == nil {
						r.Voucher = sale.Voucher // a refund counts in its sale's category
					}
				}
			}
		}
		k := key{r.MerchantID, r.Voucher.Category}
		row := rows[k]
		if row == nil {
			mer, _, err := h.store.Merchant(ctx, r.MerchantID)
			if err != nil {
				return nil, fmt.Errorf("report: %w", err)
			}
			row = &ReportRow{MerchantID: r.MerchantID, MerchantName: mer.Name, Category: r.Voucher.Category}
			rows[k] = row
		}
		row.Add(*l)
		rep.Total.Add(*l)
	}
	lo, hi := day, day.AddDate(0, 0, 1)
	err = h.store.Conflicts(ctx, func(c *Conflict) error {
		if (merchantID == "" || c.MerchantID == merchantID) && !c.At.Before(lo) && c.At.Before(hi) {
			rep.Conflicts = append(rep.Conflicts, *c)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	for _, r := range rows {
		rep.Rows = append(rep.Rows, *r)
	}
	slices.SortFunc(rep.Rows, func(a, b ReportRow) int {
		if c := strings.Compare(a.MerchantID, b.MerchantID); c != 0 {
			return c
		}
		return int(a.Category) - int(b.Category)
	})
	rep.Total.MerchantID = "TOTAL"
	return rep, nil
}

// Write prints the report as "table", "csv" or "json".
func (r *Report) Write(w io.Writer, format string) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "csv":
		return r.writeCSV(w)
	case "table", "":
		return r.writeTable(w)
	}
	return fmt.Errorf("unknown format %q (want table, csv or json)", format)
}

func cells(row *ReportRow) []string {
	cat := ""
	if row.Category.Valid() {
		cat = row.Category.String()
	}
	return append([]string{row.MerchantID, row.MerchantName, cat}, row.Account.Cells()...)
}

var header = append([]string{"merchant", "name", "category"}, terminal.AccountHeader...)

func (r *Report) writeCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(append([]string{"day"}, header...))
	for i := range r.Rows {
		_ = cw.Write(append([]string{r.Day}, cells(&r.Rows[i])...))
	}
	_ = cw.Write(append([]string{r.Day}, cells(&r.Total)...))
	cw.Flush()
	return cw.Error()
}

func (r *Report) writeTable(w io.Writer) error {
	fmt.Fprintf(w, "消费券核销日报 / voucher redemptions %s (UTC+8)\n", r.Day)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for i := range r.Rows {
		fmt.Fprintln(tw, strings.Join(cells(&r.Rows[i]), "\t"))
	}
	fmt.Fprintln(tw, strings.Join(cells(&r.Total), "\t"))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%s", r.Total.Summary())
	if len(r.Conflicts) > 0 {
		fmt.Fprintf(w, "\n冲突记录 / conflicts (%d)\n", len(r.Conflicts))
		for _, c := range r.Conflicts {
			fmt.Fprintf(w, "  %s voucher %s merchant %s discount %s at %s: %s\n", c.RecordID, c.Voucher,
				c.MerchantID, c.DiscountFen.Plain(), c.At.In(terminal.Zone).Format(time.DateTime), c.Reason)
		}
	}
	return nil
}
