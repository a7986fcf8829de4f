// The staff console's small progressive script: the pages work without it.
// - a form marked data-once cannot be sent twice by a double tap;
// - a password field marked data-reveal gets a show / hide button (its words from the page).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("form[data-once]").forEach(function (form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll("button[type=submit]").forEach(function (b) {
        setTimeout(function () { b.disabled = true; }, 0);
      });
    });
  });
  document.querySelectorAll("input[data-reveal]").forEach(function (input) {
    var wrap = document.createElement("div");
    wrap.className = "reveal-wrap";
    input.parentNode.insertBefore(wrap, input);
    wrap.appendChild(input);
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = input.dataset.reveal;
    button.setAttribute("aria-pressed", "false");
    button.addEventListener("click", function () {
      var shown = input.type === "text";
      input.type = shown ? "password" : "text";
      button.textContent = shown ? input.dataset.reveal : input.dataset.conceal;
      button.setAttribute("aria-pressed", shown ? "false" : "true");
    });
    wrap.appendChild(button);
  });
});
// - a select marked data-fill puts its chosen option's data-text in the named text box
//   (canned answers: the officer edits the text before sending);
// - a block marked data-poll asks every 15 s whether something new came in (a mark, no
//   content) and, if so, shows its [data-fresh] line with a link to reload.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("select[data-fill]").forEach(function (select) {
    select.addEventListener("change", function () {
      var box = document.getElementById(select.dataset.fill);
      var option = select.options[select.selectedIndex];
      if (box && option && option.dataset.text) {
        box.value = option.dataset.text;
        box.focus();
      }
    });
  });
  document.querySelectorAll("[data-poll]").forEach(function (block) {
    var fresh = block.querySelector("[data-fresh]");
    var timer = setInterval(function () {
      fetch(block.dataset.poll, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (data && data.newest !== block.dataset.newest && fresh) {
            fresh.classList.remove("hidden");
            clearInterval(timer);
          }
        })
        .catch(function () { /* offline for a moment: try again next time */ });
    }, Number(block.dataset.every || 15000));
  });
});
// ---- Notices (bot/console/notices.py) ----------------------------------------------------
// - a compose form marked data-preview asks the server how the notice will look in Zalo
//   (the sender's own renderer) 0.4 s after the officer stops typing, and shows it as text;
// - a block marked data-live fetches its fresh fragment (state, figures, villages' relays,
//   history) every few seconds and swaps it in, until the notice is finished.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("form[data-preview]").forEach(function (form) {
    var box = form.querySelector("[data-previews]");
    var timer = null;
    var asked = 0;
    function show(previews) {
      box.textContent = "";
      previews.forEach(function (p) {
        var wrap = document.createElement("div");
        wrap.className = "preview";
        wrap.dataset.lang = p.lang;
        var name = document.createElement("p");
        name.className = "muted small";
        name.textContent = p.name;
        var bubble = document.createElement("div");
        bubble.className = "zalo-bubble";
        bubble.textContent = p.text;
        wrap.appendChild(name);
        wrap.appendChild(bubble);
        box.appendChild(wrap);
      });
    }
    function ask() {
      var data = new FormData(form);
      data.delete("file");  // the preview is the text; the PDF and image go with the draft
      data.delete("image");
      var mine = ++asked;
      fetch(form.dataset.preview, { method: "POST", body: data, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (out) { if (out && mine === asked) { show(out.previews); } })
        .catch(function () { /* the "Xem trước" button still works */ });
    }
    // the chosen image shown under the texts, read here as a data: URL (the CSP's img-src
    // allows 'self' and data:); nothing is sent before "Lưu bản nháp"
    var picked = form.querySelector("[data-image-input]");
    var shown = form.querySelector("[data-image-preview]");
    if (picked && shown && window.FileReader) {
      picked.addEventListener("change", function () {
        var file = picked.files && picked.files[0];
        if (!file || !/^image\/(jpeg|png)$/.test(file.type)) {
          shown.hidden = true;
          shown.removeAttribute("src");
          return;
        }
        var reader = new FileReader();
        reader.onload = function () { shown.src = reader.result; shown.hidden = false; };
        reader.readAsDataURL(file);
      });
    }
    form.addEventListener("input", function (e) {
      if (e.target && e.target.type === "file") { return; }
      clearTimeout(timer);
      timer = setTimeout(ask, 400);
    });
  });
  document.querySelectorAll("[data-live]").forEach(function (block) {
    // marked as a poll: the server does not count it as the person's activity, so a tab
    // left open still signs out after the idle time; slower after 2 min, stops after 30 min
    var every = Number(block.dataset.every || 5000);
    var started = Date.now();
    function poll() {
      fetch(block.dataset.live, { credentials: "same-origin", headers: { "X-Console-Poll": "1" } })
        .then(function (r) {
          // signed out meanwhile: the fetch followed the redirect to the sign-in page
          if (r.redirected) { return "stop"; }
          return r.ok ? r.text() : null;
        })
        .then(function (html) {
          if (html === "stop") { return; }
          if (html !== null) {
            block.innerHTML = html;  // our own server-rendered, autoescaped fragment
            // the server says when nothing more will change (sent and every village settled,
            // cancelled, expired)
            if (block.querySelector("[data-settled]")) { return; }
          }
          next();
        })
        .catch(next);  // offline for a moment: try again next time
    }
    function next() {
      if (Date.now() - started > 30 * 60 * 1000) { return; }
      // the first 2 minutes at the page's pace (a sending is watched), then slower to 1 min
      if (Date.now() - started > 2 * 60 * 1000) { every = Math.min(every * 1.25, 60000); }
      setTimeout(poll, every);
    }
    setTimeout(poll, every);
  });
  // the datetime-local field said back in words, dd/mm/yyyy HH:MM (some browsers show mm/dd)
  document.querySelectorAll("input[type=datetime-local][aria-describedby]").forEach(function (input) {
    var out = document.getElementById(input.getAttribute("aria-describedby"));
    if (!out || !out.hasAttribute("data-when")) { return; }
    function say() {
      var m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(input.value);
      out.textContent = m ? m[3] + "/" + m[2] + "/" + m[1] + " " + m[4] + ":" + m[5] +
        " (" + (out.dataset.zone || "giờ Việt Nam") + ")" : "";
    }
    input.addEventListener("input", say);
    input.addEventListener("change", say);
  });
});
// ---- staff and log screens (bot/console/staff.py, auditlog.py) ----
// - a form marked data-confirm asks first (deactivating an account, revoking keys);
// - a button marked data-copy copies the named field (the invitation link), shown only when
//   the browser can copy; a field marked data-select is selected when tapped.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); event.stopImmediatePropagation(); }
    }, true);
  });
  document.querySelectorAll("input[data-select]").forEach(function (input) {
    input.addEventListener("focus", function () { input.select(); });
  });
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var field = document.getElementById(button.dataset.copy);
    if (!field || !navigator.clipboard) { return; }
    button.classList.remove("hidden");
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(field.value).then(function () {
        button.textContent = button.dataset.copied;
      }).catch(function () { field.select(); });
    });
  });
});
