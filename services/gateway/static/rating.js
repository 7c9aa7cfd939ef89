/* The rating form shared by the window pad (评价器) and the phone page: levels, the three sub-indicators
   (服务效率, 服务水平, 服务态度), reason tags for a bad rating, submit. */
(function () {
  "use strict";
  var EN = { "非常满意": "Very satisfied", "满意": "Satisfied", "基本满意": "Fairly satisfied", "一般": "Average",
             "不满意": "Dissatisfied", "非常不满意": "Very dissatisfied", "服务效率": "Efficiency", "服务水平": "Skill",
             "服务态度": "Attitude", "等候时间长": "Long wait", "办理效率低": "Slow service", "服务态度差": "Bad attitude",
             "未一次性告知": "Not told everything at once", "解释不清楚": "Unclear explanation",
             "窗口无人/离岗": "Nobody at the window", "推诿拒办": "Refused / passed on", "其他": "Other" };
  function label(zh) { return H.t(zh, EN[zh] || zh); }
  /* mount(el, invitation, submit(body) → Promise<res>) renders the form into el */
  window.HRate = {
    mount: function (el, inv, submit) {
      var pick = { level: null, indicators: {}, reasons: [] };
      function draw() {
        var bad = pick.level !== null && pick.level <= inv.bad_max;
        var html = "<h2>" + H.esc(H.t("请您对本次服务进行评价", "Please rate this service")) + "</h2><div class='levels'>" +
          inv.levels.map(function (l) {
            return "<button data-level='" + l.level + "' class='" + (pick.level === l.level ? "sel" : "") + (l.level <= inv.bad_max ? " red" : l.level > inv.bad_max + 1 ? " green" : "") +
              "'><span class='stars'>" + new Array(l.level + 1).join("★") + "</span>" + H.esc(label(l.label)) + "</button>";
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
        html += "<div class='row' style='margin-top:20px'><button id='submit-rating' class='green' " + (pick.level === null ? "disabled" : "") +
          " style='min-width:240px;min-height:80px;font-size:28px'>" + H.esc(H.t("提交评价", "Submit")) + "</button></div><p class='error' id='rating-error'></p>";
        el.innerHTML = html;
      }
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
          submit(body).then(function (res) {
            if (res && !res.ok) { b.disabled = false; var m = document.getElementById("rating-error"); if (m) m.textContent = H.message(res); }
          });
        }
      };
      draw();
      return { redraw: draw };
    }
  };
})();
