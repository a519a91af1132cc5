// The fleet dashboard's only script: poll /live and swap the page's live part, keeping focus where it was.
(function () {
  "use strict";
  var body = document.body;
  var view = body.dataset.liveView;
  var live = document.getElementById("live");
  if (!view || !live) { return; }
  var interval = parseInt(body.dataset.liveInterval || "2000", 10);
  var ident = body.dataset.liveId || "";
  var status = document.getElementById("live-status");
  var url = "/live?view=" + encodeURIComponent(view) + "&id=" + encodeURIComponent(ident);
  var last = null;
  var timer = null;

  function say(text) { if (status && status.textContent !== text) { status.textContent = text; } }

  function swap(html) {
    if (html === last) { return; }
    var focused = document.activeElement;
    var focusId = focused && live.contains(focused) ? focused.id : null;
    live.innerHTML = html;
    last = html;
    if (focusId) {
      var again = document.getElementById(focusId);
      if (again) { again.focus(); }
    }
  }

  function poll() {
    timer = null;
    if (document.hidden) { schedule(); return; }
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" }, cache: "no-store" })
      .then(function (response) {
        if (response.status === 401) {
          window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname));
          return null;
        }
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (data) {
        if (data === null) { return; }
        swap(data.html);
        say("Live: updated at " + new Date().toLocaleTimeString() + ".");
        schedule();
      })
      .catch(function () {
        say("Live updates paused: the control plane did not answer; retrying.");
        schedule();
      });
  }

  function schedule() { if (timer === null) { timer = window.setTimeout(poll, interval); } }

  // A destructive action asks first (delegated: the forms are swapped in and out by the polls).
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) { event.preventDefault(); }
  });

  last = live.innerHTML;
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && timer !== null) { window.clearTimeout(timer); poll(); }
  });
  schedule();
}());
