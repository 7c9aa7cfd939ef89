/* 取号机 (ticket kiosk): category → matter → materials (一次性告知) → ticket with QR and print. */
(function () {
  "use strict";
  var state = { matters: [], served: {}, queues: {}, category: null, matter: null, ticket: null, idle: null };
  var steps = ["category", "matter", "materials", "ticket"];
  function show(step) {
    steps.forEach(function (s) { H.$("#step-" + s).classList.toggle("hidden", s !== step); });
    H.$("#error").textContent = "";
    clearTimeout(state.idle);
    if (step !== "category") state.idle = setTimeout(reset, step === "ticket" ? 60000 : 120000);
  }
  function reset() {
    state.category = state.matter = state.ticket = null;
    H.$("#phone").value = "";
    renderCategories(); show("category");
  }
  function servedMatters() {
    return state.matters.filter(function (m) { return state.served[m.id]; });
  }
  function renderCategories() {
    var cats = [];
    servedMatters().forEach(function (m) { if (cats.indexOf(m.category) < 0) cats.push(m.category); });
    H.$("#categories").innerHTML = cats.map(function (c) {
      return "<button data-category='" + H.esc(c) + "'>" + H.esc(c) + "</button>";
    }).join("") || "<p class='muted'>" + H.t("暂无可办事项", "nothing can be taken now") + "</p>";
  }
  function renderMatters() {
    H.$("#category-title").textContent = state.category;
    H.$("#matters").innerHTML = servedMatters().filter(function (m) { return m.category === state.category; })
      .map(function (m) {
        return "<button data-matter='" + H.esc(m.id) + "'>" + H.esc(m.name) + "</button>";
      }).join("");
  }
  function renderMaterials() {
    var m = state.matter, q = state.queues[state.served[m.id].queue_id] || {};
    H.$("#matter-title").textContent = m.name;
    H.$("#materials").innerHTML = (m.materials || []).map(function (x) {
      var extra = [x.form_name, x.copies > 1 ? x.copies + H.t("份", " copies") : "", x.condition ? H.t("适用：", "if: ") + x.condition : "",
                   x.note || ""].filter(Boolean).join("；");
      return "<li>" + (x.required ? "" : "<span class='tag'>" + H.t("视情况", "if applicable") + "</span> ") +
        H.esc(x.name) + (extra ? " <span class='muted'>（" + H.esc(extra) + "）</span>" : "") + "</li>";
    }).join("");
    H.$("#queue-info").textContent = q.name ? H.t(q.name + "：等候 " + q.waiting + " 人，预计" + H.minutes(q.estimated_wait_s).slice(1),
      q.name + ": " + q.waiting + " waiting, " + H.minutes(q.estimated_wait_s)) : "";
  }
  function renderTicket() {
    var t = state.ticket;
    H.$("#ticket-queue").textContent = t.queue_name || "";
    H.$("#ticket-number").textContent = t.number;
    H.$("#ticket-ahead").textContent = H.t("前面还有 " + t.ahead + " 人", t.ahead + " people ahead of you");
    H.$("#ticket-wait").textContent = H.t("预计等候" + H.minutes(t.estimated_wait_s), "estimated wait " + H.minutes(t.estimated_wait_s));
    H.$("#ticket-priority").textContent = t.priority === "green" ? H.t("绿色通道", "green channel") : "";
    H.$("#ticket-time").textContent = new Date(t.issued_at).toLocaleString(H.lang === "en" ? "en" : "zh-CN", { timeZone: "Asia/Shanghai" });
  }
  function loadQueues() {
    return H.api("GET", "/queue/api/v1/queues").then(function (res) {
      if (res.ok) res.body.forEach(function (q) { state.queues[q.id] = q; });
    });
  }
  function load() {
    Promise.all([H.api("GET", "/matters/api/v1/matters"), H.api("GET", "/queue/api/v1/matters"), loadQueues()])
      .then(function (r) {
        if (!r[0].ok || !r[1].ok) { H.$("#error").textContent = H.message(r[0].ok ? r[1] : r[0]); return; }
        state.matters = r[0].body;
        state.served = {};
        r[1].body.forEach(function (m) { state.served[m.matter_id] = m; });
        renderCategories();
        document.body.setAttribute("data-ready", "1");
      });
  }
  function phoneOk(p) { return /^(\+?86)?1[3-9]\d{9}$/.test(p.replace(/[\s-]/g, "")); }
  function take(token) {
    var phone = H.$("#phone").value.trim();
    if (phone && !phoneOk(phone)) { H.$("#error").textContent = H.t("手机号格式不正确", "not a valid mobile number"); return Promise.resolve(false); }
    var body = { matter_id: state.matter.id, channel: "kiosk", priority: token ? "green" : "normal" };
    H.$("#take").disabled = H.$("#green").disabled = true;
    return H.api("POST", "/queue/api/v1/tickets", body, token).then(function (res) {
      H.$("#take").disabled = H.$("#green").disabled = false;
      if (res.status !== 201) { H.$("#error").textContent = H.message(res); return false; }
      state.ticket = res.body;
      renderTicket();
      H.$("#ticket-qr").innerHTML = "<img alt='QR' width='180' height='180' src='/qr.svg?data=" +
        encodeURIComponent("/t/" + res.body.id) + "'>";
      H.$("#ticket-sms").textContent = "";
      show("ticket");
      if (phone) {
        H.api("POST", "/notify/api/v1/contacts", { ref_type: "ticket", ref_id: res.body.id, phone: phone }).then(function (c) {
          H.$("#ticket-sms").textContent = c.status === 201 ? H.t("叫号短信将发送至 " + c.body.phone_masked, "SMS will go to " + c.body.phone_masked)
            : H.t("短信登记失败：", "SMS sign-up failed: ") + H.message(c);
        });
      }
      H.$("#phone").value = "";
      return true;
    });
  }
  document.addEventListener("click", function (e) {
    var b = e.target.closest("button");
    if (!b) return;
    if (b.dataset.category) { state.category = b.dataset.category; renderMatters(); show("matter"); }
    else if (b.dataset.matter) {
      state.matter = state.matters.filter(function (m) { return m.id === b.dataset.matter; })[0];
      loadQueues().then(renderMaterials); renderMaterials(); show("materials");
    }
  });
  H.$("#take").addEventListener("click", function () { take(null); });
  H.$("#green").addEventListener("click", function () {
    H.$("#staff-error").textContent = ""; H.$("#staff-id").value = ""; H.$("#staff-pw").value = "";
    H.$("#staff-modal").classList.remove("hidden"); H.$("#staff-id").focus();
  });
  H.$("#staff-cancel").addEventListener("click", function () { H.$("#staff-modal").classList.add("hidden"); });
  H.$("#staff-ok").addEventListener("click", function () {
    /* the duty manager confirms: the token is used for this one ticket and then forgotten */
    H.api("POST", "/queue/api/v1/manager/sign-in", { staff_id: H.$("#staff-id").value.trim(), password: H.$("#staff-pw").value })
      .then(function (res) {
        H.$("#staff-pw").value = "";
        if (!res.ok) { H.$("#staff-error").textContent = H.message(res); return; }
        H.$("#staff-modal").classList.add("hidden");
        take(res.body.token);
      });
  });
  H.$("#print").addEventListener("click", function () { window.print(); });
  H.$("#done").addEventListener("click", reset);
  H.$("#home").addEventListener("click", reset);
  H.onLang.push(function () {
    renderCategories();
    if (state.category) renderMatters();
    if (state.matter) renderMaterials();
    if (state.ticket) renderTicket();
  });
  load();
})();
