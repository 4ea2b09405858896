/* Bank and branch pickers for the refund form: an ARIA combobox over /refund/banks/?q= and
   /refund/banks/<code>/branches/?q=. Choosing a match fills the hidden code input; typing
   again clears it. Without this script the form still works: the server shows the matches
   of what was typed as a list to pick from. Also stops a second press of a one-time button. */
(function () {
  "use strict";

  function debounce(fn, wait) {
    var timer = null;
    return function () {
      var args = arguments;
      clearTimeout(timer);
      timer = setTimeout(function () { fn.apply(null, args); }, wait);
    };
  }

  function hiddenCode(root, name) {
    var form = root.closest("form");
    var input = form.querySelector('input[type=hidden][name="' + name + '"]');
    if (!input) {
      input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      root.appendChild(input);
    }
    return input;
  }

  function Picker(root) {
    this.root = root;
    this.kind = root.getAttribute("data-picker");
    this.codeName = this.kind + "_code";
    this.input = root.querySelector("input[type=text]");
    this.list = root.querySelector(".picker-list");
    this.status = root.querySelector("[data-picker-status]");
    this.chosen = root.querySelector(".picker-chosen");
    this.options = [];
    this.active = -1;
    this.last = null;
    this.input.setAttribute("role", "combobox");
    this.input.setAttribute("aria-autocomplete", "list");
    this.input.setAttribute("aria-expanded", "false");
    this.input.setAttribute("aria-controls", this.list.id);
    var self = this;
    this.input.addEventListener("input", function () {
      self.clearCode();
      self.search();
    });
    this.input.addEventListener("keydown", function (event) { self.onKey(event); });
    this.input.addEventListener("blur", function () { setTimeout(function () { self.close(); }, 150); });
    this.list.addEventListener("mousedown", function (event) {
      var item = event.target.closest("li[role=option]");
      if (item) {
        event.preventDefault();
        self.choose(Number(item.getAttribute("data-index")));
      }
    });
    this.search = debounce(function () { self.fetch(); }, 180);
  }

  Picker.prototype.url = function () {
    var base = this.root.getAttribute("data-url");
    if (this.kind === "branch") {
      var bank = currentCode(this.root.closest("form"), "bank_code");
      if (!bank) { return null; }
      base = base.replace("__code__", encodeURIComponent(bank));
    }
    return base + "?q=" + encodeURIComponent(this.input.value.trim());
  };

  Picker.prototype.fetch = function () {
    var query = this.input.value.trim();
    if (!query) { this.close(); return; }
    var url = this.url();
    var self = this;
    if (!url) {
      this.render([], this.root.getAttribute("data-need-bank"));
      return;
    }
    this.last = url;
    window.fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : { results: [] }; })
      .then(function (data) { if (self.last === url) { self.render(data.results || [], null); } })
      .catch(function () { self.close(); });
  };

  Picker.prototype.render = function (results, message) {
    this.options = results;
    this.active = -1;
    this.list.innerHTML = "";
    this.input.removeAttribute("aria-activedescendant");
    if (!results.length) {
      var empty = document.createElement("li");
      empty.className = "empty";
      empty.textContent = message || this.root.getAttribute("data-none");
      this.list.appendChild(empty);
    }
    for (var i = 0; i < results.length; i++) {
      var item = document.createElement("li");
      item.id = this.list.id + "-" + i;
      item.setAttribute("role", "option");
      item.setAttribute("aria-selected", "false");
      item.setAttribute("data-index", String(i));
      item.textContent = results[i].label;
      if (results[i].kana) {
        var kana = document.createElement("span");
        kana.className = "choice-kana";
        kana.textContent = results[i].kana;
        item.appendChild(kana);
      }
      this.list.appendChild(item);
    }
    this.list.hidden = false;
    this.input.setAttribute("aria-expanded", "true");
    if (this.status) {
      this.status.textContent = results.length ? this.root.getAttribute("data-count").replace("%s", results.length) : (message || this.root.getAttribute("data-none"));
    }
  };

  Picker.prototype.close = function () {
    this.list.hidden = true;
    this.input.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
  };

  Picker.prototype.move = function (step) {
    if (!this.options.length) { return; }
    this.active = (this.active + step + this.options.length) % this.options.length;
    var items = this.list.querySelectorAll("li[role=option]");
    for (var i = 0; i < items.length; i++) { items[i].setAttribute("aria-selected", i === this.active ? "true" : "false"); }
    items[this.active].scrollIntoView({ block: "nearest" });
    this.input.setAttribute("aria-activedescendant", items[this.active].id);
  };

  Picker.prototype.onKey = function (event) {
    var open = !this.list.hidden;
    if (event.key === "ArrowDown") { event.preventDefault(); if (!open) { this.fetch(); } else { this.move(1); } }
    else if (event.key === "ArrowUp") { if (open) { event.preventDefault(); this.move(-1); } }
    else if (event.key === "Enter") { if (open && this.active >= 0) { event.preventDefault(); this.choose(this.active); } }
    else if (event.key === "Escape") { if (open) { event.preventDefault(); this.close(); } }
  };

  Picker.prototype.clearCode = function () {
    var form = this.root.closest("form");
    var code = form.querySelector('input[type=hidden][name="' + this.codeName + '"]');
    if (code) { code.value = ""; }
    if (this.chosen) { this.chosen.textContent = ""; }
    if (this.kind === "bank") { resetBranch(form); }
  };

  Picker.prototype.choose = function (index) {
    var option = this.options[index];
    if (!option) { return; }
    var form = this.root.closest("form");
    // The no-script list of matches is replaced by the choice made here.
    var fallback = form.querySelector('[data-pick-list="' + this.kind + '"]');
    if (fallback) { fallback.parentNode.removeChild(fallback); }
    hiddenCode(this.root, this.codeName).value = option.code;
    this.input.value = option.label;
    // The server's "choose your bank" message is answered now: drop it and the invalid mark.
    var error = this.root.querySelector(".errorlist");
    if (error) { error.parentNode.removeChild(error); }
    this.input.removeAttribute("aria-invalid");
    var described = (this.input.getAttribute("aria-describedby") || "").split(" ").filter(function (id) { return id && !/_error$/.test(id); });
    this.input.setAttribute("aria-describedby", described.join(" "));
    if (this.chosen) { this.chosen.textContent = this.root.getAttribute("data-chosen").replace("%s", option.label); }
    this.close();
    if (this.kind === "bank") {
      resetBranch(form);
      var branch = form.querySelector("[data-picker=branch] input[type=text]");
      if (branch) { branch.focus(); }
    }
  };

  function currentCode(form, name) {
    var checked = form.querySelector('input[type=radio][name="' + name + '"]:checked');
    if (checked) { return checked.value; }
    var hidden = form.querySelector('input[type=hidden][name="' + name + '"]');
    return hidden ? hidden.value : "";
  }

  function resetBranch(form) {
    var root = form.querySelector("[data-picker=branch]");
    if (!root) { return; }
    var code = form.querySelector('input[type=hidden][name="branch_code"]');
    if (code) { code.value = ""; }
    var chosen = root.querySelector(".picker-chosen");
    if (chosen) { chosen.textContent = ""; }
  }

  function once(form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector("button[type=submit]");
      if (button) { setTimeout(function () { button.disabled = true; }, 0); }
    });
  }

  document.querySelectorAll("[data-picker]").forEach(function (root) { new Picker(root); });
  document.querySelectorAll("form[data-once]").forEach(once);
})();
