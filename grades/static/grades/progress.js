// Live progress of freezes: every element with data-status-url polls it and redraws its
// bar and counts; on the run page, a change of state also refreshes the details below.
(function () {
  "use strict";
  var INTERVAL_MS = 1000;

  function draw(box, status) {
    var needed = Math.max(status.needed, 1);
    var frozen = box.querySelector(".progress .frozen");
    var failed = box.querySelector(".progress .failed");
    if (frozen) frozen.style.width = (100 * status.frozen / needed) + "%";
    if (failed) failed.style.width = (100 * status.failed / needed) + "%";
    box.querySelectorAll("[data-field]").forEach(function (field) {
      field.textContent = status[field.getAttribute("data-field")];
    });
    var state = box.querySelector(".state");
    if (state) {
      state.className = "state " + status.state;
      state.textContent = status.state_text;
    }
  }

  function refreshDetails() {
    var details = document.getElementById("details");
    if (!details) return;
    fetch(window.location.href, { credentials: "same-origin" })
      .then(function (answer) { return answer.text(); })
      .then(function (html) {
        var page = new DOMParser().parseFromString(html, "text/html");
        var fresh = page.getElementById("details");
        if (fresh) details.replaceWith(fresh);
      });
  }

  function poll(box) {
    var url = box.getAttribute("data-status-url");
    var seen = box.getAttribute("data-state") + "/" + box.getAttribute("data-frozen") +
      "/" + box.getAttribute("data-failed");
    function tick() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (answer) { return answer.ok ? answer.json() : null; })
        .then(function (status) {
          if (status) {
            draw(box, status);
            var now = status.state + "/" + status.frozen + "/" + status.failed;
            if (now !== seen && box.hasAttribute("data-refresh-details")) refreshDetails();
            seen = now;
          }
        })
        .catch(function () {})
        .then(function () { window.setTimeout(tick, INTERVAL_MS); });
    }
    window.setTimeout(tick, INTERVAL_MS);
  }

  document.querySelectorAll("[data-status-url]").forEach(poll);
})();
