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
	Day      string `json:"day"`
	Merchant string `json:"merchant,omitempty"`
	Terminal string `json:"terminal,omitempty"`
	Records  []Row  `json:"redemptions"`
	// Totals is the day's money (terminal.Account).
	Totals     terminal.Account `json:"totals"`
	ByCategory []CategoryTotal  `json:"by_category"`
	// Until is the last day of a report over several days (Day is the
	// first); empty for one day.
	Until string `json:"until,omitempty"`
	// ByHour counts counted redemptions (not refunds) by hour of the day,
	// UTC+8; ByHourSales sums their sales (fen) the same way.
	ByHour      [24]int   `json:"by_hour"`
	ByHourSales [24]int64 `json:"by_hour_sales_fen"`
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
	// Standing is where the record stands in the money (docs/reports.md).
	Standing terminal.Standing `json:"standing"`
}

// CategoryTotal is one category's part of the day.
type CategoryTotal struct {
	Category string `json:"category"`
	Name     string `json:"name"`
	terminal.Account
}

// BuildReport makes the report of day from its journal entries. The money
// is summed by terminal.Account (docs/reports.md): only records the server
// accepted count; pending, conflicted and rule-breaking ones are shown
// apart. of gives the sync state of an earlier day's sale that one of the
// day's refunds refunds (nil: unknown, counted pending).
func BuildReport(day time.Time, entries []terminal.JournalEntry, of func(id string) (terminal.JournalEntry, bool)) Report {
	rep := Report{Day: terminal.Day(day).Format(time.DateOnly), Records: []Row{}, ByCategory: []CategoryTotal{}}
	slices.SortStableFunc(entries, func(a, b terminal.JournalEntry) int { return a.Record.At.Compare(b.Record.At) })
	lines := make([]terminal.Line, 0, len(entries))
	for _, e := range entries {
		res := e.Sync
		if res == terminal.Awaiting {
			res = ""
		}
		lines = append(lines, terminal.Line{Record: e.Record, Result: res, Detail: e.Detail})
	}
	terminal.ResolveRefunds(lines)
	byCat := map[terminal.Category]*CategoryTotal{}
	for i, e := range entries {
		r, l := e.Record, &lines[i]
		if r.Kind == terminal.KindRefund && l.Of == "" && of != nil {
			if o, ok := of(r.RefundOf); ok && o.Sync != terminal.Awaiting {
				l.Of, l.OfDetail = o.Sync, o.Detail
			}
		}
		row := Row{ID: r.ID, Kind: string(r.Kind), At: r.At.In(terminal.Zone).Format(time.RFC3339),
			Time: r.At.In(terminal.Zone).Format(time.TimeOnly), Category: r.Voucher.Category.String(),
			CategoryName: r.Voucher.Category.Name(), VoucherID: r.Voucher.ID.String(),
			Denomination: r.Voucher.Denomination().String(), SaleFen: int64(r.TotalFen),
			DiscountFen: int64(r.DiscountFen), PayableFen: int64(r.PayableFen), RefundOf: r.RefundOf,
			RefundFen: int64(r.RefundFen), ShareFen: int64(r.VoucherShareFen), Returned: r.VoucherReturned,
			Online: r.Online, Flags: r.Flags, Sync: string(e.Sync), SyncDetail: e.Detail, Standing: l.Standing()}
		if e.Sync == terminal.Duplicate {
			row.Sync = string(terminal.Accepted)
		}
		rep.Merchant, rep.Terminal = r.MerchantID, r.TerminalID
		c := byCat[r.Voucher.Category]
		if c == nil {
			c = &CategoryTotal{Category: row.Category, Name: row.CategoryName}
			byCat[r.Voucher.Category] = c
		}
		c.Add(*l)
		rep.Totals.Add(*l)
		if r.Kind == terminal.KindRedemption && row.Standing == terminal.Counted {
			rep.ByHour[r.At.In(terminal.Zone).Hour()]++
			rep.ByHourSales[r.At.In(terminal.Zone).Hour()] += int64(r.TotalFen)
		}
		rep.Records = append(rep.Records, row)
	}
	for c := terminal.Retail; c <= terminal.Love; c++ {
		if ct := byCat[c]; ct != nil {
			rep.ByCategory = append(rep.ByCategory, *ct)
		}
	}
	return rep
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
	"online", "sync", "sync_detail", "flags", "standing"}

// csvHeaderZH is csvHeader in Chinese, column for column, for the
// dashboard's export in Chinese (?lang=zh).
var csvHeaderZH = []string{"单号", "类型", "时间", "券类", "面额", "券号", "销售（元）",
	"优惠（元）", "实付（元）", "原核销单号", "退款（元）", "券抵扣部分（元）", "券已退回",
	"联网核验", "同步", "同步说明", "标记"}

// WriteCSV prints rep as CSV with the column names in Chinese when zh,
// else in English (as WriteReport's csv).
func WriteCSV(w io.Writer, rep *Report, zh bool) error {
	if zh {
		return writeCSVHeader(w, rep, csvHeaderZH)
	}
	return writeCSVHeader(w, rep, csvHeader)
}

func writeCSV(w io.Writer, rep *Report) error { return writeCSVHeader(w, rep, csvHeader) }

func writeCSVHeader(w io.Writer, rep *Report, header []string) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(header)
	for _, r := range rep.Records {
		_ = cw.Write([]string{r.ID, r.Kind, r.At, r.Category, r.Denomination, r.VoucherID, yuan(r.SaleFen),
			yuan(r.DiscountFen), yuan(r.PayableFen), r.RefundOf, yuan(r.RefundFen), yuan(r.ShareFen),
			strconv.FormatBool(r.Returned), strconv.FormatBool(r.Online), r.Sync, r.SyncDetail,
			strings.Join(r.Flags, "; "), string(r.Standing)})
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
		if r.Standing != terminal.Counted && string(r.Standing) != r.Sync {
			sync += " (" + string(r.Standing) + ")"
		}
		if r.SyncDetail != "" {
			sync += ": " + r.SyncDetail
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Time, r.Kind, r.Category, r.Denomination,
			yuan(r.SaleFen), yuan(r.DiscountFen), yuan(r.PayableFen), refund, sync)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%s", t.Summary())
	for _, c := range rep.ByCategory {
		fmt.Fprintf(w, "  %s %-12s 核销 %d  净销售额 ¥%s  补贴 ¥%s  带动比 %s\n", c.Name, c.Category, c.Redemptions,
			yuan(int64(c.NetSalesFen)), yuan(int64(c.SubsidyFen)), c.Leverage)
	}
	_, err := fmt.Fprintln(w)
	return err
}
