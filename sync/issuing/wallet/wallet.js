// The consumer's wallet: today's drops with a countdown to the next release,
// claim buttons, and the vouchers claimed with their QR codes. It stands in
// for the payment app of the county's plan; it talks to voucherd's claim API
// on the same address. Every time shown is the server's clock (UTC+8).
"use strict";

const $ = (id) => document.getElementById(id);
const state = { offset: 0, drops: [], mine: [], refusal: {}, busy: false };

const refusalLabel = {
  sold_out: "已抢光",
  claim_limit: "已达上限",
  denomination_limit: "已领过",
  not_open: "未开始",
  unknown_denomination: "无此券",
};
const statusLabel = { claimed: "可使用", redeemed: "已使用", expired: "已过期", returned: "已退回" };

function holder() {
  return $("holder").value.trim();
}

function yuan(fen) {
  return fen % 100 === 0 ? String(fen / 100) : (fen / 100).toFixed(2);
}

function deal(v) {
  return v.face_fen ? "面值" + yuan(v.face_fen) + "元" : "满" + yuan(v.spend_fen) + "减" + yuan(v.off_fen);
}

function serverNow() {
  return Date.now() + state.offset;
}

function hhmm(t) {
  const d = new Date(Date.parse(t) + 8 * 3600e3);
  return d.toISOString().slice(11, 16);
}

function span(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const p = (n) => String(n).padStart(2, "0");
  return p(Math.floor(s / 3600)) + ":" + p(Math.floor(s / 60) % 60) + ":" + p(s % 60);
}

function key(d) {
  return d.category + "/" + d.spend_fen + "/" + d.off_fen;
}

function randomKey() {
  if (window.crypto && crypto.randomUUID) return "wallet-" + crypto.randomUUID();
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return "wallet-" + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

async function getJSON(url) {
  const r = await fetch(url, { cache: "no-store" });
  const body = await r.json();
  if (!r.ok) throw body.error || { message: "出错了" };
  return body;
}

async function refresh() {
  try {
    const d = await getJSON("/v1/drops");
    state.offset = Date.parse(d.now) - Date.now();
    state.drops = d.drops;
    $("today").textContent = new Date(Date.parse(d.now) + 8 * 3600e3).toISOString().slice(0, 10);
    if (holder()) {
      const m = await getJSON("/v1/claims?holder=" + encodeURIComponent(holder()));
      state.mine = m.vouchers;
    } else {
      state.mine = [];
    }
  } catch (e) {
    $("notice").textContent = e.message || "网络不通，稍后自动重试";
  }
  render();
}

function held(d) {
  return state.mine.some((v) => v.category === d.category && v.spend_fen === d.spend_fen && v.off_fen === d.off_fen);
}

function buttonFor(d, now) {
  if (held(d)) return ["已领取", true];
  if (now < Date.parse(d.at)) return [hhmm(d.at) + "开抢", true];
  if (now >= Date.parse(d.until)) return ["已结束", true];
  if (d.left <= 0) return ["已抢光", true];
  const r = state.refusal[key(d)];
  if (r && refusalLabel[r]) return [refusalLabel[r], r !== "not_open"];
  return ["立即领取", state.busy];
}

function renderCountdown(now) {
  const next = state.drops.map((d) => Date.parse(d.at)).filter((t) => t > now).sort((a, b) => a - b)[0];
  let text;
  if (state.drops.length === 0) {
    text = "今天暂无放券";
  } else if (next) {
    text = "距离 " + hhmm(new Date(next).toISOString()) + " 开抢还有 " + span(next - now);
  } else {
    text = "已开抢，先到先得";
  }
  $("countdown").textContent = text;
}

function render() {
  const now = serverNow();
  renderCountdown(now);
  const ul = $("drops");
  ul.replaceChildren();
  for (const d of state.drops) {
    const li = document.createElement("li");
    li.dataset.key = key(d);
    const info = document.createElement("div");
    info.innerHTML = '<div class="deal"></div><div class="meta"></div>';
    info.querySelector(".deal").textContent = deal(d);
    info.querySelector(".meta").textContent = d.name + " · 剩余 " + d.left + "/" + d.count + " · " + hhmm(d.at) + "开抢";
    const [label, disabled] = buttonFor(d, now);
    const b = document.createElement("button");
    b.textContent = label;
    b.disabled = disabled;
    b.onclick = () => claim(d);
    li.append(info, b);
    ul.append(li);
  }
  const mine = $("mine");
  mine.replaceChildren();
  $("empty").hidden = state.mine.length > 0;
  for (const v of state.mine) {
    const li = document.createElement("li");
    li.dataset.voucher = v.voucher_id;
    li.className = v.status === "claimed" ? "" : "done";
    const head = document.createElement("div");
    head.innerHTML = '<span class="deal"></span> <span class="meta"></span>';
    head.querySelector(".deal").textContent = deal(v);
    head.querySelector(".meta").textContent = v.name;
    const st = document.createElement("div");
    st.className = "status " + v.status;
    let text = statusLabel[v.status] || v.status;
    if (v.status === "claimed") text += " · 还剩 " + span(Date.parse(v.valid_until) - now) + "（当天23:59到期）";
    st.textContent = text;
    const img = document.createElement("img");
    img.alt = "券码二维码 " + v.voucher_id;
    img.src = "qr.png?code=" + encodeURIComponent(v.code);
    const code = document.createElement("div");
    code.className = "code";
    code.textContent = v.code;
    li.append(head, st, img, code);
    mine.append(li);
  }
}

async function claim(d) {
  if (!holder()) {
    $("notice").textContent = "请先填写用户号";
    return;
  }
  state.busy = true;
  render();
  const idem = randomKey();
  const body = JSON.stringify({ holder: holder(), category: d.category, spend_fen: d.spend_fen, off_fen: d.off_fen });
  let answer;
  for (let attempt = 0; attempt < 3 && !answer; attempt++) {
    try {
      const r = await fetch("/v1/claims", { method: "POST", headers: { "Content-Type": "application/json", "Idempotency-Key": idem }, body });
      answer = { ok: r.status === 201, body: await r.json() };
    } catch (e) {
      await new Promise((res) => setTimeout(res, 500)); // same key: the server gives the same answer
    }
  }
  state.busy = false;
  if (!answer) {
    $("notice").textContent = "网络不通，请稍后再试";
  } else if (answer.ok) {
    delete state.refusal[key(d)];
    $("notice").textContent = "领取成功：" + deal(answer.body) + "，当天23:59前到店使用";
  } else {
    const e = answer.body.error || {};
    state.refusal[key(d)] = e.code;
    $("notice").textContent = e.message || "领取失败";
  }
  await refresh();
}

$("holder").value = new URLSearchParams(location.search).get("holder") || localStorage.getItem("holder") || "";
$("holder").addEventListener("change", () => {
  localStorage.setItem("holder", holder());
  state.refusal = {};
  refresh();
});
refresh();
setInterval(render, 1000);
setInterval(refresh, 5000);
