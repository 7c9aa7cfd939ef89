/* 监管大屏 · 放假安排 (the wall's holiday arrangement, supervisor signed in): a year, the weekdays off, the weekend
   make-up days (调休) and the notice's number; 发布 = PUT /central/api/v1/calendar/{year} {holidays, workdays, source};
   below, GET /central/api/v1/calendar/{year}: the version in force and each site's state. After a publish the state
   is read again every 5 s for at most 2 minutes, until every site applied it (刷新 reads it on demand).
   Banner: from 1 November, while next year says status "none", deadlines at the halls are provisional. */
(function () {
  "use strict";
  var W = window.hallnetWall, API = W.API;
  var c = { view: null, bannerYear: null, follow: null };
  function hallToday() { return new Date().toLocaleDateString("sv-SE", { timeZone: "Asia/Shanghai" }); }
  function nextYear() { return Number(hallToday().slice(0, 4)) + 1; }
  function isoDay(d) { return d.toISOString().slice(0, 10); }
  function validDay(text) {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return null;
    var d = new Date(text + "T00:00:00Z");
    return isNaN(d) || isoDay(d) !== text ? null : d;
  }
  /* "2027-02-08" per line (or separated by commas/spaces), "2027-02-05~2027-02-11" a range: only the weekdays of a
     range count as days off (weekends: for make-up days); a single date is kept as given (central checks it) */
  function parseDays(text, weekend) {
    var days = [], bad = [];
    String(text || "").replace(/\s*[~～至]\s*/g, "~").split(/[\s,，、;；]+/).filter(Boolean).forEach(function (tok) {
      var ends = tok.split("~");
      var a = validDay(ends[0]), b = ends.length === 2 ? validDay(ends[1]) : a;
      if (!a || !b || ends.length > 2 || b < a || (b - a) > 62 * 864e5) { bad.push(tok); return; }
      for (var d = a; d <= b; d = new Date(d.getTime() + 864e5)) {
        var we = d.getUTCDay() === 0 || d.getUTCDay() === 6;
        if (ends.length === 1 || we === weekend) days.push(isoDay(d));
      }
    });
    days = days.filter(function (d, i) { return days.indexOf(d) === i; }).sort();
    return { days: days, bad: bad };
  }
  function entered() {
    return { year: Number(H.$("#cal-year").value), holidays: parseDays(H.$("#cal-holidays").value, false),
             workdays: parseDays(H.$("#cal-workdays").value, true), source: H.$("#cal-source").value.trim() };
  }
  function preview() {
    var e = entered();
    H.$("#cal-preview").textContent = H.t("放假（工作日）" + e.holidays.days.length + " 天，调休上班 " + e.workdays.days.length + " 天",
      e.holidays.days.length + " weekdays off, " + e.workdays.days.length + " make-up days");
  }
  function daysText(list) { return (list || []).map(function (d) { return d.slice(5); }).join("、") || "—"; }
  /* a site's own days of the year: a list (central may hand the stored JSON over as text) */
  function overrides(v) {
    if (typeof v === "string") { try { v = JSON.parse(v); } catch (e) { v = []; } }
    return Array.isArray(v) ? v.filter(function (o) { return o && o.day; }) : [];
  }
  function siteState(x, version) {
    if (!x.applied) return ["none", H.t("未应用", "not applied")];
    if (x.current) return ["current", H.t("已应用 第" + x.version + "版", "applied v" + x.version)];
    return ["old", H.t("仍为旧版 第" + x.version + "版（现行第" + version + "版）", "still on v" + x.version + " (v" + version + " in force)")];
  }
  function renderView() {
    var v = c.view, out = H.$("#cal-state");
    if (!v) { out.innerHTML = ""; return; }
    var p = v.published, head;
    if (!p) {
      head = "<p class='muted'>" + H.esc(H.t(v.year + "年尚未发布放假安排（各大厅期限按法定节假日临时计算）",
        "nothing published for " + v.year + " (deadlines at the halls are provisional: statutory holidays only)")) + "</p>";
    } else {
      head = "<p id='cal-version' data-version='" + H.esc(p.version) + "'><strong>" +
        H.esc(H.t(v.year + "年 现行第" + p.version + "版", v.year + " version " + p.version + " in force")) + "</strong> · " +
        H.esc(p.source) + " · " + H.esc(p.published_by) + " " + H.esc(H.time(p.published_at, true)) + " · " +
        H.esc(p.sent ? H.t("已下发", "sent down") : H.t("待下发", "not sent down yet")) + "<br>" +
        H.esc(H.t("放假：", "off: ")) + H.esc(daysText(p.holidays)) + "<br>" +
        H.esc(H.t("调休上班：", "make-up days: ")) + H.esc(daysText(p.workdays)) + "</p>";
    }
    var rows = v.sites.map(function (x) {
      var st = siteState(x, p ? p.version : null);
      var own = overrides(x.overrides).map(function (o) {
        return o.day.slice(5) + (o.workday ? H.t(" 上班", " work") : H.t(" 休息", " off"));
      }).join("、");
      return "<tr data-cal-site='" + H.esc(x.site) + "' data-applied='" + st[0] + "'><td>" + H.esc(x.name) + "</td><td>" +
        "<span class='tag cal-" + st[0] + "'>" + H.esc(st[1]) + "</span></td><td>" + H.esc(x.applied_at ? H.time(x.applied_at, true) : "—") +
        "</td><td>" + H.esc(x.cases_moved == null ? "—" : x.cases_moved) + "</td><td>" + H.esc(own || "—") + "</td></tr>";
    }).join("") || "<tr><td colspan='5' class='muted'>" + H.esc(H.t("暂无大厅", "no sites")) + "</td></tr>";
    out.innerHTML = head + "<table class='cal-sites'><thead><tr><th>" + H.esc(H.t("大厅", "Site")) + "</th><th>" +
      H.esc(H.t("状态", "State")) + "</th><th>" + H.esc(H.t("应用时间", "Applied at")) + "</th><th>" +
      H.esc(H.t("调整办件", "Cases moved")) + "</th><th>" + H.esc(H.t("本厅自定", "Own days")) + "</th></tr></thead><tbody>" +
      rows + "</tbody></table>";
  }
  function allApplied(v) { return v.published && v.sites.length && v.sites.every(function (x) { return x.current; }); }
  function load() {
    var year = Number(H.$("#cal-year").value);
    if (!W.token() || !year) return Promise.resolve(null);
    return H.api("GET", API + "/calendar/" + year, null, W.token()).then(function (r) {
      if (r.status === 401) { W.signedOut(r); return null; }
      if (!r.ok) { H.$("#cal-error").textContent = H.message(r); return null; }
      if (Number(H.$("#cal-year").value) !== r.body.year) return null;  // the year changed meanwhile
      c.view = r.body; renderView();
      document.body.setAttribute("data-calendar", r.body.year + ":" + (r.body.published ? r.body.published.version : 0));
      if (r.body.year === c.bannerYear || r.body.year === nextYear()) banner(r.body);
      return r.body;
    });
  }
  /* after a publish: read the state again until every site applied it (a site online: within 60 s) */
  function follow() {
    clearTimeout(c.follow);
    var until = Date.now() + 120e3;
    (function again() {
      c.follow = setTimeout(function () {
        load().then(function (v) { if (v && !allApplied(v) && Date.now() < until) again(); });
      }, 5000);
    })();
  }
  function publish() {
    var e = entered(), msg = [];
    H.$("#cal-error").textContent = "";
    if (!W.token()) { H.$("#signin").classList.remove("hidden"); return; }
    if (e.holidays.bad.length) msg.push(H.t("放假日期看不懂：", "days off not understood: ") + e.holidays.bad.join(" "));
    if (e.workdays.bad.length) msg.push(H.t("调休日期看不懂：", "make-up days not understood: ") + e.workdays.bad.join(" "));
    if (msg.length) { H.$("#cal-error").textContent = msg.join("；"); return; }
    H.$("#cal-publish").disabled = true;
    H.api("PUT", API + "/calendar/" + e.year, { holidays: e.holidays.days, workdays: e.workdays.days, source: e.source },
          W.token()).then(function (r) {
      H.$("#cal-publish").disabled = false;
      if (r.status === 401) { W.signedOut(r); return; }
      if (!r.ok) { H.$("#cal-error").textContent = H.message(r); return; }
      c.view = r.body; renderView();
      document.body.setAttribute("data-calendar", r.body.year + ":" + r.body.published.version);
      if (r.body.year === nextYear()) banner(r.body);
      if (!allApplied(r.body)) follow();
    });
  }
  /* the banner: from 1 November while next year's arrangement is not published (status "none") */
  function banner(v) {
    var el = H.$("#calendar-banner"), show = Number(hallToday().slice(5, 7)) >= 11 && v && v.status === "none";
    c.bannerYear = show ? v.year : null;
    el.classList.toggle("hidden", !show);
    el.textContent = show ? H.t(v.year + "年放假安排尚未发布，各大厅期限按法定节假日临时计算",
      "the " + v.year + " holiday arrangement is not published yet: deadlines are provisional") : "";
  }
  function checkBanner() {
    if (!W.token() || Number(hallToday().slice(5, 7)) < 11) return;
    var year = nextYear();
    H.api("GET", API + "/calendar/" + year, null, W.token()).then(function (r) {
      if (r.status === 401) { W.signedOut(r); return; }
      if (r.ok) banner(r.body);
    });
  }
  function signedIn() {
    var on = !!W.token();
    H.$("#cal-signin").classList.toggle("hidden", on);
    H.$("#cal-form").classList.toggle("hidden", !on);
    if (on) { checkBanner(); load(); }
  }
  H.$("#cal-year").value = nextYear();
  H.$("#cal-year").addEventListener("change", function () { c.view = null; renderView(); H.$("#cal-error").textContent = ""; load(); });
  H.$("#cal-holidays").addEventListener("input", preview);
  H.$("#cal-workdays").addEventListener("input", preview);
  H.$("#cal-publish").addEventListener("click", publish);
  H.$("#cal-refresh").addEventListener("click", function () { H.$("#cal-error").textContent = ""; load(); });
  document.addEventListener("hallnet:wall-signin", signedIn);
  H.onLang.push(function () {
    preview(); renderView();
    if (c.bannerYear) banner({ year: c.bannerYear, status: "none" });
  });
  preview();
  signedIn();
})();
