// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // Copy buttons for the values an IdP admin pastes into Okta.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy-target"));
    if (!source) return;
    var text = source.textContent.trim();
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(done, function () {});
    } else {
      var range = document.createRange();
      range.selectNodeContents(source);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      done();
    }
  });

  // Organization switcher: go as soon as one is chosen.
  document.querySelectorAll("[data-org-switcher] select").forEach(function (select) {
    select.addEventListener("change", function () {
      if (select.value.indexOf("/orgs/") === 0) window.location.assign(select.value);
    });
  });

  // Live status: an element with data-poll-url is refreshed from the JSON view
  // until its status is final, then the page reloads to show the full result.
  // When the JSON says no worker is there (worker_missing), the banner right
  // after the element appears. Polling slows down but does not stop: a check
  // or verification that no worker takes ends as failed on the server.
  var FINAL = ["passed", "failed", "verified", "pending"];
  var MAX_TRIES = 600;
  document.querySelectorAll("[data-poll-url]").forEach(function (el) {
    var url = el.getAttribute("data-poll-url");
    var current = el.getAttribute("data-status");
    var banner = el.nextElementSibling;
    if (banner && !banner.hasAttribute("data-worker-banner")) banner = null;
    var tries = 0;
    var delay = function () { return tries < 60 ? 1000 : 5000; };
    var tick = function () {
      tries += 1;
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) { if (tries < MAX_TRIES) setTimeout(tick, 5000); return; }
          var status = data.status;
          var missing = data.worker_missing;
          if (Array.isArray(data)) {
            var id = el.getAttribute("data-poll-id");
            data.forEach(function (row) {
              if (String(row.id) === id) { status = row.status; missing = row.worker_missing; }
            });
          }
          if (banner) banner.hidden = !missing;
          if (status && status !== current) {
            window.location.reload();
            return;
          }
          if (FINAL.indexOf(status) === -1 && tries < MAX_TRIES) setTimeout(tick, delay());
        })
        .catch(function () { if (tries < MAX_TRIES) setTimeout(tick, 5000); });
    };
    if (FINAL.indexOf(current) === -1) setTimeout(tick, 800);
  });
})();
