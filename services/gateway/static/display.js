/* 综合屏 (hall display): every window's current call, recent calls, waiting per queue, and Mandarin voice
   announcements through a queue so that no call cuts off another; a recall is announced again. */
(function () {
  "use strict";
  /* the speech queue: announcements wait here until spoken (window.hallnetSpeech.queue); log keeps them all */
  var speech = window.hallnetSpeech = { queue: [], log: [], enabled: false, speaking: false, voices: 0 };
  function pickVoice() {
    if (!window.speechSynthesis) return null;
    var vs = speechSynthesis.getVoices();
    speech.voices = vs.length;
    return vs.filter(function (v) { return /^zh(-|_)?(CN|Hans)?/i.test(v.lang); })[0] || null;
  }
  function next() {
    if (!speech.enabled || speech.speaking || !speech.queue.length) return;
    if (!window.speechSynthesis) { speech.queue.shift(); next(); return; }
    speech.speaking = true;
    var text = speech.queue[0], u = new SpeechSynthesisUtterance(text), done = false;
    u.lang = "zh-CN"; u.rate = 0.9;
    var voice = pickVoice(); if (voice) u.voice = voice;
    function finish() {
      if (done) return; done = true; clearTimeout(guard);
      speech.queue.shift(); speech.speaking = false; setTimeout(next, 600);
    }
    /* some engines never fire onend (no voice installed): do not let one utterance block the queue */
    var guard = setTimeout(function () { speechSynthesis.cancel(); finish(); }, 12000);
    u.onend = finish; u.onerror = finish;
    speechSynthesis.speak(u);
  }
  speech.say = function (text) { speech.queue.push(text); speech.log.push(text); next(); };
  function announce(c) {
    if (!c || !c.number || !c.window_no) return;
    speech.say("请" + c.number + "号到" + c.window_no + "号窗口办理");
    H.$("#latest-text").textContent = H.t("请 " + c.number + " 号到 " + c.window_no + " 号窗口办理", c.number + " → window " + c.window_no);
    fresh[c.window_no] = Date.now();
  }
  H.$("#enable-sound").addEventListener("click", function () {
    speech.enabled = true;
    H.$("#sound-overlay").classList.add("hidden");
    if (window.speechSynthesis) { speechSynthesis.cancel(); pickVoice(); }
    next();
  });

  var board = null, fresh = {};
  function render() {
    if (!board) return;
    /* windows not open (closed, nobody signed in) are only counted, so a big hall still fits on one screen */
    var shown = board.windows.filter(function (w) { return w.current || w.state !== "closed"; });
    var closed = board.windows.length - shown.length;
    H.$("#closed").textContent = closed ? H.t("另有 " + closed + " 个窗口未开放", closed + " more windows closed") : "";
    H.$("#calls").innerHTML = shown.map(function (w) {
      var c = w.current, hot = fresh[w.no] && Date.now() - fresh[w.no] < 15000;
      var body = c ? "<div class='num'>" + H.esc(c.number) + "</div><div>" + H.statusName(c.status) + "</div>"
        : "<div class='num' style='color:#627d98'>—</div><div>" + H.esc(w.state === "paused" ? H.t("暂停服务", "paused") :
            w.state === "closed" ? H.t("未开放", "closed") : H.t("空闲", "free")) + "</div>";
      return "<div class='call" + (hot ? " fresh" : "") + "' data-window='" + w.no + "'><div class='no'>" + H.esc(H.windowName(w)) +
        "</div>" + body + "</div>";
    }).join("");
    H.$("#recent").innerHTML = board.recent_calls.map(function (r) {
      return "<tr><td>" + H.esc(r.number) + "</td><td>" + H.t(r.window_no + " 号窗口", "window " + r.window_no) + "</td><td>" +
        H.esc(H.time(r.called_at)) + "</td></tr>";
    }).join("");
    H.$("#queues").innerHTML = board.queues.map(function (q) {
      return "<tr><td>" + H.esc(q.prefix + " " + q.name) + "</td><td>" + H.esc(q.waiting) + "</td><td>" + H.minutes(q.estimated_wait_s) + "</td></tr>";
    }).join("");
    var t = board.today;
    H.$("#today").textContent = H.t("今日取号 " + t.issued + "，办结 " + t.served + "，等候 " + t.waiting,
      "today: issued " + t.issued + ", served " + t.served + ", waiting " + t.waiting);
  }
  function clock() {
    H.$("#clock").textContent = new Date().toLocaleString(H.lang === "en" ? "en" : "zh-CN", { timeZone: "Asia/Shanghai", hour12: false });
  }
  H.board({
    board: function (b) { board = b; render(); document.body.setAttribute("data-ready", "1"); },
    call: function (c) { announce(c); render(); }
  });
  H.onLang.push(render);
  clock(); setInterval(clock, 1000); /* the wall clock only; the data comes by server-sent events */
  if (window.speechSynthesis) speechSynthesis.onvoiceschanged = pickVoice;
})();
