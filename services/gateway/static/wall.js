/* 监管大屏 (central supervision wall): every site at a glance (colour for trouble), the alerts feed with acknowledge,
   drill-down into a site with charts of waits and satisfaction over the day and the month, the monthly report.
   The central API base comes from ?api=http://central:8200 (default: this origin, i.e. a gateway in front of
   central); a base on another origin needs CORS on the central service. Live updates by server-sent events. */
(function () {
  "use strict";
  var base = (H.param("api") || "").replace(/\/+$/, "");
  if (base && !/^https?:\/\/[^/]+$/.test(base)) { H.$("#error").textContent = "api=" + base + "?"; base = ""; }
  var API = base + "/central/api/v1";
  var s = { sites: {}, order: [], alerts: {}, token: sessionStorage.getItem("hallnet.wall.token"),
            user: sessionStorage.getItem("hallnet.wall.user"), open: null };
  function pct(x) { return x == null ? "—" : Math.round(x * 100) + "%"; }
  function mins(x) { return x == null ? "—" : Math.round(x / 60) + H.t("分", " min"); }
  function renderSites() {
    H.$("#sites").innerHTML = s.order.map(function (id) {
      var x = s.sites[id], t = x.today || {};
      return "<div class='site " + H.esc(x.status) + "' data-site='" + H.esc(id) + "'><h3>" + H.esc(x.name) + "</h3>" +
        "<div class='figs'><span>" + H.t("等候 ", "waiting ") + H.esc(x.queues.waiting) + "</span><span>" + H.t("最长 ", "longest ") + mins(x.queues.longest_wait_s) +
        "</span><span>" + H.t("开放窗口 ", "open windows ") + H.esc(x.windows.open) + "</span><span>" + H.t("取号 ", "issued ") + H.esc(t.issued) +
        "</span><span class='served'>" + H.t("办结 ", "served ") + H.esc(t.served) + "</span><span>" + H.t("满意率 ", "satisfaction ") + pct(t.satisfaction) +
        "</span><span>" + H.t("告警 ", "alerts ") + H.esc(x.alerts.open) + "</span>" + (x.online ? "" : "<span>" + H.t("离线", "offline") + "</span>") + "</div>" +
        (x.reasons.length ? "<div class='reasons'>" + x.reasons.slice(0, 2).map(function (r) { return H.esc(H.bi(r)); }).join("<br>") + "</div>" : "") + "</div>";
    }).join("");
  }
  function setSites(list) {
    list.forEach(function (x) { s.sites[x.site] = x; if (s.order.indexOf(x.site) < 0) s.order.push(x.site); });
    renderSites(); renderAlerts();  /* alerts name their site */
    document.body.setAttribute("data-ready", "1");
  }
  function renderAlerts() {
    var list = Object.keys(s.alerts).map(function (k) { return s.alerts[k]; })
      .filter(function (a) { return a.state !== "resolved"; })
      .sort(function (a, b) { return (b.opened_at || "").localeCompare(a.opened_at || ""); });
    H.$("#alerts").innerHTML = list.map(function (a) {
      var name = s.sites[a.site] ? s.sites[a.site].name : a.site;
      return "<div class='alert " + H.esc(a.severity) + " " + H.esc(a.state) + "' data-alert='" + a.id + "'><strong>" + H.esc(name) + "</strong> " +
        H.esc(H.time(a.opened_at, true)) + "<br>" + H.esc(H.bi(a.message)) + "<br>" +
        (a.state === "open" ? "<button data-ack='" + a.id + "'>" + H.t("确认", "Acknowledge") + "</button>"
          : "<span class='muted'>" + H.t("已确认 ", "acknowledged by ") + H.esc(a.acked_by || "") + "</span>") + "</div>";
    }).join("") || "<p class='muted'>" + H.t("暂无告警", "no alerts") + "</p>";
  }
  /* bars: average wait in minutes; line: satisfaction 0–100 % */
  function chart(points, label) {
    var n = points.length || 1, w = 600, h = 180, pad = 24, bw = (w - 2 * pad) / n;
    var maxWait = Math.max(1, Math.max.apply(null, points.map(function (p) { return (p.avg_wait_s || 0) / 60; })));
    var bars = points.map(function (p, i) {
      var v = (p.avg_wait_s || 0) / 60, bh = (h - 2 * pad) * v / maxWait;
      return "<rect x='" + (pad + i * bw + 2) + "' y='" + (h - pad - bh) + "' width='" + Math.max(1, bw - 4) + "' height='" + bh + "' fill='#4f8fc0'><title>" +
        H.esc(label(p) + " " + v.toFixed(1)) + "</title></rect>";
    }).join("");
    var line = points.map(function (p, i) {
      return p.satisfaction == null ? null : (pad + i * bw + bw / 2) + "," + (h - pad - (h - 2 * pad) * p.satisfaction);
    }).filter(Boolean).join(" ");
    var dots = points.map(function (p, i) {
      return p.satisfaction == null ? "" : "<circle cx='" + (pad + i * bw + bw / 2) + "' cy='" + (h - pad - (h - 2 * pad) * p.satisfaction) +
        "' r='5' fill='#ffd166'><title>" + H.esc(label(p) + " " + pct(p.satisfaction)) + "</title></circle>";
    }).join("");
    var ticks = points.map(function (p, i) {
      return i % Math.ceil(n / 12) ? "" : "<text x='" + (pad + i * bw + bw / 2) + "' y='" + (h - 6) + "' fill='#9fb3c8' font-size='12' text-anchor='middle'>" + H.esc(label(p)) + "</text>";
    }).join("");
    return "<div class='chart'><svg viewBox='0 0 " + w + " " + h + "' preserveAspectRatio='none'>" + bars +
      (line ? "<polyline points='" + line + "' fill='none' stroke='#ffd166' stroke-width='3'/>" : "") + dots + ticks +
      "<text x='" + pad + "' y='16' fill='#9fb3c8' font-size='12'>" + H.t("最长柱 ", "max ") + maxWait.toFixed(1) + H.t(" 分钟", " min") + "</text></svg></div>";
  }
  function openSite(id) {
    s.open = id;
    var month = new Date().toLocaleDateString("sv-SE", { timeZone: "Asia/Shanghai" }).slice(0, 7);
    Promise.all([H.api("GET", API + "/sites/" + encodeURIComponent(id)), H.api("GET", API + "/sites/" + encodeURIComponent(id) + "/series"),
                 H.api("GET", API + "/sites/" + encodeURIComponent(id) + "/series?month=" + month)]).then(function (r) {
      if (!r[0].ok) { H.$("#error").textContent = H.message(r[0]); return; }
      var x = r[0].body, t = x.today || {};
      H.$("#detail-title").textContent = x.name;
      H.$("#detail-figures").innerHTML = [[H.t("取号", "Issued"), t.issued], [H.t("办结", "Served"), t.served], [H.t("过号", "No-shows"), t.no_shows],
        [H.t("平均等候", "Avg wait"), mins(t.avg_wait_s)], [H.t("满意率", "Satisfaction"), pct(t.satisfaction)], [H.t("参评率", "Participation"), pct(t.participation)],
        [H.t("未结差评", "Open complaints"), t.open_complaints], [H.t("黄牌/红牌", "Yellow/red cases"), (t.warned_yellow || 0) + "/" + (t.warned_red || 0)]]
        .map(function (f) { return "<div class='call' style='min-width:130px'><div class='no'>" + H.esc(f[0]) + "</div><div style='font-size:32px'>" + H.esc(f[1]) + "</div></div>"; }).join("");
      H.$("#chart-day").innerHTML = r[1].ok ? chart(r[1].body.points, function (p) { return p.hour + H.t("时", "h"); }) : H.esc(H.message(r[1]));
      H.$("#chart-month").innerHTML = r[2].ok ? chart(r[2].body.points, function (p) { return p.date.slice(8); }) : H.esc(H.message(r[2]));
      H.$("#detail-windows").innerHTML = (x.window_list || []).map(function (w) {
        return "<span class='tag " + H.esc(w.state) + "' style='color:#1c2430'>" + H.esc(w.window_no) + " " + H.esc(H.windowState(w.state)) + "</span>"; }).join(" ");
      H.$("#detail").classList.remove("hidden");
      document.body.setAttribute("data-detail", id);
    });
  }
  function setReport() {
    var m = H.$("#month").value;
    H.$("#report").href = API + "/reports/monthly?month=" + encodeURIComponent(m) + "&format=csv";
  }
  document.addEventListener("click", function (e) {
    var el = e.target.closest("[data-site],[data-ack]");
    if (!el) return;
    if (el.dataset.site) {
      openSite(el.dataset.site);
      document.dispatchEvent(new CustomEvent("hallnet:wall-open", { detail: { site: el.dataset.site } }));
    }
    else if (el.dataset.ack) {
      if (!s.token) { H.$("#signin").classList.remove("hidden"); return; }
      H.api("POST", API + "/alerts/" + el.dataset.ack + "/ack", {}, s.token).then(function (r) {
        if (r.ok) { s.alerts[r.body.id] = r.body; renderAlerts(); }
        else { if (r.status === 401) s.token = null; H.$("#error").textContent = H.message(r); }
      });
    }
  });
  H.$("#detail-close").addEventListener("click", function () { s.open = null; H.$("#detail").classList.add("hidden"); });
  H.$("#signin-open").addEventListener("click", function () { H.$("#signin").classList.remove("hidden"); });
  H.$("#signin-cancel").addEventListener("click", function () { H.$("#signin").classList.add("hidden"); });
  H.$("#signin-btn").addEventListener("click", function () {
    var user = H.$("#user").value.trim();
    H.api("POST", API + "/sign-in", { username: user, password: H.$("#pw").value }).then(function (r) {
      H.$("#pw").value = "";
      if (!r.ok) { H.$("#signin-error").textContent = H.message(r); return; }
      s.token = r.body.token; s.user = user;
      sessionStorage.setItem("hallnet.wall.token", s.token); sessionStorage.setItem("hallnet.wall.user", user);
      H.$("#who").textContent = user; H.$("#signin").classList.add("hidden");
      document.dispatchEvent(new CustomEvent("hallnet:wall-signin"));
    });
  });
  /* for wall-calendar.js and wall-attendance.js: the API base, the signed-in supervisor, sign-in again */
  window.hallnetWall = {
    API: API,
    token: function () { return s.token; },
    signedOut: function (res) {
      s.token = null; sessionStorage.removeItem("hallnet.wall.token");
      H.$("#error").textContent = H.message(res); H.$("#signin").classList.remove("hidden");
    }
  };
  H.$("#month").value = new Date().toLocaleDateString("sv-SE", { timeZone: "Asia/Shanghai" }).slice(0, 7);
  H.$("#month").addEventListener("change", setReport);
  setReport();
  if (s.user) H.$("#who").textContent = s.user;
  function loadAlerts() {
    H.api("GET", API + "/alerts?limit=100").then(function (r) {
      if (r.ok) { r.body.forEach(function (a) { s.alerts[a.id] = a; }); renderAlerts(); }
    });
  }
  var es = new EventSource(API + "/stream");
  /* on every (re)connection: all sites, and the alerts read again (none opened meanwhile is missed) */
  es.addEventListener("sites", function (e) { setSites(JSON.parse(e.data)); loadAlerts(); });
  es.addEventListener("site", function (e) {
    var x = JSON.parse(e.data);
    setSites([x]);
    if (s.open === x.site) { openSite(s.open); document.dispatchEvent(new CustomEvent("hallnet:wall-site", { detail: { site: x.site } })); }
  });
  es.addEventListener("alert", function (e) { var a = JSON.parse(e.data); s.alerts[a.id] = a; renderAlerts(); });
  function clock() {
    H.$("#clock").textContent = new Date().toLocaleString(H.lang === "en" ? "en" : "zh-CN", { timeZone: "Asia/Shanghai", hour12: false });
  }
  clock(); setInterval(clock, 1000);
  H.onLang.push(function () { renderSites(); renderAlerts(); if (s.open) openSite(s.open); });
})();
