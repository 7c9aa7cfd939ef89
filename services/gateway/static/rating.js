/* The rating form shared by the window pad (评价器) and the phone page: what is rated (窗口服务 or 办件, window,
   matter), levels, the three sub-indicators (服务效率, 服务水平, 服务态度), reason tags for a bad rating, on the
   phone an optional 意见/建议 text (up to TEXT_MAX characters, as the ratings API allows), submit. */
(function () {
  "use strict";
  var TEXT_MAX = 2000;
  var EN = { "非常满意": "Very satisfied", "满意": "Satisfied", "基本满意": "Fairly satisfied", "一般": "Average",
             "不满意": "Dissatisfied", "非常不满意": "Very dissatisfied", "服务效率": "Efficiency", "服务水平": "Skill",
             "服务态度": "Attitude", "等候时间长": "Long wait", "办理效率低": "Slow service", "服务态度差": "Bad attitude",
             "未一次性告知": "Not told everything at once", "解释不清楚": "Unclear explanation",
             "窗口无人/离岗": "Nobody at the window", "推诿拒办": "Refused / passed on", "其他": "Other" };
  function label(zh) { return H.t(zh, EN[zh] || zh); }
  var matterNames = {};  // matter id → name (the site's catalog, GET /matters/api/v1/matters/{id}), per page
  /* what is rated: 窗口服务 (一次一评, a ticket) or 办件 (一事一评, a case), the window, the matter */
  function subject(inv) {
    var parts = [inv.subject === "case" ? H.t("办件（一事一评）", "Case (rated once per case)")
                                        : H.t("窗口服务（一次一评）", "Window service (rated once per visit)")];
    if (inv.window_no) parts.push(H.t(inv.window_no + " 号窗口", "window " + inv.window_no));
    if (inv.matter_id) parts.push(matterNames[inv.matter_id] || inv.matter_id);
    return H.t("评价对象：", "You are rating: ") + parts.join(" · ");
  }
  /* mount(el, invitation, submit(body) → Promise<res>, options {text: offer the free-text box}) renders the form */
  window.HRate = {
    mount: function (el, inv, submit, options) {
      var opts = options || {};
      var pick = { level: null, indicators: {}, reasons: [], text: "" };
      function draw() {
        var bad = pick.level !== null && pick.level <= inv.bad_max;
        var html = "<h2>" + H.esc(H.t("请您对本次服务进行评价", "Please rate this service")) + "</h2>" +
          "<p class='rate-subject' id='rate-subject'>" + H.esc(subject(inv)) + "</p><div class='levels'>" +
          inv.levels.map(function (l) {
            return "<button data-level='" + l.level + "' class='" + (pick.level === l.level ? "sel" : "") + (l.level <= inv.bad_max ? " red" : l.level > inv.bad_max + 1 ? " green" : "") +
              "'><span class='stars' aria-label='☆" + l.level + "'>" + new Array(l.level + 1).join("★") + "</span><span class='level-label'>" + H.esc(label(l.label)) + "</span></button>";
          }).join("") + "</div>";
        html += "<div class='ind'>" + inv.indicators.map(function (ind) {
          return "<div class='row' style='margin-top:14px'><strong style='min-width:120px'>" + H.esc(label(ind.label)) + "</strong>" +
            inv.levels.map(function (l) {
              return "<button class='secondary" + (pick.indicators[ind.key] === l.level ? " sel" : "") + "' data-ind='" + H.esc(ind.key) +
                "' data-ind-level='" + l.level + "'>" + H.esc(label(l.label)) + "</button>";
            }).join("") + "</div>";
        }).join("") + "</div>";
        if (bad) {
          html += "<h3>" + H.esc(H.t("请选择不满意的原因", "What went wrong?")) + "</h3><div class='row reasons'>" + inv.reasons.map(function (r) {
            return "<button data-reason='" + H.esc(r.key) + "' class='" + (pick.reasons.indexOf(r.key) >= 0 ? "sel" : "") + "'>" + H.esc(label(r.label)) + "</button>";
          }).join("") + "</div>";
        }
        if (opts.text) {  // 意见/建议: for every level, asked for more plainly after a bad one
          html += "<div class='rate-text" + (bad ? " bad" : "") + "'><label for='rating-text'>" +
            H.esc(bad ? H.t("请告诉我们哪里做得不好，我们会认真整改（选填）", "Tell us what went wrong, we will follow it up (optional)")
                      : H.t("意见或建议（选填）", "Comments or suggestions (optional)")) + "</label>" +
            "<textarea id='rating-text' maxlength='" + TEXT_MAX + "' rows='" + (bad ? 4 : 2) + "' placeholder='" +
            H.esc(H.t("请勿填写身份证号、手机号等个人信息", "Please leave out ID and phone numbers")) + "'>" + H.esc(pick.text) + "</textarea>" +
            "<div class='muted rate-text-count' id='rating-text-count'>" + pick.text.length + "/" + TEXT_MAX + "</div></div>";
        }
        html += "<div class='row' style='margin-top:20px'><button id='submit-rating' class='green' " + (pick.level === null ? "disabled" : "") +
          " style='min-width:240px;min-height:80px;font-size:28px'>" + H.esc(H.t("提交评价", "Submit")) + "</button></div><p class='error' id='rating-error'></p>";
        el.innerHTML = html;
      }
      el.oninput = function (e) {
        if (e.target.id !== "rating-text") return;
        pick.text = e.target.value.slice(0, TEXT_MAX);
        var n = document.getElementById("rating-text-count");
        if (n) n.textContent = pick.text.length + "/" + TEXT_MAX;
      };
      el.onclick = function (e) {
        var b = e.target.closest("button");
        if (!b) return;
        if (b.dataset.level) { pick.level = parseInt(b.dataset.level, 10); if (pick.level > inv.bad_max) pick.reasons = []; draw(); }
        else if (b.dataset.ind) { pick.indicators[b.dataset.ind] = parseInt(b.dataset.indLevel, 10); draw(); }
        else if (b.dataset.reason) {
          var i = pick.reasons.indexOf(b.dataset.reason);
          if (i >= 0) pick.reasons.splice(i, 1); else pick.reasons.push(b.dataset.reason);
          draw();
        } else if (b.id === "submit-rating" && pick.level !== null) {
          b.disabled = true;
          var body = { level: pick.level };
          if (Object.keys(pick.indicators).length) body.indicators = pick.indicators;
          if (pick.reasons.length) body.reasons = pick.reasons;
          if (opts.text && pick.text.trim()) body.text = pick.text.trim();
          submit(body).then(function (res) {
            if (res && !res.ok) { b.disabled = false; var m = document.getElementById("rating-error"); if (m) m.textContent = H.message(res); }
          });
        }
      };
      draw();
      if (inv.matter_id && !matterNames[inv.matter_id]) {  // the matter's name, from the site's catalog
        H.api("GET", "/matters/api/v1/matters/" + encodeURIComponent(inv.matter_id)).then(function (res) {
          if (!res.ok || !res.body || !res.body.name) return;
          matterNames[inv.matter_id] = res.body.name;
          var s = el.querySelector("#rate-subject");
          if (s) s.textContent = subject(inv);
        });
      }
      return { redraw: draw };
    }
  };
})();
