/* motcua node: a little vanilla JS, written for old browsers (no modules, no arrow functions). */
(function () {
  "use strict";

  function fold(text) {
    return (text || "").toLowerCase().replace(/đ/g, "d").normalize("NFD")
      .replace(/[\u0300-\u036f]/g, "").replace(/\s+/g, " ").trim();
  }

  // Intake: type-to-filter the procedure list, show the chosen procedure's documents.
  var filter = document.getElementById("procedure-filter");
  var select = document.getElementById("procedure");
  function showDocuments() {
    var sets = document.querySelectorAll("fieldset.documents");
    for (var i = 0; i < sets.length; i++) {
      var on = select && sets[i].getAttribute("data-procedure") === select.value;
      sets[i].hidden = !on;
      sets[i].disabled = !on;
    }
  }
  if (filter && select) {
    filter.addEventListener("input", function () {
      var q = fold(filter.value), first = null;
      var options = select.querySelectorAll("option");
      for (var i = 0; i < options.length; i++) {
        var hit = !q || fold(options[i].getAttribute("data-search")).indexOf(q) !== -1;
        options[i].hidden = !hit;
        options[i].disabled = !hit;
        if (hit && !first) { first = options[i]; }
      }
      var groups = select.querySelectorAll("optgroup");
      for (var g = 0; g < groups.length; g++) {
        groups[g].hidden = !groups[g].querySelector("option:not([hidden])");
      }
      if (first && (!select.value || select.selectedOptions[0].disabled)) {
        select.value = first.value;
        showDocuments();
      }
    });
    select.addEventListener("change", showDocuments);
    showDocuments();
  }

  // Print buttons (inline scripts are forbidden by the Content-Security-Policy).
  var printers = document.querySelectorAll("[data-print]");
  for (var p = 0; p < printers.length; p++) {
    printers[p].addEventListener("click", function () { window.print(); });
  }

  // Ask before irreversible steps.
  var forms = document.querySelectorAll("form[data-action='refuse'], form[data-action='stop']");
  for (var f = 0; f < forms.length; f++) {
    forms[f].addEventListener("submit", function (event) {
      if (!window.confirm("Thao tác này không thể hoàn tác. Tiếp tục?")) { event.preventDefault(); }
    });
  }
})();
