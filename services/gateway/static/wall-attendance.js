/* 监管大屏 · 考勤 (attendance) in a site's drill-down: GET /central/api/v1/sites/{site}/attendance?date= (default
   today), one row per window: staff, first sign-in, last sign-out, staffed, paused, idle while people waited
   (minutes) and the day's flags (迟到/早退/空窗/闲置). Read when a site is opened, when the date changes
   and (today) when the open site changes (its server-sent event), at most every 5 s. */
(function () {
  "use strict";
  var W = window.hallnetWall, API = W.API;
  var a = { site: null, data: null, seq: 0, at: 0, later: null };
  var FLAGS = { late_start: ["迟到", "late start"], early_leave: ["早退", "early leave"],
                empty_window: ["空窗", "empty window"], idle_while_waiting: ["闲置", "idle while people waited"] };
  function hallToday() { return new Date().toLocaleDateString("sv-SE", { timeZone: "Asia/Shanghai" }); }
  function min(s) { return s == null ? "—" : String(Math.round(s / 60)); }
  function render() {
    var d = a.data, body = H.$("#attendance");
    if (!d) { body.innerHTML = ""; H.$("#attendance-totals").textContent = ""; return; }
    body.innerHTML = (d.windows || []).map(function (r) {
      var flags = (r.flags || []).map(function (f) {
        var n = FLAGS[f] || [f, f];
        return "<span class='tag flag " + H.esc(f) + "' data-flag='" + H.esc(f) + "'>" + H.esc(H.t(n[0], n[1])) + "</span>";
      }).join(" ");
      return "<tr data-att-window='" + H.esc(r.window_no) + "'><td>" + H.esc(r.window_no) + "</td><td>" + H.esc(r.staff_id || "—") +
        "</td><td>" + H.esc(r.first_sign_in ? H.time(r.first_sign_in) : "—") + "</td><td>" +
        H.esc(r.last_sign_out ? H.time(r.last_sign_out) : "—") + "</td><td>" + min(r.staffed_s) + "</td><td>" + min(r.paused_s) +
        "</td><td>" + min(r.idle_while_waiting_s) + "</td><td>" + (flags || "<span class='muted'>—</span>") + "</td></tr>";
    }).join("") || "<tr><td colspan='8' class='muted'>" + H.esc(H.t("当日无窗口记录", "no window records that day")) + "</td></tr>";
    var th = d.thresholds || {};
    H.$("#attendance-totals").textContent = H.t(
      "迟到：首签晚于开厅 " + th.start_grace_min + " 分钟；早退：提前 " + th.leave_grace_min + " 分钟以上离开；空窗：有人等候无人在岗超过 " +
        th.empty_window_min + " 分钟；闲置：有人等候时窗口空闲超过 " + th.idle_while_waiting_min + " 分钟",
      "late: first sign-in over " + th.start_grace_min + " min after opening; early leave: gone over " + th.leave_grace_min +
        " min before closing; empty window: nobody staffed while people waited over " + th.empty_window_min +
        " min; idle: idle while people waited over " + th.idle_while_waiting_min + " min");
  }
  function load() {
    if (!a.site) return;
    a.at = Date.now();
    var seq = ++a.seq, day = H.$("#att-date").value || hallToday();
    H.api("GET", API + "/sites/" + encodeURIComponent(a.site) + "/attendance?date=" + encodeURIComponent(day), null, W.token())
      .then(function (r) {
        if (seq !== a.seq) return;  // another site or date asked meanwhile
        if (!r.ok) {
          a.data = null; render();
          H.$("#attendance").innerHTML = "<tr><td colspan='8' class='error'>" + H.esc(H.message(r)) + "</td></tr>";
          return;
        }
        a.data = r.body; render();
        document.body.setAttribute("data-attendance", r.body.site + ":" + r.body.date);
      });
  }
  H.$("#att-date").value = hallToday();
  H.$("#att-date").max = hallToday();
  H.$("#att-date").addEventListener("change", load);
  document.addEventListener("hallnet:wall-open", function (e) {
    if (e.detail.site !== a.site) { a.site = e.detail.site; a.data = null; render(); document.body.removeAttribute("data-attendance"); }
    load();
  });
  /* the open site changed (server-sent event): today's rows read again, at most every 5 s */
  document.addEventListener("hallnet:wall-site", function (e) {
    if (e.detail.site !== a.site || (H.$("#att-date").value && H.$("#att-date").value !== hallToday()) || a.later) return;
    var wait = Math.max(0, a.at + 5000 - Date.now());
    a.later = setTimeout(function () { a.later = null; load(); }, wait);
  });
  H.onLang.push(render);
})();
