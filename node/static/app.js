/* motcua node: a little vanilla JS, written for old browsers (no modules, no arrow functions). */
(function () {
  "use strict";

  function fold(text) {
    return (text || "").toLowerCase().replace(/đ/g, "d").normalize("NFD")
      .replace(/[\u0300-\u036f]/g, "").replace(/\s+/g, " ").trim();
  }
  function words(text) { return fold(text).match(/[0-9a-z.]+/g) || []; }

  // The same rule as domain/procedure_search.py: every typed word prefixes a word, any order;
  // whole words and shorter names first. null = no match.
  function matchScore(query, text) {
    var wanted = words(query), have = words(text), total = 0;
    if (!wanted.length) { return 0; }
    for (var i = 0; i < wanted.length; i++) {
      var w = wanted[i], best = -1;
      for (var j = 0; j < have.length; j++) {
        if (have[j] === w) { best = 100; break; }
        if (have[j].indexOf(w) === 0) { best = 60; }
      }
      if (best < 0) { return null; }
      total += best;
    }
    return total * 100 - have.length;
  }

  var intake = document.getElementById("intake-form");
  var filter = document.getElementById("procedure-filter");
  var select = document.getElementById("procedure");
  var none = document.getElementById("procedure-none");

  function showDocuments(checkAll) {
    var sets = document.querySelectorAll("fieldset.documents");
    for (var i = 0; i < sets.length; i++) {
      var on = select && sets[i].getAttribute("data-procedure") === select.value;
      sets[i].hidden = !on;
      sets[i].disabled = !on;
      if (on && checkAll) {
        // the procedure's documents start ticked: the clerk unticks what the citizen did not bring
        var boxes = sets[i].querySelectorAll("input[type=checkbox]"), any = false, b;
        for (b = 0; b < boxes.length; b++) { any = any || boxes[b].checked; }
        for (b = 0; !any && b < boxes.length; b++) { boxes[b].checked = true; }
      }
    }
  }

  function visibleOptions() {
    var out = [], options = select.querySelectorAll("option");
    for (var i = 0; i < options.length; i++) { if (!options[i].hidden) { out.push(options[i]); } }
    return out;
  }

  function firstEmptyApplicantField() {
    var names = ["name", "id_number", "phone", "address"];
    for (var i = 0; i < names.length; i++) {
      var el = intake.elements[names[i]];
      if (el && !el.value) { return el; }
    }
    return document.getElementById("save-print");
  }

  if (filter && select) {
    filter.addEventListener("input", function () {
      var q = filter.value, best = null, bestScore = null;
      var options = select.querySelectorAll("option");
      for (var i = 0; i < options.length; i++) {
        var s = matchScore(q, options[i].getAttribute("data-search"));
        var hit = s !== null;
        options[i].hidden = !hit;
        options[i].disabled = !hit;
        if (hit && (bestScore === null || s > bestScore)) { best = options[i]; bestScore = s; }
      }
      var groups = select.querySelectorAll("optgroup");
      for (var g = 0; g < groups.length; g++) {
        groups[g].hidden = !groups[g].querySelector("option:not([hidden])");
      }
      if (none) { none.hidden = !!best; }
      if (best && fold(q)) { select.value = best.value; showDocuments(false); }
    });
    filter.addEventListener("keydown", function (event) {
      var key = event.key;
      if (key === "ArrowDown" || key === "ArrowUp") {
        var list = visibleOptions(), at = list.indexOf(select.selectedOptions[0]);
        if (list.length) {
          at = key === "ArrowDown" ? Math.min(at + 1, list.length - 1) : Math.max(at - 1, 0);
          select.value = list[at].value;
          showDocuments(false);
        }
        event.preventDefault();
      } else if (key === "Enter") {
        // Enter picks the highlighted procedure; it never submits the form
        event.preventDefault();
        if (select.value && !select.selectedOptions[0].disabled) {
          showDocuments(true);
          firstEmptyApplicantField().focus();
        }
      }
    });
    select.addEventListener("change", function () { showDocuments(true); });
    showDocuments(false);
  }

  // After a refused save the server marks fields aria-invalid and autofocuses the first one;
  // make sure the focus lands there even if the browser ignored autofocus.
  if (intake) {
    var invalid = intake.querySelector("[aria-invalid=true]");
    if (invalid && document.activeElement !== invalid) { invalid.focus(); }
    if (!invalid && filter && document.activeElement !== filter) { filter.focus(); }
    // ID and phone numbers: spaces (as people read them out) are removed on the way out
    var compact = ["id_number", "phone", "rep_id_number", "rep_phone"];
    for (var c = 0; c < compact.length; c++) {
      var field = intake.elements[compact[c]];
      if (field) {
        field.addEventListener("blur", function () { this.value = this.value.replace(/\s+/g, ""); });
      }
    }
  }

  // --- card scan ------------------------------------------------------------------------------
  // A USB 2D scanner types the card's QR as keystrokes ending in Enter: "<12 digits>|...|...".
  // Wherever the focus is on the intake form, 12 digits then "|" switch to capture: the rest goes
  // into a hidden box (not into the clerk's field), Enter ends it and never submits, the digits
  // already typed into the focused field are taken back out, and the server parses the payload
  // (and writes the access log). Nothing of the card is kept in the page beyond the filled fields.
  if (intake && intake.getAttribute("data-card-url")) {
    var capture = document.createElement("textarea");
    capture.className = "card-capture";
    capture.setAttribute("aria-hidden", "true");
    capture.setAttribute("tabindex", "-1");
    document.body.appendChild(capture);
    var status = document.getElementById("card-status");
    var digits = "", snapshot = null, scanning = false;

    var say = function (text) { if (status) { status.textContent = text; status.hidden = !text; } };

    var fill = function (fields) {
      var names = ["name", "id_number", "birth_date", "sex", "address"];
      for (var i = 0; i < names.length; i++) {
        var el = intake.elements[names[i]];
        if (el && fields[names[i]]) {
          el.value = fields[names[i]];
          el.removeAttribute("aria-invalid");
          var err = document.getElementById("err-" + names[i]);
          if (err) { err.hidden = true; }
        }
      }
    };

    var finish = function () {
      var payload = capture.value;
      scanning = false;
      capture.value = "";
      var back = snapshot;
      snapshot = null;
      digits = "";
      if (back && back.el) {
        if ("value" in back.el && back.el !== capture) { back.el.value = back.value; }
        if (back.el === filter) { filter.dispatchEvent(new Event("input")); }
      }
      var token = intake.elements.csrf_token ? intake.elements.csrf_token.value : "";
      var xhr = new XMLHttpRequest();
      xhr.open("POST", intake.getAttribute("data-card-url"));
      xhr.setRequestHeader("Content-Type", "application/json");
      xhr.setRequestHeader("X-CSRFToken", token);
      xhr.onload = function () {
        var reply = null;
        try { reply = JSON.parse(xhr.responseText); } catch (e) { reply = null; }
        if (xhr.status === 200 && reply) {
          fill(reply.fields);
          say(reply.missing.length ? "Đã đọc thẻ; thẻ không có đủ thông tin, vui lòng kiểm tra và nhập bổ sung."
                                   : "Đã đọc thông tin từ thẻ căn cước.");
          intake.setAttribute("data-card-filled", "1");
          firstEmptyApplicantField().focus();
        } else {
          say(reply && reply.error ? reply.error.message : "Không đọc được thẻ, vui lòng quét lại.");
          if (back && back.el && back.el.focus) { back.el.focus(); }
        }
      };
      xhr.send(JSON.stringify({payload: payload}));
    };

    document.addEventListener("keydown", function (event) {
      var key = event.key;
      if (scanning) {
        if (key === "Enter") { event.preventDefault(); finish(); }
        return;  // every other key types into the capture box
      }
      if (key && key.length === 1 && key >= "0" && key <= "9") {
        if (!digits) {
          var el = document.activeElement;
          snapshot = {el: el, value: el && "value" in el ? el.value : null};
        }
        digits += key;
        if (digits.length > 12) { digits = digits.slice(-12); snapshot = null; }
      } else if (key === "|" && digits.length === 12 && intake.contains(document.activeElement || intake)) {
        event.preventDefault();
        scanning = true;
        capture.value = digits + "|";
        capture.focus();
      } else if (key !== "Shift") {
        digits = "";
        snapshot = null;
      }
    }, true);
  }

  // The status bar (sync state, clock warning) refreshes itself every data-refresh-seconds (30 by default).
  var statusUrl = document.body.getAttribute("data-status-url");
  var refreshSeconds = parseInt(document.body.getAttribute("data-refresh-seconds"), 10) || 30;
  if (statusUrl && document.getElementById("sync-bar")) {
    window.setInterval(function () {
      var bar = document.getElementById("sync-bar");
      if (!bar || bar.contains(document.activeElement)) { return; }
      var req = new XMLHttpRequest();
      req.open("GET", statusUrl);
      req.onload = function () {
        if (req.status !== 200) { return; }
        var holder = document.createElement("div");
        holder.innerHTML = req.responseText;
        var fresh = holder.querySelector("#sync-bar");
        if (fresh && bar.parentNode) { bar.parentNode.replaceChild(fresh, bar); }
      };
      req.send();
    }, refreshSeconds * 1000);
  }

  // Print buttons (inline scripts are forbidden by the Content-Security-Policy).
  var printers = document.querySelectorAll("[data-print]");
  for (var p = 0; p < printers.length; p++) {
    printers[p].addEventListener("click", function () { window.print(); });
  }
  // "Lưu và in": the form page opened with the print dialog at once.
  if (document.querySelector("[data-autoprint]")) {
    window.addEventListener("load", function () { window.print(); });
  }

  // Ask before irreversible steps.
  var forms = document.querySelectorAll("form[data-action='refuse'], form[data-action='stop'], form[data-confirm]");
  // (hand-up and refusal during processing carry their own data-confirm question)
  for (var f = 0; f < forms.length; f++) {
    forms[f].addEventListener("submit", function (event) {
      var text = this.getAttribute("data-confirm") || "Thao tác này không thể hoàn tác. Tiếp tục?";
      if (!window.confirm(text)) { event.preventDefault(); }
    });
  }
})();
