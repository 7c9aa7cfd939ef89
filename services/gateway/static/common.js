/* hallnet screens: shared helpers (language switch, API calls, the board stream). No framework. */
(function () {
  "use strict";
  var LANG_KEY = "hallnet.lang";
  var H = {};
  H.lang = localStorage.getItem(LANG_KEY) === "en" ? "en" : "zh";
  /* text in the current language: H.t("中文", "English") */
  H.t = function (zh, en) { return H.lang === "en" && en ? en : zh; };
  H.esc = function (s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  };
  H.param = function (name) { return new URLSearchParams(location.search).get(name); };
  H.$ = function (sel) { return document.querySelector(sel); };
  /* static text: <span data-en="English">中文</span>; placeholders: data-en-ph */
  H.applyLang = function (root) {
    document.documentElement.lang = H.lang === "en" ? "en" : "zh-CN";
    (root || document).querySelectorAll("[data-en]").forEach(function (el) {
      if (!el.hasAttribute("data-zh")) el.setAttribute("data-zh", el.textContent);
      el.textContent = H.lang === "en" ? el.getAttribute("data-en") : el.getAttribute("data-zh");
    });
    (root || document).querySelectorAll("[data-en-ph]").forEach(function (el) {
      if (!el.hasAttribute("data-zh-ph")) el.setAttribute("data-zh-ph", el.getAttribute("placeholder") || "");
      el.setAttribute("placeholder", H.lang === "en" ? el.getAttribute("data-en-ph") : el.getAttribute("data-zh-ph"));
    });
    var btn = document.getElementById("lang");
    if (btn) btn.textContent = H.lang === "en" ? "中文" : "English";
  };
  H.onLang = [];
  H.setLang = function (lang) {
    H.lang = lang; localStorage.setItem(LANG_KEY, lang); H.applyLang();
    H.onLang.forEach(function (fn) { fn(); });
  };
  /* JSON call to a service behind the gateway: resolves {status, body} (body null for 204/empty) */
  H.api = function (method, path, body, token) {
    var headers = { "Accept": "application/json" };
    if (body !== undefined && body !== null) headers["Content-Type"] = "application/json";
    if (token) headers["Authorization"] = "Bearer " + token;
    return fetch(path, { method: method, headers: headers,
                         body: body !== undefined && body !== null ? JSON.stringify(body) : undefined })
      .then(function (r) {
        return r.text().then(function (text) {
          var data = null;
          try { data = text ? JSON.parse(text) : null; } catch (e) { data = { message: text }; }
          return { status: r.status, ok: r.ok, body: data };
        });
      }, function () {
        return { status: 0, ok: false, body: { error: "network", message: H.t("网络不通，请稍后再试", "network error, try again") } };
      });
  };
  /* a service's "中文 / English" text: the half of the current language */
  H.bi = function (text) {
    var parts = String(text == null ? "" : text).split(" / ");
    return parts.length > 1 ? (H.lang === "en" ? parts.slice(1).join(" / ") : parts[0]) : String(text == null ? "" : text);
  };
  H.message = function (res) {
    var b = res.body || {};
    return H.bi(b.message || b.error || ("HTTP " + res.status));
  };
  /* an ISO time from the services as hall time (Asia/Shanghai): "14:05" or "11-22 14:05" */
  H.time = function (iso, withDate) {
    if (!iso) return "";
    var d = new Date(iso);
    if (isNaN(d)) return "";
    var o = { timeZone: "Asia/Shanghai", hour: "2-digit", minute: "2-digit", hour12: false };
    if (withDate) { o.month = "2-digit"; o.day = "2-digit"; }
    return d.toLocaleString(H.lang === "en" ? "en-GB" : "zh-CN", o);
  };
  H.windowState = function (st) {
    var n = { open: ["开放", "open"], paused: ["暂停", "paused"], closed: ["未开放", "closed"] }[st] || [st, st];
    return H.t(n[0], n[1]);
  };
  H.windowName = function (w) {
    var plain = w.no + "号窗口";
    return H.t(w.no + " 号窗口", "Window " + w.no) + (w.name && w.name !== plain ? " · " + w.name : "");
  };
  H.minutes = function (s) {
    var m = Math.max(0, Math.round((s || 0) / 60));
    return H.t("约" + m + "分钟", "about " + m + " min");
  };
  H.statusName = function (st) {
    var names = { waiting: ["等候中", "waiting"], called: ["已叫号", "called"], serving: ["办理中", "being served"],
                  done: ["已办结", "done"], no_show: ["过号", "missed"], transferred: ["已转移，等候中", "transferred, waiting"],
                  cancelled: ["已取消", "cancelled"] };
    var n = names[st] || [st, st];
    return H.t(n[0], n[1]);
  };
  /* the hall's live feed: server-sent events "board" (whole board) and "call" (each call or recall).
     EventSource reconnects by itself; nothing here polls. */
  H.board = function (handlers) {
    var es = new EventSource("/queue/api/v1/board/stream");
    es.addEventListener("board", function (e) { if (handlers.board) handlers.board(JSON.parse(e.data)); });
    es.addEventListener("call", function (e) { if (handlers.call) handlers.call(JSON.parse(e.data)); });
    es.onopen = function () { document.body.setAttribute("data-live", "1"); };
    es.onerror = function () { document.body.setAttribute("data-live", "0"); };
    return es;
  };
  document.addEventListener("DOMContentLoaded", function () {
    H.applyLang();
    var btn = document.getElementById("lang");
    if (btn) btn.addEventListener("click", function () { H.setLang(H.lang === "en" ? "zh" : "en"); });
  });
  /* a deadline in a year whose holiday arrangement is not installed at this site is provisional (statutory holidays
     only): GET /matters/api/v1/calendar/{year of the deadline}, one call per year, cached; redraw once known */
  var provisionalYears = {};
  H.provisionalNote = function (iso, redraw) {
    if (!iso) return "";
    var year = new Date(iso).toLocaleDateString("sv-SE", { timeZone: "Asia/Shanghai" }).slice(0, 4);
    if (!/^\d{4}$/.test(year)) return "";
    if (!(year in provisionalYears)) {
      provisionalYears[year] = false;
      H.api("GET", "/matters/api/v1/calendar/" + year).then(function (r) {
        provisionalYears[year] = !!(r.ok && r.body && r.body.status === "provisional");
        if (provisionalYears[year]) redraw();
      });
    }
    return provisionalYears[year] ? H.t("（临时，按法定节假日）", " (provisional)") : "";
  };
  H.provisionalTag = function (iso, redraw) {
    var note = H.provisionalNote(iso, redraw);
    return note ? "<span class='provisional' title='" + H.esc(H.t("该年放假安排尚未发布，期限按法定节假日临时计算",
      "that year's holiday arrangement is not published yet: counted with statutory holidays only")) + "'>" + H.esc(note) + "</span>" : "";
  };
  window.H = H;
})();
