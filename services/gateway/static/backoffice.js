/* 后台办理 (back office): a department's clerk signs in (bound to no window), sees the department's worklist with
   yellow and red cards (黄牌/红牌), opens a case and takes it through its steps, suspension (挂起), completion
   (办结), ready for pickup (通知领取) and pickup (领取). Lists load on sign-in, after each action and on 刷新. */
(function () {
  "use strict";
  var KEY = "hallnet.backoffice";
  var s = { token: sessionStorage.getItem(KEY + ".token"), staff: sessionStorage.getItem(KEY + ".staff"),
            dept: sessionStorage.getItem(KEY + ".dept"), list: [], listError: null, open: null, matter: null };
  var ACTIONS = { complete: ["办结", "complete"], ready_for_pickup: ["通知领取", "ready for pickup"],
                  picked_up: ["已领取", "picked up"], suspend: ["挂起", "suspend"], resume: ["恢复计时", "resume"] };
  var STATUS = { materials_missing: ["材料不全", "materials missing"], accepted: ["办理中", "in progress"],
                 suspended: ["挂起", "suspended"], completed: ["已办结", "completed"],
                 ready_for_pickup: ["待领取", "ready for pickup"], picked_up: ["已领取", "picked up"] };
  var HISTORY = { accept: ["前台受理", "accepted at the window"], step: ["办理环节", "step"], suspend: ["挂起", "suspended"],
                  resume: ["恢复计时", "resumed"], complete: ["办结", "completed"], ready_for_pickup: ["通知领取", "ready for pickup"],
                  picked_up: ["已领取", "picked up"], card_yellow: ["黄牌", "yellow card"], card_red: ["红牌", "red card"],
                  due_moved: ["期限调整", "due date moved"], materials_missing: ["一次性告知", "materials missing"] };
  var REASONS = { hearing: ["听证", "hearing"], appraisal: ["鉴定", "appraisal"], expert_review: ["专家评审", "expert review"],
                  inspection: ["现场核查", "inspection"], supplement: ["补正材料", "supplementary materials"], other: ["其他", "other"] };
  function pick(table, key) { var n = table[key]; return n ? H.t(n[0], n[1]) : key; }
  function err(res) { H.$("#error").textContent = res ? H.message(res) : ""; }
  function auth() { return s.token; }
  function cardTag(card) {
    if (card === "red") return "<span class='tag card-red'>" + H.esc(H.t("红牌", "red card")) + "</span>";
    if (card === "yellow") return "<span class='tag card-yellow'>" + H.esc(H.t("黄牌", "yellow card")) + "</span>";
    return "";
  }
  function daysLeft(n) {
    if (n === null || n === undefined) return "—";
    if (n < 0) return H.t("超期 " + (-n) + " 个工作日", (-n) + " working days overdue");
    return H.t(n + " 个工作日", n + " working days");
  }
  function setSignedIn(on) {
    H.$("#signin").classList.toggle("hidden", on);
    H.$("#desk").classList.toggle("hidden", !on);
    H.$("#who").textContent = on ? H.t("工号 ", "staff ") + s.staff : "";
    H.$("#dept").textContent = on && s.dept ? "· " + s.dept : "";
  }
  function signedOut(msg) {
    ["token", "staff", "dept"].forEach(function (k) { sessionStorage.removeItem(KEY + "." + k); });
    s.token = null; s.list = []; s.open = null; setSignedIn(false); renderCase();
    H.$("#error").textContent = msg || "";
  }
  function call(method, path, body) {
    return H.api(method, path, body, auth()).then(function (res) {
      if (res.status === 401) signedOut(H.message(res));
      return res;
    });
  }
  /* --- the worklist ------------------------------------------------------------------------------------ */
  function renderList() {
    var rows = s.list.map(function (c) {
      var a = c.applicant || {};
      return "<tr data-case='" + H.esc(c.id) + "' data-card='" + H.esc(c.card || "") + "'" + (s.open && s.open.id === c.id ? " class='sel'" : "") + ">" +
        "<td>" + cardTag(c.card) + "</td><td>" + H.esc(c.matter_name || c.matter_id) + "</td><td>" + H.esc(a.name || "") +
        "</td><td>" + H.esc(H.time(c.accepted_at, true)) + "</td><td>" + H.esc(H.time(c.due_at, true)) + H.provisionalTag(c.due_at, renderList) + "</td><td>" +
        H.esc(daysLeft(c.remaining_working_days)) + "</td><td>" + H.esc(pick(STATUS, c.status)) + "</td><td>" +
        H.esc(c.window_no ? H.t(c.window_no + " 号", "no. " + c.window_no) : "") + "</td><td><button class='secondary' data-open='" +
        H.esc(c.id) + "'>" + H.esc(H.t("打开", "Open")) + "</button></td></tr>";
    });
    var empty = s.listError ? "<tr><td colspan='9' class='error'>" + H.esc(s.listError) + "</td></tr>"
      : "<tr><td colspan='9' class='muted'>" + H.esc(H.t("本科室暂无待办件", "nothing to do in this department")) + "</td></tr>";
    H.$("#worklist").innerHTML = rows.join("") || empty;
    var red = s.list.filter(function (c) { return c.card === "red"; }).length;
    var yellow = s.list.filter(function (c) { return c.card === "yellow"; }).length;
    H.$("#counts").textContent = H.t("共 " + s.list.length + " 件，黄牌 " + yellow + "，红牌 " + red,
                                     s.list.length + " cases, " + yellow + " yellow, " + red + " red");
  }
  function loadList() {
    if (!s.token) return Promise.resolve();
    return call("GET", "/matters/api/v1/worklist").then(function (res) {
      if (res.ok) { s.list = res.body || []; s.listError = null; }
      else if (res.status !== 401) { s.list = []; s.listError = H.message(res); }
      renderList();
      document.body.setAttribute("data-ready", "1");
    });
  }
  /* --- one case ---------------------------------------------------------------------------------------- */
  function fact(label, value) { return "<tr><th>" + H.esc(label) + "</th><td>" + H.esc(value == null ? "" : value) + "</td></tr>"; }
  function nextSteps(c) {
    var item = s.list.filter(function (x) { return x.id === c.id; })[0];
    var codes = item && item.next_steps ? item.next_steps : (c.next_step ? [c.next_step] : []);
    /* the worklist's next steps may also name what follows the steps (complete …): those have their own buttons */
    return codes.filter(function (code) { return !ACTIONS[code] && code !== "accept" && code !== "ready-for-pickup" && code !== "picked-up"; });
  }
  function renderCase() {
    var c = s.open;
    H.$("#case").classList.toggle("hidden", !c);
    if (!c) return;
    var a = c.applicant || {};
    H.$("#case").setAttribute("data-case", c.id);
    H.$("#case").setAttribute("data-status", c.status);
    H.$("#case-title").textContent = (c.matter_name || c.matter_id);
    H.$("#case-card").innerHTML = cardTag(c.card);
    H.$("#case-status").textContent = pick(STATUS, c.status);
    H.$("#case-facts").innerHTML = [
      fact(H.t("申请人", "Applicant"), [a.name, a.id_no, a.phone].filter(Boolean).join("  ")),
      fact(H.t("受理", "Accepted"), H.time(c.accepted_at, true) + (c.window_no ? H.t("，" + c.window_no + " 号窗口 ", ", window " + c.window_no + " ") : " ") + (c.owner_staff_id || "")),
      fact(H.t("承诺时限", "Promised limit"), c.time_limit_days + H.t(" 个工作日", " working days")),
      fact(H.t("办结期限", "Due"), c.due_at ? H.time(c.due_at, true) + H.provisionalNote(c.due_at, renderCase) : H.t("暂停计时中", "clock stopped")),
      fact(H.t("剩余工作日", "Working days left"), daysLeft(c.remaining_working_days)),
      c.result ? fact(H.t("办理结果", "Result"), c.result === "approved" ? H.t("准予", "approved") : H.t("不予", "rejected")) : "",
      c.pickup_item ? fact(H.t("领取", "Pickup"), c.pickup_item + (c.pickup_by ? H.t("，请于 " + c.pickup_by + " 前领取", ", by " + c.pickup_by) : "")) : ""
    ].join("");
    H.$("#case-steps").innerHTML = (c.steps || []).map(function (st) {
      return "<li class='" + (st.done ? "ok" : "muted") + "'>" + H.esc(st.name) + "（" + H.esc(st.department || "") + "）" +
        (st.done ? " ✓ " + H.esc(st.staff_id || "") + " " + H.esc(H.time(st.at, true)) : "") + "</li>";
    }).join("");
    var names = {};
    (s.matter && s.matter.id === c.matter_id ? s.matter.materials : []).forEach(function (m) { names[m.id] = m.name; });
    H.$("#case-materials").innerHTML = (c.provided || []).map(function (id) { return "<li>✓ " + H.esc(names[id] || id) + "</li>"; })
      .concat((c.missing || []).map(function (id) { return "<li class='error'>✗ " + H.esc(names[id] || id) + "</li>"; })).join("");
    H.$("#case-suspensions").innerHTML = (c.suspensions || []).map(function (x) {
      return "<tr><td>" + H.esc(pick(REASONS, x.reason_code)) + "</td><td>" + H.esc(H.time(x.suspended_at, true)) + " → " +
        H.esc(x.resumed_at ? H.time(x.resumed_at, true) : H.t("挂起中", "still suspended")) + "</td><td>" + H.esc(x.staff_id || "") + "</td></tr>";
    }).join("") || "<tr><td class='muted'>" + H.esc(H.t("无", "none")) + "</td></tr>";
    var stepName = {};
    (c.steps || []).forEach(function (st) { stepName[st.code] = st.name; });
    H.$("#case-history").innerHTML = (c.history || []).map(function (h) {
      return "<tr><td>" + H.esc(H.time(h.at, true)) + "</td><td>" + H.esc(pick(HISTORY, h.action)) +
        (h.step && h.action === "step" ? " · " + H.esc(stepName[h.step] || h.step) : "") +
        "</td><td>" + H.esc(h.department || "") + "</td><td>" + H.esc(h.staff_id || "") + "</td></tr>";
    }).join("");
    var running = c.status === "accepted";
    var steps = running ? nextSteps(c) : [];
    H.$("#step-buttons").innerHTML = steps.map(function (code) {
      return "<button data-step='" + H.esc(code) + "'>" + H.esc(H.t("完成：", "done: ") + (stepName[code] || code)) + "</button>";
    }).join("");
    var pending = (c.steps || []).filter(function (st) { return !st.done; }).length;
    H.$("#complete-approved").disabled = !running || pending > 0;
    H.$("#complete-rejected").disabled = !running;
    H.$("#ready").disabled = !(c.status === "completed" && c.result === "approved" && c.pickup_item);
    H.$("#picked-up").disabled = c.status !== "ready_for_pickup";
    H.$("#suspend").disabled = !running;
    H.$("#resume").disabled = c.status !== "suspended";
    H.$("#close-case").disabled = false;  /* act() disabled every button of the case while it waited */
  }
  function openCase(id) {
    err(null); H.$("#case-info").textContent = "";
    return call("GET", "/matters/api/v1/cases/" + encodeURIComponent(id)).then(function (res) {
      if (!res.ok) { if (res.status !== 401) err(res); return; }
      s.open = res.body; renderCase(); renderList();
      if (!s.matter || s.matter.id !== res.body.matter_id) {
        H.api("GET", "/matters/api/v1/matters/" + encodeURIComponent(res.body.matter_id)).then(function (m) {
          if (m.ok) { s.matter = m.body; renderCase(); }
        });
      }
    });
  }
  function act(path, body, label) {
    var c = s.open;
    if (!c) return;
    err(null);
    document.querySelectorAll("#case button").forEach(function (b) { b.disabled = true; });
    call("POST", "/matters/api/v1/cases/" + encodeURIComponent(c.id) + "/" + path, body).then(function (res) {
      if (res.ok) {
        s.open = res.body; H.$("#case-info").textContent = H.t("已完成：", "done: ") + label;
        loadList().then(renderCase);
      } else { if (res.status !== 401) err(res); renderCase(); }
    });
  }
  /* --- events ------------------------------------------------------------------------------------------ */
  H.$("#signin-btn").addEventListener("click", function () {
    var staff = H.$("#staff-id").value.trim();
    H.api("POST", "/queue/api/v1/staff/sign-in", { staff_id: staff, password: H.$("#staff-pw").value }).then(function (res) {
      H.$("#staff-pw").value = "";
      if (!res.ok) { err(res); return; }
      err(null); s.token = res.body.token; s.staff = res.body.staff_id; s.dept = res.body.department;
      sessionStorage.setItem(KEY + ".token", s.token); sessionStorage.setItem(KEY + ".staff", s.staff);
      sessionStorage.setItem(KEY + ".dept", s.dept || "");
      setSignedIn(true); loadList();
    });
  });
  H.$("#signout").addEventListener("click", function () {
    call("POST", "/queue/api/v1/staff/sign-out").then(function (res) {
      if (res.ok) signedOut(""); else if (res.status !== 401) err(res);
    });
  });
  H.$("#refresh").addEventListener("click", function () { err(null); loadList(); if (s.open) openCase(s.open.id); });
  H.$("#close-case").addEventListener("click", function () { s.open = null; renderCase(); renderList(); });
  H.$("#worklist").addEventListener("click", function (e) {
    var b = e.target.closest("button[data-open]");
    if (b) openCase(b.getAttribute("data-open"));
  });
  H.$("#step-buttons").addEventListener("click", function (e) {
    var b = e.target.closest("button[data-step]");
    if (b) act("steps", { step: b.getAttribute("data-step") }, b.textContent);
  });
  H.$("#complete-approved").addEventListener("click", function () { act("complete", { result: "approved" }, H.t("办结（准予）", "approved")); });
  H.$("#complete-rejected").addEventListener("click", function () { act("complete", { result: "rejected" }, H.t("办结（不予）", "rejected")); });
  H.$("#ready").addEventListener("click", function () { act("ready-for-pickup", null, H.t("通知领取", "ready for pickup")); });
  H.$("#picked-up").addEventListener("click", function () { act("picked-up", null, H.t("已领取", "picked up")); });
  H.$("#resume").addEventListener("click", function () { act("resume", null, H.t("恢复计时", "resumed")); });
  H.$("#suspend").addEventListener("click", function () {
    var body = { reason_code: H.$("#suspend-reason").value }, note = H.$("#suspend-note").value.trim();
    if (note) body.note = note;
    act("suspend", body, H.t("挂起", "suspended"));
    H.$("#suspend-note").value = "";
  });
  H.onLang.push(function () { setSignedIn(!!s.token); renderList(); renderCase(); });
  setSignedIn(!!s.token);
  if (s.token) {
    call("GET", "/queue/api/v1/staff/me").then(function (res) { if (res.ok) loadList(); });
  } else {
    document.body.setAttribute("data-ready", "1");
  }
})();
