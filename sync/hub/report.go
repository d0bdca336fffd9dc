package hub

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/voucherpos/voucherpos/terminal"
)

// Report is one day's redemptions (UTC+8) per merchant and voucher category,
// with the conflicts of that day.
type Report struct {
	Day        string      `json:"day"`
	MerchantID string      `json:"merchant_id,omitempty"`
	Rows       []ReportRow `json:"rows"`
	Total      ReportRow   `json:"total"`
	Conflicts  []Conflict  `json:"conflicts"`
}

// ReportRow sums the accepted redemptions of one merchant and category.
type ReportRow struct {
	MerchantID   string            `json:"merchant_id"`
	MerchantName string            `json:"merchant_name"`
	Category     terminal.Category `json:"category,omitempty"`
	Count        int               `json:"count"`
	DiscountFen  terminal.Fen      `json:"discount_fen"`
	// SalesFen is the total consumer spending in these transactions.
	SalesFen terminal.Fen `json:"sales_fen"`
	// Leverage is the direct leverage ratio (直接带动比): sales ÷ discount.
	Leverage float64 `json:"leverage"`
	// Refunds and RefundFen are the refunds of the day and the money paid back.
	Refunds   int          `json:"refunds"`
	RefundFen terminal.Fen `json:"refund_fen"`
	// Conflicts counts records kept but not accepted (voucher redeemed elsewhere, revoked, bad code).
	Conflicts int `json:"conflicts"`
}

func (r *ReportRow) add(o *ReportRow) {
	r.Count += o.Count
	r.DiscountFen += o.DiscountFen
	r.SalesFen += o.SalesFen
	r.Refunds += o.Refunds
	r.RefundFen += o.RefundFen
	r.Conflicts += o.Conflicts
}

func (r *ReportRow) ratio() {
	r.Leverage = 0
	if r.DiscountFen > 0 {
		r.Leverage = float64(r.SalesFen) / float64(r.DiscountFen)
	}
}

// Report sums the day's synced records (by the time on the record, UTC+8),
// for one merchant or, with "", all.
func (h *Hub) Report(ctx context.Context, day time.Time, merchantID string) (*Report, error) {
	day = terminal.Day(day)
	rep := &Report{Day: day.Format(time.DateOnly), MerchantID: merchantID, Rows: []ReportRow{}, Conflicts: []Conflict{}}
	type key struct {
		m string
		c terminal.Category
	}
	rows := map[key]*ReportRow{}
	names := map[string]string{}
	err := h.store.DayRecords(ctx, day, merchantID, func(st *StoredRecord) error {
		var m recMeta
		if err := parseBody(st.Body, &m); err != nil {
			return fmt.Errorf("record %s: %w", st.ID(), err)
		}
		code := m.Code
		if m.Kind == terminal.KindRefund {
			orig, ok, err := original(func(t string, seq uint64) (StoredRecord, bool, error) {
				return h.store.Record(ctx, t, seq)
			}, m.RefundOf)
			if err != nil {
				return err
			}
			if ok {
				code = orig.Code
			}
		}
		var cat terminal.Category
		if v, err := terminal.ParseCode(code); err == nil {
			cat = v.Category
		}
		r := rows[key{m.MerchantID, cat}]
		if r == nil {
			if _, ok := names[m.MerchantID]; !ok {
				mer, _, err := h.store.Merchant(ctx, m.MerchantID)
				if err != nil {
					return err
				}
				names[m.MerchantID] = mer.Name
			}
			r = &ReportRow{MerchantID: m.MerchantID, MerchantName: names[m.MerchantID], Category: cat}
			rows[key{m.MerchantID, cat}] = r
		}
		switch {
		case st.Result == terminal.Conflict:
			r.Conflicts++
		case m.Kind == terminal.KindRefund:
			r.Refunds++
			r.RefundFen += m.RefundFen
		default:
			r.Count++
			r.DiscountFen += m.DiscountFen
			r.SalesFen += m.TotalFen
		}
		return nil
	})
	if err == nil {
		lo, hi := day, day.AddDate(0, 0, 1)
		err = h.store.Conflicts(ctx, func(c *Conflict) error {
			if (merchantID == "" || c.MerchantID == merchantID) && !c.At.Before(lo) && c.At.Before(hi) {
				rep.Conflicts = append(rep.Conflicts, *c)
			}
			return nil
		})
	}
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	for _, r := range rows {
		r.ratio()
		rep.Rows = append(rep.Rows, *r)
		rep.Total.add(r)
	}
	slices.SortFunc(rep.Rows, func(a, b ReportRow) int {
		if c := strings.Compare(a.MerchantID, b.MerchantID); c != 0 {
			return c
		}
		return int(a.Category) - int(b.Category)
	})
	rep.Total.MerchantID = "TOTAL"
	rep.Total.ratio()
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
	return []string{row.MerchantID, row.MerchantName, cat, strconv.Itoa(row.Count), row.DiscountFen.Plain(),
		row.SalesFen.Plain(), strconv.FormatFloat(row.Leverage, 'f', 2, 64), strconv.Itoa(row.Refunds),
		row.RefundFen.Plain(), strconv.Itoa(row.Conflicts)}
}

var header = []string{"merchant", "name", "category", "count", "discount", "sales", "leverage", "refunds", "refunded", "conflicts"}

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
	if len(r.Conflicts) > 0 {
		fmt.Fprintf(w, "\n冲突记录 / conflicts (%d)\n", len(r.Conflicts))
		for _, c := range r.Conflicts {
			fmt.Fprintf(w, "  %s voucher %s merchant %s discount %s at %s: %s\n", c.RecordID, c.Voucher,
				c.MerchantID, c.DiscountFen.Plain(), c.At.In(terminal.Zone).Format(time.DateTime), c.Reason)
		}
	}
	return nil
}
