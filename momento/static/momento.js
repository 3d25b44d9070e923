/* Momento: small behaviours shared by every page (no inline handlers, so a strict CSP works). */
(function () {
  "use strict";

  // Momento.announce(text): says text to screen readers through the page's one polite live region (made
  // now, before anything is said in it, as screen readers only follow regions that were there already).
  var announcer = document.createElement("p");
  announcer.id = "announcer";
  announcer.className = "visually-hidden";
  announcer.setAttribute("aria-live", "polite");
  document.body.appendChild(announcer);
  window.Momento = {
    announce: function (text) {
      announcer.textContent = "";
      window.setTimeout(function () { announcer.textContent = text; }, 50);
    }
  };

  // <form data-confirm="Question?"> asks before submitting.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form || !form.getAttribute) return;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  // A form that is on its way should not be sent twice by an impatient second click.
  document.addEventListener("submit", function (event) {
    if (event.defaultPrevented) return;
    var form = event.target;
    if (!form || !form.querySelectorAll || form.id === "upload-form") return;
    window.setTimeout(function () {
      var buttons = form.querySelectorAll("button[type=submit]");
      for (var i = 0; i < buttons.length; i++) buttons[i].disabled = true;
    }, 0);
  });

  // <form data-clean-url> (GET): leave empty fields out, so the address holds only the actual query.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || !form || !form.hasAttribute || !form.hasAttribute("data-clean-url")) return;
    var emptied = Array.prototype.filter.call(form.elements, function (el) {
      return el.name && !el.disabled && el.value === "" && el.type !== "submit";
    });
    emptied.forEach(function (el) { el.disabled = true; });
    // The form's data is gathered as soon as this event is over; the fields come back for the next time.
    window.setTimeout(function () { emptied.forEach(function (el) { el.disabled = false; }); }, 0);
  });

  // <a data-key="ArrowLeft"> (or ArrowRight, Escape) follows on that key, unless the key belongs to a field, a
  // player or an open dialog.
  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
    if (event.key !== "ArrowLeft" && event.key !== "ArrowRight" && event.key !== "Escape") return;
    var target = event.target;
    if (target && target.closest && target.closest("input, textarea, select, video, audio, [contenteditable], dialog, details[open] > summary")) return;
    var link = document.querySelector('a[data-key="' + event.key + '"]');
    if (!link) return;
    event.preventDefault();
    window.location.assign(link.href);
  });

  // Messages already on the page when it loads (flashes, a search's count) are said once the live region is
  // listening: screen readers ignore text that was there before.
  window.setTimeout(function () {
    var parts = [];
    Array.prototype.forEach.call(document.querySelectorAll(".flashes .flash, [data-announce]"), function (node) {
      parts.push(node.textContent.replace(/\s+/g, " ").trim());
    });
    if (parts.length) window.Momento.announce(parts.join(" "));
  }, 300);

  // A search's results: when they start below the fold (on a phone, under the form), go to them, so pressing
  // Search visibly does something. Not when the address points at a tile (coming back from a photo).
  var results = document.querySelector("[data-results]");
  if (results && !window.location.hash) {
    var heading = results.querySelector("h2[tabindex]");
    if (heading && results.getBoundingClientRect().top > window.innerHeight * 0.6) {
      heading.focus({ preventScroll: true });
      heading.scrollIntoView({ block: "start" });
    }
  }

  // Bring back buttons disabled above when the page is restored from the back/forward cache.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    var buttons = document.querySelectorAll("button[type=submit]:disabled");
    for (var i = 0; i < buttons.length; i++) buttons[i].disabled = false;
  });
})();
