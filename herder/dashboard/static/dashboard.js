// herder's dashboard: refreshes the page's panels in place from its live endpoint, sends the
// buttons' forms without reloading, and works out each disk copy's rate and ETA from the
// samples it has seen. Hand-written, no library, no build step (docs/dashboard.md).
(function () {
  "use strict";
  var POLL_MS = 1000;          // panels are at most this old, plus one request's time
  var TIMEOUT_MS = 5000;       // a request that hangs is given up, and the next one sent
  var RATE_WINDOW_MS = 5000;   // the rate is measured over this much of the copy
  var MAX_SAMPLES = 20;

  var body = document.body;
  var liveUrl = body.getAttribute("data-live");
  var note = document.getElementById("note");
  var shown = new Map();       // panel name -> the HTML it shows: only changes touch the DOM
  var samples = new Map();     // migration id -> [[ms, bytes], ...], for moves on the page only
  var timer = null;

  function say(text, bad) {
    if (!note) { return; }
    note.textContent = text;
    note.className = bad ? "error" : "";
  }

  function size(bytes) {
    var units = ["B", "KiB", "MiB", "GiB"];
    var i = 0;
    while (bytes >= 1024 && i < units.length - 1) { bytes /= 1024; i += 1; }
    return (i === 0 ? bytes.toFixed(0) : bytes.toFixed(1)) + " " + units[i];
  }

  function rates() {
    var now = performance.now();
    var seen = new Set();
    document.querySelectorAll("tr[data-migration]").forEach(function (row) {
      var id = row.getAttribute("data-migration");
      var total = Number(row.getAttribute("data-total"));
      var done = Number(row.getAttribute("data-done"));
      seen.add(id);
      if (!total) { return; }
      var list = samples.get(id) || [];
      list.push([now, done]);
      while (list.length > MAX_SAMPLES || (list.length > 2 && now - list[0][0] > RATE_WINDOW_MS)) {
        list.shift();
      }
      samples.set(id, list);
      var first = list[0], last = list[list.length - 1];
      var rateCell = row.querySelector(".rate"), etaCell = row.querySelector(".eta");
      if (!rateCell || !etaCell || last[0] === first[0]) { return; }
      var rate = (last[1] - first[1]) * 1000 / (last[0] - first[0]);
      rateCell.textContent = size(Math.max(rate, 0)) + "/s";
      etaCell.textContent = rate > 0 ? Math.round((total - done) / rate) + " s" : "-";
    });
    samples.forEach(function (_, id) { if (!seen.has(id)) { samples.delete(id); } });
  }

  // a form being filled in (a host's drain form) sits in a panel that is replaced every time
  // it changes: what was typed, which <details> were open and where the cursor was are put
  // back into the new HTML, matched by the element's data-keep key and the field's name
  function kept(element) {
    var state = {open: {}, fields: {}, focus: null};
    element.querySelectorAll("details[data-keep]").forEach(function (details) {
      state.open[details.getAttribute("data-keep")] = details.open;
    });
    element.querySelectorAll("form[data-keep] input:not([type=hidden])").forEach(function (input) {
      var key = input.form.getAttribute("data-keep") + "/" + input.name;
      state.fields[key] = input.type === "checkbox" ? input.checked : input.value;
      if (input === document.activeElement) { state.focus = key; }
    });
    return state;
  }

  function restore(element, state) {
    element.querySelectorAll("details[data-keep]").forEach(function (details) {
      var open = state.open[details.getAttribute("data-keep")];
      if (open !== undefined) { details.open = open; }
    });
    element.querySelectorAll("form[data-keep] input:not([type=hidden])").forEach(function (input) {
      var key = input.form.getAttribute("data-keep") + "/" + input.name;
      if (!(key in state.fields)) { return; }
      if (input.type === "checkbox") { input.checked = state.fields[key]; }
      else { input.value = state.fields[key]; }
      if (key === state.focus) { input.focus(); }
    });
  }

  function apply(panels) {
    Object.keys(panels).forEach(function (name) {
      var element = document.querySelector('[data-panel="' + name + '"]');
      if (element && shown.get(name) !== panels[name]) {
        var state = kept(element);
        element.innerHTML = panels[name];
        restore(element, state);
        shown.set(name, panels[name]);
      }
    });
    rates();
  }

  function schedule(ms) {
    clearTimeout(timer);
    timer = setTimeout(refresh, ms);
  }

  function refresh() {
    var controller = new AbortController();
    var giveUp = setTimeout(function () { controller.abort(); }, TIMEOUT_MS);
    fetch(liveUrl, {headers: {"Accept": "application/json"}, credentials: "same-origin",
                    cache: "no-store", signal: controller.signal})
      .then(function (response) {
        if (response.status === 401) { window.location.assign("/dashboard/login"); }
        if (!response.ok) { throw new Error("the server answered " + response.status); }
        return response.json();
      })
      .then(function (answer) {
        apply(answer.panels);
        if (body.classList.contains("stale")) { body.classList.remove("stale"); say(""); }
      })
      .catch(function (error) {
        body.classList.add("stale");
        say("Not up to date (" + error.message + "): trying again.", true);
      })
      .finally(function () { clearTimeout(giveUp); schedule(POLL_MS); });
  }

  // one listener for every button, present and future: panels are replaced, listeners stay one
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("act")) { return; }
    event.preventDefault();
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { return; }
    var button = form.querySelector("button");
    if (button) { button.disabled = true; }
    // getAttribute: the form's `action` property is its field named "action", not its URL
    fetch(form.getAttribute("action"), {method: "POST", body: new URLSearchParams(new FormData(form)),
                        headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (response) {
        return response.json().then(function (answer) {
          say(answer.message || ("The server answered " + response.status + "."), !response.ok);
          // a form filled in for one request (a drain) is emptied once it is accepted
          if (response.ok && form.hasAttribute("data-keep")) {
            form.reset();
            if (form.parentElement.tagName === "DETAILS") { form.parentElement.open = false; }
          }
        });
      })
      .catch(function (error) { say("The request failed: " + error.message, true); })
      .finally(function () {
        if (button) { button.disabled = false; }
        if (liveUrl) { schedule(0); }
      });
  });

  if (liveUrl) {
    rates();
    schedule(POLL_MS);
  }
}());
