// The merchant's day: redemptions, totals by category, the leverage ratio,
// redemptions by hour (inline SVG) and CSV export, for any day.
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
  "byhour": ["每小时核销笔数", "Redemptions by hour"],
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

function todayCST() {
  const d = new Date(Date.now() + 8 * 3600 * 1000);
  return d.toISOString().slice(0, 10);
}
function shift(day, n) {
  const d = new Date(day + "T00:00:00Z");
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

async function load() {
  const day = $("day").value || todayCST();
  $("csv").href = "/api/v1/redemptions?day=" + day + "&format=csv";
  history.replaceState(null, "", "/dashboard?day=" + day);
  try {
    report = await VP.api("GET", "/api/v1/redemptions?day=" + day);
    $("msg").textContent = "";
  } catch (e) {
    $("msg").textContent = VP.message(e);
    return;
  }
  render();
}

function render() {
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
      VP.el("td", {}, r.time), VP.el("td", {}, VP.t("k." + r.kind)),
      VP.el("td", {}, VP.isEN() ? r.category : r.category_name), VP.el("td", {}, r.denomination),
      VP.el("td", { class: "num" }, (refund ? "-" : "") + VP.yuan(r.sale_fen)),
      VP.el("td", { class: "num" }, refund ? "-" + VP.yuan(r.voucher_share_fen || 0) : VP.yuan(r.discount_fen)),
      VP.el("td", { class: "num" }, paid),
      VP.el("td", {}, sync, r.sync_detail ? VP.el("div", { class: "muted" }, r.sync_detail) : ""),
      VP.el("td", { class: "muted" }, r.id)));
  }
  chart(report.by_hour);
}

// chart draws redemptions by hour as SVG bars, 07:00–22:59 plus any other hour that has some.
function chart(byHour) {
  const svg = $("chart");
  const NS = "http://www.w3.org/2000/svg";
  svg.textContent = "";
  let from = 7, to = 22;
  byHour.forEach((n, h) => { if (n > 0) { from = Math.min(from, h); to = Math.max(to, h); } });
  const hours = to - from + 1;
  const max = Math.max(1, ...byHour);
  const W = 480, H = 170, left = 28, bottom = 22, top = 18;
  const bw = (W - left - 4) / hours;
  const mk = (tag, attrs, text) => {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    svg.append(e);
  };
  mk("line", { x1: left, y1: H - bottom, x2: W, y2: H - bottom, stroke: "#99a" });
  mk("text", { x: left - 4, y: top + 4, "text-anchor": "end", "font-size": 11, fill: "#556" }, String(max));
  mk("text", { x: left - 4, y: H - bottom, "text-anchor": "end", "font-size": 11, fill: "#556" }, "0");
  for (let i = 0; i < hours; i++) {
    const h = from + i, n = byHour[h];
    const bh = (H - bottom - top) * n / max;
    const x = left + i * bw + 2;
    if (n > 0) {
      mk("rect", { x, y: H - bottom - bh, width: Math.max(2, bw - 4), height: bh, fill: "#1d5fa8", rx: 2 });
      mk("text", { x: x + (bw - 4) / 2, y: H - bottom - bh - 2, "text-anchor": "middle", "font-size": 11, fill: "#17324d" }, String(n));
    }
    if (i % 2 === 0 || hours <= 12) mk("text", { x: x + (bw - 4) / 2, y: H - 6, "text-anchor": "middle", "font-size": 11, fill: "#556" }, String(h));
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const q = new URLSearchParams(location.search).get("day");
  $("day").value = q && /^\d{4}-\d{2}-\d{2}$/.test(q) ? q : todayCST();
  $("day").addEventListener("change", load);
  $("prev").addEventListener("click", () => { $("day").value = shift($("day").value, -1); load(); });
  $("next").addEventListener("click", () => { $("day").value = shift($("day").value, 1); load(); });
  $("today").addEventListener("click", () => { $("day").value = todayCST(); load(); });
  document.addEventListener("vp-lang", render);
  VP.connect((m) => {
    if (m.status) {
      $("merchant").textContent = m.status.merchant_name || m.status.merchant || "—";
      $("net").className = "pill " + (m.status.online ? "on" : "off");
      $("net").textContent = VP.t(m.status.online ? "online" : "offline");
    }
    if (m.type === "lane" && (m.event.kind === "completed" || m.event.kind === "refunded")) load();
    if (m.type === "status") load();
  }, () => {});
  load();
});
