/* Keyboard shortcuts of the queue: j/k move, x select, a approve, r reject, o/Enter open,
   / search, ? help. No inline script anywhere (the CSP forbids it). */
(function () {
  "use strict";

  function rows() { return Array.prototype.slice.call(document.querySelectorAll("tr.row")); }
  function current() { return document.querySelector("tr.row.current"); }

  function focusRow(row) {
    var old = current();
    if (old) { old.classList.remove("current"); }
    if (!row) { return; }
    row.classList.add("current");
    row.scrollIntoView({block: "nearest"});
  }

  function move(step) {
    var all = rows();
    if (!all.length) { return; }
    var index = all.indexOf(current());
    var next = index < 0 ? 0 : Math.min(all.length - 1, Math.max(0, index + step));
    focusRow(all[next]);
  }

  function checkbox(row) { return row ? row.querySelector("input[name=codes]") : null; }

  function ensureSelection() {
    var checked = document.querySelectorAll("tr.row input[name=codes]:checked");
    if (checked.length) { return true; }
    var box = checkbox(current());
    if (!box) { return false; }
    box.checked = true;
    return true;
  }

  function approve() {
    var form = document.getElementById("decide");
    var button = document.getElementById("approve-submit");
    if (!form || !button || !ensureSelection()) { return; }
    if (form.requestSubmit) { form.requestSubmit(button); } else { button.click(); }
  }

  function openReject() {
    var panel = document.getElementById("reject-panel");
    if (!panel || !ensureSelection()) { return; }
    panel.open = true;
    var select = document.getElementById("reject-template");
    if (select) { select.focus(); }
  }

  function toggleHelp(force) {
    var help = document.getElementById("help");
    if (help) { help.hidden = force === undefined ? !help.hidden : !force; }
  }

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" ||
      (target && target.isContentEditable);
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (event.key === "Escape") {
      toggleHelp(false);
      var panel = document.getElementById("reject-panel");
      if (panel) { panel.open = false; }
      if (typing(event.target)) { event.target.blur(); }
      return;
    }
    if (typing(event.target)) { return; }
    var handled = true;
    switch (event.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "x": var box = checkbox(current()); if (box) { box.checked = !box.checked; } break;
      case "a": approve(); break;
      case "r": openReject(); break;
      case "o":
      case "Enter":
        var row = current();
        if (row && row.dataset.href) { window.location.href = row.dataset.href; } else { handled = false; }
        break;
      case "/": var search = document.getElementById("search"); if (search) { search.focus(); search.select(); } break;
      case "?": toggleHelp(); break;
      default: handled = false;
    }
    if (handled) { event.preventDefault(); }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var all = document.getElementById("select-all");
    if (all) {
      all.addEventListener("change", function () {
        rows().forEach(function (row) { var b = checkbox(row); if (b) { b.checked = all.checked; } });
      });
    }
    var allRequests = document.getElementById("select-all-requests");
    if (allRequests) {
      allRequests.addEventListener("change", function () {
        document.querySelectorAll("input[name=ids][form=dismiss-selected]").forEach(function (b) {
          b.checked = allRequests.checked;
        });
      });
    }
    var helpButton = document.getElementById("help-open");
    if (helpButton) { helpButton.addEventListener("click", function () { toggleHelp(); }); }
    rows().forEach(function (row) {
      row.addEventListener("click", function (event) {
        if (event.target.tagName !== "A" && event.target.tagName !== "INPUT") { focusRow(row); }
      });
    });
    if (rows().length) { focusRow(rows()[0]); }
  });
}());
