/* sitegate scan page: a team leader's phone checks in a crew.
   The page reads no QR code itself: it sends downscaled JPEG frames (at most 640 px wide)
   to the controller, which reads them with the terminals' decoder and decides with the
   gate's rules. Every frame and every typed number gets a UUIDv7 made here and is kept in
   IndexedDB until the controller has answered it; one sender sends them oldest first, one
   at a time, again and again with the same id until answered (a lost answer is answered
   again as a duplicate, never stored twice). While the controller does not answer, only
   pictures of a new, steady scene are kept ("recorded, will be sent"), never shown as
   admitted. */
(function () {
  "use strict";

  var root = document.getElementById("scan");
  if (!root) { return; }

  var CAPTURE_MS = 300;      // a frame at most this often
  var SEND_GAP_MS = 250;     // at most 4 requests a second (the controller allows 6)
  var TIMEOUT_MS = 15000;    // a request without an answer by then is sent again later
  var BACKOFF_MAX_MS = 8000;
  var WIDTH = 640;
  var QUALITY = 0.7;
  var RESULT_HOLD_MS = 6000; // a decision stays on the card this long, then "ready"
  var MAX_KEPT = 600;        // pictures kept offline (about 30 MB)
  var RECORD_GAP_MS = 1000;  // offline: at most one picture a second
  // Offline, a picture is kept of a scene held still (mean change under STILL grey levels
  // between frames), with detail in it (mean horizontal gradient over EDGES: a code, not a
  // wall), that differs from the last one kept (over NOVEL_SHARE of its pixels moved by more
  // than NOVEL_DELTA: two L1 codes differ in about 1% of a 160x120 thumbnail).
  var THUMB_W = 160, THUMB_H = 120;
  var STILL = 6, EDGES = 4, NOVEL_DELTA = 32, NOVEL_SHARE = 0.003;

  var csrf = root.getAttribute("data-csrf");
  var account = root.getAttribute("data-account");
  function t(key) { return root.getAttribute("data-t-" + key) || key; }
  function $(id) { return document.getElementById(id); }

  var video = $("camera");
  var frameCanvas = document.createElement("canvas");
  var thumbCanvas = document.createElement("canvas");
  thumbCanvas.width = THUMB_W; thumbCanvas.height = THUMB_H;

  var clockOffset = 0;       // the controller's clock minus ours, ms
  var online = true;
  var stopped = false;       // signed out or page expired: nothing is sent any more
  var cameraOn = false;

  // --- event ids ------------------------------------------------------------------------

  function uuidv7() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    var ms = Date.now();
    for (var i = 5; i >= 0; i--) { bytes[i] = ms % 256; ms = Math.floor(ms / 256); }
    bytes[6] = (bytes[6] & 0x0f) | 0x70;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" +
      hex.slice(16, 20) + "-" + hex.slice(20);
  }

  // --- the outbox: IndexedDB, with a mirror of what is in it -------------------------------

  var db = null;
  var memory = {};            // without IndexedDB: kept as long as the page lives
  var mirror = [];            // {id, kind, tries, recorded}, oldest first (ids sort by time)
  var others = 0;             // items of another account on this phone

  function request(r) {
    return new Promise(function (resolve, reject) {
      r.onsuccess = function () { resolve(r.result); };
      r.onerror = function () { reject(r.error); };
    });
  }

  function openDb() {
    if (!window.indexedDB) { return Promise.resolve(null); }
    var opening = indexedDB.open("sitegate-scan", 1);
    opening.onupgradeneeded = function () { opening.result.createObjectStore("outbox", { keyPath: "id" }); };
    return request(opening).catch(function () { return null; });
  }

  function store(mode) { return db.transaction("outbox", mode).objectStore("outbox"); }

  function keep(item) {
    var meta = { id: item.id, kind: item.kind, tries: item.tries, recorded: item.recorded, errors: item.errors || 0 };
    var index = mirror.findIndex(function (m) { return m.id === item.id; });
    if (index >= 0) { mirror[index] = meta; } else { mirror.push(meta); mirror.sort(byId); }
    showCount();
    if (!db) { memory[item.id] = item; return Promise.resolve(); }
    return request(store("readwrite").put(item));
  }

  function forget(id) {
    mirror = mirror.filter(function (m) { return m.id !== id; });
    showCount();
    if (!db) { delete memory[id]; return Promise.resolve(); }
    return request(store("readwrite").delete(id));
  }

  function fetchItem(id) {
    if (!db) { return Promise.resolve(memory[id]); }
    return request(store("readonly").get(id));
  }

  function byId(a, b) { return a.id < b.id ? -1 : (a.id > b.id ? 1 : 0); }

  function loadMirror() {
    if (!db) { return Promise.resolve(); }
    return new Promise(function (resolve) {
      var found = [];
      var cursor = store("readonly").openCursor();
      cursor.onsuccess = function () {
        var at = cursor.result;
        if (!at) { resolve(found); return; }
        var item = at.value;
        if (item.account === account) {
          found.push({ id: item.id, kind: item.kind, tries: item.tries, recorded: item.recorded });
          if (item.recorded || item.kind === "entry") { remember(item.id, pendingRow(item)); }
        } else { others += 1; }
        at.continue();
      };
      cursor.onerror = function () { resolve(found); };
    }).then(function (found) { mirror = found.sort(byId); showCount(); });
  }

  // "Unsent" counts what waits for an answer: not the live frame just sent.
  function unsent() {
    return mirror.filter(function (m) { return m.kind === "entry" || m.recorded || m.tries > 0; }).length;
  }

  function showCount() {
    $("unsent-count").textContent = String(unsent());
    $("unsent").classList.toggle("some", unsent() > 0);
    root.setAttribute("data-unsent", String(unsent()));
  }

  // --- the sender ---------------------------------------------------------------------------

  var sending = false, wake = null, backoff = 1000, lastSend = 0;

  function sleep(ms) {
    return new Promise(function (resolve) {
      var timer = setTimeout(done, ms);
      function done() { clearTimeout(timer); wake = null; resolve(); }
      wake = done;
    });
  }

  function setOnline(value) {
    if (online === value) { return; }
    online = value;
    root.setAttribute("data-link", value ? "online" : "offline");
    var state = $("link-state");
    state.textContent = value ? t("online") : t("offline");
    state.classList.toggle("off", !value);
  }

  async function pump() {
    if (sending || stopped) { return; }
    sending = true;
    try {
      while (!stopped && mirror.length) {
        // The oldest first; one the controller keeps failing on (5xx) waits behind the rest.
        var meta = mirror.find(function (m) { return (m.errors || 0) < 5; }) || mirror[0];
        var gap = lastSend + SEND_GAP_MS - Date.now();
        if (gap > 0) { await sleep(gap); }
        var item = await fetchItem(meta.id);
        if (!item) { await forget(meta.id); continue; }
        lastSend = Date.now();
        var outcome = await send(item);
        if (outcome.settled) {
          await forget(item.id);
          backoff = 1000;
          setOnline(true);
          settled(item, outcome);
        } else if (outcome.stop) {
          stopped = true;
          problem(outcome.message);
        } else {
          item.tries += 1;
          if (outcome.serverError) { item.errors = (item.errors || 0) + 1; }
          await keep(item);
          if (outcome.offline) { setOnline(false); }
          await sleep(outcome.retryAfter || backoff);
          backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
        }
      }
    } finally {
      sending = false;
    }
  }

  function send(item) {
    var at = Math.round(item.at + clockOffset);
    var url, body, headers = { "X-CSRF-Token": csrf };
    if (item.kind === "frame") {
      url = "/scan/frame?event=" + item.id + "&at=" + at;
      body = new Blob([item.data], { type: "image/jpeg" });
      headers["Content-Type"] = "image/jpeg";
    } else {
      url = "/scan/entry";
      body = new URLSearchParams({ event: item.id, at: String(at), person: item.person, company: item.company });
    }
    var abort = new AbortController();
    var timer = setTimeout(function () { abort.abort(); }, TIMEOUT_MS);
    var sentAt = Date.now();
    return fetch(url, { method: "POST", body: body, headers: headers, credentials: "same-origin", cache: "no-store", signal: abort.signal })
      .then(function (answer) {
        return answer.json().catch(function () { return {}; }).then(function (data) {
          if (data.server_ms) { clockOffset = data.server_ms - (sentAt + Date.now()) / 2; }
          return judge(answer, data);
        });
      })
      .catch(function () { return { offline: true }; })
      .then(function (outcome) { clearTimeout(timer); return outcome; });
  }

  function judge(answer, data) {
    var status = answer.status;
    if (status !== 200) { root.setAttribute("data-last-error", status + " " + (data.error || "")); }
    if (status === 200) { return { settled: true, data: data }; }
    if (status === 401) { return { stop: true, message: t("signedout"), login: true }; }
    if (status === 403 && data.error === "csrf") { return { stop: true, message: t("expired") }; }
    if (status === 403) { return { stop: true, message: data.message || "" }; }
    if (status === 429) {
      var wait = parseFloat(answer.headers.get("Retry-After") || "1");
      return { retryAfter: Math.max(250, (data.retry_after || wait) * 1000) };
    }
    if (status >= 500 || !data.error) { return { offline: status >= 502 || !data.error, serverError: status >= 500 }; }
    return { settled: true, refused: true, data: data };  // 400, 409, 413, 415: never better
  }

  // --- what the controller said ----------------------------------------------------------

  var resultTimer = null;
  var recent = {};            // event id -> row in the list

  function settled(item, outcome) {
    var data = outcome.data || {};
    if (outcome.refused) {
      if (item.kind === "entry") { fieldError(data.field === "company" ? "company" : "person", data.message); }
      show({ tone: "bad", title: t("error"), detail: data.message || "", outcome: "error:" + data.error }, item);
      return;
    }
    if (data.outcome === "no_code" || data.outcome === "repeat") {
      if (recent[item.id]) { recent[item.id].remove(); delete recent[item.id]; }
      return;
    }
    show(data, item);
  }

  function show(data, item) {
    var late = item.recorded || item.tries > 0;
    var card = $("result");
    card.className = "result " + (data.tone || "none");
    card.setAttribute("data-outcome", data.outcome || "");
    card.setAttribute("data-event", item.id);
    $("result-title").textContent = data.title || "";
    showWho($("result-person"), data);
    $("result-detail").textContent = (data.detail || "") + (late ? " (" + t("sent-later") + ")" : "");
    feedback(data.tone);
    var row = remember(item.id, document.createElement("li"));
    row.className = data.tone || "none";
    row.innerHTML = "";
    addText(row, "time", data.at || clock(item.at));
    addText(row, "what", data.title || "");
    showWho(addText(row, "who", ""), data);
    if (late) { addText(row, "late", t("sent-later")); }
    holdResult();
  }

  function recorded(item) {
    var card = $("result");
    card.className = "result wait";
    card.setAttribute("data-outcome", "recorded");
    card.setAttribute("data-event", item.id);
    $("result-title").textContent = item.kind === "entry" ? t("entry-recorded") : t("recorded");
    $("result-person").textContent = item.kind === "entry" ? maskTyped(item.person) : "";
    $("result-detail").textContent = t("recorded-detail");
    feedback("wait");
    remember(item.id, pendingRow(item));
    holdResult();
  }

  function pendingRow(item) {
    var row = document.createElement("li");
    row.className = "wait";
    addText(row, "time", clock(item.at));
    addText(row, "what", item.kind === "entry" ? t("entry-recorded") : t("recorded"));
    addText(row, "who", t("waiting"));
    return row;
  }

  function remember(id, row) {
    var list = $("recent");
    var old = recent[id];
    if (old && old !== row) { list.replaceChild(row, old); } else if (!old) { list.insertBefore(row, list.firstChild); }
    recent[id] = row;
    while (list.children.length > 30) {
      var last = list.lastChild;
      Object.keys(recent).forEach(function (key) { if (recent[key] === last) { delete recent[key]; } });
      list.removeChild(last);
    }
    return row;
  }

  function holdResult() {
    clearTimeout(resultTimer);
    resultTimer = setTimeout(ready, RESULT_HOLD_MS);
  }

  function ready() {
    var card = $("result");
    card.className = "result idle";
    card.setAttribute("data-outcome", "");
    $("result-title").textContent = cameraOn ? t("ready") : t("ready-typed");
    $("result-person").textContent = "";
    $("result-detail").textContent = cameraOn ? t("ready-detail") : "";
  }

  // The name, then the masked number kept whole on its line.
  function showWho(box, data) {
    box.textContent = "";
    if (data.name) { addText(box, "name", data.name); }
    if (data.person) { addText(box, "id", data.person); }
  }

  function maskTyped(text) {
    var digits = (text || "").replace(/\D/g, "");
    return digits.length > 4 ? digits.slice(0, 3) + "\u2026" + digits.slice(-2) : digits;
  }

  function addText(parent, cls, text) {
    var span = document.createElement("span");
    span.className = cls;
    span.textContent = text;
    parent.appendChild(span);
    return span;
  }

  function clock(ms) {
    var d = new Date(ms);
    return [d.getHours(), d.getMinutes(), d.getSeconds()].map(function (n) { return (n < 10 ? "0" : "") + n; }).join(":");
  }

  function problem(text, retry) {
    $("scan-problem-text").textContent = text;
    $("scan-problem").hidden = !text;
    $("camera-retry").hidden = !retry;
  }

  // --- vibration and sound, where the phone allows them -----------------------------------

  var audio = null;
  function unlockAudio() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!audio && Context) { try { audio = new Context(); } catch (e) { audio = null; } }
    if (audio && audio.state === "suspended") { audio.resume(); }
  }

  function feedback(tone) {
    if (navigator.vibrate) {
      try { navigator.vibrate(tone === "ok" ? 120 : (tone === "bad" ? [300, 120, 300] : 50)); } catch (e) { /* not allowed */ }
    }
    if (!audio || audio.state !== "running") { return; }
    var sound = { ok: [1320, 0.15], bad: [300, 0.7], wait: [880, 0.06] }[tone];
    if (!sound) { return; }
    var osc = audio.createOscillator(), gain = audio.createGain();
    osc.frequency.value = sound[0];
    osc.type = tone === "bad" ? "square" : "sine";
    gain.gain.value = 0.25;
    osc.connect(gain); gain.connect(audio.destination);
    osc.start(); osc.stop(audio.currentTime + sound[1]);
  }

  // --- the camera -------------------------------------------------------------------------

  function startCamera() {
    problem("");
    $("cam-state").textContent = t("starting");
    if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      root.setAttribute("data-camera", "insecure");
      $("cam-state").textContent = "";
      problem(t("insecure"));
      ready();
      return;
    }
    navigator.mediaDevices.getUserMedia({
      video: { facingMode: { ideal: "environment" }, width: { ideal: 1280 }, height: { ideal: 720 } },
      audio: false
    }).then(function (stream) {
      video.srcObject = stream;
      return video.play().catch(function () { /* autoplay of a muted video: allowed */ });
    }).then(function () {
      cameraOn = true;
      root.setAttribute("data-camera", "on");
      $("cam-state").textContent = t("scanning");
      if ($("result").getAttribute("data-outcome") === "") { ready(); }
    }).catch(function (error) {
      var name = error && error.name;
      cameraOn = false;
      root.setAttribute("data-camera", "refused");
      $("cam-state").textContent = "";
      if (name === "NotAllowedError" || name === "SecurityError") { problem(t("denied"), true); }
      else if (name === "NotFoundError" || name === "OverconstrainedError") { problem(t("nocamera"), true); }
      else { problem(t("camerafail") + " " + (name || error), true); }
      ready();
    });
  }

  // --- frames -------------------------------------------------------------------------------

  var previous = null, lastKept = null, stillFor = 0, lastRecordAt = 0, capturing = false;

  function thumbnail() {
    var context = thumbCanvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(video, 0, 0, THUMB_W, THUMB_H);
    var rgba = context.getImageData(0, 0, THUMB_W, THUMB_H).data;
    var grey = new Uint8Array(THUMB_W * THUMB_H);
    for (var i = 0; i < grey.length; i++) { grey[i] = (rgba[4 * i] * 3 + rgba[4 * i + 1] * 6 + rgba[4 * i + 2]) / 10; }
    return grey;
  }

  function difference(a, b) {
    if (!a || !b) { return 255; }
    var sum = 0;
    for (var i = 0; i < a.length; i++) { sum += Math.abs(a[i] - b[i]); }
    return sum / a.length;
  }

  function novelty(a, b) {
    if (!a || !b) { return 1; }
    var moved = 0;
    for (var i = 0; i < a.length; i++) { if (Math.abs(a[i] - b[i]) > NOVEL_DELTA) { moved += 1; } }
    return moved / a.length;
  }

  function edges(grey) {
    var sum = 0;
    for (var y = 0; y < THUMB_H; y++) {
      for (var x = 1; x < THUMB_W; x++) { sum += Math.abs(grey[y * THUMB_W + x] - grey[y * THUMB_W + x - 1]); }
    }
    return sum / (THUMB_H * (THUMB_W - 1));
  }

  function jpeg() {
    var scale = Math.min(1, WIDTH / video.videoWidth);
    frameCanvas.width = Math.round(video.videoWidth * scale);
    frameCanvas.height = Math.round(video.videoHeight * scale);
    frameCanvas.getContext("2d").drawImage(video, 0, 0, frameCanvas.width, frameCanvas.height);
    return new Promise(function (resolve) { frameCanvas.toBlob(resolve, "image/jpeg", QUALITY); })
      .then(function (blob) { return blob ? blob.arrayBuffer() : null; });
  }

  // Live: the controller answers, nothing waits: send the next frame as soon as the last one
  // is answered. Otherwise: keep a picture only of a new scene held still, with detail in it.
  async function capture() {
    if (!cameraOn || capturing || stopped || video.readyState < 2 || !video.videoWidth) { return; }
    capturing = true;
    try {
      var grey = thumbnail();
      var still = difference(grey, previous) < STILL;
      previous = grey;
      stillFor = still ? stillFor + 1 : 0;
      var backlog = mirror.filter(function (m) { return m.recorded || m.tries > 0; }).length;
      if (online && backlog === 0) {
        lastKept = null;
        var waiting = mirror.some(function (m) { return m.kind === "frame"; });
        if (!waiting) { await add({ kind: "frame", recorded: false }); }
        return;  // else: the live frame just sent is not answered yet
      }
      var now = Date.now();
      var novel = novelty(grey, lastKept) > NOVEL_SHARE;
      if (stillFor >= 2 && novel && edges(grey) > EDGES && now - lastRecordAt > RECORD_GAP_MS && mirror.length < MAX_KEPT) {
        lastRecordAt = now;
        lastKept = grey;
        var item = await add({ kind: "frame", recorded: true });
        if (item) { recorded(item); }
      }
    } finally {
      capturing = false;
    }
  }

  async function add(fields) {
    var data = await jpeg();
    if (!data) { return null; }
    var item = { id: uuidv7(), account: account, at: Date.now(), tries: 0, data: data, kind: fields.kind, recorded: fields.recorded };
    await keep(item);
    pump();
    return item;
  }

  // --- the keypad ---------------------------------------------------------------------------

  function fieldError(name, text) {
    var box = $(name + "-error");
    box.textContent = text || "";
    box.hidden = !text;
    $(name).setAttribute("aria-invalid", text ? "true" : "false");
  }

  function personProblem(value) {
    var checks = window.sitegateChecks;
    var digits = value.replace(/[\s.\-\/]/g, "");
    if (!/^\d*$/.test(digits)) { return { problem: "format" }; }
    if (digits.length === 11) { return { problem: checks.inss(value), kind: "inss" }; }
    if (digits.length >= 6 && digits.length <= 20) { return { problem: "", kind: "limosa" }; }
    return { problem: "length" };
  }

  function watchPerson() {
    var input = $("person"), hint = $("person-hint");
    function check() {
      fieldError("person", "");
      if (!input.value.trim()) { hint.textContent = ""; hint.className = "hint"; return; }
      var found = personProblem(input.value);
      if (!found.problem) {
        hint.textContent = input.getAttribute("data-ok-" + found.kind);
        hint.className = "hint ok";
      } else if (found.problem === "length" && document.activeElement === input) {
        hint.textContent = ""; hint.className = "hint";
      } else {
        hint.textContent = input.getAttribute("data-bad-" + found.problem) || found.problem;
        hint.className = "hint bad";
      }
    }
    input.addEventListener("input", check);
    input.addEventListener("blur", check);
  }

  function submitEntry(event) {
    event.preventDefault();
    unlockAudio();
    var person = $("person").value.trim(), company = $("company").value.trim();
    var found = personProblem(person);
    fieldError("person", ""); fieldError("company", "");
    if (!person || found.problem) {
      fieldError("person", $("person").getAttribute("data-bad-" + (found.problem || "length")));
      return;
    }
    if (found.kind === "inss" && window.sitegateChecks.kbo(company)) {
      fieldError("company", $("company").getAttribute("data-bad-" + window.sitegateChecks.kbo(company)));
      return;
    }
    var item = { id: uuidv7(), account: account, at: Date.now(), tries: 0, kind: "entry", person: person, company: found.kind === "inss" ? company : "", recorded: false };
    keep(item).then(function () {
      $("person").value = ""; $("company").value = "";
      $("person-hint").textContent = ""; $("company-hint").textContent = "";
      if (!online) { recorded(item); }
      pump();
    });
  }

  // --- start ------------------------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", function () {
    var served = parseInt(root.getAttribute("data-server-ms") || "0", 10);
    if (served) { clockOffset = served - Date.now(); }
    root.setAttribute("data-link", "online");
    document.addEventListener("pointerdown", unlockAudio);
    document.addEventListener("keydown", unlockAudio);
    $("keypad").addEventListener("submit", submitEntry);
    $("camera-retry").addEventListener("click", startCamera);
    watchPerson();
    window.addEventListener("online", function () { if (wake) { wake(); } });
    openDb().then(function (opened) {
      db = opened;
      if (!db) { problem(t("nostore")); }
      return loadMirror();
    }).then(function () {
      if (others) { problem(t("other")); }
      root.setAttribute("data-ready", "1");
      pump();
      startCamera();
      setInterval(capture, CAPTURE_MS);
    });
  });
})();
