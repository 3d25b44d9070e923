/* Momento detail page: saves the tags without leaving the page (PATCH /api/v1/uploads/<id> with the CSRF
   header), shows them and says "Tags saved." in the page's live region. Without it, the form posts as usual. */
(function () {
  "use strict";

  var form = document.querySelector("form.tags-form[data-api]");
  if (!form || !window.fetch) return;
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrfToken = csrfMeta ? csrfMeta.getAttribute("content") || "" : "";
  var status = form.querySelector("[data-tags-status]");
  var shown = document.querySelector("[data-tags-shown]");
  var announce = window.Momento.announce;

  function tagsOf(text) {
    var seen = {};
    return text.split(",").map(function (t) { return t.replace(/\s+/g, " ").trim().toLowerCase(); })
      .filter(function (t) { if (!t || seen[t]) return false; seen[t] = true; return true; });
  }

  function show(tags) {
    if (!shown) return;
    shown.textContent = "";
    if (!tags.length) { shown.textContent = "none"; return; }
    var list = document.createElement("ul");
    list.className = "chips";
    tags.forEach(function (tag) {
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = form.getAttribute("data-search") + "?tag=" + encodeURIComponent(tag);
      a.textContent = tag;
      li.appendChild(a);
      list.appendChild(li);
    });
    shown.appendChild(list);
  }

  function say(text, bad) {
    if (status) {
      status.textContent = text;
      status.classList.toggle("is-error", !!bad);
    }
    announce(text);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var field = form.querySelector('input[name="tags"]');  // the chips' hidden field (the text box has its id)
    var button = form.querySelector("button[type=submit]");
    var tags = tagsOf(field ? field.value : "");
    if (button) button.disabled = true;
    fetch(form.getAttribute("data-api"), {
      method: "PATCH", credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken, "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ tags: tags })
    }).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (body) {
        if (!response.ok) {
          throw new Error(body && body.error && body.error.message ? body.error.message : "the server answered " + response.status + ".");
        }
        show(body.tags);
        say("Tags saved.");
      });
    }).catch(function (error) {
      say("The tags were not saved: " + error.message, true);
    }).then(function () {
      // The momento.js guard disables submit buttons of a form on its way; this one stays on the page.
      window.setTimeout(function () { if (button) button.disabled = false; }, 0);
    });
  });
})();
