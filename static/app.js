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
