// Shared by the cashier screen and the dashboard: language, money, the
// events websocket. Plain JavaScript, no libraries.
"use strict";

const VP = (() => {
  let lang = localStorage.getItem("vp.lang") || "zh";
  const dict = {};

  function t(key) {
    const d = dict[key];
    if (!d) return key;
    return lang === "en" ? d[1] : d[0];
  }
  function words(entries) { Object.assign(dict, entries); }
  function apply() {
    document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    document.querySelectorAll("[data-i18n-ph]").forEach((el) => { el.placeholder = t(el.dataset.i18nPh); });
    document.querySelectorAll(".lang-switch").forEach((b) => { b.textContent = lang === "en" ? "中文" : "English"; });
  }
  function toggle() {
    lang = lang === "en" ? "zh" : "en";
    localStorage.setItem("vp.lang", lang);
    apply();
    document.dispatchEvent(new Event("vp-lang"));
  }
  function isEN() { return lang === "en"; }

  // yuan prints fen as "¥12.50"; money is integer fen end to end.
  function yuan(fen) {
    if (fen === undefined || fen === null) return "—";
    const neg = fen < 0;
    const f = Math.abs(fen);
    const s = "¥" + Math.floor(f / 100).toLocaleString("en-US") + "." + String(f % 100).padStart(2, "0");
    return neg ? "-" + s : s;
  }

  // message picks the decline text in the page's language.
  function message(err) {
    if (!err) return "";
    return lang === "en" ? (err.message_en || err.message) : (err.message || err.message_en);
  }

  // api calls the agent's JSON API; a refusal throws its {code, message,
  // message_en}, an unreachable agent throws one of its own.
  async function api(method, path, body, headers) {
    const opts = { method, headers: Object.assign({}, headers) };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    if (method === "POST") opts.headers["Idempotency-Key"] = "page-" + Date.now() + "-" + Math.random().toString(36).slice(2);
    let r;
    try {
      r = await fetch(path, opts);
    } catch (e) {
      throw { code: "unreachable", message: t("link.lost"), message_en: dict["link.lost"][1] };
    }
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    if (!r.ok) {
      const err = (data && data.error) || { message: "HTTP " + r.status, message_en: "HTTP " + r.status };
      throw err;
    }
    return data;
  }

  // connect opens /api/v1/events and reconnects with capped backoff.
  function connect(onMessage, onState) {
    let delay = 500;
    function open() {
      const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/v1/events");
      ws.onopen = () => { delay = 500; onState(true); };
      ws.onmessage = (e) => { try { onMessage(JSON.parse(e.data)); } catch (err) { console.error(err); } };
      ws.onclose = () => {
        onState(false);
        setTimeout(open, delay);
        delay = Math.min(delay * 2, 5000);
      };
    }
    open();
  }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c === undefined || c === null ? "" : c);
    return e;
  }

  words({
    "online": ["在线", "Online"],
    "net.unknown": ["状态未知", "Status unknown"],
    "offline": ["离线", "Offline"],
    "scanner.connected": ["扫码枪已连接", "Scanner connected"],
    "scanner.disconnected": ["扫码枪未连接", "Scanner disconnected"],
    "link.lost": ["与收银程序断开，正在重连…（屏幕内容不是实时的）", "Lost the agent, reconnecting… (what is on screen is not live)"],
  });

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll(".lang-switch").forEach((b) => b.addEventListener("click", toggle));
    apply();
  });

  return { t, words, apply, isEN, yuan, message, api, connect, el };
})();
