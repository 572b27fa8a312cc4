/* sitegate console: small enhancements over pages that work without JavaScript.
   - live regions ([data-live]) re-fetch their server-rendered fragment on each
     server-sent "change" event;
   - identifier fields ([data-check]) say as you type whether the number is well formed
     (the server checks again: this is only a convenience);
   - [data-print] buttons print the page. */
(function () {
  "use strict";

  function digits(text) { return (text || "").replace(/[\s.\-\/]/g, ""); }

  function mod97(text) {
    var rest = 0;
    for (var i = 0; i < text.length; i++) { rest = (rest * 10 + (text.charCodeAt(i) - 48)) % 97; }
    return rest;
  }

  var checks = {
    inss: function (value) {
      var d = digits(value);
      if (!/^\d*$/.test(d)) { return "format"; }
      if (d.length !== 11) { return "length"; }
      var check = parseInt(d.slice(9), 10);
      var before = 97 - mod97(d.slice(0, 9));
      var after = 97 - mod97("2" + d.slice(0, 9));
      return (check === before || check === after) ? "" : "checksum";
    },
    kbo: function (value) {
      var d = digits(value);
      if (!/^\d*$/.test(d)) { return "format"; }
      if (d.length === 9) { d = "0" + d; }
      if (d.length !== 10) { return "length"; }
      if (d[0] !== "0" && d[0] !== "1") { return "format"; }
      return 97 - mod97(d.slice(0, 8)) === parseInt(d.slice(8), 10) ? "" : "checksum";
    },
    limosa: function (value) {
      var d = digits(value);
      if (!/^\d*$/.test(d)) { return "format"; }
      return (d.length >= 6 && d.length <= 20) ? "" : "length";
    }
  };

  window.sitegateChecks = checks;  // the scan page's keypad field uses them too

  function watchField(input) {
    var hint = document.querySelector('[data-hint-for="' + input.id + '"]');
    var check = checks[input.getAttribute("data-check")];
    if (!hint || !check) { return; }
    function show() {
      if (!input.value.trim()) {
        hint.textContent = ""; hint.className = "hint";
        input.classList.remove("valid"); input.removeAttribute("aria-invalid");
        return;
      }
      var problem = check(input.value);
      var complete = problem !== "length" || digits(input.value).length >= 11;
      if (!problem) {
        hint.textContent = input.getAttribute("data-ok") || "\u2713"; hint.className = "hint ok";
        input.classList.add("valid"); input.removeAttribute("aria-invalid");
      } else if (problem === "length" && !complete && document.activeElement === input) {
        hint.textContent = ""; hint.className = "hint";
        input.classList.remove("valid");
      } else {
        hint.textContent = input.getAttribute("data-bad-" + problem) || problem;
        hint.className = "hint bad";
        input.classList.remove("valid"); input.setAttribute("aria-invalid", "true");
      }
    }
    input.addEventListener("input", show);
    input.addEventListener("blur", show);
    if (input.value) { show(); }
  }

  function startLive() {
    var regions = document.querySelectorAll("[data-live]");
    var status = document.querySelector("[data-live-status]");
    if (!regions.length || !window.EventSource) { return; }
    var busy = false, again = false;
    function refresh() {
      if (busy) { again = true; return; }
      busy = true;
      var pending = regions.length;
      regions.forEach(function (region) {
        fetch(region.getAttribute("data-live"), { credentials: "same-origin", cache: "no-store" })
          .then(function (answer) {
            if (answer.status === 401) { window.location.reload(); return null; }
            return answer.ok ? answer.text() : null;
          })
          .then(function (html) { if (html !== null && html !== undefined) { region.innerHTML = html; } })
          .catch(function () { /* the next change retries */ })
          .then(function () {
            pending -= 1;
            if (pending === 0) { busy = false; if (again) { again = false; refresh(); } }
          });
      });
    }
    var source = new EventSource("/live/events");
    source.addEventListener("change", refresh);
    source.addEventListener("open", function () {
      if (status) { status.classList.add("on"); status.classList.remove("off"); }
      refresh();
    });
    source.addEventListener("error", function () {
      if (status) { status.classList.add("off"); status.classList.remove("on"); }
    });
    document.documentElement.setAttribute("data-live-ready", "1");
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-check]").forEach(watchField);
    document.querySelectorAll("[data-print]").forEach(function (button) {
      button.addEventListener("click", function () { window.print(); });
    });
    startLive();
  });
})();
