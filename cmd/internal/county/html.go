package county

import (
	"fmt"
	"html"
	"html/template"
	"io"
	"strconv"
	"strings"

	"github.com/voucherpos/voucherpos/terminal"
)

// Bar is one bar of a chart.
type Bar struct {
	Label string
	Value int64
	// Text is printed at the bar's end ("¥40.00", "12").
	Text string
}

// BarChart draws bars as an inline SVG (no script, no external file):
// vertical bars for a series such as hours or days, horizontal ones for a
// few named groups. full is the value of a full-length bar; 0 means the
// largest value.
func BarChart(title string, bars []Bar, horizontal bool, full int64) template.HTML {
	max := max(full, 1)
	for _, b := range bars {
		max = maxInt(max, b.Value)
	}
	var sb strings.Builder
	if horizontal {
		const w, row, label = 640, 26, 170
		h := row*len(bars) + 30
		fmt.Fprintf(&sb, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`, w, h, html.EscapeString(title))
		fmt.Fprintf(&sb, `<text x="0" y="14" class="ct">%s</text>`, html.EscapeString(title))
		for i, b := range bars {
			y := 24 + i*row
			bw := int64(w-label-90) * maxInt(b.Value, 0) / max
			fmt.Fprintf(&sb, `<text x="0" y="%d" class="cl">%s</text>`, y+15, html.EscapeString(b.Label))
			fmt.Fprintf(&sb, `<rect x="%d" y="%d" width="%d" height="18" class="cb"/>`, label, y+2, bw)
			fmt.Fprintf(&sb, `<text x="%d" y="%d" class="cv">%s</text>`, label+int(bw)+6, y+15, html.EscapeString(b.Text))
		}
		sb.WriteString(`</svg>`)
		return template.HTML(sb.String())
	}
	const h, top, base = 200, 22, 170
	n := max1(len(bars))
	step := min(640/n, 80)
	fmt.Fprintf(&sb, `<svg class="chart" viewBox="0 0 660 %d" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`, h, html.EscapeString(title))
	fmt.Fprintf(&sb, `<text x="0" y="14" class="ct">%s</text>`, html.EscapeString(title))
	fmt.Fprintf(&sb, `<line x1="10" y1="%d" x2="650" y2="%d" class="ax"/>`, base, base)
	for i, b := range bars {
		bh := int64(base-top-14) * maxInt(b.Value, 0) / max
		x := 10 + i*step
		fmt.Fprintf(&sb, `<rect x="%d" y="%d" width="%d" height="%d" class="cb"/>`, x+2, base-int(bh), max1(step-4), bh)
		if b.Value != 0 {
			fmt.Fprintf(&sb, `<text x="%d" y="%d" class="cv" text-anchor="middle">%s</text>`, x+step/2, base-int(bh)-3, html.EscapeString(b.Text))
		}
		fmt.Fprintf(&sb, `<text x="%d" y="%d" class="cl" text-anchor="middle">%s</text>`, x+step/2, base+16, html.EscapeString(b.Label))
	}
	sb.WriteString(`</svg>`)
	return template.HTML(sb.String())
}

func maxInt(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

func max1(n int) int {
	if n < 1 {
		return 1
	}
	return n
}

// Charts returns the report's charts: subsidy by day and by category,
// redemptions by hour, and budget burn.
func (rep *Report) Charts() []template.HTML {
	var day, cat, hour, burn []Bar
	for _, g := range rep.ByDay {
		day = append(day, Bar{Label: g.Key[5:], Value: int64(g.SubsidyFen), Text: g.SubsidyFen.Plain()})
	}
	for _, g := range rep.ByCategory {
		cat = append(cat, Bar{Label: g.Name, Value: int64(g.SubsidyFen), Text: "¥" + g.SubsidyFen.Plain()})
	}
	for h, n := range rep.ByHour {
		hour = append(hour, Bar{Label: strconv.Itoa(h), Value: int64(n), Text: strconv.Itoa(n)})
	}
	for _, b := range rep.Budget {
		burn = append(burn, Bar{Label: b.Name, Value: int64(b.Share), Text: b.Share.String() + "%"})
	}
	return []template.HTML{
		BarChart("每日补贴 subsidy by day (¥)", day, false, 0),
		BarChart("分类补贴 subsidy by category", cat, true, 0),
		BarChart("分时核销 redemptions by hour (UTC+8)", hour, false, 0),
		BarChart("预算使用 budget burn (% of each category's budget)", burn, true, 100_00),
	}
}

// Style is the stylesheet the report and the console share: system fonts
// with CJK fallbacks, A4 print rules.
const Style = `
body{font-family:"Noto Sans CJK SC","Source Han Sans SC","PingFang SC","Microsoft YaHei",sans-serif;color:#1a1a1a;margin:24px auto;max-width:960px;font-size:13px;line-height:1.45}
h1{font-size:20px;margin:0 0 4px} h2{font-size:15px;margin:22px 0 6px;border-bottom:2px solid #b22222;padding-bottom:2px}
.sub{color:#555;margin:0 0 12px}
table{border-collapse:collapse;width:100%;margin:4px 0 10px;font-size:12px}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:right;white-space:nowrap} th{background:#f3f3f3}
td.l,th.l{text-align:left;white-space:normal}
.kpi{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0}
.kpi div{border:1px solid #ddd;border-radius:6px;padding:6px 10px;min-width:120px}
.kpi b{display:block;font-size:17px}
.note{color:#555;font-size:11px}
svg.chart{width:100%;height:auto;max-height:260px;margin:6px 0}
.ct{font-size:13px;font-weight:bold;fill:#1a1a1a} .cl{font-size:11px;fill:#333} .cv{font-size:10px;fill:#333}
.cb{fill:#c0392b} .ax{stroke:#999}
.charts{display:grid;grid-template-columns:1fr 1fr;gap:12px}
@page{size:A4;margin:14mm}
@media print{body{margin:0;max-width:none;font-size:10.5px} table{font-size:9.5px} h2{break-after:avoid}
 table,svg,.kpi{break-inside:avoid} .noprint{display:none}}
`

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"yuan": func(f terminal.Fen) string { return f.Plain() },
}).Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>{{.R.Programme}} 统计报告 {{.R.From}}–{{.R.Until}}</title>
<style>{{.Style}}</style></head><body>
<h1>{{.R.Programme}} · 统计分析报告</h1>
<p class="sub">Programme report · {{.R.From}} – {{.R.Until}} (UTC+8) · 生成 generated {{.R.Generated}}</p>
{{with .R.Total}}<div class="kpi">
<div>补贴 subsidy<b>¥{{yuan .SubsidyFen}}</b></div>
<div>净销售额 net sales<b>¥{{yuan .NetSalesFen}}</b></div>
<div>带动比 leverage<b>{{.Leverage}}</b></div>
<div>核销 redemptions<b>{{.Redemptions}}</b></div>
<div>退款 refunds<b>{{.Refunds}}</b></div>
<div>冲突 conflicts<b>{{.Conflicts.Redemptions}}</b></div>
</div>
<p class="note">补贴 = 已受理核销的优惠 ¥{{yuan .DiscountFen}} − 退款退回 ¥{{yuan .SubsidyReturnedFen}}。带动比 = 净销售额 ÷ 补贴(消费总额含券面部分,扣除退款),为会计比率,不代表因果效应。
Subsidy = discounts of accepted redemptions − what refunds return; leverage = net sales ÷ subsidy, an accounting ratio, not a causal effect. Conflicts ({{.Conflicts.Redemptions}}, ¥{{yuan .Conflicts.DiscountFen}} claimed), rule breaks ({{.RuleBreaks.Redemptions}}, ¥{{yuan .RuleBreaks.DiscountFen}}) and pending records are never counted as subsidy.</p>{{end}}
<h2>图表 Charts</h2>
<div class="charts">{{range .Charts}}<div>{{.}}</div>{{end}}</div>
<h2>发放与核销 Issuance and redemption</h2>
{{with .R.Issuance}}<p>轮次 round {{.Round}} · 核销率 redemption rate (redeemed ÷ claimed, by value): <b>{{.RedemptionRate}}%</b></p>
<table><tr><th class="l">类别 category</th><th>预算 budget</th><th>投放 released</th><th>领取 claimed</th><th>核销 redeemed</th><th>过期 expired</th><th>退回 returned</th><th>可用 available</th></tr>
{{range .Lines}}<tr><td class="l">{{.Category.Name}} {{.Round}}</td><td>{{yuan .BudgetFen}}</td><td>{{yuan .ReleasedFen}}</td><td>{{yuan .ClaimedFen}}</td><td>{{yuan .RedeemedFen}}</td><td>{{yuan .ExpiredFen}}</td><td>{{yuan .ReturnedFen}}</td><td>{{yuan .AvailableFen}}</td></tr>{{end}}
{{with .Total}}<tr><th class="l">合计 total</th><th>{{yuan .BudgetFen}}</th><th>{{yuan .ReleasedFen}}</th><th>{{yuan .ClaimedFen}}</th><th>{{yuan .RedeemedFen}}</th><th>{{yuan .ExpiredFen}}</th><th>{{yuan .ReturnedFen}}</th><th>{{yuan .AvailableFen}}</th></tr>{{end}}</table>
{{else}}<p class="note">发放数据未由发放端提供,仅列核销数据。Issuance is not reported by the issuing side; redemption figures only.</p>{{end}}
<h2>预算使用 Budget burn</h2>
<table><tr><th class="l">类别 category</th><th>预算 budget</th><th>补贴 subsidy</th><th>使用率 burn</th></tr>
{{range .R.Budget}}<tr><td class="l">{{.Name}} {{.Category}}</td><td>{{yuan .BudgetFen}}</td><td>{{yuan .SubsidyFen}}</td><td>{{.Share}}%</td></tr>{{end}}</table>
{{range .Sections}}<h2>{{.Title}}</h2>
<table><tr><th class="l">{{.Head}}</th><th>核销</th><th>销售额</th><th>净销售额</th><th>补贴</th><th>带动比</th><th>退款</th><th>退券</th><th>离线</th><th>冲突</th></tr>
{{range .Groups}}<tr><td class="l">{{.Name}}</td><td>{{.Redemptions}}</td><td>{{yuan .SalesFen}}</td><td>{{yuan .NetSalesFen}}</td><td>{{yuan .SubsidyFen}}</td><td>{{.Leverage}}</td><td>{{.Refunds}}</td><td>{{.VouchersReturned}}</td><td>{{.Offline}}</td><td>{{.Conflicts.Redemptions}}</td></tr>{{end}}</table>{{end}}
<h2>覆盖 Coverage</h2>
{{with .R.Coverage}}<p>核销用户 holders who redeemed: <b>{{.Holders}}</b> · 核销商户 merchants who redeemed: <b>{{.Merchants}}</b> / {{.MerchantsEnrolled}} ({{.MerchantShare}}%)</p>
<table><tr><th class="l">类别 / 地区</th><th>用户 holders</th><th>核销商户 merchants</th><th>参与商户 enrolled</th></tr>
{{range .ByCategory}}<tr><td class="l">{{.Name}}</td><td>{{.Holders}}</td><td>{{.Merchants}}</td><td>{{.MerchantsEnrolled}}</td></tr>{{end}}
{{range .ByRegion}}<tr><td class="l">区划 region {{.Name}}</td><td>{{.Holders}}</td><td>{{.Merchants}}</td><td>{{.MerchantsEnrolled}}</td></tr>{{end}}</table>{{end}}
<h2>商户离线占比 Offline share by merchant</h2>
<table><tr><th class="l">商户 merchant</th><th>类别</th><th>核销</th><th>离线</th><th>离线占比</th><th>状态</th></tr>
{{range .R.ByMerchant}}<tr><td class="l">{{.Key}} {{.Name}}</td><td>{{.Category}}</td><td>{{.Redemptions}}</td><td>{{.Offline}}</td><td>{{.OfflineShare}}%</td><td>{{if .Blocked}}已停用 blocked{{else}}正常{{end}}</td></tr>{{end}}</table>
{{range .Lists}}<h2>{{.Title}} ({{len .Rows}})</h2>
{{if .Rows}}<table><tr><th class="l">记录 record</th><th>时间</th><th class="l">商户</th><th>券 voucher</th><th>销售</th><th>优惠</th><th class="l">原因 why</th></tr>
{{range .Rows}}<tr><td class="l">{{.ID}}</td><td>{{.At}}</td><td class="l">{{.MerchantID}}</td><td>{{.Voucher}}</td><td>{{yuan .SalesFen}}</td><td>{{yuan .DiscountFen}}</td><td class="l">{{.Detail}}{{range .Flags}} {{.}}{{end}}</td></tr>{{end}}</table>{{else}}<p class="note">无 none</p>{{end}}{{end}}
<h2>风险信号 Signals ({{len .R.Signals}})</h2>
<p class="note">信号提示需要核查的模式,并非违规结论。A signal is a pattern to review, not a finding; docs/reports.md says what each means and does not.</p>
{{if .R.Signals}}<table><tr><th class="l">信号</th><th class="l">对象 subject</th><th class="l">说明</th><th class="l">记录 records</th></tr>
{{range .R.Signals}}<tr><td class="l">{{.Title}}</td><td class="l">{{.Subject}}</td><td class="l">{{.Detail}}</td><td class="l">{{range .Records}}{{.ID}} {{end}}</td></tr>{{end}}</table>{{end}}
<h2>管理操作记录 Admin actions ({{len .R.Actions}})</h2>
{{if .R.Actions}}<table><tr><th>时间 when</th><th class="l">操作人 who</th><th class="l">操作 what</th><th class="l">对象</th><th class="l">原因 why</th></tr>
{{range .R.Actions}}<tr><td>{{.At.Format "2006-01-02 15:04"}}</td><td class="l">{{.Who}}</td><td class="l">{{.What}}</td><td class="l">{{.Target}}</td><td class="l">{{.Why}}</td></tr>{{end}}</table>{{else}}<p class="note">无 none</p>{{end}}
</body></html>
`))

type htmlSection struct {
	Title, Head string
	Groups      []Group
}

type htmlList struct {
	Title string
	Rows  []Row
}

func (rep *Report) writeHTML(w io.Writer) error {
	mer := make([]Group, 0, len(rep.ByMerchant))
	for _, m := range rep.ByMerchant {
		g := m.Group
		g.Name = m.Key + " " + m.Name
		mer = append(mer, g)
	}
	return reportTmpl.Execute(w, map[string]any{
		"R": rep, "Style": template.CSS(Style), "Charts": rep.Charts(),
		"Sections": []htmlSection{
			{"分类 By category", "类别 category", rep.ByCategory},
			{"分轮次 By round", "轮次 round", rep.ByRound},
			{"分面额 By denomination", "面额 denomination", rep.ByDenomination},
			{"分日 By day", "日期 day", rep.ByDay},
			{"分商户 By merchant", "商户 merchant", mer},
		},
		"Lists": []htmlList{{"冲突记录 Conflicts", rep.Conflicts}, {"违规记录 Rule breaks", rep.RuleBreaks}, {"标记交易 Flagged transactions", rep.Flagged}},
	})
}
