/* The payment code page: count down, and shortly before the code expires fetch the next one
   (POST /pay/code/new/ with the CSRF header) and swap the barcode, QR code and digits in place.
   Without this script the page still shows a code and a "New code" link that reloads it. */
(function () {
  "use strict";

  var box = document.getElementById("payment-code");
  if (!box || !window.fetch) {
    return;
  }
  var REFRESH_BEFORE_MS = 20000;
  var MAX_FAILURES = 3;
  var csrfInput = box.querySelector("input[name=csrfmiddlewaretoken]");
  var barcode = box.querySelector("[data-barcode]");
  var qr = box.querySelector("[data-qr]");
  var digits = box.querySelector("[data-digits]");
  var until = box.querySelector("[data-until]");
  var countdown = box.querySelector("[data-countdown]");
  var status = box.querySelector("[data-status]");
  var newCode = box.querySelector("[data-new-code]");

  var deadline = Date.now() + Number(box.dataset.expiresIn || 0) * 1000;
  var busy = false;
  var failures = 0;
  var stopped = false;

  function say(text) {
    status.textContent = text;
  }

  function show(data) {
    barcode.src = data.barcode;
    qr.src = data.qr;
    digits.textContent = data.code;
    until.textContent = data.expires_at_display;
    until.setAttribute("datetime", data.expires_at);
    deadline = Date.now() + Number(data.expires_in) * 1000;
    box.classList.remove("expired");
    failures = 0;
    say(box.dataset.msgNew);
  }

  function refresh() {
    if (busy || stopped) {
      return;
    }
    busy = true;
    fetch(box.dataset.refreshUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfInput ? csrfInput.value : "", Accept: "application/json" },
    })
      .then(function (response) {
        var isJson = (response.headers.get("Content-Type") || "").indexOf("application/json") === 0;
        if (response.redirected || response.status === 403 || !isJson) {
          // Logged out or the session expired: the login page came back instead of a code.
          stopped = true;
          throw new Error(box.dataset.msgSession);
        }
        return response.json().then(function (data) {
          if (!response.ok) {
            stopped = true;
            throw new Error(data.error || box.dataset.msgFailed);
          }
          return data;
        });
      })
      .then(show)
      .catch(function (error) {
        failures += 1;
        say(error && error.message ? error.message : box.dataset.msgFailed);
      })
      .then(function () {
        busy = false;
      });
  }

  function tick() {
    var left = deadline - Date.now();
    if (left <= 0) {
      if (!box.classList.contains("expired")) {
        box.classList.add("expired");
        say(box.dataset.msgExpired);
      }
      countdown.hidden = true;
    } else {
      var seconds = Math.ceil(left / 1000);
      countdown.textContent = "(" + Math.floor(seconds / 60) + ":" + String(seconds % 60).padStart(2, "0") + ")";
      countdown.hidden = false;
    }
    // A hidden tab does not fetch; coming back to it refreshes at once if needed.
    if (left <= REFRESH_BEFORE_MS && failures < MAX_FAILURES && !document.hidden) {
      refresh();
    }
  }

  newCode.addEventListener("click", function (event) {
    event.preventDefault();
    stopped = false;
    failures = 0;
    refresh();
  });
  document.addEventListener("visibilitychange", tick);
  window.setInterval(tick, 1000);
  tick();
})();
