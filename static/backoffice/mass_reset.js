/* Mass password reset page (a static file: the Content-Security-Policy allows no inline
   script). While the reset is queued or running, poll the progress endpoint, move the bar
   and copy the figures and the server's own wording (already in the viewer's language);
   reload once the state changes, so the buttons and the history match it. */
(function () {
  "use strict";

  var POLL_MS = 2000;
  var ACTIVE = { queued: true, running: true };

  function setText(id, value) {
    var node = document.getElementById(id);
    if (node && value !== undefined && value !== null && node.textContent !== String(value)) {
      node.textContent = String(value);
    }
  }

  function number(value) {
    return Number(value || 0).toLocaleString(document.documentElement.lang || undefined);
  }

  function follow(box) {
    var url = box.getAttribute("data-url");
    var state = box.getAttribute("data-state");
    if (!url || !ACTIVE[state]) {
      return;
    }
    var bar = document.getElementById("mr-bar");

    function show(data) {
      if (bar) {
        bar.max = Math.max(data.accounts_estimated, 1);
        bar.value = data.state === "done" ? bar.max : data.accounts_reset;
        bar.textContent = data.percent + "%";
      }
      setText("mr-counts", data.counts_text);
      setText("mr-percent", data.percent + "%");
      setText("mr-rate", data.rate_text);
      setText("mr-eta", data.eta_text);
      setText("mr-state", data.state_label);
      setText("mr-sessions", number(data.sessions_ended));
      setText("mr-tokens", number(data.tokens_deleted));
      setText("mr-factors", number(data.factors_removed));
      setText("mr-notices", number(data.notices_queued));
    }

    function poll() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" })
        .then(function (response) {
          if (!response.ok) { throw new Error(String(response.status)); }
          return response.json();
        })
        .then(function (data) {
          show(data);
          if (data.state !== state) {
            window.location.reload();
          } else {
            window.setTimeout(poll, POLL_MS);
          }
        })
        .catch(function () {
          // A dropped connection or an expired session: try again, more slowly.
          window.setTimeout(poll, POLL_MS * 5);
        });
    }

    window.setTimeout(poll, POLL_MS);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("mr-progress");
    if (box) { follow(box); }
  });
})();
