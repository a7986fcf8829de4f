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
