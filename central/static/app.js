/* motcua central: a little vanilla JS for old browsers (no modules, no arrow functions).
   Inline scripts are forbidden by the Content-Security-Policy, so behaviour is attached here. */
(function () {
  "use strict";

  // Ask before irreversible steps: <form data-confirm="...">.
  var forms = document.querySelectorAll("form[data-confirm]");
  for (var i = 0; i < forms.length; i++) {
    forms[i].addEventListener("submit", function (event) {
      if (!window.confirm(this.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  }

  // Online registration: show only the chosen procedure's documents.
  var select = document.getElementById("procedure");
  function showDocuments() {
    var sets = document.querySelectorAll("fieldset.documents");
    for (var j = 0; j < sets.length; j++) {
      var on = select && sets[j].getAttribute("data-procedure") === select.value;
      sets[j].hidden = !on;
      sets[j].disabled = !on;
    }
  }
  if (select && document.querySelector("fieldset.documents")) {
    select.addEventListener("change", showDocuments);
    showDocuments();
  }

  // Procedure editor: the same-day cut-off only applies to a "same_day" limit.
  var unit = document.getElementById("limit_unit");
  var cutoff = document.getElementById("same_day_cutoff_row");
  function showCutoff() { if (cutoff) { cutoff.hidden = unit.value !== "same_day"; } }
  if (unit && cutoff) { unit.addEventListener("change", showCutoff); showCutoff(); }
})();
