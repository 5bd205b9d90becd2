// Toodoo's own script: no build step, no library. Every page works without it; with it,
//  - the to-do list changes in place: the list's forms (data-js="add|done|delete|undo|save") are
//    sent with fetch and the header X-Toodoo-Fragment: 1, the server answers JSON with the row's
//    HTML (rendered by the page's own template), and the page is patched, so focus and scroll
//    stay where the person works. An answer that is not that JSON (signed out, a 404, a network
//    failure) sends the form the plain way instead, and the server answers it as without script.
//  - "Edit" edits a title in the row; the edit page stays for everyone else. After a delete,
//    Ctrl+Z (Cmd+Z) outside a text field undoes it, as the toast's Undo does.
//  - an error summary after a refused form takes the focus; a "Copy" button copies a new token.
(function () {
  "use strict";

  var summary = document.getElementById("error-summary");
  if (summary) summary.focus();

  document.querySelectorAll("button[data-copy]").forEach(function (btn) {
    var source = document.getElementById(btn.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) return;
    btn.hidden = false;
    btn.addEventListener("click", function () {
      navigator.clipboard.writeText(source.textContent.trim()).then(function () {
        btn.textContent = "Copied";
      }, function () {
        window.getSelection().selectAllChildren(source);
        btn.textContent = "Press Ctrl+C to copy";
      });
    });
  });

  var list = document.getElementById("todos");
  if (!list || !window.fetch) return;
  var toast = document.getElementById("toast");
  var empty = document.getElementById("todos-empty");
  var status = list.getAttribute("data-status") || "all";
  var removed = {}; // id -> the rows around a deleted to-do, to put it back where it was
  var toastTimer = 0;

  function rowFrom(html) {
    var t = document.createElement("template");
    t.innerHTML = html.trim();
    return t.content.firstElementChild;
  }

  function showToast(html, keep) {
    clearTimeout(toastTimer);
    toast.innerHTML = html || "";
    if (!keep) {
      toastTimer = setTimeout(function () {
        if (!toast.contains(document.activeElement)) toast.innerHTML = "";
      }, 6000);
    }
  }

  function setCounts(c) {
    if (!c) return;
    document.querySelectorAll("[data-count]").forEach(function (el) {
      var n = c[el.getAttribute("data-count")];
      if (n !== undefined) el.textContent = n;
    });
  }

  function syncEmpty() {
    var none = !list.querySelector("li.todo");
    list.hidden = none;
    if (empty) empty.hidden = !none;
  }

  function fieldError(form, input, msg) {
    var p = form.querySelector(".field-error");
    if (msg) {
      p.textContent = msg;
      p.hidden = false;
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", p.id);
    } else if (p) {
      p.textContent = "";
      p.hidden = true;
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
    }
  }

  // keepScroll runs patch and puts the page back where it was scrolled to, now and after the
  // next frame's layout (the browser's scroll anchoring may move it once more).
  function keepScroll(patch) {
    var x = window.scrollX, y = window.scrollY;
    patch();
    window.scrollTo(x, y);
    requestAnimationFrame(function () {
      if (window.scrollY !== y) window.scrollTo(x, y);
    });
  }

  var handlers = {
    add: function (form, ok, d) {
      var input = form.elements.title;
      if (!ok) {
        fieldError(form, input, d.error);
        input.focus();
        return;
      }
      fieldError(form, input, "");
      input.value = "";
      if (d.row && status !== "done") {
        list.insertBefore(rowFrom(d.row), list.firstElementChild);
        syncEmpty();
      }
      setCounts(d.counts);
      showToast(d.toast);
      input.focus();
    },
    done: function (form, ok, d) {
      var li = form.closest("li.todo");
      var row = rowFrom(d.row);
      keepScroll(function () {
        li.replaceWith(row);
        row.querySelector(".check").focus({ preventScroll: true });
      });
      setCounts(d.counts);
      showToast(d.toast);
    },
    "delete": function (form, ok, d) {
      var li = form.closest("li.todo");
      var next = li.nextElementSibling, prev = li.previousElementSibling;
      removed[li.id] = { next: next, prev: prev };
      var focus = (next || prev) ? (next || prev).querySelector(".check") : document.getElementById("title");
      keepScroll(function () {
        li.remove();
        syncEmpty();
        focus.focus({ preventScroll: true });
      });
      setCounts(d.counts);
      showToast(d.toast, true);
    },
    undo: function (form, ok, d) {
      var row = rowFrom(d.row);
      var place = removed[row.id] || {};
      keepScroll(function () {
        if (place.next && place.next.parentNode === list) list.insertBefore(row, place.next);
        else if (place.prev && place.prev.parentNode === list) place.prev.after(row);
        else list.insertBefore(row, list.firstElementChild);
        syncEmpty();
        row.querySelector(".check").focus({ preventScroll: true });
      });
      delete removed[row.id];
      setCounts(d.counts);
      showToast(d.toast);
    },
    save: function (form, ok, d) {
      var input = form.elements.title;
      if (!ok) {
        fieldError(form, input, d.error);
        input.focus();
        return;
      }
      var li = form.closest("li.todo");
      var row = rowFrom(d.row);
      keepScroll(function () {
        li.replaceWith(row);
        row.querySelector("a[data-js=edit]").focus({ preventScroll: true });
      });
      setCounts(d.counts);
      showToast(d.toast);
    }
  };

  function send(form, kind) {
    if (form.getAttribute("data-busy")) return;
    form.setAttribute("data-busy", "1");
    fetch(form.action, {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
      headers: { "X-Toodoo-Fragment": "1", "Accept": "application/json" },
      credentials: "same-origin"
    }).then(function (res) {
      var type = res.headers.get("Content-Type") || "";
      if (type.indexOf("application/json") !== 0) throw new Error("not the list's answer");
      return res.json().then(function (d) { return { ok: res.ok, d: d }; });
    }).then(function (r) {
      form.removeAttribute("data-busy");
      if (!r.ok && kind !== "add" && kind !== "save") {
        // A refusal the list does not show at a field (an undo too late): its message.
        clearTimeout(toastTimer);
        var div = document.createElement("div");
        div.className = "toast toast-error";
        div.textContent = r.d.error || "That did not work.";
        toast.replaceChildren(div);
        return;
      }
      handlers[kind](form, r.ok, r.d);
    }).catch(function () {
      form.removeAttribute("data-busy");
      form.submit(); // the plain way: the server answers as without the script
    });
  }

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    var kind = form.getAttribute("data-js");
    if (!handlers[kind]) return;
    ev.preventDefault();
    send(form, kind);
  });

  // Editing a title in the row: Enter saves, Escape cancels.
  function openEditor(li) {
    if (li.querySelector("form.edit-inline")) return;
    var id = li.id.replace("todo-", "");
    var title = li.querySelector(".title");
    var actions = li.querySelector(".actions");
    var form = document.createElement("form");
    form.method = "post";
    form.action = "/todos/" + id;
    form.className = "edit-inline";
    form.setAttribute("data-js", "save");
    form.innerHTML =
      '<label class="sr" for="edit-' + id + '">Title</label>' +
      '<input type="text" name="title" id="edit-' + id + '" autocomplete="off" required maxlength="500">' +
      '<input type="hidden" name="status">' +
      '<button type="submit">Save</button>' +
      '<button type="button" class="secondary" data-cancel>Cancel</button>' +
      '<p class="field-error" id="edit-' + id + '-error" hidden></p>';
    var input = form.elements.title;
    input.value = title.textContent;
    form.elements.status.value = status;
    function close() {
      form.remove();
      title.hidden = false;
      actions.hidden = false;
      li.classList.remove("editing");
      li.querySelector("a[data-js=edit]").focus();
    }
    input.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape") { ev.preventDefault(); close(); }
    });
    form.querySelector("[data-cancel]").addEventListener("click", close);
    title.hidden = true;
    actions.hidden = true;
    li.classList.add("editing");
    title.after(form);
    input.focus();
    input.select();
  }

  // A message the server rendered (after a plain POST) fades like the script's own, unless it
  // offers to undo.
  if (toast.firstElementChild && !toast.querySelector("form")) showToast(toast.innerHTML);

  // Ctrl+Z (Cmd+Z) outside a text field presses the toast's Undo, wherever the focus is.
  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "z" || !(ev.ctrlKey || ev.metaKey) || ev.shiftKey || ev.altKey) return;
    var t = ev.target;
    if (t.matches && t.matches("input, textarea, select, [contenteditable]")) return;
    var undo = toast.querySelector('form[data-js="undo"]');
    if (!undo) return;
    ev.preventDefault();
    send(undo, "undo");
  });

  list.addEventListener("click", function (ev) {
    var link = ev.target.closest("a[data-js=edit]");
    if (!link || ev.ctrlKey || ev.metaKey || ev.shiftKey) return;
    ev.preventDefault();
    openEditor(link.closest("li.todo"));
  });
})();
