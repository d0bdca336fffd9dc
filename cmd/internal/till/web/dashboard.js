// The merchant's day (or a range of days): redemptions, totals by category,
// the leverage ratio, sales and counts by hour (inline SVG) and CSV export
// with its column names in the page's language. The agent knows its own
// ledger only: the page says "this till only".
"use strict";

VP.words({
  "title": ["商户日报", "Merchant's day"],
  "cashier": ["收银台", "Cashier"],
  "today": ["今天", "Today"],
  "csv": ["导出 CSV", "Export CSV"],
  "c.count": ["核销笔数", "Redemptions"],
  "c.sales": ["带动销售（净）", "Sales (net)"],
  "c.discount": ["补贴（净）", "Subsidy (net)"],
  "c.leverage": ["带动比", "Leverage"],
  "c.refunds": ["退款", "Refunds"],
  "c.unsynced": ["未同步 / 冲突", "Unsynced / conflicts"],
  "byhour": ["每小时核销：销售额（柱）与笔数", "By hour: sales (bars) and redemptions"],
  "week": ["近 7 天", "Last 7 days"],
  "scope": ["（仅本收银台 {t} 的记录）", "(this till, {t}, only)"],
  "bycat": ["按券类汇总", "By category"],
  "h.cat": ["券类", "Category"], "h.count": ["笔数", "Count"], "h.sales": ["销售", "Sale"],
  "h.discount": ["优惠", "Discount"], "h.leverage": ["带动比", "Leverage"], "h.time": ["时间", "Time"],
  "h.kind": ["类型", "Kind"], "h.denom": ["面额", "Denomination"], "h.paid": ["实付/退款", "Paid/refund"],
  "h.sync": ["同步", "Sync"], "h.id": ["单号", "Id"],
  "k.redemption": ["核销", "redemption"], "k.refund": ["退款", "refund"],
  "s.pending": ["待上传", "pending"], "s.accepted": ["已确认", "accepted"], "s.duplicate": ["已确认", "accepted"],
  "s.conflict": ["冲突", "conflict"], "empty": ["当天没有核销记录", "No redemptions on this day"],
  "returned": ["退券", "returned"],
});

const $ = (id) => document.getElementById(id);
let report = null;
let status = null;
let up = false;

function todayCST() {
  const d = new Date(Date.now() + 8 * 3600 * 1000);
  return d.toISOString().slice(0, 10);
}
function shift(day, n) {
  const d = new Date(day + "T00:00:00Z");
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}
function days(from, until) { return Math.round((new Date(until) - new Date(from)) / 86400000) + 1; }

async function load() {
  const from = $("from").value || todayCST();
  let until = $("until").value || from;
  if (until < from) { until = from; $("until").value = until; }
  const q = from === until ? "day=" + from : "from=" + from + "&until=" + until;
  $("csv").href = "/api/v1/redemptions?" + q + "&format=csv&lang=" + (VP.isEN() ? "en" : "zh");
  history.replaceState(null, "", "/dashboard?" + q);
  try {
    report = await VP.api("GET", "/api/v1/redemptions?" + q);
    $("msg").textContent = "";
  } catch (e) {
    $("msg").textContent = VP.message(e);
    return;
  }
  render();
}

// renderStatus shows the link to the server in the page's language; unknown
// (grey) while the agent cannot be reached.
function renderStatus() {
  const net = $("net");
  if (!up || !status) {
    net.className = "pill unknown";
    net.textContent = VP.t("net.unknown");
    return;
  }
  $("merchant").textContent = status.merchant_name || status.merchant || "—";
  $("scope").textContent = VP.t("scope").replace("{t}", status.terminal || "");
  net.className = "pill " + (status.online ? "on" : "off");
  net.textContent = VP.t(status.online ? "online" : "offline");
}

function render() {
  renderStatus();
  $("csv").href = $("csv").href.replace(/lang=\w+/, "lang=" + (VP.isEN() ? "en" : "zh"));
  if (!report) return;
  const t = report.totals;
  $("t-count").textContent = t.redemptions;
  $("t-sales").textContent = VP.yuan(t.net_sales_fen);
  $("t-discount").textContent = VP.yuan(t.subsidy_fen);
  $("t-leverage").textContent = t.subsidy_fen > 0 ? t.leverage.toFixed(2) : "—";
  $("t-refunds").textContent = t.refunds + " · " + VP.yuan(t.refund_paid_fen);
  $("t-sync").textContent = (t.pending.redemptions + t.pending.refunds) + " / " + (t.conflicts.redemptions + t.rule_breaks.redemptions);
  const cats = $("cats");
  cats.textContent = "";
  for (const c of report.by_category) {
    cats.append(VP.el("tr", {}, VP.el("td", {}, VP.isEN() ? c.category : c.name), VP.el("td", { class: "num" }, c.redemptions),
      VP.el("td", { class: "num" }, VP.yuan(c.net_sales_fen)), VP.el("td", { class: "num" }, VP.yuan(c.subsidy_fen)),
      VP.el("td", { class: "num" }, c.subsidy_fen > 0 ? c.leverage.toFixed(2) : "—")));
  }
  const rows = $("rows");
  rows.textContent = "";
  if (report.redemptions.length === 0) rows.append(VP.el("tr", {}, VP.el("td", { colspan: "9", class: "muted" }, VP.t("empty"))));
  for (const r of report.redemptions) {
    const refund = r.kind === "refund";
    const sync = VP.el("span", { class: "tag " + r.sync, title: r.sync_detail || "" }, VP.t("s." + r.sync));
    const paid = refund ? "-" + VP.yuan(r.refund_fen) + (r.voucher_returned ? " (" + VP.t("returned") + ")" : "") : VP.yuan(r.payable_fen);
    rows.append(VP.el("tr", { class: refund ? "refundrow" : "" },
      VP.el("td", {}, report.until ? r.at.slice(5, 10) + " " + r.time.slice(0, 5) : r.time), VP.el("td", {}, VP.t("k." + r.kind)),
      VP.el("td", {}, VP.isEN() ? r.category : r.category_name), VP.el("td", {}, r.denomination),
      VP.el("td", { class: "num" }, (refund ? "-" : "") + VP.yuan(r.sale_fen)),
      VP.el("td", { class: "num" }, refund ? "-" + VP.yuan(r.voucher_share_fen || 0) : VP.yuan(r.discount_fen)),
      VP.el("td", { class: "num" }, paid),
      VP.el("td", {}, sync, r.sync_detail ? VP.el("div", { class: "muted" }, r.sync_detail) : ""),
      VP.el("td", { class: "muted" }, r.id)));
  }
  chart(report.by_hour, report.by_hour_sales_fen || []);
}

// chart draws each hour's sales as a bar labelled with its redemption
// count, 07:00–22:59 plus any other hour that has some.
function chart(byHour, sales) {
  const svg = $("chart");
  const NS = "http://www.w3.org/2000/svg";
  svg.textContent = "";
  let from = 7, to = 22;
  byHour.forEach((n, h) => { if (n > 0) { from = Math.min(from, h); to = Math.max(to, h); } });
  const hours = to - from + 1;
  const max = Math.max(1, ...sales);
  const W = 480, H = 170, left = 64, bottom = 22, top = 18;
  const bw = (W - left - 4) / hours;
  const mk = (tag, attrs, text) => {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    svg.append(e);
  };
  mk("line", { x1: left, y1: H - bottom, x2: W, y2: H - bottom, stroke: "#99a" });
  mk("text", { x: left - 4, y: top + 4, "text-anchor": "end", "font-size": 11, fill: "#556" }, VP.yuan(max));
  mk("text", { x: left - 4, y: H - bottom, "text-anchor": "end", "font-size": 11, fill: "#556" }, "¥0");
  for (let i = 0; i < hours; i++) {
    const h = from + i, n = byHour[h], f = sales[h] || 0;
    const bh = (H - bottom - top) * f / max;
    const x = left + i * bw + 2;
    if (n > 0) {
      const bar = { x, y: H - bottom - bh, width: Math.max(2, bw - 4), height: Math.max(1, bh), fill: "#1d5fa8", rx: 2 };
      mk("rect", bar);
      mk("title", {}, h + ":00 " + VP.yuan(f) + " · " + n);
      mk("text", { x: x + (bw - 4) / 2, y: H - bottom - bh - 2, "text-anchor": "middle", "font-size": 11, fill: "#17324d" }, n + (VP.isEN() ? "" : "笔"));
    }
    if (i % 2 === 0 || hours <= 12) mk("text", { x: x + (bw - 4) / 2, y: H - 6, "text-anchor": "middle", "font-size": 11, fill: "#556" }, String(h));
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const q = new URLSearchParams(location.search);
  const ok = (d) => d && /^\d{4}-\d{2}-\d{2}$/.test(d);
  $("from").value = ok(q.get("from")) ? q.get("from") : ok(q.get("day")) ? q.get("day") : todayCST();
  $("until").value = ok(q.get("until")) ? q.get("until") : $("from").value;
  $("from").addEventListener("change", load);
  $("until").addEventListener("change", load);
  const move = (sign) => {
    const n = days($("from").value, $("until").value) * sign;
    $("from").value = shift($("from").value, n);
    $("until").value = shift($("until").value, n);
    load();
  };
  $("prev").addEventListener("click", () => move(-1));
  $("next").addEventListener("click", () => move(1));
  $("today").addEventListener("click", () => { $("from").value = $("until").value = todayCST(); load(); });
  $("week").addEventListener("click", () => { $("until").value = todayCST(); $("from").value = shift(todayCST(), -6); load(); });
  document.addEventListener("vp-lang", render);
  VP.connect((m) => {
    if (m.status) { status = m.status; renderStatus(); }
    if (m.type === "lane" && (m.event.kind === "completed" || m.event.kind === "refunded")) load();
    if (m.type === "status") load();
  }, (u) => { up = u; renderStatus(); });
  load();
});
