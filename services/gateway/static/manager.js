/* 值班长 (hall duty manager): today's figures, windows and A/B roles, staff, matters on/off, bad ratings to follow
   up (差评整改), the SMS log. Live figures come from the board stream; the rest loads on sign-in and after changes. */
(function () {
  "use strict";
  var s = { token: sessionStorage.getItem("hallnet.manager.token"), staff: sessionStorage.getItem("hallnet.manager.staff"),
            board: null, people: [], matters: [], sms: [], sat: {} };
  function err(res) { H.$("#error").textContent = res ? H.message(res) : ""; }
  function call(method, path, body) {
    return H.api(method, path, body, s.token).then(function (res) {
      if (res.status === 401) { signOut(); err(res); } else if (!res.ok && res.status !== 204) err(res);
      return res;
    });
  }
  function setSignedIn(on) {
    H.$("#signin").classList.toggle("hidden", on); H.$("#desk").classList.toggle("hidden", !on);
    H.$("#signout").classList.toggle("hidden", !on); H.$("#who").textContent = on ? s.staff : "";
  }
  function signOut() {
    sessionStorage.removeItem("hallnet.manager.token"); sessionStorage.removeItem("hallnet.manager.staff");
    s.token = null; setSignedIn(false);
  }
  function rows(sel, list, fn, cols) {
    H.$(sel).innerHTML = list.length ? list.map(fn).join("") : "<tr><td colspan='" + cols + "' class='muted'>" + H.t("暂无", "none") + "</td></tr>";
  }
  function td(v) { return "<td>" + H.esc(v == null ? "" : v) + "</td>"; }
  function renderBoard() {
    var b = s.board; if (!b) return;
    var t = b.today;
    H.$("#figures").innerHTML = [[H.t("取号", "Issued"), t.issued], [H.t("办结", "Served"), t.served], [H.t("过号", "No-show"), t.no_show],
      [H.t("等候", "Waiting"), t.waiting]].map(function (f) {
        return "<div class='card' style='min-width:140px;text-align:center'><div class='muted'>" + H.esc(f[0]) + "</div><div class='big' style='font-size:44px'>" + H.esc(f[1]) + "</div></div>";
      }).join("");
    rows("#queues", b.queues, function (q) {
      return "<tr>" + td(q.prefix + " " + q.name) + td(q.waiting) + td(H.minutes(q.longest_wait_s)) + td(q.windows_open) + "</tr>"; }, 4);
    var roles = {};
    s.people.forEach(function (p) { (p.roles || []).forEach(function (r) {
      var w = roles[r[0]] = roles[r[0]] || { a: [], b: [] }; (r[1] === "A" ? w.a : w.b).push(p.staff_id); }); });
    rows("#windows", b.windows, function (w) {
      var r = roles[w.no] || { a: [], b: [] }, sat = s.sat[String(w.no)];
      // 强制签退: a clerk who left without signing out blocks the window, even for the B role
      var end = w.staff_id ? " <button class='secondary' data-end-window='" + H.esc(w.no) + "' data-staff='" + H.esc(w.staff_id) + "'>" +
        H.t("强制签退", "End session") + "</button>" : "";
      // 不接待完最后一位群众不下班: the clerk signed out today while people still waited
      var left = w.left_waiting ? " <span class='tag paused' data-left-waiting='" + H.esc(w.no) + "'>" +
        H.esc(H.t(w.left_waiting.staff_id + " " + H.time(w.left_waiting.at) + " 签退时仍有 " + w.left_waiting.count + " 人等候",
                  w.left_waiting.staff_id + " signed out at " + H.time(w.left_waiting.at) + " with " + w.left_waiting.count + " waiting")) + "</span>" : "";
      return "<tr>" + td(H.windowName(w)) + "<td><span class='tag " + H.esc(w.state) + "'>" + H.esc(H.windowState(w.state)) + "</span>" + left + "</td>" +
        "<td>" + H.esc(w.staff_id || "—") + end + "</td>" +
        td(r.a.join(", ")) + td(r.b.join(", ")) + td(sat && sat.satisfaction != null ? Math.round(sat.satisfaction * 100) + "%" : "—") + "</tr>";
    }, 6);
  }
  function renderStaff() {
    rows("#staff", s.people, function (p) {
      return "<tr>" + td(p.staff_id) + td(p.name) + td((p.manager ? H.t("值班长 ", "manager ") : "") + (p.roles || []).map(function (r) { return r[0] + r[1]; }).join(" ")) +
        td(p.active ? "✓" : "✗") + "</tr>"; }, 4);
  }
  function renderMatters() {
    rows("#matters", s.matters, function (m) {
      return "<tr>" + td(m.name) + td(m.category) + td(m.queue) + "<td><button class='" + (m.enabled ? "green" : "secondary") + "' data-matter='" + H.esc(m.id) +
        "' data-enabled='" + (m.enabled ? "1" : "0") + "'>" + (m.enabled ? H.t("已开通", "on") : H.t("已关闭", "off")) + "</button></td></tr>"; }, 4);
  }
  function renderSms() {
    rows("#sms", s.sms, function (m) {
      return "<tr>" + td(H.time(m.created_at, true)) + td(m.phone_masked) + td(smsName(m.template)) + td(m.text) + td(smsStatus(m.status)) + "</tr>"; }, 5);
  }
  // what each message is, as a manager reads it (the template codes are the provider's)
  var SMS_NAMES = { ticket_issued: ["取号成功", "ticket issued"], turn_approaching: ["即将叫号", "turn approaching"],
    ticket_called: ["叫号", "called"], materials_missing: ["一次性告知", "materials missing"],
    ready_for_pickup: ["领取通知", "ready for pickup"], ready_for_pickup_any_day: ["领取通知", "ready for pickup"],
    pickup_reminder: ["领取提醒", "pickup reminder"], rating_invite: ["评价邀请", "rating invitation"] };
  var SMS_STATUS = { pending: ["待发送", "pending"], sent: ["已发送", "sent"], failed: ["发送失败", "failed"],
    delivered: ["已送达", "delivered"] };
  function smsName(code) { var n = SMS_NAMES[code]; return n ? H.t(n[0], n[1]) : code; }
  function smsStatus(code) { var n = SMS_STATUS[code]; return n ? H.t(n[0], n[1]) : code; }
  function loadSms() {
    call("GET", "/notify/api/v1/messages?limit=50").then(function (r) { if (r.ok) { s.sms = r.body.slice().reverse(); renderSms(); } });
  }
  function today() { return new Date().toLocaleDateString("sv-SE", { timeZone: "Asia/Shanghai" }); }
  function loadAll() {
    call("GET", "/queue/api/v1/staff").then(function (r) { if (r.ok) { s.people = r.body; renderStaff(); renderBoard(); } });
    call("GET", "/matters/api/v1/matters?all=true").then(function (r) { if (r.ok) { s.matters = r.body; renderMatters(); } });
    loadSms();
    call("GET", "/ratings/api/v1/stats?from=" + today() + "&to=" + today() + "&group_by=window").then(function (r) {
      if (r.ok) { s.sat = {}; r.body.rows.forEach(function (x) { s.sat[String(x.key)] = x; }); renderBoard(); } });
  }
  H.$("#sms-refresh").addEventListener("click", loadSms);
  H.$("#signin-btn").addEventListener("click", function () {
    var staff = H.$("#staff-id").value.trim();
    H.api("POST", "/queue/api/v1/manager/sign-in", { staff_id: staff, password: H.$("#staff-pw").value }).then(function (res) {
      H.$("#staff-pw").value = "";
      if (!res.ok) { err(res); return; }
      err(null); s.token = res.body.token; s.staff = staff;
      sessionStorage.setItem("hallnet.manager.token", s.token); sessionStorage.setItem("hallnet.manager.staff", staff);
      setSignedIn(true); loadAll();
    });
  });
  H.$("#signout").addEventListener("click", function () {
    // end the session on the server too: the token is refused by every service of the site from now on
    var token = s.token;
    signOut();
    if (token) H.api("POST", "/queue/api/v1/manager/sign-out", null, token);
  });
  H.$("#roles-save").addEventListener("click", function () {
    var no = parseInt(H.$("#roles-window").value, 10);
    var b = H.$("#roles-b").value.split(/[,，\s]+/).filter(Boolean);
    call("PUT", "/queue/api/v1/windows/" + no + "/roles", { a: H.$("#roles-a").value.trim(), b: b }).then(function (r) {
      if (r.ok) { err(null); call("GET", "/queue/api/v1/staff").then(function (x) { if (x.ok) { s.people = x.body; renderStaff(); renderBoard(); } }); }
    });
  });
  document.addEventListener("click", function (e) {
    var b = e.target.closest("button");
    if (!b) return;
    if (b.dataset.endWindow) {
      var q = H.t(b.dataset.endWindow + "号窗口 " + b.dataset.staff + " 将被签退，正在办理的群众回到原排队位置。确定？",
                  "Sign " + b.dataset.staff + " out of window " + b.dataset.endWindow + "? A citizen at the window goes back to their place in line.");
      if (!window.confirm(q)) return;
      call("POST", "/queue/api/v1/windows/" + b.dataset.endWindow + "/end-session", {}).then(function (r) { if (r.ok) err(null); });
    } else if (b.dataset.matter) {
      call("PUT", "/matters/api/v1/matters/" + encodeURIComponent(b.dataset.matter) + "/site-change", { enabled: b.dataset.enabled !== "1" }).then(function (r) {
        if (r.ok) { s.matters = s.matters.map(function (m) { return m.id === r.body.id ? r.body : m; }); renderMatters(); }
      });
    }
  });
  H.board({ board: function (b) { s.board = b; renderBoard(); document.body.setAttribute("data-ready", "1"); } });
  H.onLang.push(function () { renderBoard(); renderStaff(); renderMatters(); renderSms(); });
  setSignedIn(!!s.token);
  if (s.token) loadAll();
})();
