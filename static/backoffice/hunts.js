/* Look-back hunt pages (a static file: the Content-Security-Policy allows no inline script).
   - Hunt page: poll the progress endpoint while the hunt is queued or running, move the
     bar and the estimate, and reload once it has finished so the hits table is complete.
   - Hunt page: the header checkbox selects every hit on the page.
   - Start form: choosing a rule shows its thresholds in the thresholds box. */
(function () {
  "use strict";

  var POLL_MS = 2000;

  function followProgress(box) {
    var url = box.getAttribute("data-url");
    var state = box.getAttribute("data-state");
    if (!url || (state !== "queued" && state !== "running")) {
      return;
    }
    var bar = document.getElementById("hunt-progress-bar");
    var estimate = document.getElementById("hunt-estimate");
    var stateText = document.getElementById("hunt-state");
    var percent = document.getElementById("hunt-percent");
    var slices = document.getElementById("hunt-slices");
    var error = document.getElementById("hunt-error");

    function show(data) {
      if (bar) {
        bar.max = Math.max(data.steps_total, 1);
        bar.value = data.state === "done" ? bar.max : data.steps_done;
        bar.textContent = data.percent + "%";
      }
      if (estimate && estimate.textContent !== data.estimate) {
        estimate.textContent = data.estimate;
      }
      if (stateText) { stateText.textContent = data.state_label; }
      if (percent) { percent.textContent = data.percent + "%"; }
      if (slices) { slices.textContent = data.slices; }
      if (error && data.error) {
        error.textContent = data.error;
        error.hidden = false;
      }
    }

    function poll() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" })
        .then(function (response) {
          if (!response.ok) { throw new Error(String(response.status)); }
          return response.json();
        })
        .then(function (data) {
          show(data);
          if (data.finished) {
            window.location.reload();
          } else {
            window.setTimeout(poll, POLL_MS);
          }
        })
        .catch(function () {
          // A dropped connection or an expired session: try again later, more slowly.
          window.setTimeout(poll, POLL_MS * 5);
        });
    }

    window.setTimeout(poll, POLL_MS);
  }

  function selectAll(master) {
    master.addEventListener("change", function () {
      var form = master.form;
      if (!form) { return; }
      var boxes = form.querySelectorAll('input[type="checkbox"][name="hit"]:not(:disabled)');
      for (var i = 0; i < boxes.length; i += 1) {
        boxes[i].checked = master.checked;
      }
    });
  }

  function presetThresholds(select, textarea, source) {
    var presets;
    try {
      presets = JSON.parse(source.textContent);
    } catch (e) {
      return;
    }
    function fill() {
      var params = presets[select.value];
      if (params) {
        textarea.value = JSON.stringify(params, null, 1);
      }
    }
    select.addEventListener("change", fill);
    if (!textarea.value.trim()) {
      fill();
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("hunt-progress");
    if (box) { followProgress(box); }
    var master = document.getElementById("hunt-select-all");
    if (master) { selectAll(master); }
    var select = document.getElementById("id_preset");
    var textarea = document.getElementById("id_thresholds");
    var source = document.getElementById("hunt-presets");
    if (select && textarea && source) { presetThresholds(select, textarea, source); }
  });
}());
