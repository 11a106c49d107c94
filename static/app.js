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
  // Opened after htmx settles: htmx focuses the [autofocus] element in its settle step, so a
  // dialog shown earlier would take focus back from a keyboard user who had already moved on.
  document.addEventListener("htmx:afterSettle", function (event) {
    var dialog = event.detail.target && event.detail.target.querySelector("dialog:not([open])");
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

  // The invite form: the admin tab bar follows the kind of person being invited (Patients
  // for a patient, Users for everyone else).
  document.addEventListener("change", function (event) {
    var radio = event.target;
    if (!radio.matches || !radio.matches('input[name=resourceType][type=radio]')) return;
    var wanted = radio.value === "Patient" ? "/admin/patients" : "/admin/users";
    document.querySelectorAll("nav.tabs a").forEach(function (a) {
      var href = a.getAttribute("href");
      if (href === "/admin/patients" || href === "/admin/users") {
        if (href === wanted) a.setAttribute("aria-current", "page");
        else a.removeAttribute("aria-current");
      }
    });
  });

  // Copy buttons: shown only when this script runs (without it, the field stays selectable
  // by hand). They copy the target's data-copy-value, value or text, and say so.
  function copyText(text, fallbackField) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    return new Promise(function (resolve, reject) {
      var field = fallbackField;
      if (!field || field.value === undefined) {
        field = document.createElement("textarea");
        field.value = text;
        field.setAttribute("readonly", "");
        field.className = "visually-hidden";
        document.body.appendChild(field);
      }
      field.select();
      var ok = document.execCommand("copy");
      if (field !== fallbackField) field.remove();
      if (ok) resolve(); else reject(new Error("copy refused"));
    });
  }
  function setUpCopyButtons(root) {
    root.querySelectorAll("button.copy-button[hidden]").forEach(function (button) {
      button.hidden = false;
    });
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button.copy-button");
    if (!button) return;
    var target = document.getElementById(button.getAttribute("data-copy"));
    if (!target) return;
    var text = target.getAttribute("data-copy-value") || (target.value !== undefined ? target.value : target.textContent.trim());
    var label = button.firstChild;
    copyText(text, target.value !== undefined ? target : null).then(function () {
      label.textContent = "Copied";
      button.classList.add("copied");
      setTimeout(function () { label.textContent = "Copy"; button.classList.remove("copied"); }, 2000);
    }, function () {
      label.textContent = "Select and copy by hand";
      if (target.select) target.select();
    });
  });

  // "I have stored it": hides the one-time secret without a trip to the server (the link
  // reloads the page without it when this script does not run).
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("[data-dismiss]");
    if (!link) return;
    var card = document.getElementById(link.getAttribute("data-dismiss"));
    if (!card) return;
    event.preventDefault();
    card.remove();
    var heading = document.querySelector("main h1");
    if (heading) { heading.setAttribute("tabindex", "-1"); heading.focus(); }
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

  // Bulk selection on the Users and Patients tabs: rows ticked on one page stay ticked on the
  // others (kept for this tab and these filters in sessionStorage), a header box ticks the
  // page, and the form sends every ticked row. Without this script each page's ticks are
  // sent on their own, and "all matching" covers every page.
  function bulkForm() { return document.getElementById("bulk-form"); }
  function selectionKey(form) {
    var fields = Array.prototype.map.call(form.querySelectorAll('input[type=hidden]:not([name=csrf_token])'), function (i) {
      return i.name + "=" + i.value;
    });
    return "rollcall-selection:" + form.getAttribute("action") + "?" + fields.join("&");
  }
  function loadSelection(form) {
    try { return JSON.parse(sessionStorage.getItem(selectionKey(form)) || "[]"); } catch (e) { return []; }
  }
  function saveSelection(form, ids) {
    try { sessionStorage.setItem(selectionKey(form), JSON.stringify(ids)); } catch (e) { /* private mode */ }
  }
  function showCount(form, ids) {
    var count = document.getElementById("bulk-count");
    if (count) count.textContent = ids.length ? ids.length + " selected (on this and other pages)" : "";
  }
  function setUpBulk() {
    var form = bulkForm();
    if (!form || form.dataset.ready) return;
    form.dataset.ready = "1";
    var ids = loadSelection(form);
    var boxes = form.querySelectorAll('input[name=member]');
    boxes.forEach(function (box) { box.checked = ids.indexOf(box.value) !== -1; });
    var header = form.querySelector("th.select-col");
    if (header && !header.querySelector("input")) {
      var all = document.createElement("input");
      all.type = "checkbox";
      all.id = "bulk-page";
      all.setAttribute("aria-label", "Select every member on this page");
      header.appendChild(all);
      all.addEventListener("change", function () {
        boxes.forEach(function (box) { box.checked = all.checked; box.dispatchEvent(new Event("change", { bubbles: true })); });
      });
    }
    form.addEventListener("change", function (event) {
      if (event.target.name !== "member") return;
      var current = loadSelection(form);
      var at = current.indexOf(event.target.value);
      if (event.target.checked && at === -1) current.push(event.target.value);
      if (!event.target.checked && at !== -1) current.splice(at, 1);
      saveSelection(form, current);
      showCount(form, current);
    });
    form.addEventListener("submit", function () {
      var onPage = Array.prototype.map.call(boxes, function (b) { return b.value; });
      loadSelection(form).forEach(function (id) {
        if (onPage.indexOf(id) !== -1) return;
        var hidden = document.createElement("input");
        hidden.type = "hidden";
        hidden.name = "member";
        hidden.value = id;
        form.appendChild(hidden);
      });
    });
    showCount(form, ids);
  }
  // Once a batch is applied (its result page), the next selection starts afresh.
  function clearSelections() {
    if (!document.getElementById("bulk-summary")) return;
    try {
      Object.keys(sessionStorage).forEach(function (k) {
        if (k.indexOf("rollcall-selection:") === 0) sessionStorage.removeItem(k);
      });
    } catch (e) { /* private mode */ }
  }
  clearSelections();
  function setUp() { setUpBulk(); setUpCopyButtons(document); }
  document.addEventListener("DOMContentLoaded", setUp);
  document.addEventListener("htmx:afterSettle", setUp);
  if (document.readyState !== "loading") setUp();
})();
