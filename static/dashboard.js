// Posterior dashboard: small enhancements only. Every page works without this script.
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("form.experiment-form").forEach(enhanceForm);
  document.querySelectorAll("form").forEach(function (form) {
    if (form.querySelector("[data-when]")) showChosenFields(form);
  });
  // Take the reader to the list of errors after a refused form.
  var summary = document.querySelector(".error-summary");
  if (summary) summary.focus();
});

function enhanceForm(form) {
  // Show only the fields of the chosen kind (weights for A/B, floor for bandits).
  form.classList.add("js");
  form.querySelectorAll('input[name="kind"]').forEach(function (radio) {
    radio.addEventListener("change", function () { form.dataset.kind = radio.value; });
  });

  // "Add a row" buttons add the row here instead of a round trip to the server.
  form.querySelectorAll("button[data-add-row]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      var rows = form.querySelectorAll("." + button.dataset.addRow + "-row");
      if (rows.length === 0) return; // let the server add the first one
      event.preventDefault();
      var last = rows[rows.length - 1];
      var row = cloneRow(last, rows.length, button.dataset.addRow);
      last.after(row);
      var first = row.querySelector("input:not([type=radio]), textarea, select");
      if (first) first.focus();
    });
  });

  // Check payloads as JSON while they are typed (a pause after the last key), not only on
  // submit. Not on blur: a message appearing then would move the button being clicked.
  var timer = null;
  form.addEventListener("input", function (event) {
    var field = event.target;
    if (!field.matches || !field.matches('textarea[name$="-payload"]')) return;
    clearTimeout(timer);
    timer = setTimeout(function () { checkJson(field); }, 600);
  });
}

// Fields of one choice (data-when="type:mean retention": the field `type` is mean or
// retention) show only while it is chosen. Without the script they all show, labelled.
function showChosenFields(form) {
  function update() {
    form.querySelectorAll("[data-when]").forEach(function (el) {
      var parts = el.dataset.when.split(":");
      var chosen = form.querySelector('[name="' + parts[0] + '"]:checked, select[name="' + parts[0] + '"]');
      el.hidden = chosen !== null && parts[1].split(" ").indexOf(chosen.value) < 0;
    });
  }
  form.addEventListener("change", update);
  update();
}

function cloneRow(template, index, kind) {
  var row = template.cloneNode(true);
  var pattern = new RegExp("^" + kind + "-\\d+-");
  row.querySelectorAll(".field-error").forEach(function (e) { e.remove(); });
  row.querySelectorAll(".has-error").forEach(function (e) { e.classList.remove("has-error"); });
  row.querySelectorAll("[name], [id], [for], [aria-describedby]").forEach(function (el) {
    ["name", "id", "for"].forEach(function (attr) {
      var value = el.getAttribute(attr);
      if (value && pattern.test(value)) el.setAttribute(attr, value.replace(pattern, kind + "-" + index + "-"));
    });
    if (el.id && /^control-\d+$/.test(el.id)) el.id = "control-" + index;
    if (el.htmlFor && /^control-\d+$/.test(el.htmlFor)) el.htmlFor = "control-" + index;
    if (el.name === "control") { el.value = String(index); el.checked = false; }
    else if (el.tagName === "SELECT") el.selectedIndex = 0;
    else if (el.type !== "hidden" && "value" in el && el.tagName !== "BUTTON") el.value = "";
    el.removeAttribute("aria-invalid");
    var described = el.getAttribute("aria-describedby");
    if (described) {
      var kept = described.split(" ").filter(function (id) { return !/-error$/.test(id); })
        .map(function (id) { return id.replace(pattern, kind + "-" + index + "-"); });
      if (kept.length) el.setAttribute("aria-describedby", kept.join(" "));
      else el.removeAttribute("aria-describedby");
    }
  });
  var legend = row.querySelector("legend");
  if (legend && kind === "variant") legend.lastChild.textContent = " Variant " + (index + 1);
  return row;
}

function checkJson(field) {
  var id = field.id + "-error";
  var old = document.getElementById(id);
  var message = "";
  if (field.value.trim() !== "") {
    try { JSON.parse(field.value); } catch (e) { message = "not valid JSON: " + e.message; }
  }
  field.setCustomValidity("");
  if (old) old.remove();
  if (!message) { field.removeAttribute("aria-invalid"); return; }
  var p = document.createElement("p");
  p.className = "field-error";
  p.id = id;
  p.textContent = "⚠ " + message;
  field.after(p);
  field.setAttribute("aria-invalid", "true");
  var described = (field.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
  if (described.indexOf(id) < 0) described.push(id);
  field.setAttribute("aria-describedby", described.join(" "));
}
