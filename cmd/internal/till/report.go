package till

import (
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

// Report is a merchant's day: every record, totals and the chart's data.
// It is what GET /api/v1/redemptions?day= answers and `posagent report` prints.
type Report struct {
	Day        string          `json:"day"`
	Merchant   string          `json:"merchant,omitempty"`
	Terminal   string          `json:"terminal,omitempty"`
	Records    []Row           `json:"redemptions"`
	Totals     Totals          `json:"totals"`
	ByCategory []CategoryTotal `json:"by_category"`
	// ByHour counts redemptions (not refunds) by hour of the day, UTC+8.
	ByHour [24]int `json:"by_hour"`
}

// Row is one record of the day.
type Row struct {
	ID           string   `json:"id"`
	Kind         string   `json:"kind"`
	At           string   `json:"at"`
	Time         string   `json:"time"`
	Category     string   `json:"category"`
	CategoryName string   `json:"category_name"`
	Denomination string   `json:"denomination"`
	VoucherID    string   `json:"voucher_id"`
	SaleFen      int64    `json:"sale_fen"`
	DiscountFen  int64    `json:"discount_fen"`
	PayableFen   int64    `json:"payable_fen"`
	RefundOf     string   `json:"refund_of,omitempty"`
	RefundFen    int64    `json:"refund_fen,omitempty"`
	ShareFen     int64    `json:"voucher_share_fen,omitempty"`
	Returned     bool     `json:"voucher_returned,omitempty"`
	Online       bool     `json:"online"`
	Sync         string   `json:"sync"`
	SyncDetail   string   `json:"sync_detail,omitempty"`
	Flags        []string `json:"flags,omitempty"`
}

// Totals sums the day. Net figures take refunds off; the leverage ratio is
// net sales in voucher transactions ÷ net subsidy (直接带动比).
type Totals struct {
	Redemptions    int     `json:"redemptions"`
	Refunds        int     `json:"refunds"`
	SalesFen       int64   `json:"sales_fen"`
	DiscountFen    int64   `json:"discount_fen"`
	RefundFen      int64   `json:"refund_fen"`
	ShareFen       int64   `json:"voucher_share_fen"`
	NetSalesFen    int64   `json:"net_sales_fen"`
	NetDiscountFen int64   `json:"net_discount_fen"`
	Leverage       float64 `json:"leverage"`
	Unsynced       int     `json:"unsynced"`
	Conflicts      int     `json:"conflicts"`
}

// CategoryTotal is one category's part of the day.
type CategoryTotal struct {
	Category    string  `json:"category"`
	Name        string  `json:"name"`
	Redemptions int     `json:"redemptions"`
	SalesFen    int64   `json:"sales_fen"`
	DiscountFen int64   `json:"discount_fen"`
	Leverage    float64 `json:"leverage"`
}

// BuildReport makes the report of day from its journal entries.
func BuildReport(day time.Time, entries []terminal.JournalEntry) Report {
	rep := Report{Day: terminal.Day(day).Format(time.DateOnly), Records: []Row{}, ByCategory: []CategoryTotal{}}
	byCat := map[terminal.Category]*CategoryTotal{}
	slices.SortStableFunc(entries, func(a, b terminal.JournalEntry) int { return a.Record.At.Compare(b.Record.At) })
	var refundedGross int64
	for _, e := range entries {
		r := e.Record
		row := Row{ID: r.ID, Kind: string(r.Kind), At: r.At.In(terminal.Zone).Format(time.RFC3339),
			Time: r.At.In(terminal.Zone).Format(time.TimeOnly), Category: r.Voucher.Category.String(),
			CategoryName: r.Voucher.Category.Name(), VoucherID: r.Voucher.ID.String(),
			Denomination: r.Voucher.Denomination().String(), SaleFen: int64(r.TotalFen),
			DiscountFen: int64(r.DiscountFen), PayableFen: int64(r.PayableFen), RefundOf: r.RefundOf,
			RefundFen: int64(r.RefundFen), ShareFen: int64(r.VoucherShareFen), Returned: r.VoucherReturned,
			Online: r.Online, Flags: r.Flags, Sync: string(e.Sync), SyncDetail: e.Detail}
		if e.Sync == terminal.Duplicate {
			row.Sync = string(terminal.Accepted)
		}
		rep.Merchant, rep.Terminal = r.MerchantID, r.TerminalID
		switch e.Sync {
		case terminal.Awaiting:
			rep.Totals.Unsynced++
		case terminal.Conflict:
			rep.Totals.Conflicts++
		}
		c := byCat[r.Voucher.Category]
		if c == nil {
			c = &CategoryTotal{Category: row.Category, Name: row.CategoryName}
			byCat[r.Voucher.Category] = c
		}
		if r.Kind == terminal.KindRefund {
			rep.Totals.Refunds++
			refundedGross += int64(r.TotalFen)
			rep.Totals.RefundFen += int64(r.RefundFen)
			rep.Totals.ShareFen += int64(r.VoucherShareFen)
			c.SalesFen -= int64(r.TotalFen)
			c.DiscountFen -= int64(r.VoucherShareFen)
		} else {
			rep.Totals.Redemptions++
			rep.Totals.SalesFen += int64(r.TotalFen)
			rep.Totals.DiscountFen += int64(r.DiscountFen)
			c.Redemptions++
			c.SalesFen += int64(r.TotalFen)
			c.DiscountFen += int64(r.DiscountFen)
			rep.ByHour[r.At.In(terminal.Zone).Hour()]++
		}
		rep.Records = append(rep.Records, row)
	}
	t := &rep.Totals
	t.NetSalesFen = t.SalesFen - refundedGross
	t.NetDiscountFen = t.DiscountFen - t.ShareFen
	t.Leverage = ratio(t.NetSalesFen, t.NetDiscountFen)
	for c := terminal.Retail; c <= terminal.Love; c++ {
		if ct := byCat[c]; ct != nil {
			ct.Leverage = ratio(ct.SalesFen, ct.DiscountFen)
			rep.ByCategory = append(rep.ByCategory, *ct)
		}
	}
	return rep
}

func ratio(a, b int64) float64 {
	if b <= 0 {
		return 0
	}
	return float64(int64(float64(a)/float64(b)*100+0.5)) / 100
}

func yuan(f int64) string { return terminal.Fen(f).Plain() }

// Formats of the report.
const (
	FormatTable = "table"
	FormatCSV   = "csv"
	FormatJSON  = "json"
)

// WriteReport prints rep as a table, CSV or JSON.
func WriteReport(w io.Writer, rep *Report, format string) error {
	switch format {
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case FormatCSV:
		return writeCSV(w, rep)
	case FormatTable, "":
		return writeTable(w, rep)
	}
	return fmt.Errorf("unknown format %q (want table, csv or json)", format)
}

var csvHeader = []string{"id", "kind", "time", "category", "denomination", "voucher_id", "sale_yuan",
	"discount_yuan", "payable_yuan", "refund_of", "refund_yuan", "voucher_share_yuan", "voucher_returned",
	"online", "sync", "sync_detail", "flags"}

func writeCSV(w io.Writer, rep *Report) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(csvHeader)
	for _, r := range rep.Records {
		_ = cw.Write([]string{r.ID, r.Kind, r.At, r.Category, r.Denomination, r.VoucherID, yuan(r.SaleFen),
			yuan(r.DiscountFen), yuan(r.PayableFen), r.RefundOf, yuan(r.RefundFen), yuan(r.ShareFen),
			strconv.FormatBool(r.Returned), strconv.FormatBool(r.Online), r.Sync, r.SyncDetail,
			strings.Join(r.Flags, "; ")})
	}
	cw.Flush()
	return cw.Error()
}

func writeTable(w io.Writer, rep *Report) error {
	t := &rep.Totals
	fmt.Fprintf(w, "日报 Daily report %s  商户 merchant %s  终端 terminal %s\n\n", rep.Day, rep.Merchant, rep.Terminal)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "时间 time\t类型 kind\t券类 category\t面额 denomination\t销售 sale\t优惠 discount\t实付 paid\t退款 refund\t同步 sync")
	for _, r := range rep.Records {
		refund := ""
		if r.Kind == string(terminal.KindRefund) {
			refund = yuan(r.RefundFen)
			if r.Returned {
				refund += " (退券 returned)"
			}
		}
		sync := r.Sync
		if r.SyncDetail != "" {
			sync += ": " + r.SyncDetail
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Time, r.Kind, r.Category, r.Denomination,
			yuan(r.SaleFen), yuan(r.DiscountFen), yuan(r.PayableFen), refund, sync)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n核销 redemptions %d  退款 refunds %d  净销售 net sales ¥%s  净补贴 net subsidy ¥%s  带动比 leverage %.2f\n",
		t.Redemptions, t.Refunds, yuan(t.NetSalesFen), yuan(t.NetDiscountFen), t.Leverage)
	fmt.Fprintf(w, "未同步 unsynced %d  冲突 conflicts %d\n", t.Unsynced, t.Conflicts)
	for _, c := range rep.ByCategory {
		fmt.Fprintf(w, "  %s %-12s 核销 %d  销售 ¥%s  补贴 ¥%s  带动比 %.2f\n", c.Name, c.Category, c.Redemptions,
			yuan(c.SalesFen), yuan(c.DiscountFen), c.Leverage)
	}
	_, err := fmt.Fprintln(w)
	return err
}
