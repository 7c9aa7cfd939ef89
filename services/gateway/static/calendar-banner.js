// 放假安排提示: from 1 November, while next year's holiday arrangement is not installed at this site
// (GET /matters/api/v1/calendar/<next year> says "provisional"), a banner says deadlines are provisional.
(function () {
  "use strict";
  var today = new Date();
  if (today.getMonth() < 10) return;  // before November
  var year = today.getFullYear() + 1;
  fetch("/matters/api/v1/calendar/" + year).then(function (r) { return r.ok ? r.json() : null; }).then(function (cal) {
    if (!cal || cal.status !== "provisional") return;
    var banner = document.createElement("div");
    banner.className = "calendar-banner";
    banner.setAttribute("role", "status");
    banner.style.cssText = "background:#fff3cd;color:#664d03;padding:6px 12px;border-bottom:1px solid #ffe69c";
    banner.textContent = year + "年放假安排尚未发布，期限按法定节假日临时计算 / the " + year +
      " holiday arrangement is not published yet: deadlines are provisional";
    document.body.insertBefore(banner, document.body.firstChild);
  }).catch(function () { /* matters unreachable: no banner */ });
})();
