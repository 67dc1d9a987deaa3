/* The queue: keyboard shortcuts (j/k move, x select, a approve, r reject, o/Enter open,
   / search, ? help — by event.code, so they work with a Japanese IME on), the selection and its
   action bar, and the undo toast's countdown. No inline script anywhere (the CSP forbids it). */
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
    selectionChanged();
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

  // Keys by their physical position (event.code), so j/k/a/r work while a Japanese IME is on;
  // a keystroke that belongs to a composition (isComposing, keyCode 229) is the IME's.
  var SHORTCUTS = {KeyJ: "j", KeyK: "k", KeyX: "x", KeyA: "a", KeyR: "r", KeyO: "o",
    Enter: "Enter", NumpadEnter: "Enter", Slash: "/"};

  function shortcut(event) {
    if (event.key === "?" || (event.code === "Slash" && event.shiftKey)) { return "?"; }
    return SHORTCUTS[event.code] || event.key;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (event.isComposing || event.keyCode === 229) { return; }
    if (event.key === "Escape") {
      toggleHelp(false);
      var panel = document.getElementById("reject-panel");
      if (panel) { panel.open = false; }
      if (typing(event.target)) { event.target.blur(); }
      return;
    }
    if (typing(event.target)) { return; }
    var handled = true;
    switch (shortcut(event)) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "x": var box = checkbox(current()); if (box) { box.checked = !box.checked; selectionChanged(); } break;
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

  // The selection: its count, whom the reject panel rejects, and (on a phone) the action bar
  // fixed at the bottom of the screen while something is selected.
  function selectionChanged() {
    var checked = Array.prototype.slice.call(
      document.querySelectorAll("tr.row input[name=codes]:checked"));
    var count = document.getElementById("selected-count");
    if (count) { count.textContent = checked.length ? checked.length + " 件を選択中" : ""; }
    var targets = document.getElementById("reject-targets");
    if (targets && document.getElementById("decide-bar")) {
      targets.textContent = "却下する申込: " + (checked.length ? checked.map(function (b) {
        return (b.dataset.name || b.value) + "（" + b.value + "）";
      }).join("、") : "（選択した申込）");
    }
    document.body.classList.toggle("selecting", checked.length > 0);
    ["select-all", "select-all-bar"].forEach(function (id) {
      var all = document.getElementById(id);
      if (all) { all.checked = checked.length > 0 && checked.length === rows().length; }
    });
  }

  function selectAll(on) {
    rows().forEach(function (row) { var b = checkbox(row); if (b) { b.checked = on; } });
    selectionChanged();
  }

  // The undo toast counts down and goes away when the window is over.
  function countDown() {
    var toast = document.getElementById("undo-toast");
    var seconds = document.getElementById("undo-seconds");
    var form = toast ? toast.querySelector("form.toast-undo") : null;
    if (!toast || !seconds || !form) { return; }
    var left = parseInt(toast.dataset.seconds, 10) || 0;
    var timer = window.setInterval(function () {
      left -= 1;
      if (left <= 0) {
        window.clearInterval(timer);
        form.hidden = true;
        return;
      }
      seconds.textContent = String(left);
    }, 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    ["select-all", "select-all-bar"].forEach(function (id) {
      var all = document.getElementById(id);
      if (all) { all.addEventListener("change", function () { selectAll(all.checked); }); }
    });
    rows().forEach(function (row) {
      var b = checkbox(row);
      if (b) { b.addEventListener("change", selectionChanged); }
      var reject = row.querySelector("[data-reject]");
      if (reject) {
        reject.addEventListener("click", function (event) {
          event.preventDefault();
          rows().forEach(function (r) { var c = checkbox(r); if (c) { c.checked = r === row; } });
          focusRow(row);
          selectionChanged();
          openReject();
        });
      }
    });
    countDown();
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
