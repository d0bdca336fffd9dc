// The cashier screen: the open basket and the voucher's verdict, live over
// /api/v1/events; a keypad sale for shops without till software; refunds
// picked from the day's sales. Everything on screen is rebuilt from the
// agent's state on load and on every reconnect (the "hello" frame).
"use strict";

VP.words({
  "sync": ["立即同步", "Sync now"],
  "syncing": ["同步中…", "Syncing…"],
  "sync.done": ["同步完成：已上传 {n} 笔，剩余未同步 {left} 笔", "Synced: {n} uploaded, {left} still unsynced"],
  "sync.nothing": ["同步完成：没有待上传的记录，已取得服务器最新状态", "Synced: nothing to upload; server state refreshed"],
  "dashboard": ["今日报表", "Today's report"],
  "idle.title": ["请开单后扫券", "Open a checkout, then scan"],
  "open.title": ["请扫描消费券", "Scan the voucher"],
  "approved": ["✓ 可以使用", "✓ Approved"],
  "declined": ["✗ 不能使用", "✗ Declined"],
  "completed": ["✓ 核销完成", "✓ Redeemed"],
  "completed.plain": ["✓ 交易完成（未用券）", "✓ Sale completed (no voucher)"],
  "cancelled": ["订单已取消", "Checkout cancelled"],
  "outcome.unknown": ["⚠ 记账结果未知", "⚠ Outcome unknown"],
  "not.committed": ["✗ 未记账", "✗ Not recorded"],
  "refunded": ["已退款", "Refunded"],
  "discount": ["优惠", "Discount"],
  "payable": ["应付", "To pay"],
  "paid": ["实付", "Paid"],
  "cash.back": ["退现金", "Cash back"],
  "share.kept": ["券抵扣不退", "Voucher share kept"],
  "basket": ["购物清单", "Basket"],
  "keypad": ["键盘收款", "Keypad sale"],
  "refunds": ["退货", "Refunds"],
  "total": ["合计", "Total"],
  "eligible": ["可用券金额", "Eligible"],
  "apply": ["用券", "Apply"],
  "cancel": ["取消订单", "Cancel"],
  "code.ph": ["手动输入券码", "Type a voucher code"],
  "queue": ["未同步", "Unsynced"],
  "online.claim": ["已联网核验", "verified online"],
  "offline.claim": ["离线核销，联网后上传", "offline, uploads on reconnect"],
  "redemption": ["核销单号", "Redemption"],
  "voucher.returned": ["券已退回顾客，可再次使用", "voucher returned to the customer, usable again"],
  "voucher.kept": ["券不退回（部分退货或已过期），仍算已使用", "voucher not returned (partial refund or expired): stays used"],
  "status.open": ["待扫券", "open"],
  "status.voucher_applied": ["已用券", "voucher applied"],
  "status.completed": ["已完成", "completed"],
  "status.cancelled": ["已取消", "cancelled"],
  "no.items": ["（空）", "(empty)"],
  "offline.banner": ["离线 · 上次同步 {ago} · 离线额度剩余 {left}（共 {limit}）· 未同步 {n} 笔",
    "Offline · last sync {ago} · offline allowance left {left} of {limit} · {n} unsynced"],
  "offline.never": ["离线 · 本机从未与服务器同步，暂不能用券；请检查网络后点“立即同步”",
    "Offline · this terminal has never synced, so it cannot take vouchers; check the network and press Sync now"],
  "ago.now": ["刚刚", "just now"],
  "ago.min": ["{n} 分钟前", "{n} min ago"],
  "ago.hour": ["{h} 小时 {m} 分钟前", "{h} h {m} min ago"],
  "blocked": ["本商户已被暂停核销资格，请联系主管部门", "This merchant is suspended from redeeming vouchers; contact the programme office"],
  "kp.amount": ["收款金额", "Amount"],
  "kp.topup": ["其中储值卡充值", "of which stored-value top-up"],
  "kp.open": ["开单，请扫券", "Open, then scan"],
  "kp.complete": ["收款完成", "Payment taken"],
  "kp.clear": ["清除", "Clear"],
  "kp.goods": ["键盘收款", "Keypad sale"],
  "kp.card": ["储值卡充值", "Stored-value top-up"],
  "kp.bad": ["金额应为大于 0 的数字，最多两位小数；充值部分不能超过收款金额", "The amount is a number over 0 with at most two decimals; the top-up cannot exceed it"],
  "kp.opened": ["已开单 {id}：请扫描消费券，收到款后点“收款完成”", "Opened {id}: scan the voucher, then press Payment taken once paid"],
  "kp.done": ["已收款 {pay}（{id}）", "Paid {pay} ({id})"],
  "kp.none": ["没有键盘开的订单", "No keypad checkout is open"],
  "rf.search": ["按金额或券号查找", "Find by amount or voucher"],
  "rf.none": ["今天还没有可退的核销", "No redemptions to refund today"],
  "rf.nomatch": ["没有符合的核销", "No matching redemption"],
  "rf.all": ["全部退", "Return all"],
  "rf.back": ["返回", "Back"],
  "rf.next": ["退货…", "Refund…"],
  "rf.confirm.title": ["请确认退货", "Confirm the refund"],
  "rf.cash": ["退给顾客现金", "Cash back to the customer"],
  "rf.share": ["券抵扣部分（不退现金）", "Voucher share (not paid back)"],
  "rf.voucher": ["消费券", "Voucher"],
  "rf.pin": ["店长密码", "Manager PIN"],
  "rf.do": ["确认退货", "Confirm refund"],
  "rf.pick": ["请选择要退的商品数量", "Choose the quantities to return"],
  "rf.sold": ["已购", "sold"],
  "rf.left": ["可退", "returnable"],
  "rf.refunded": ["已退", "refunded"],
  "rf.whole": ["已全部退货", "fully refunded"],
  "rf.done": ["已退款 {cash}", "Refunded {cash}"],
  "rf.pinneeded": ["请输入店长密码", "Enter the manager PIN"],
});

const S = {
  up: false, status: null, checkout: null, ev: null, tab: "basket",
  kp: { field: "amount", amount: "", topup: "", id: sessionStorage.getItem("vp.kp") || "" },
  rf: { report: null, sale: null, left: null, qty: null, preview: null, stage: "list" },
};
const $ = (id) => document.getElementById(id);
const fill = (s, vars) => s.replace(/\{(\w+)\}/g, (_, k) => vars[k]);

function render() {
  renderStatus();
  renderResult();
  renderBasket();
  renderKeypad();
  renderRefund();
}

// ago says how long ago t was, in the page's language.
function ago(t) {
  const min = Math.max(0, Math.floor((Date.now() - new Date(t).getTime()) / 60000));
  if (min < 1) return VP.t("ago.now");
  if (min < 60) return fill(VP.t("ago.min"), { n: min });
  return fill(VP.t("ago.hour"), { h: Math.floor(min / 60), m: min % 60 });
}

function renderStatus() {
  document.body.classList.toggle("dead", !S.up);
  document.querySelectorAll("main button, main input, #sync").forEach((b) => { b.disabled = !S.up; });
  const st = S.status;
  const net = $("net");
  if (!S.up || !st) {
    net.className = "pill unknown";
    net.textContent = VP.t("net.unknown");
    $("scanner").classList.add("hidden");
    $("offline").classList.add("hidden");
    return;
  }
  $("merchant").textContent = st.merchant_name || st.merchant || "—";
  $("terminal").textContent = st.terminal || "";
  net.className = "pill " + (st.online ? "on" : "off");
  net.textContent = VP.t(st.online ? "online" : "offline");
  const sc = $("scanner");
  sc.classList.toggle("hidden", st.scanner_configured === false);
  sc.className = "pill " + (st.scanner === "connected" ? "on" : "off") + (st.scanner_configured === false ? " hidden" : "");
  sc.textContent = VP.t("scanner." + (st.scanner === "connected" ? "connected" : "disconnected"));
  const q = $("queue");
  q.className = "pill " + (st.queue_depth > 0 ? "warnpill" : "");
  q.textContent = VP.t("queue") + " " + st.queue_depth;
  const off = $("offline");
  off.classList.toggle("hidden", st.online);
  if (!st.online) {
    off.textContent = st.last_sync ? fill(VP.t("offline.banner"), {
      ago: ago(st.last_sync), left: VP.yuan(Math.max(0, st.offline_limit_fen - st.offline_exposure_fen)),
      limit: VP.yuan(st.offline_limit_fen), n: st.queue_depth,
    }) : VP.t("offline.never");
  }
  const alerts = (st.alerts || []).map((a) => VP.message(a));
  if (st.merchant_blocked) alerts.unshift(VP.t("blocked"));
  $("alerts").textContent = alerts.join(" · ");
  $("alerts").classList.toggle("hidden", alerts.length === 0);
}

// verdict derives what the big panel says from the last lane event, or from
// the checkout alone when there is none.
function verdict() {
  const co = S.checkout;
  let ev = S.ev;
  if (!ev && co) {
    if (co.status === "voucher_applied") ev = { kind: "approved" };
    else if (co.decline) ev = { kind: "declined", decline: co.decline };
    else if (co.status === "completed") ev = { kind: "completed" };
  }
  const r = { cls: "idle", verdict: VP.t("idle.title"), reason: "", amounts: "checkout" };
  if (co && (co.status === "open" || co.status === "voucher_applied")) { r.cls = "open"; r.verdict = VP.t("open.title"); }
  if (!ev) return r;
  switch (ev.kind) {
    case "approved":
      r.cls = "ok"; r.verdict = VP.t("approved");
      if (ev.at) r.reason = VP.t(ev.online ? "online.claim" : "offline.claim"); // a lane event, not derived
      break;
    case "declined":
      r.cls = "bad"; r.verdict = VP.t("declined"); r.reason = VP.message(ev.decline);
      break;
    case "completed":
      r.cls = "done"; r.amounts = "paid";
      r.verdict = VP.t(co && co.redemption_id ? "completed" : "completed.plain");
      r.reason = co && co.redemption_id ? VP.t("redemption") + " " + co.redemption_id : "";
      break;
    case "cancelled":
      r.cls = "idle"; r.verdict = VP.t("cancelled"); r.amounts = "none";
      break;
    case "outcome_unknown": // the agent cannot tell whether the sale was recorded
      r.cls = "warn"; r.verdict = VP.t("outcome.unknown"); r.reason = VP.message(ev.decline);
      break;
    case "not_committed":
      r.cls = "bad"; r.verdict = VP.t("not.committed"); r.reason = VP.message(ev.decline);
      break;
    case "refunded": {
      const rec = ev.record || {};
      r.cls = "done"; r.amounts = "refund"; r.refund = rec;
      r.verdict = VP.t("refunded") + " " + VP.yuan(rec.refund_fen || 0);
      r.reason = VP.t(rec.voucher_returned ? "voucher.returned" : "voucher.kept");
      break;
    }
  }
  return r;
}

function renderResult() {
  const co = S.checkout;
  const r = verdict();
  $("result").className = "result " + r.cls;
  $("verdict").textContent = r.verdict;
  $("reason").textContent = r.reason;
  let voucher = "";
  const show = co && r.cls !== "idle" && r.amounts !== "refund";
  if (show && co.voucher) voucher = (VP.isEN() ? co.voucher.category : catName(co.voucher.category)) + " · " + denom(co.voucher);
  if (r.amounts === "refund" && r.refund.voucher) voucher = (VP.isEN() ? r.refund.voucher.category : catName(r.refund.voucher.category)) + " · " + denom(r.refund.voucher);
  $("voucher").textContent = voucher;
  const labels = document.querySelectorAll(".amounts .label");
  if (r.amounts === "refund") {
    labels[0].textContent = VP.t("share.kept");
    labels[1].textContent = VP.t("cash.back");
    $("discount").textContent = VP.yuan(r.refund.voucher_share_fen || 0);
    $("payable").textContent = VP.yuan(r.refund.refund_fen || 0);
  } else {
    labels[0].textContent = VP.t("discount");
    labels[1].textContent = VP.t(r.amounts === "paid" ? "paid" : "payable");
    $("discount").textContent = show && co.discount_fen ? "-" + VP.yuan(co.discount_fen) : (show ? VP.yuan(0) : "—");
    $("payable").textContent = show ? VP.yuan(co.payable_fen) : "—";
  }
  const w = $("warning");
  w.textContent = co && co.warning && r.cls === "ok" ? co.warning : "";
  w.classList.toggle("hidden", !(co && co.warning && r.cls === "ok"));
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
    // The agent's state now: the open (or last) checkout and the last lane event.
    S.checkout = m.checkout || (m.event && m.event.checkout) || null;
    S.ev = m.event || null;
    if (S.tab === "refund") loadSales();
  }
  if (m.type === "lane") {
    const ev = m.event;
    S.ev = ev;
    if (ev.checkout) S.checkout = ev.checkout;
    if (ev.kind === "completed" || ev.kind === "refunded") loadSales();
  }
  render();
}

// on runs fn when the button is pressed, the button disabled until fn is
// done: a double tap on a refund must not refund twice. A failure shows in
// the message line of the button's own pane.
function on(id, fn, msgId) {
  const b = $(id);
  b.addEventListener("click", async () => {
    if (b.dataset.busy) return;
    b.dataset.busy = "1";
    b.disabled = true;
    try { await fn(); } catch (e) { say(msgId || paneMsg(b), VP.message(e), true); } finally { delete b.dataset.busy; b.disabled = !S.up; }
  });
}
function paneMsg(b) {
  const pane = b.closest(".pane");
  if (pane && pane.id === "pane-keypad") return "kp-msg";
  if (pane && pane.id === "pane-refund") return "refundmsg";
  return "syncmsg";
}
// say shows text (a failure if bad) in the message line id; a banner
// (the sync's) goes away by itself after a while.
let sayTimer = 0;
function say(id, text, bad) {
  const e = $(id);
  e.textContent = text;
  e.classList.toggle("bad", !!bad);
  if (!e.classList.contains("banner")) return;
  e.classList.toggle("hidden", !text);
  clearTimeout(sayTimer);
  if (text) sayTimer = setTimeout(() => say(id, ""), 10000);
}

function showTab(name) {
  S.tab = name;
  document.querySelectorAll(".tab").forEach((b) => b.classList.toggle("on", b.dataset.tab === name));
  for (const p of ["basket", "keypad", "refund"]) $("pane-" + p).classList.toggle("hidden", p !== name);
  if (name === "refund") { S.rf.stage = "list"; loadSales(); }
  render();
}

// --- keypad sale ---

// fen parses a keyed amount ("12.5") into integer fen; NaN if it is not one.
function fen(text) {
  if (text === "") return 0;
  const m = /^(\d{1,9})(?:\.(\d{0,2}))?$/.exec(text);
  if (!m) return NaN;
  return Number(m[1]) * 100 + Number((m[2] || "").padEnd(2, "0"));
}

function renderKeypad() {
  for (const f of ["amount", "topup"]) {
    $("kp-" + f).textContent = S.kp[f] === "" ? "0" : S.kp[f];
    document.querySelector(`.kp-field[data-field=${f}]`).classList.toggle("on", S.kp.field === f);
  }
  const open = S.checkout && (S.checkout.status === "open" || S.checkout.status === "voucher_applied");
  $("kp-open").classList.toggle("hidden", !!open);
  $("kp-complete").classList.toggle("hidden", !(open && S.checkout.id === S.kp.id));
}

function key(k) {
  const f = S.kp.field;
  let v = S.kp[f];
  if (k === "back") v = v.slice(0, -1);
  else if (k === "." && (v.includes(".") || v === "")) v = v === "" ? "0." : v;
  else if (/\.\d\d$/.test(v) || v.replace(".", "").length >= 9) return;
  else v = v === "0" && k !== "." ? k : v + k;
  S.kp[f] = v;
  renderKeypad();
}

async function keypadOpen() {
  const amount = fen(S.kp.amount), topup = fen(S.kp.topup);
  if (!(amount > 0) || Number.isNaN(topup) || topup > amount) { say("kp-msg", VP.t("kp.bad"), true); return; }
  const items = [];
  if (amount - topup > 0) items.push({ sku: "keypad", name: VP.t("kp.goods"), category: "keypad", qty: 1, unit_price_fen: amount - topup });
  if (topup > 0) items.push({ sku: "keypad-topup", name: VP.t("kp.card"), category: "stored_value_card", qty: 1, unit_price_fen: topup });
  const co = await VP.api("POST", "/api/v1/checkouts", { items });
  S.kp.id = co.id;
  sessionStorage.setItem("vp.kp", co.id);
  S.checkout = co;
  say("kp-msg", fill(VP.t("kp.opened"), { id: co.id }));
  render();
}

async function keypadComplete() {
  if (!S.checkout || S.checkout.id !== S.kp.id) { say("kp-msg", VP.t("kp.none"), true); return; }
  const co = await VP.api("POST", "/api/v1/checkouts/" + S.checkout.id + "/complete");
  S.kp.amount = S.kp.topup = "";
  S.kp.field = "amount";
  say("kp-msg", fill(VP.t("kp.done"), { pay: VP.yuan(co.payable_fen), id: co.redemption_id || co.id }));
  render();
}

// --- refunds ---

function todayCST() { return new Date(Date.now() + 8 * 3600 * 1000).toISOString().slice(0, 10); }

async function loadSales() {
  try {
    S.rf.report = await VP.api("GET", "/api/v1/redemptions?day=" + todayCST());
  } catch (e) {
    say("refundmsg", VP.message(e), true);
  }
  renderRefund();
}

// refundedOf sums the refunds of each sale in the day's report.
function refundedOf(rep) {
  const m = new Map();
  for (const r of rep.redemptions) if (r.kind === "refund") m.set(r.refund_of, (m.get(r.refund_of) || 0) + r.refund_fen + (r.voucher_share_fen || 0));
  return m;
}

// matches: a search is an amount (sale or paid, "200" or "218.8") or part
// of a voucher or redemption id.
function matches(r, q) {
  if (!q) return true;
  const f = fen(q.replace(/^[¥￥]/, ""));
  if (!Number.isNaN(f) && (f === r.sale_fen || f === r.payable_fen)) return true;
  return r.voucher_id.includes(q) || r.id.toLowerCase().includes(q.toLowerCase());
}

function renderRefund() {
  const rf = S.rf;
  $("rf-list").classList.toggle("hidden", rf.stage !== "list");
  $("rf-sale").classList.toggle("hidden", rf.stage !== "sale");
  $("rf-confirm").classList.toggle("hidden", rf.stage !== "confirm");
  if (rf.stage === "list") renderSales();
  if (rf.stage === "sale") renderLines();
  if (rf.stage === "confirm") renderConfirm();
}

function renderSales() {
  const tb = $("rf-sales");
  tb.textContent = "";
  const rep = S.rf.report;
  if (!rep) return;
  const done = refundedOf(rep);
  const q = $("rf-search").value.trim();
  const sales = rep.redemptions.filter((r) => r.kind === "redemption").reverse();
  const shown = sales.filter((r) => matches(r, q));
  if (shown.length === 0) tb.append(VP.el("tr", {}, VP.el("td", { class: "muted" }, VP.t(sales.length ? "rf.nomatch" : "rf.none"))));
  for (const r of shown) {
    const back = done.get(r.id) || 0;
    const tr = VP.el("tr", { "data-id": r.id, class: back >= r.sale_fen ? "gone" : "" },
      VP.el("td", {}, r.time.slice(0, 5)),
      VP.el("td", { class: "num" }, VP.yuan(r.sale_fen)),
      VP.el("td", {}, r.denomination, VP.el("div", { class: "muted" }, "#" + r.voucher_id + (back ? " · " + VP.t("rf.refunded") + " " + VP.yuan(back) : ""))));
    tr.addEventListener("click", () => pickSale(r.id).catch((e) => say("refundmsg", VP.message(e), true)));
    tb.append(tr);
  }
}

// pickSale loads a sale's lines and what its earlier refunds took back.
async function pickSale(id) {
  const sale = await VP.api("GET", "/api/v1/redemptions/" + encodeURIComponent(id));
  const left = new Map();
  for (const it of sale.items || []) left.set(it.sku, (left.get(it.sku) || 0) + it.qty);
  for (const r of S.rf.report.redemptions) {
    if (r.kind !== "refund" || r.refund_of !== id) continue;
    const ref = await VP.api("GET", "/api/v1/redemptions/" + encodeURIComponent(r.id));
    for (const it of ref.items || []) left.set(it.sku, Math.max(0, (left.get(it.sku) || 0) - it.qty));
  }
  S.rf.sale = sale;
  S.rf.left = left;
  S.rf.qty = new Map([...left.keys()].map((k) => [k, 0]));
  S.rf.stage = "sale";
  say("refundmsg", "");
  renderRefund();
}

function renderLines() {
  const { sale, left, qty } = S.rf;
  $("rf-title").textContent = sale.id + " · " + VP.yuan(sale.payable_fen) + (sale.voucher ? " · " + denom(sale.voucher) : "");
  const tb = $("rf-lines");
  tb.textContent = "";
  const seen = new Set();
  for (const it of sale.items || []) {
    if (seen.has(it.sku)) continue;
    seen.add(it.sku);
    const max = left.get(it.sku);
    const step = (d) => VP.el("button", { class: "btn step", "data-sku": it.sku, "data-d": String(d) }, d > 0 ? "+" : "−");
    tb.append(VP.el("tr", { class: max === 0 ? "gone" : "" },
      VP.el("td", {}, it.name || it.sku, VP.el("div", { class: "muted" }, VP.t("rf.sold") + " ×" + it.qty + " · " + VP.yuan(it.unit_price_fen) +
        (max < it.qty ? " · " + VP.t("rf.left") + " ×" + max : ""))),
      VP.el("td", { class: "stepper" }, step(-1), VP.el("output", { class: "qty", "data-sku": it.sku }, String(qty.get(it.sku))), step(1))));
  }
  tb.querySelectorAll("button.step").forEach((b) => b.addEventListener("click", () => {
    const sku = b.dataset.sku;
    qty.set(sku, Math.min(left.get(sku), Math.max(0, qty.get(sku) + Number(b.dataset.d))));
    renderLines();
  }));
}

function refundItems() {
  return [...S.rf.qty].filter(([, q]) => q > 0).map(([sku, q]) => ({ sku, qty: q }));
}

async function toConfirm() {
  const items = refundItems();
  if (items.length === 0) { say("refundmsg", VP.t("rf.pick"), true); return; }
  // The agent computes the split (cash back, voucher share, voucher
  // returned?) with the same rule the refund will use.
  S.rf.preview = await VP.api("POST", "/api/v1/redemptions/" + encodeURIComponent(S.rf.sale.id) + "/refund/preview", { items });
  S.rf.stage = "confirm";
  say("refundmsg", "");
  $("rf-pin").value = "";
  renderRefund();
}

function renderConfirm() {
  const p = S.rf.preview;
  if (!p) return;
  $("rf-cash").textContent = VP.yuan(p.refund_fen);
  $("rf-shared").textContent = VP.yuan(p.voucher_share_fen);
  $("rf-voucher").textContent = VP.t(p.voucher_returned ? "voucher.returned" : "voucher.kept");
  $("rf-pinrow").classList.toggle("hidden", !(S.status && S.status.refund_pin));
}

async function doRefund() {
  const items = refundItems();
  const pin = $("rf-pin").value.trim();
  if (S.status && S.status.refund_pin && !pin) { say("refundmsg", VP.t("rf.pinneeded"), true); return; }
  const r = await VP.api("POST", "/api/v1/redemptions/" + encodeURIComponent(S.rf.sale.id) + "/refund", { items },
    pin ? { "X-Manager-PIN": pin } : undefined);
  say("refundmsg", fill(VP.t("rf.done"), { cash: VP.yuan(r.refund_fen) }) + " · " + VP.t(r.voucher_returned ? "voucher.returned" : "voucher.kept"));
  S.rf.stage = "list";
  S.rf.preview = null;
  await loadSales();
}

// --- sync ---

async function syncNow() {
  const before = S.status ? S.status.queue_depth : 0;
  $("sync").textContent = VP.t("syncing");
  try {
    const st = await VP.api("POST", "/api/v1/sync");
    S.status = st;
    const sent = Math.max(0, before - st.queue_depth);
    say("syncmsg", sent > 0 || st.queue_depth > 0 ? fill(VP.t("sync.done"), { n: sent, left: st.queue_depth }) : VP.t("sync.nothing"));
  } finally {
    $("sync").textContent = VP.t("sync");
    render();
  }
}

document.addEventListener("DOMContentLoaded", () => {
  VP.connect(onMessage, (up) => {
    S.up = up;
    $("lost").classList.toggle("hidden", up);
    render();
  });
  document.addEventListener("vp-lang", render);
  setInterval(renderStatus, 30000); // "last sync 12 min ago" keeps counting
  document.querySelectorAll(".tab").forEach((b) => b.addEventListener("click", () => showTab(b.dataset.tab)));
  on("sync", syncNow, "syncmsg");
  on("apply", async () => {
    if (!S.checkout) return;
    await VP.api("POST", "/api/v1/checkouts/" + S.checkout.id + "/vouchers", { code: $("code").value.trim() });
    $("code").value = "";
  });
  on("cancel", async () => {
    if (!S.checkout) return;
    await VP.api("POST", "/api/v1/checkouts/" + S.checkout.id + "/cancel");
  });
  document.querySelectorAll(".kp-field").forEach((f) => f.addEventListener("click", () => { S.kp.field = f.dataset.field; renderKeypad(); }));
  document.querySelectorAll(".key").forEach((b) => b.addEventListener("click", () => key(b.dataset.key || b.textContent)));
  on("kp-open", keypadOpen);
  on("kp-complete", keypadComplete);
  $("kp-clear").addEventListener("click", () => { S.kp.amount = S.kp.topup = ""; S.kp.field = "amount"; say("kp-msg", ""); renderKeypad(); });
  $("rf-search").addEventListener("input", renderSales);
  $("rf-all").addEventListener("click", () => { for (const [k, v] of S.rf.left) S.rf.qty.set(k, v); renderLines(); });
  $("rf-back").addEventListener("click", () => { S.rf.stage = "list"; say("refundmsg", ""); renderRefund(); });
  $("rf-cancel").addEventListener("click", () => { S.rf.stage = "sale"; say("refundmsg", ""); renderRefund(); });
  on("rf-next", toConfirm);
  on("rf-do", doRefund);
  render();
});
