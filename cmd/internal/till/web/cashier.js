// The cashier screen: the open basket and the voucher's verdict, live over
// /api/v1/events.
"use strict";

VP.words({
  "sync": ["立即同步", "Sync now"],
  "syncing": ["同步中…", "Syncing…"],
  "dashboard": ["今日报表", "Today's report"],
  "idle.title": ["请开单后扫券", "Open a checkout, then scan"],
  "open.title": ["请扫描消费券", "Scan the voucher"],
  "approved": ["✓ 可以使用", "✓ Approved"],
  "declined": ["✗ 不能使用", "✗ Declined"],
  "completed": ["✓ 核销完成", "✓ Redeemed"],
  "completed.plain": ["✓ 交易完成（未用券）", "✓ Sale completed (no voucher)"],
  "cancelled": ["订单已取消", "Checkout cancelled"],
  "refunded": ["已退款", "Refunded"],
  "discount": ["优惠", "Discount"],
  "payable": ["应付", "To pay"],
  "basket": ["购物清单", "Basket"],
  "total": ["合计", "Total"],
  "eligible": ["可用券金额", "Eligible"],
  "apply": ["用券", "Apply"],
  "cancel": ["取消订单", "Cancel"],
  "refund": ["整单退货", "Refund whole sale"],
  "refund.find": ["部分退货", "Refund some items"],
  "refund.part": ["退所选商品", "Refund selected"],
  "refund.sold": ["已购", "sold"],
  "refund.none": ["请填写要退的数量", "Enter the quantities to return"],
  "refund.badqty": ["退货数量应为不超过已购数量的整数", "A quantity to return is a whole number up to the quantity sold"],
  "refund.notsale": ["这不是一笔核销单", "That is not a redemption"],
  "refund.share": ["券抵扣部分不退现金", "voucher share not paid back"],
  "code.ph": ["手动输入券码", "Type a voucher code"],
  "refund.ph": ["核销单号", "Redemption id"],
  "queue": ["未同步", "Unsynced"],
  "online.claim": ["已联网核验", "verified online"],
  "offline.claim": ["离线核销，联网后上传", "offline, uploads on reconnect"],
  "redemption": ["核销单号", "Redemption"],
  "voucher.returned": ["券已退回顾客", "voucher returned to customer"],
  "voucher.kept": ["券不退回（部分退货或已过期）", "voucher not returned (partial or expired)"],
  "status.open": ["待扫券", "open"],
  "status.voucher_applied": ["已用券", "voucher applied"],
  "status.completed": ["已完成", "completed"],
  "status.cancelled": ["已取消", "cancelled"],
  "no.items": ["（空）", "(empty)"],
});

const S = { checkout: null, ev: null, status: null, refund: null };
const $ = (id) => document.getElementById(id);

function render() {
  renderStatus();
  renderResult();
  renderBasket();
}

function renderStatus() {
  const st = S.status;
  if (!st) return;
  $("merchant").textContent = st.merchant_name || st.merchant || "—";
  $("terminal").textContent = st.terminal || "";
  const net = $("net");
  net.className = "pill " + (st.online ? "on" : "off");
  net.textContent = VP.t(st.online ? "online" : "offline");
  const sc = $("scanner");
  sc.className = "pill " + (st.scanner === "connected" ? "on" : "off");
  sc.textContent = VP.t("scanner." + (st.scanner === "connected" ? "connected" : "disconnected"));
  const q = $("queue");
  q.className = "pill " + (st.queue_depth > 0 ? "warnpill" : "");
  q.textContent = VP.t("queue") + " " + st.queue_depth + " · " + VP.yuan(st.offline_exposure_fen);
}

function renderResult() {
  const box = $("result");
  const co = S.checkout;
  const ev = S.ev;
  let cls = "idle", verdict = VP.t("idle.title"), reason = "", voucher = "";
  if (co && (co.status === "open" || co.status === "voucher_applied")) {
    cls = "open";
    verdict = VP.t("open.title");
  }
  if (ev) {
    switch (ev.kind) {
      case "approved":
        cls = "ok"; verdict = VP.t("approved");
        reason = VP.t(ev.online ? "online.claim" : "offline.claim");
        break;
      case "declined":
        cls = "bad"; verdict = VP.t("declined");
        reason = VP.message(ev.decline);
        break;
      case "completed":
        cls = "done";
        verdict = VP.t(co && co.redemption_id ? "completed" : "completed.plain");
        reason = co && co.redemption_id ? VP.t("redemption") + " " + co.redemption_id : "";
        break;
      case "cancelled":
        cls = "idle"; verdict = VP.t("cancelled");
        break;
      case "refunded": {
        const r = ev.record || {};
        cls = "done"; verdict = VP.t("refunded") + " " + VP.yuan(r.refund_fen || 0);
        reason = VP.t(r.voucher_returned ? "voucher.returned" : "voucher.kept");
        break;
      }
    }
  }
  const show = co && cls !== "idle";
  if (show && co.voucher) {
    const v = co.voucher;
    voucher = (VP.isEN() ? v.category : catName(v.category)) + " · " + denom(v);
  }
  box.className = "result " + cls;
  $("verdict").textContent = verdict;
  $("reason").textContent = reason;
  $("voucher").textContent = voucher;
  $("discount").textContent = show && co.discount_fen ? "-" + VP.yuan(co.discount_fen) : (show ? VP.yuan(0) : "—");
  $("payable").textContent = show ? VP.yuan(co.payable_fen) : "—";
  const w = $("warning");
  if (co && co.warning && cls === "ok") { w.textContent = co.warning; w.classList.remove("hidden"); } else { w.classList.add("hidden"); }
}

const CATS = { retail: "零售通用券", fuel: "加油券", appliance: "数码家电券", hospitality: "住餐文旅券", love: "爱心消费券" };
function catName(c) { return CATS[c] || c; }
function denom(v) {
  if (v.category === "love") return (VP.isEN() ? "face value " : "面值") + VP.yuan(v.off_fen);
  return VP.isEN() ? "spend " + VP.yuan(v.spend_fen) + ", " + VP.yuan(v.off_fen) + " off" : "满" + VP.yuan(v.spend_fen) + "减" + VP.yuan(v.off_fen);
}

function renderBasket() {
  const co = S.checkout;
  const tb = $("items");
  tb.textContent = "";
  if (!co) {
    $("costatus").textContent = "";
    $("total").textContent = "—";
    $("eligible").textContent = "—";
    return;
  }
  $("costatus").textContent = co.id + " · " + VP.t("status." + co.status);
  if (!co.items || co.items.length === 0) tb.append(VP.el("tr", {}, VP.el("td", { class: "muted" }, VP.t("no.items"))));
  for (const it of co.items || []) {
    tb.append(VP.el("tr", { class: it.category === "stored_value_card" || it.category === "prepaid_card" ? "noelig" : "" },
      VP.el("td", {}, it.name || it.sku),
      VP.el("td", { class: "num" }, "×" + it.qty),
      VP.el("td", { class: "num" }, VP.yuan(it.unit_price_fen * it.qty))));
  }
  $("total").textContent = VP.yuan(co.total_fen);
  $("eligible").textContent = VP.yuan(co.eligible_fen);
}

function onMessage(m) {
  if (m.status) S.status = m.status;
  if (m.type === "hello") {
    S.checkout = m.checkout || null;
    S.ev = null;
  }
  if (m.type === "lane") {
    const ev = m.event;
    S.ev = ev;
    if (ev.checkout) S.checkout = ev.checkout;
    if (ev.kind === "completed" && ev.record) $("refundid").value = ev.record.id;
  }
  render();
}

// on runs fn when the button is pressed, the button disabled until fn is
// done: a double tap on a refund must not refund twice.
function on(id, fn) {
  const b = $(id);
  b.addEventListener("click", async () => {
    if (b.disabled) return;
    b.disabled = true;
    try { await fn(); } catch (e) { flash(VP.message(e)); } finally { b.disabled = false; }
  });
}
function flash(text) {
  $("refundmsg").textContent = text;
}

// renderRefund lists the sale loaded for a partial refund, a quantity to
// return on each line (0 to start with).
function renderRefund() {
  const table = $("refunditems");
  const tb = table.querySelector("tbody");
  tb.textContent = "";
  const sale = S.refund;
  table.classList.toggle("hidden", !sale);
  $("refundpart").classList.toggle("hidden", !sale);
  if (!sale) return;
  for (const it of sale.items || []) {
    tb.append(VP.el("tr", {},
      VP.el("td", {}, it.name || it.sku),
      VP.el("td", { class: "num" }, VP.t("refund.sold") + " ×" + it.qty + " · " + VP.yuan(it.unit_price_fen)),
      VP.el("td", { class: "num" }, VP.el("input", { class: "qty", type: "number", inputmode: "numeric",
        min: "0", max: String(it.qty), step: "1", value: "0", "data-sku": it.sku, "data-max": String(it.qty) }))));
  }
}

// refundLines reads the quantities typed, summed per item code as the
// refund API takes them; null when one is not a whole number in range.
function refundLines() {
  const per = new Map();
  for (const inp of $("refunditems").querySelectorAll("input.qty")) {
    const text = inp.value.trim();
    const q = text === "" ? 0 : Number(text);
    if (!Number.isInteger(q) || q < 0 || q > Number(inp.dataset.max)) return null;
    if (q > 0) per.set(inp.dataset.sku, (per.get(inp.dataset.sku) || 0) + q);
  }
  return [...per].map(([sku, qty]) => ({ sku, qty }));
}

function refunded(r) {
  let text = VP.t("refunded") + " " + VP.yuan(r.refund_fen);
  if (r.voucher_share_fen > 0) text += " · " + VP.t("refund.share") + " " + VP.yuan(r.voucher_share_fen);
  flash(text + " · " + VP.t(r.voucher_returned ? "voucher.returned" : "voucher.kept"));
  S.refund = null;
  renderRefund();
}

document.addEventListener("DOMContentLoaded", () => {
  VP.connect(onMessage, (up) => $("lost").classList.toggle("hidden", up));
  VP.api("GET", "/api/v1/status").then((st) => { S.status = st; render(); }).catch(() => {});
  document.addEventListener("vp-lang", render);
  on("sync", async () => {
    $("sync").textContent = VP.t("syncing");
    try { S.status = await VP.api("POST", "/api/v1/sync"); } finally { $("sync").textContent = VP.t("sync"); render(); }
  });
  on("apply", async () => {
    if (!S.checkout) return;
    await VP.api("POST", "/api/v1/checkouts/" + S.checkout.id + "/vouchers", { code: $("code").value.trim() });
    $("code").value = "";
  });
  on("cancel", async () => {
    if (!S.checkout) return;
    await VP.api("POST", "/api/v1/checkouts/" + S.checkout.id + "/cancel");
  });
  on("refund", async () => {
    const id = $("refundid").value.trim();
    if (!id) return;
    refunded(await VP.api("POST", "/api/v1/redemptions/" + encodeURIComponent(id) + "/refund"));
  });
  on("refundfind", async () => {
    const id = $("refundid").value.trim();
    S.refund = null;
    renderRefund();
    flash("");
    if (!id) return;
    const sale = await VP.api("GET", "/api/v1/redemptions/" + encodeURIComponent(id));
    if (sale.kind !== "redemption") { flash(VP.t("refund.notsale")); return; }
    S.refund = sale;
    renderRefund();
  });
  $("refundid").addEventListener("input", () => {
    if (S.refund && $("refundid").value.trim() !== S.refund.id) { S.refund = null; renderRefund(); }
  });
  on("refundpart", async () => {
    if (!S.refund) return;
    const items = refundLines();
    if (items === null) { flash(VP.t("refund.badqty")); return; }
    if (items.length === 0) { flash(VP.t("refund.none")); return; }
    refunded(await VP.api("POST", "/api/v1/redemptions/" + encodeURIComponent(S.refund.id) + "/refund", { items }));
  });
  render();
});
