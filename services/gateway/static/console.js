/* 窗口呼叫器 (window console): sign in, call, recall, start, complete, no-show, transfer, pause/resume, sign out,
   case intake with the materials checklist (一次性告知单 when something is missing), the matter's guide, numbers. */
(function () {
  "use strict";
  var no = parseInt(H.param("window") || "0", 10);
  var key = "hallnet.console." + no;
  var s = { token: sessionStorage.getItem(key + ".token"), staff: sessionStorage.getItem(key + ".staff"),
            since: Number(sessionStorage.getItem(key + ".since")) || 0,  /* server time of our sign-in (ms) */
            board: null, ticket: null, matter: null, queues: [], windows: [], session: { called: 0, done: 0 },
            today: null, mine: null, cases: [] };
  H.$("#win-title").textContent = no ? H.t(no + " 号窗口", "window " + no) : "";
  function err(res) { H.$("#error").textContent = res ? H.message(res) : ""; }
  function info(text) { H.$("#info").textContent = text || ""; }
  function myWindow() {
    return s.board ? s.board.windows.filter(function (w) { return w.no === no; })[0] : null;
  }
  function setSignedIn(on) {
    H.$("#signin").classList.toggle("hidden", on);
    H.$("#desk").classList.toggle("hidden", !on);
    H.$("#who").textContent = on ? H.t("工号 ", "staff ") + s.staff : "";
  }
  function signedOut(msg) {
    sessionStorage.removeItem(key + ".token"); sessionStorage.removeItem(key + ".staff"); sessionStorage.removeItem(key + ".since");
    s.token = null; s.ticket = null; setSignedIn(false); if (msg) H.$("#error").textContent = msg;
  }
  var ACTIONS = ["call-next", "recall", "start", "complete", "no-show", "transfer", "pause", "resume", "signout"];
  function call(method, path, body) {
    err(null);
    /* one action at a time: the buttons wait for the answer (no double call, no complete before start) */
    ACTIONS.forEach(function (id) { H.$("#" + id).disabled = true; });
    return H.api(method, path, body, s.token).then(function (res) {
      renderButtons();
      if (res.status === 401) signedOut(H.message(res));
      else if (!res.ok) err(res);
      return res;
    });
  }
  function renderButtons() {
    var w = myWindow(), t = s.ticket, st = t ? t.status : null;
    var paused = w && w.state === "paused";
    H.$("#call-next").disabled = !!(paused || st === "called" || st === "serving");
    H.$("#recall").disabled = st !== "called";
    H.$("#start").disabled = st !== "called";
    H.$("#complete").disabled = st !== "serving" && st !== "called";
    H.$("#no-show").disabled = st !== "called";
    H.$("#transfer").disabled = !(st === "called" || st === "serving");
    H.$("#pause").disabled = !!(paused || st);
    H.$("#resume").disabled = !paused;
    H.$("#signout").disabled = !!st;
  }
  function renderWindow() {
    var w = myWindow();
    if (w) {
      H.$("#win-state").textContent = H.windowState(w.state); H.$("#win-state").className = "tag " + w.state;
      H.$("#win-reason").textContent = w.state === "paused" && w.reason ? w.reason : "";
    }
    var t = s.ticket;
    H.$("#cur-number").textContent = t ? t.number : "—";
    H.$("#cur-status").textContent = t ? H.statusName(t.status) + (t.call_no > 1 ? H.t("（第" + t.call_no + "次呼叫）", " (call " + t.call_no + ")") : "") : "";
    H.$("#cur-matter").textContent = s.matter ? s.matter.name : "";
    renderButtons();
  }
  function renderTransfer() {
    var opts = s.queues.map(function (q) { return "<option value='q:" + H.esc(q.id) + "'>" + H.t("转队列 ", "to queue ") + H.esc(q.prefix + " " + q.name) + "</option>"; })
      .concat(s.windows.filter(function (w) { return w.no !== no; }).map(function (w) {
        return "<option value='w:" + w.no + "'>" + H.t("转窗口 ", "to window ") + w.no + "</option>"; }));
    H.$("#transfer-to").innerHTML = opts.join("");
  }
  function renderGuide() {
    var m = s.matter;
    if (!m) { H.$("#guide-body").textContent = H.t("暂无当前事项。", "No current matter."); return; }
    var rows = [[H.t("事项", "Matter"), m.name], [H.t("部门", "Department"), m.department || ""],
                [H.t("类型", "Kind"), m.kind_name || m.kind], [H.t("承诺时限", "Promised"), m.promised_days + H.t(" 个工作日", " working days")],
                [H.t("法定时限", "Legal limit"), m.legal_days + H.t(" 个工作日", " working days")],
                [H.t("办理环节", "Steps"), (m.steps || []).map(function (x) { return x.name; }).join(" → ")],
                [H.t("设定依据", "Legal basis"), m.basis || ""],
                [H.t("领取", "Pickup"), m.pickup ? m.pickup.item : ""]];
    H.$("#guide-body").innerHTML = "<table>" + rows.map(function (r) {
      return "<tr><th>" + H.esc(r[0]) + "</th><td>" + H.esc(r[1]) + "</td></tr>"; }).join("") + "</table>";
  }
  function renderIntake() {
    var m = s.matter;
    H.$("#intake-none").classList.toggle("hidden", !!m);
    H.$("#intake-form").classList.toggle("hidden", !m);
    if (!m) return;
    H.$("#materials").innerHTML = (m.materials || []).map(function (x) {
      return "<tr><td>" + H.esc(x.name) + (x.condition ? " <span class='muted'>（" + H.esc(x.condition) + "）</span>" : "") +
        "</td><td><input type='checkbox' class='provided' value='" + H.esc(x.id) + "' style='width:32px;height:32px'></td><td>" +
        (x.required ? "" : "<input type='checkbox' class='applicable' value='" + H.esc(x.id) + "' style='width:32px;height:32px'>") + "</td></tr>";
    }).join("");
  }
  function renderNumbers() {
    var b = s.board ? s.board.today : null, mine = s.today;
    var rows = [[H.t("本次登录叫号", "Called this session"), s.session.called], [H.t("本次登录办结", "Completed this session"), s.session.done]];
    var own = s.mine;  /* the queue's figures of this clerk today (GET /windows/{no}/today) */
    if (own) rows.push([H.t("今日本人叫号", "My calls today"), own.called], [H.t("今日本人办结", "My served today"), own.served],
                       [H.t("今日本人过号", "My no-shows today"), own.no_shows],
                       [H.t("今日平均办理时长", "My average service time"), own.avg_service_s == null ? "—" : Math.round(own.avg_service_s / 60) + H.t(" 分钟", " min")]);
    if (mine) rows.push([H.t("今日本人办结（评价邀请）", "My services today (rating invitations)"), mine.invitations],
                        [H.t("今日本人满意率", "My satisfaction today"), mine.satisfaction == null ? "—" : Math.round(mine.satisfaction * 100) + "%"]);
    if (b) rows.push([H.t("大厅今日取号", "Hall: issued today"), b.issued], [H.t("大厅今日办结", "Hall: served today"), b.served],
                     [H.t("大厅等候", "Hall: waiting"), b.waiting]);
    H.$("#numbers").innerHTML = rows.map(function (r) { return "<tr><th>" + H.esc(r[0]) + "</th><td>" + H.esc(r[1]) + "</td></tr>"; }).join("");
  }
  function loadToday() {
    var day = new Date().toLocaleDateString("sv-SE", { timeZone: "Asia/Shanghai" });
    if (s.token) H.api("GET", "/queue/api/v1/windows/" + no + "/today", null, s.token).then(function (res) {
      if (res.ok) { s.mine = res.body; renderNumbers(); }
    });
    H.api("GET", "/ratings/api/v1/stats?from=" + day + "&to=" + day + "&group_by=staff").then(function (res) {
      if (res.ok) { s.today = res.body.rows.filter(function (r) { return r.key === s.staff; })[0] || null; renderNumbers(); }
    });
  }
  /* the cases this clerk accepted (首问负责), with their cards (黄牌/红牌): on sign-in, after an intake, on 刷新 */
  var CASE_STATUS = { materials_missing: ["材料不全", "materials missing"], accepted: ["办理中", "in progress"],
                      suspended: ["挂起", "suspended"], completed: ["已办结", "completed"],
                      ready_for_pickup: ["待领取", "ready for pickup"], picked_up: ["已领取", "picked up"] };
  function renderMine() {
    H.$("#mine").innerHTML = s.cases.map(function (c) {
      var card = c.card === "red" ? "<span class='tag card-red'>" + H.esc(H.t("红牌", "red card")) + "</span>"
        : c.card === "yellow" ? "<span class='tag card-yellow'>" + H.esc(H.t("黄牌", "yellow card")) + "</span>" : "";
      var st = CASE_STATUS[c.status] || [c.status, c.status], left = c.remaining_working_days;
      return "<tr data-case='" + H.esc(c.id) + "' data-card='" + H.esc(c.card || "") + "'><td>" + card + "</td><td>" +
        H.esc(c.matter_name || c.matter_id) + "</td><td>" + H.esc((c.applicant || {}).name || "") + "</td><td>" +
        H.esc(H.t(st[0], st[1])) + "</td><td>" + H.esc(H.time(c.due_at, true)) + H.provisionalTag(c.due_at, renderMine) + "</td><td>" +
        H.esc(left == null ? "—" : left < 0 ? H.t("超期 " + (-left), (-left) + " overdue") : left) + "</td></tr>";
    }).join("") || "<tr><td colspan='6' class='muted'>" + H.esc(H.t("暂无", "none yet")) + "</td></tr>";
  }
  function loadMine() {
    if (!s.token) return;
    H.api("GET", "/matters/api/v1/cases?mine=true&limit=30", null, s.token).then(function (res) {
      if (res.ok) { s.cases = res.body || []; renderMine(); }
    });
  }
  function setTicket(t) {
    var before = s.ticket ? s.ticket.matter_id : null;
    s.ticket = t;
    if (!t) { s.matter = null; renderWindow(); renderGuide(); renderIntake(); return; }
    if (t.matter_id && t.matter_id !== before) {
      H.api("GET", "/matters/api/v1/matters/" + encodeURIComponent(t.matter_id)).then(function (res) {
        s.matter = res.ok ? res.body : null; renderWindow(); renderGuide(); renderIntake();
      });
    } else if (!t.matter_id) { s.matter = null; renderGuide(); renderIntake(); }
    renderWindow();
  }
  function refreshCurrent() {
    var w = myWindow();
    if (!s.token) return;
    if (w && w.staff_id && s.staff && w.staff_id !== s.staff) { signedOut(H.t("本窗口已由他人登录", "someone else signed in here")); return; }
    /* 强制签退: a board computed well after our sign-in (2 s: never one read before it committed) shows nobody here */
    if (w && !w.staff_id && s.since && s.board && Date.parse(s.board.updated_at) > s.since + 2000) {
      signedOut(H.t("值班长已将本窗口签退，请重新登录", "the duty manager signed this window out: sign in again")); return;
    }
    var cur = w && w.current;
    if (!cur) { if (s.ticket) setTicket(null); else renderWindow(); return; }
    if (s.ticket && s.ticket.id === cur.ticket_id && s.ticket.status === cur.status && s.ticket.call_no === cur.call_no) { renderWindow(); return; }
    H.api("GET", "/queue/api/v1/tickets/" + cur.ticket_id).then(function (res) { if (res.ok) setTicket(res.body); });
  }
  function act(action, body) {
    if (!s.ticket) return Promise.resolve(null);
    return call("POST", "/queue/api/v1/tickets/" + s.ticket.id + "/" + action, body).then(function (res) {
      if (res.ok) {
        if (action === "complete") { s.session.done++; loadToday(); }
        var gone = ["complete", "no-show", "transfer"].indexOf(action) >= 0;
        setTicket(gone ? null : res.body);
        info(H.t("已完成：", "done: ") + H.$("#" + action).textContent);
        renderNumbers();
      }
      return res;
    });
  }
  H.$("#signin-btn").addEventListener("click", function () {
    var staff = H.$("#staff-id").value.trim();
    H.api("POST", "/queue/api/v1/windows/" + no + "/sign-in", { staff_id: staff, password: H.$("#staff-pw").value }).then(function (res) {
      H.$("#staff-pw").value = "";
      if (!res.ok) { err(res); return; }
      err(null); s.token = res.body.token; s.staff = staff; s.since = Date.parse(res.body.window.state_since) || 0;
      sessionStorage.setItem(key + ".token", s.token); sessionStorage.setItem(key + ".staff", staff);
      sessionStorage.setItem(key + ".since", String(s.since));
      setSignedIn(true); refreshCurrent(); loadToday(); loadMine();
    });
  });
  H.$("#call-next").addEventListener("click", function () {
    call("POST", "/queue/api/v1/windows/" + no + "/call-next").then(function (res) {
      if (res.status === 204) info(H.t("暂无等候的群众", "nobody is waiting"));
      else if (res.ok) { s.session.called++; setTicket(res.body); info(H.t("已呼叫 ", "called ") + res.body.number); renderNumbers(); }
    });
  });
  ["recall", "start", "complete", "no-show"].forEach(function (a) {
    H.$("#" + a).addEventListener("click", function () { act(a); });
  });
  H.$("#transfer").addEventListener("click", function () {
    var v = H.$("#transfer-to").value;
    if (!v) return;
    act("transfer", v[0] === "q" ? { to_queue_id: v.slice(2) } : { to_window_no: parseInt(v.slice(2), 10) });
  });
  H.$("#pause").addEventListener("click", function () {
    call("POST", "/queue/api/v1/windows/" + no + "/pause", { reason: H.$("#pause-reason").value }).then(function (res) { if (res.ok) info(H.t("已暂停", "paused")); });
  });
  H.$("#resume").addEventListener("click", function () {
    call("POST", "/queue/api/v1/windows/" + no + "/resume", {}).then(function (res) { if (res.ok) info(H.t("已恢复", "resumed")); });
  });
  H.$("#signout").addEventListener("click", function () {
    var url = "/queue/api/v1/windows/" + no + "/sign-out";
    call("POST", url).then(function (res) {
      if (res.ok) { signedOut(""); return; }
      /* 不接待完最后一位群众不下班: people issued before closing still wait for this window's queues */
      if (res.status === 409 && res.body && res.body.error === "StillWaiting") {
        if (window.confirm(H.message(res))) {
          call("POST", url, { confirm: true }).then(function (again) { if (again.ok) signedOut(""); });
        }
      }
    });
  });
  H.$("#accept").addEventListener("click", function () {
    var checked = function (cls) { return Array.prototype.map.call(document.querySelectorAll("." + cls + ":checked"), function (x) { return x.value; }); };
    var phone = H.$("#app-phone").value.trim();
    var body = { matter_id: s.matter.id, ticket_id: s.ticket ? s.ticket.id : null, provided: checked("provided"), applicable: checked("applicable"),
                 applicant: { name: H.$("#app-name").value.trim(), id_no: H.$("#app-id").value.trim() } };
    if (phone) body.applicant.phone = phone;
    var out = H.$("#intake-result");
    call("POST", "/matters/api/v1/cases", body).then(function (res) {
      if (res.status === 201) {
        err(null);
        out.className = "ok";
        var done = res.body.case && res.body.case.status === "completed";  // 即办件: finished at the window
        out.textContent = done ? H.t("已受理并当场办结（即办件）", "accepted and completed at the window (instant matter)")
          : H.t("已受理，办结期限 ", "accepted, due by ") + (res.body.due_at ? H.time(res.body.due_at, true) : "") +
            H.provisionalNote(res.body.due_at, function () { out.textContent += H.provisionalNote(res.body.due_at, function () {}); });
      } else if (res.status === 422 && res.body && res.body.notice_url) {
        err(null);
        out.className = "error";
        out.innerHTML = H.esc(H.t("材料不齐，缺 " + res.body.missing.length + " 项。", res.body.missing.length + " materials missing. ")) +
          " <a class='btn' id='notice-link' target='_blank' href='" + H.esc(res.body.notice_url) + "'>" + H.esc(H.t("打开并打印一次性告知单", "Open and print the one-time notice")) + "</a>";
      } else { out.className = "error"; out.textContent = H.message(res); }
      if (res.status === 201 || res.status === 422) { H.$("#app-name").value = H.$("#app-id").value = H.$("#app-phone").value = ""; loadMine(); }
    });
  });
  H.$("#mine-refresh").addEventListener("click", loadMine);
  H.board({
    board: function (b) {
      s.board = b; s.windows = b.windows; s.queues = b.queues;
      if (!H.$("#transfer-to").options.length) renderTransfer();
      refreshCurrent(); renderNumbers();
      document.body.setAttribute("data-ready", "1");
    }
  });
  H.onLang.push(function () {
    H.$("#win-title").textContent = no ? H.t(no + " 号窗口", "window " + no) : "";
    setSignedIn(!!s.token); renderWindow(); renderTransfer(); renderGuide(); renderNumbers(); renderMine();
  });
  if (!no) H.$("#error").textContent = H.t("请在地址中指定窗口号：/console?window=1", "give the window in the address: /console?window=1");
  setSignedIn(!!s.token);
  renderMine();
  if (s.token) { loadToday(); loadMine(); }
})();
