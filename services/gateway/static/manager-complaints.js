/* 值班长 · 差评整改: every bad rating with what was rated (the matter; 窗口服务 一次一评 or 办件 一事一评) and what
   the citizen said (level, indicators, reason tags, their words — shown to the duty manager only), its due day in working days, its history, and a button for each step the
   ratings service's state machine allows this manager now (next_actions): 回访核实, 整改 (now or by a date),
   解释说明, 申诉, 复核通过 / 复核驳回 (a second manager), 办结. Steps the state allows but not to this person are
   shown with the reason (e.g. the appellant waits for a second manager). Loads when the manager signs in
   (manager.js keeps the token in sessionStorage) and after each step; nothing polls. */
(function () {
  "use strict";
  var API = "/ratings/api/v1/complaints";
  var ACTS = {
    verify: ["回访核实", "Called back", ""], rectify: ["整改", "Rectify", "green"], explain: ["解释说明", "Explain", "secondary"],
    appeal: ["申诉", "Appeal", "amber"], approve: ["复核通过", "Approve appeal", "red"], reject: ["复核驳回", "Reject appeal", "secondary"],
    close: ["办结", "Close", "green"]
  };
  var NOTE = {  // what the note means for each step, and whether it is required
    verify: ["回访情况（选填）", "Call-back notes (optional)", false], rectify: ["整改措施", "What was done / will be done", false],
    explain: ["解释说明（必填）", "The explanation (required)", true], appeal: ["申诉理由（必填）", "Reason for the appeal (required)", true],
    approve: ["作废理由（必填）", "Why the rating is voided (required)", true], reject: ["驳回理由（必填）", "Why the appeal is rejected (required)", true],
    close: ["办结说明（选填）", "Closing note (optional)", false]
  };
  var s = { list: [], filter: "active", pending: null, loaded: false, matters: {} };  // matters: id → name
  var body = H.$("#complaints");

  function token() { return sessionStorage.getItem("hallnet.manager.token"); }
  function signedIn() { return !!token() && !H.$("#desk").classList.contains("hidden"); }
  function say(text) { H.$("#cmp-error").textContent = text || ""; }
  function call(method, path, payload) {
    return H.api(method, path, payload, token()).then(function (res) {
      if (res.status === 401) H.$("#signout").click();  // the session ended: manager.js signs out
      return res;
    });
  }
  function label(pair) { return H.t(pair[0], pair[1]); }
  function due(c) {
    var n = c.working_days_left, cls = "", text;
    if (c.status === "closed") text = H.t("已办结", "closed");
    else if (n > 0) text = H.t("剩 " + n + " 个工作日", n + " working day" + (n > 1 ? "s" : "") + " left");
    else if (n === 0) { text = H.t("今日到期", "due today"); cls = "soon"; }
    else { text = H.t("超期 " + (-n) + " 个工作日", (-n) + " working day" + (n < -1 ? "s" : "") + " overdue"); cls = "late"; }
    return "<div>" + H.esc(c.due_day) + "</div><div class='cmp-due " + cls + "'>" + H.esc(text) + "</div>";
  }
  /* what was rated: the matter (its name from the catalog, else its id) and whether a visit to the window
     (窗口服务, 一次一评) or a case (办件, 一事一评) */
  function subject(c) {
    var r = c.rating, kind = r.subject === "case" ? H.t("办件 · 一事一评", "case · rated per case")
                                                  : H.t("窗口服务 · 一次一评", "window service · rated per visit");
    var matter = r.matter_id ? (s.matters[r.matter_id] || r.matter_id) : H.t("（未关联事项）", "(no matter)");
    return "<div class='cmp-small cmp-subject' data-subject='" + H.esc(r.subject) + "' data-matter='" + H.esc(r.matter_id || "") + "'>" +
      "<strong>" + H.esc(matter) + "</strong> <span class='tag'>" + H.esc(kind) + "</span></div>";
  }
  function rating(c) {
    var r = c.rating;
    var head = subject(c) + "<strong>" + H.esc(r.level_label) + "</strong> <span class='muted'>☆" + H.esc(r.level) + "</span>";
    var inds = r.indicators.map(function (i) { return H.esc(i.label) + " " + H.esc(i.level_label); }).join(" · ");
    var tags = r.reasons.map(function (x) { return "<span class='tag cmp-reason'>" + H.esc(x.label) + "</span>"; }).join(" ");
    return head + (inds ? "<div class='muted cmp-small'>" + inds + "</div>" : "") + (tags ? "<div>" + tags + "</div>" : "");
  }
  function words(c) {
    var t = c.rating.text;
    return t ? "<div class='cmp-words'>“" + H.esc(t) + "”</div>" : "<span class='muted'>" + H.t("（未填写）", "(none)") + "</span>";
  }
  function status(c) {
    var extra = [];
    if (c.rectify_by && c.status === "rectifying") extra.push(H.t("整改期限 ", "rectify by ") + c.rectify_by);
    if (c.appealed_by && c.status === "appealed") extra.push(H.t("申诉人 ", "appealed by ") + c.appealed_by);
    if (c.outcome && c.status === "closed") extra.push({ rectified: H.t("已整改", "rectified"), explained: H.t("已解释说明", "explained"),
      voided: H.t("申诉成立，差评作废", "appeal upheld, rating voided") }[c.outcome] || c.outcome);
    var hist = c.log.map(function (l) {
      return "<li>" + H.esc(H.time(l.at, true)) + " " + H.esc(label(ACTS[l.action] || [l.action, l.action])) + " · " + H.esc(l.staff_id) +
        (l.note ? "：" + H.esc(l.note) : "") + "</li>"; }).join("");
    return "<span class='tag cmp-" + H.esc(c.status) + "'>" + H.esc(H.t(c.status_label, c.status_label_en)) + "</span>" +
      (extra.length ? "<div class='muted cmp-small'>" + H.esc(extra.join(" · ")) + "</div>" : "") +
      (hist ? "<ul class='cmp-log muted'>" + hist + "</ul>" : "");
  }
  function actions(c) {
    var out = c.next_actions.map(function (a) {
      return "<button class='" + ACTS[a][2] + "' data-cid='" + H.esc(c.id) + "' data-act='" + a + "'>" + H.esc(label(ACTS[a])) + "</button>";
    });
    var waiting = {};
    c.blocked_actions.forEach(function (b) { if (!waiting[b.message]) { waiting[b.message] = 1; out.push("<div class='muted cmp-small cmp-blocked'>" + H.esc(H.bi(b.message)) + "</div>"); } });
    return out.join(" ");
  }
  function render() {
    if (!body) return;
    var list = s.list.filter(function (c) { return s.filter === "all" || c.status !== "closed"; });
    body.innerHTML = list.length ? list.map(function (c) {
      return "<tr data-cmp-row='1' data-complaint-id='" + H.esc(c.id) + "' data-window='" + H.esc(c.window_no) + "' data-status='" + H.esc(c.status) + "'>" +
        "<td>" + H.esc(H.t(c.window_no + " 号窗口", "Window " + c.window_no)) + "<div class='muted cmp-small'>" + H.esc(c.staff_id || "") + "</div></td>" +
        "<td>" + rating(c) + "</td><td>" + words(c) + "</td><td>" + status(c) + "</td><td>" + due(c) + "</td><td class='cmp-acts'>" + actions(c) + "</td></tr>";
    }).join("") : "<tr data-cmp-row='1'><td colspan='6' class='muted'>" + H.esc(s.loaded ? H.t("暂无待处理的差评", "no bad ratings to follow up") : H.t("加载中…", "loading…")) + "</td></tr>";
    H.$("#cmp-count").textContent = s.loaded ? H.t("待处理 " + s.list.filter(function (c) { return c.status !== "closed"; }).length + " 件",
      s.list.filter(function (c) { return c.status !== "closed"; }).length + " to handle") : "";
  }
  function loadMatters() {  // the catalog's names, once (the rows show ids until they arrive)
    H.api("GET", "/matters/api/v1/matters?all=true").then(function (res) {
      if (!res.ok || !Array.isArray(res.body)) return;
      res.body.forEach(function (m) { s.matters[m.id] = m.name; });
      render();
    });
  }
  function load() {
    if (!signedIn()) return;
    if (!Object.keys(s.matters).length) loadMatters();
    call("GET", API + "?limit=200").then(function (res) {
      if (res.ok) { s.list = res.body; s.loaded = true; say(""); render(); document.body.setAttribute("data-complaints", "1"); }
      else say(H.message(res));
    });
  }

  // the step's form: a note (required for some), and for 整改 now or by a date (up to the due day)
  function open(c, act) {
    s.pending = { c: c, act: act };
    H.$("#cmp-title").textContent = label(ACTS[act]) + " · " + H.t(c.window_no + " 号窗口 ", "window " + c.window_no + " ") + (c.staff_id || "");
    H.$("#cmp-note-label").textContent = label(NOTE[act]);
    H.$("#cmp-note").value = "";
    H.$("#cmp-by-row").classList.toggle("hidden", act !== "rectify" || c.status === "rectifying");
    H.$("#cmp-now").checked = true;
    var by = H.$("#cmp-by");
    by.value = ""; by.max = c.due_day; by.min = new Date().toLocaleDateString("sv-SE", { timeZone: "Asia/Shanghai" });
    H.$("#cmp-form-error").textContent = "";
    H.$("#cmp-modal").classList.remove("hidden");
    H.$("#cmp-note").focus();
  }
  function shut() { s.pending = null; H.$("#cmp-modal").classList.add("hidden"); }
  function submit() {
    var p = s.pending; if (!p) return;
    var note = H.$("#cmp-note").value.trim(), payload = {};
    if (NOTE[p.act][2] && !note) { H.$("#cmp-form-error").textContent = H.t("请填写", "Please fill in: ") + label(NOTE[p.act]); return; }
    if (note) payload.note = note;
    if (p.act === "rectify" && H.$("#cmp-later").checked) {
      if (!H.$("#cmp-by").value) { H.$("#cmp-form-error").textContent = H.t("请选择整改期限", "Choose the day to rectify by"); return; }
      payload.by = H.$("#cmp-by").value;
    }
    H.$("#cmp-ok").disabled = true;
    call("POST", API + "/" + encodeURIComponent(p.c.id) + "/" + p.act, payload).then(function (res) {
      H.$("#cmp-ok").disabled = false;
      if (!res.ok) { H.$("#cmp-form-error").textContent = H.message(res); return; }
      shut();
      s.list = s.list.map(function (c) { return c.id === res.body.id ? res.body : c; });
      render(); load();
    });
  }

  body.addEventListener("click", function (e) {
    var b = e.target.closest("button[data-cid]");
    if (!b) return;
    var c = s.list.filter(function (x) { return x.id === b.dataset.cid; })[0];
    if (c) open(c, b.dataset.act);
  });
  H.$("#cmp-ok").addEventListener("click", submit);
  H.$("#cmp-cancel").addEventListener("click", shut);
  H.$("#cmp-by").addEventListener("change", function () { H.$("#cmp-later").checked = true; });
  H.$("#cmp-refresh").addEventListener("click", load);
  H.$("#cmp-filter").addEventListener("change", function (e) { s.filter = e.target.value; render(); });
  document.addEventListener("keydown", function (e) { if (e.key === "Escape" && s.pending) shut(); });

  // signing in shows #desk: load then; signing out hides it: forget what was shown
  new MutationObserver(function () {
    if (signedIn()) { if (!s.loaded) load(); } else { s.list = []; s.loaded = false; shut(); render(); }
  }).observe(H.$("#desk"), { attributes: true, attributeFilter: ["class"] });
  H.onLang.push(render);
  render();
  if (signedIn()) load();
})();
