// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // htmx requests carry the CSRF token as a header too (forms also send it as a field).
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = csrfToken();
  });

  // After a swap, move focus to the error summary (failed submit) or the new content,
  // so screen-reader and keyboard users land where the change happened.
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (!target) return;
    var summary = target.querySelector(".error-summary");
    if (summary) {
      summary.focus();
      return;
    }
    if (target.id === "main") target.focus();
  });

  // A confirmation dialog loaded by htmx: show it modally, and close it on Cancel or Escape,
  // returning focus to the button that opened it.
  var opener = null;
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (event.detail.target && event.detail.target.id === "dialog-slot") opener = event.detail.elt;
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    var dialog = event.detail.target && event.detail.target.querySelector("dialog");
    if (!dialog) return;
    dialog.showModal();
    dialog.addEventListener("close", function () {
      dialog.remove();
      if (opener) opener.focus();
    });
  });
  document.addEventListener("click", function (event) {
    var cancel = event.target.closest && event.target.closest("[data-close-dialog]");
    var dialog = cancel && cancel.closest("dialog");
    if (!dialog) return;
    event.preventDefault();
    dialog.close();
  });

  // Close an open menu with Escape, returning focus to its button.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details.dropdown[open]").forEach(function (d) {
      d.removeAttribute("open");
      var summary = d.querySelector("summary");
      if (summary) summary.focus();
    });
  });

  // Close menus when clicking elsewhere.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.dropdown[open]").forEach(function (d) {
      if (!d.contains(event.target)) d.removeAttribute("open");
    });
  });
})();
