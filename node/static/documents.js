/* motcua node: documents (issue 10). Vanilla JS for old browsers: drag-and-drop onto upload forms,
   one file input per received paper at intake, earlier papers of the same citizen for reuse. */
(function () {
  "use strict";

  function each(list, fn) { for (var i = 0; i < list.length; i++) { fn(list[i], i); } }

  // Uploads over the cap: the server refuses a body over max_request_bytes before the app can answer, so
  // the page says so in Vietnamese (the server's own wording, on <body>) and sends nothing.
  var maxBytes = parseInt(document.body.getAttribute("data-upload-max-bytes"), 10);
  var FORM_ROOM = 64 * 1024;  // the form's other fields and the multipart framing
  function refuseIfTooLarge(form) {
    if (!maxBytes) { return false; }
    var total = 0;
    each(form.querySelectorAll("input[type=file]"), function (input) {
      each(input.files || [], function (f) { total += f.size; });
    });
    var shown = form.querySelector("[data-upload-too-large]");
    if (total + FORM_ROOM <= maxBytes) {
      if (shown) { shown.parentNode.removeChild(shown); }
      return false;
    }
    if (!shown) {
      shown = document.createElement("p");
      shown.className = "error";
      shown.setAttribute("role", "alert");
      shown.setAttribute("data-upload-too-large", "");
      form.insertBefore(shown, form.firstChild);
    }
    shown.textContent = document.body.getAttribute("data-upload-too-large");
    return true;
  }
  document.addEventListener("submit", function (e) {
    if (e.target && e.target.querySelector && refuseIfTooLarge(e.target)) { e.preventDefault(); }
  }, true);

  // Drop files onto any upload form: they go into its file input and the form is sent.
  each(document.querySelectorAll("[data-dropzone]"), function (form) {
    var input = form.querySelector("input[type=file]");
    if (!input) { return; }
    form.addEventListener("dragover", function (e) { e.preventDefault(); form.className += " dragging"; });
    form.addEventListener("dragleave", function () { form.className = form.className.replace(/ dragging/g, ""); });
    form.addEventListener("drop", function (e) {
      e.preventDefault();
      form.className = form.className.replace(/ dragging/g, "");
      if (!e.dataTransfer || !e.dataTransfer.files.length) { return; }
      input.files = e.dataTransfer.files;
      if (form.id !== "result-form" && !form.closest("#intake-form") && !refuseIfTooLarge(form)) { form.submit(); }
    });
  });

  each(document.querySelectorAll("[data-print]"), function (b) {
    b.addEventListener("click", function () { window.print(); });
  });

  // Intake: a file input for each paper ticked as received.
  var box = document.querySelector("[data-intake-scans]");
  var form = document.getElementById("intake-form");
  if (!box || !form) { return; }
  form.setAttribute("enctype", "multipart/form-data");

  function checkedDocs() {
    var out = [];
    each(form.querySelectorAll("fieldset.documents:not([disabled]) input[name=doc]"), function (cb) {
      if (cb.checked) {
        var label = form.querySelector("label[for=" + cb.id + "]");
        out.push({ value: cb.value, name: label ? label.textContent : cb.value });
      }
    });
    return out;
  }

  function renderScans() {
    var docs = checkedDocs();
    var keep = {};
    each(box.querySelectorAll("[data-scan-for]"), function (row) { keep[row.getAttribute("data-scan-for")] = row; });
    box.innerHTML = "";
    each(docs, function (d) {
      var row = keep[d.value];
      if (!row) {
        row = document.createElement("label");
        row.setAttribute("data-scan-for", d.value);
        row.className = "dropzone";
        var span = document.createElement("span");
        var input = document.createElement("input");
        input.type = "file";
        input.name = "scan_" + d.value;
        input.multiple = true;
        input.accept = "image/jpeg,image/png,image/tiff,application/pdf";
        row.appendChild(span);
        row.appendChild(input);
        row.addEventListener("dragover", function (e) { e.preventDefault(); });
        row.addEventListener("drop", function (e) {
          e.preventDefault();
          if (e.dataTransfer && e.dataTransfer.files.length) { input.files = e.dataTransfer.files; }
        });
      }
      row.firstChild.textContent = "Bản quét: " + d.name + " ";
      box.appendChild(row);
    });
    renderReuseTargets();
  }
  form.addEventListener("change", function (e) {
    if (e.target && (e.target.name === "doc" || e.target.id === "procedure")) { renderScans(); }
  });
  renderScans();

  // Reuse: earlier digitised papers and results of the citizen whose ID number was entered or scanned.
  var idInput = form.querySelector("input[name=id_number]");
  var reuseBox = document.createElement("div");
  reuseBox.id = "reuse-box";
  box.parentNode.appendChild(reuseBox);

  function renderReuseTargets() {
    if (!reuseBox) { return; }  // called by the first renderScans, before the box exists
    var docs = checkedDocs();
    each(reuseBox.querySelectorAll("select[data-reuse-target]"), function (sel) {
      var current = sel.value;
      sel.innerHTML = "";
      each(docs, function (d) {
        var o = document.createElement("option");
        o.value = d.value;
        o.textContent = d.name;
        if (d.value === current || (!current && d.name === sel.getAttribute("data-name"))) { o.selected = true; }
        sel.appendChild(o);
      });
    });
  }

  // One look-up per ID number: typing its 12th digit and leaving the field both ask, and a second
  // answer rebuilding the box would drop what the clerk has ticked meanwhile; an older answer that
  // comes after a newer one is ignored.
  var lookedUp = null, asked = 0;
  function lookup() {
    var id = (idInput.value || "").replace(/\D/g, "");
    if (id.length !== 12) { lookedUp = null; reuseBox.innerHTML = ""; return; }
    if (id === lookedUp) { return; }
    lookedUp = id;
    var mine = ++asked;
    var xhr = new XMLHttpRequest();
    xhr.open("GET", box.parentNode.getAttribute("data-reuse-url") + "?cccd=" + encodeURIComponent(id));
    xhr.onerror = function () { if (mine === asked) { lookedUp = null; } };
    xhr.onload = function () {
      if (mine !== asked) { return; }
      if (xhr.status !== 200) { lookedUp = null; return; }
      var data = JSON.parse(xhr.responseText);
      reuseBox.innerHTML = "";
      if (!data.papers.length) { return; }
      var h = document.createElement("h4");
      h.textContent = "Giấy tờ đã số hóa của công dân này (đánh dấu để dùng lại, không cần nộp lại)";
      reuseBox.appendChild(h);
      each(data.papers, function (p) {
        var row = document.createElement("div");
        row.className = "reuse-row";
        var label = document.createElement("label");
        label.className = "inline";
        var cb = document.createElement("input");
        cb.type = "checkbox";
        cb.name = "reuse";
        cb.value = p.dossier + "/" + p.attachment;
        cb.disabled = !p.valid;
        label.appendChild(cb);
        label.appendChild(document.createTextNode(" " + p.name + " — hồ sơ " + p.dossier +
          (p.valid_until ? ", hiệu lực đến " + p.valid_until : "") + (p.valid ? "" : " (hết hiệu lực)")));
        var sel = document.createElement("select");
        sel.name = "reuse_for_" + p.dossier + "/" + p.attachment;
        sel.setAttribute("data-reuse-target", "1");
        sel.setAttribute("data-name", p.name);
        sel.setAttribute("aria-label", "Dùng cho giấy tờ");
        row.appendChild(label);
        row.appendChild(document.createTextNode(" dùng cho "));
        row.appendChild(sel);
        reuseBox.appendChild(row);
      });
      renderReuseTargets();
    };
    xhr.send();
  }
  if (idInput) {
    idInput.addEventListener("change", lookup);
    idInput.addEventListener("input", function () { if ((idInput.value || "").replace(/\D/g, "").length === 12) { lookup(); } });
    lookup();
  }
}());
