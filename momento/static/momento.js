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

  // <a data-key="ArrowLeft"> follows on that key, unless the key belongs to a field or a player.
  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
    if (event.key !== "ArrowLeft" && event.key !== "ArrowRight") return;
    var target = event.target;
    if (target && target.closest && target.closest("input, textarea, select, video, audio, [contenteditable]")) return;
    var link = document.querySelector('a[data-key="' + event.key + '"]');
    if (!link) return;
    event.preventDefault();
    window.location.assign(link.href);
  });

  // Bring back buttons disabled above when the page is restored from the back/forward cache.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    var buttons = document.querySelectorAll("button[type=submit]:disabled");
    for (var i = 0; i < buttons.length; i++) buttons[i].disabled = false;
  });
})();
