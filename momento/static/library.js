/* Momento grids (gallery, search results, trash): infinite scroll over the "More" link, and multi-select
   to tag, trash or restore several items at once through the JSON API. The pages work without it. */
(function () {
  "use strict";

  var feed = document.querySelector("[data-feed]");
  if (!feed) return;

  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrfToken = csrfMeta ? csrfMeta.getAttribute("content") || "" : "";
  var announce = window.Momento.announce;  // from momento.js, which every page loads first

  function plural(n, one, many) { return n + " " + (n === 1 ? one : many); }

  /* ---- Infinite scroll: fetch the next page's HTML and append its tiles. ---- */

  var loading = false;
  var observer = null;

  function tileCount() { return feed.querySelectorAll(".tile-item").length; }

  // One grid a page; months continue across pages: a page that starts in the month the previous one ended in
  // does not name it again.
  function merge(incoming) {
    var grids = feed.querySelectorAll("ul.grid");
    var target = grids.length ? grids[grids.length - 1] : null;
    var source = incoming.querySelector("ul.grid");
    if (!target || !source) return;
    Array.prototype.slice.call(source.children).forEach(function (li) {
      if (li.matches(".month-label")) {
        var labels = feed.querySelectorAll(".month-label");
        var last = labels.length ? labels[labels.length - 1] : null;
        if (last && last.getAttribute("data-month") === li.getAttribute("data-month")) return;
      }
      target.appendChild(document.adoptNode(li));
    });
  }

  function loadMore(link, byHand, then) {
    if (loading || !link) return;
    loading = true;
    var before = tileCount();
    link.setAttribute("aria-disabled", "true");
    link.textContent = "Loading…";
    fetch(link.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error("status " + response.status);
        return response.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var incoming = doc.querySelector("[data-feed]");
        if (incoming) merge(incoming);
        var next = doc.querySelector("a[data-more]");
        var holder = link.closest(".more");
        if (next && holder) {
          link.setAttribute("href", next.getAttribute("href"));
          link.textContent = "More";
          link.removeAttribute("aria-disabled");
        } else if (holder) {
          if (observer) observer.disconnect();
          holder.parentNode.removeChild(holder);
        }
        if (then) { loading = false; then(); return; }
        var added = tileCount() - before;
        announce(plural(added, "more item", "more items") + " loaded.");
        if (byHand) {
          // Keyboard users carry on from the first new tile rather than from the top of the page.
          var first = feed.querySelectorAll(".tile-item")[before];
          var target = first && first.querySelector("a.tile");
          if (target) target.focus();
        }
        loading = false;
        reobserve();
      })
      .catch(function () {
        // Give up on scripting: the link goes to the next page the plain way.
        loading = false;
        link.textContent = "More";
        link.removeAttribute("aria-disabled");
        link.setAttribute("data-plain", "");
        if (observer) observer.disconnect();
      });
  }

  function reobserve() {
    var link = document.querySelector("a[data-more]");
    if (!observer || !link) return;
    // Observing again reports at once whether the link is still in view, which loads the next page.
    observer.unobserve(link);
    observer.observe(link);
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-more]");
    if (!link || link.hasAttribute("data-plain") || event.ctrlKey || event.metaKey || event.shiftKey || event.button) return;
    event.preventDefault();
    loadMore(link, true);
  });

  if ("IntersectionObserver" in window && window.fetch && window.DOMParser) {
    observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (entry.isIntersecting && !entry.target.hasAttribute("data-plain")) loadMore(entry.target, false);
      });
    }, { rootMargin: "600px 0px" });
  }
  var first = document.querySelector("a[data-more]");
  if (!returning() && first && observer) observer.observe(first);

  // Back from a photo (#u-<id>): load pages until its tile is there, then show it and put the focus on it, so
  // the list is where it was left.
  function returning() {
    var match = /^#u-([0-9A-Z]{26})$/.exec(window.location.hash);
    if (!match) return false;
    var pages = 0;
    (function seek() {
      var item = document.getElementById("u-" + match[1]);
      var link = document.querySelector("a[data-more]");
      if (item || !link || pages >= 100 || !window.fetch) {
        if (item) settle(item);
        if (observer && link) observer.observe(link);
        return;
      }
      pages += 1;
      loadMore(link, false, seek);
    })();
    return true;
  }

  // After the browser's own move to the address's fragment (once the page has loaded), which would undo ours.
  function settle(item) {
    var go = function () {
      window.setTimeout(function () {
        item.scrollIntoView({ block: "center" });
        var tile = item.querySelector("a.tile");
        if (tile) tile.focus({ preventScroll: true });
      }, 0);
    };
    if (document.readyState === "complete") go(); else window.addEventListener("load", go);
  }

  /* ---- Multi-select. ---- */

  var bar = document.getElementById("selection-bar");
  var toggle = document.querySelector("[data-action='select']");
  if (!bar || !toggle) return;

  var api = bar.getAttribute("data-api") || "/api/v1/uploads";
  var countNode = bar.querySelector("[data-count]");
  var status = bar.querySelector(".selection-status");
  var selecting = false;
  var lastBox = null;

  feed.classList.add("selectable");
  toggle.hidden = false;

  function boxes() { return Array.prototype.slice.call(feed.querySelectorAll(".tile-select input")); }
  function chosen() { return boxes().filter(function (b) { return b.checked; }); }

  function mark(box) {
    var item = box.closest(".tile-item");
    if (item) item.classList.toggle("is-selected", box.checked);
  }

  function update() {
    var n = chosen().length;
    countNode.textContent = String(n);
    bar.hidden = !selecting;
    document.body.classList.toggle("has-selection", selecting);
    Array.prototype.forEach.call(bar.querySelectorAll("[data-action='trash'], [data-action='restore'], [data-action='share'], .selection-tags button"),
      function (button) { button.disabled = n === 0; });
  }

  function setSelecting(on) {
    selecting = on;
    feed.classList.toggle("selecting", on);
    // While selecting, the bar (with its own Cancel) takes over from the toggle.
    toggle.hidden = on;
    if (!on) {
      boxes().forEach(function (b) { b.checked = false; mark(b); });
      lastBox = null;
      say("");
    }
    update();
  }

  function say(text, undo) {
    status.textContent = text;
    if (undo) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "button small";
      button.textContent = "Undo";
      button.addEventListener("click", undo);
      status.appendChild(document.createTextNode(" "));
      status.appendChild(button);
    }
  }

  toggle.addEventListener("click", function () {
    setSelecting(true);
    var first = feed.querySelector(".tile-select input");
    if (first) first.focus();
  });

  feed.addEventListener("click", function (event) {
    var box = event.target.closest(".tile-select input");
    if (box) {
      // Shift-click selects the run of tiles since the last one clicked.
      if (event.shiftKey && lastBox && lastBox !== box) {
        var all = boxes();
        var a = all.indexOf(lastBox), b = all.indexOf(box);
        if (a !== -1 && b !== -1) {
          all.slice(Math.min(a, b), Math.max(a, b) + 1).forEach(function (x) { x.checked = box.checked; mark(x); });
        }
      }
      lastBox = box;
      return;
    }
    if (!selecting) return;
    var tile = event.target.closest("a.tile");
    if (!tile) return;
    // While selecting, a tile toggles instead of opening.
    event.preventDefault();
    var own = tile.parentNode.querySelector(".tile-select input");
    if (own) {
      own.checked = !own.checked;
      lastBox = own;
      mark(own);
      update();
    }
  });

  feed.addEventListener("change", function (event) {
    var box = event.target.closest(".tile-select input");
    if (!box) return;
    mark(box);
    if (box.checked && !selecting) setSelecting(true);
    update();
  });

  bar.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-action]");
    if (!button) return;
    var action = button.getAttribute("data-action");
    if (action === "all") {
      boxes().forEach(function (b) { b.checked = true; mark(b); });
      update();
    } else if (action === "done") {
      setSelecting(false);
      toggle.focus();
    } else if (action === "trash") {
      trashSelected();
    } else if (action === "restore") {
      restoreSelected();
    } else if (action === "share") {
      shareSelected(button.getAttribute("data-href"));
    }
  });

  var tagForm = bar.querySelector("form[data-action='tag']");
  if (tagForm) {
    tagForm.addEventListener("submit", function (event) {
      event.preventDefault();
      tagSelected(tagForm.querySelector("input"));
    });
  }

  /* ---- Talking to the API, a few requests at a time. ---- */

  function call(method, path, body) {
    var init = { method: method, credentials: "same-origin", headers: { "X-CSRFToken": csrfToken, Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(api + path, init).then(function (response) {
      if (response.status === 204) return null;
      return response.json().catch(function () { return null; }).then(function (data) {
        if (!response.ok) {
          var message = data && data.error && data.error.message ? data.error.message : "the server answered " + response.status + ".";
          throw new Error(message);
        }
        return data;
      });
    });
  }

  // Runs work(item) for each item, three at a time; resolves with [{item, ok, value|error}].
  function each(items, work) {
    var results = [];
    var next = 0;
    function worker() {
      if (next >= items.length) return Promise.resolve();
      var index = next++;
      return work(items[index]).then(
        function (value) { results[index] = { item: items[index], ok: true, value: value }; },
        function (error) { results[index] = { item: items[index], ok: false, error: error }; }
      ).then(worker);
    }
    var workers = [];
    for (var i = 0; i < Math.min(3, items.length); i++) workers.push(worker());
    return Promise.all(workers).then(function () { return results; });
  }

  function busy(on) {
    Array.prototype.forEach.call(bar.querySelectorAll("button, input"), function (el) { el.disabled = on; });
    if (!on) update();
  }

  function itemsOf(selected) { return selected.map(function (b) { return b.closest(".tile-item"); }); }

  function failures(results) {
    var bad = results.filter(function (r) { return !r.ok; });
    return bad.length ? " " + plural(bad.length, "item", "items") + " could not be changed: " + bad[0].error.message : "";
  }

  // Removes tiles, then any month left without one; reloads when the grid is empty.
  // Removes tiles, then any month label left without a tile before the next label; says where the focus can go
  // next (the tile that followed the first one removed).
  function removeItems(items) {
    var after = null;
    if (items.length) {
      var all = Array.prototype.slice.call(feed.querySelectorAll(".tile-item"));
      var rest = all.slice(all.indexOf(items[0]) + 1).concat(all.slice(0, all.indexOf(items[0])).reverse());
      after = rest.filter(function (item) { return items.indexOf(item) === -1; })[0] || null;
    }
    items.forEach(function (item) { if (item.parentNode) item.parentNode.removeChild(item); });
    Array.prototype.forEach.call(feed.querySelectorAll(".month-label"), function (label) {
      var next = label.nextElementSibling;
      if (!next || next.matches(".month-label")) label.parentNode.removeChild(label);
    });
    return after;
  }

  // After an action the focus stays in the bar's story: on Undo when there is one, else on the next tile's box.
  function keepFocus(after) {
    var undo = status.querySelector("button");
    var box = after && after.querySelector(".tile-select input");
    var target = undo || box || bar.querySelector("[data-action='done']");
    if (target) target.focus();
  }

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || !selecting || event.defaultPrevented) return;
    if (event.target && event.target.closest && event.target.closest("input[type=text]") && event.target.value) return;
    event.preventDefault();
    setSelecting(false);
    toggle.focus();
    announce("Selection mode left.");
  });

  function emptied() {
    if (!feed.querySelector(".tile-item") && !document.querySelector("a[data-more]")) {
      window.location.reload();
      return true;
    }
    return false;
  }

  function trashSelected() {
    var items = itemsOf(chosen());
    if (!items.length) return;
    if (!window.confirm("Move " + plural(items.length, "item", "items") + " to the trash?")) return;
    busy(true);
    each(items, function (item) { return call("DELETE", "/" + item.getAttribute("data-id")); }).then(function (results) {
      var gone = results.filter(function (r) { return r.ok; }).map(function (r) { return r.item; });
      var after = removeItems(gone);
      busy(false);
      var ids = gone.map(function (item) { return item.getAttribute("data-id"); });
      var text = plural(gone.length, "item", "items") + " moved to the trash." + failures(results);
      say(text, ids.length ? function () { undoTrash(ids); } : null);
      announce(text);
      keepFocus(after);
    });
  }

  function undoTrash(ids) {
    busy(true);
    each(ids, function (id) { return call("POST", "/" + id + "/restore"); }).then(function () {
      // The tiles' places (months, order) are the server's to say: show the page again.
      window.location.reload();
    });
  }

  // The share form (momento/web/shares.py) takes the selected ids and asks for a title, expiry and password.
  function shareSelected(href) {
    var ids = chosen().map(function (b) { return b.value; });
    if (ids.length) window.location.assign(href + "?uploads=" + encodeURIComponent(ids.join(",")));
  }

  function restoreSelected() {
    var items = itemsOf(chosen());
    if (!items.length) return;
    busy(true);
    each(items, function (item) { return call("POST", "/" + item.getAttribute("data-id") + "/restore"); }).then(function (results) {
      var back = results.filter(function (r) { return r.ok; }).map(function (r) { return r.item; });
      var after = removeItems(back);
      busy(false);
      var text = plural(back.length, "item", "items") + " restored to your library." + failures(results);
      if (emptied()) return;
      say(text);
      announce(text);
      keepFocus(after);
    });
  }

  function normalTags(text) {
    var seen = {};
    return text.split(",").map(function (t) { return t.replace(/\s+/g, " ").trim().toLowerCase(); })
      .filter(function (t) { if (!t || seen[t]) return false; seen[t] = true; return true; });
  }

  function tagSelected(input) {
    var adding = normalTags(input.value);
    var items = itemsOf(chosen());
    if (!adding.length) { say("Type the tags to add first."); input.focus(); return; }
    if (!items.length) return;
    busy(true);
    each(items, function (item) {
      var current = normalTags(item.getAttribute("data-tags") || "");
      var merged = current.concat(adding.filter(function (t) { return current.indexOf(t) === -1; }));
      return call("PATCH", "/" + item.getAttribute("data-id"), { tags: merged });
    }).then(function (results) {
      results.forEach(function (r) {
        if (!r.ok || !r.value) return;
        r.item.setAttribute("data-tags", r.value.tags.join(","));
        var img = r.item.querySelector("img");
        if (img) img.alt = r.value.filename + (r.value.tags.length ? " — " + r.value.tags.join(", ") : "");
      });
      busy(false);
      var done = results.filter(function (r) { return r.ok; }).length;
      var text = "Added " + adding.join(", ") + " to " + plural(done, "item", "items") + "." + failures(results);
      if (done) input.value = "";
      say(text);
      announce(text);
      input.focus();
    });
  }

  update();
})();
