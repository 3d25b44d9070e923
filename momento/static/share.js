/* Sharing: the shared page's viewer (arrow keys, swipe-free buttons, video playback, more items), and on
   /shares the copy buttons, with links remembered in this browser only (Momento keeps their fingerprints). */
(function () {
  "use strict";

  var STORE = "momento.shareLinks";

  function remembered() {
    try { return JSON.parse(window.localStorage.getItem(STORE) || "{}") || {}; } catch (e) { return {}; }
  }

  function remember(id, url) {
    var links = remembered();
    links[id] = url;
    try { window.localStorage.setItem(STORE, JSON.stringify(links)); } catch (e) { /* private mode: copy now */ }
  }

  /* ---- /shares: copy, and the links this browser made. ---- */

  var created = document.querySelector("[data-created-id]");
  if (created) remember(created.getAttribute("data-created-id"), created.getAttribute("data-created-url"));
  var links = remembered();
  Array.prototype.forEach.call(document.querySelectorAll("[data-share-id]"), function (row) {
    var url = links[row.getAttribute("data-share-id")];
    var holder = row.querySelector("[data-copy-row]");
    if (!url || !holder) return;
    holder.querySelector("input").value = url;
    holder.hidden = false;
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-copy]");
    if (!button) return;
    var input = document.getElementById(button.getAttribute("data-copy"));
    if (!input) return;
    input.select();
    var done = function () { button.textContent = "Copied"; window.Momento.announce("Link copied."); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand("copy"); done(); });
    } else {
      document.execCommand("copy");
      done();
    }
  });

  /* ---- The shared page: a viewer over the grid. ---- */

  var grid = document.querySelector("[data-share-grid]");
  var viewer = document.querySelector("[data-share-viewer]");
  if (!grid || !viewer) return;
  var stage = viewer.querySelector("[data-stage]");
  var position = viewer.querySelector("[data-position]");
  var download = viewer.querySelector("[data-download]");
  var current = -1;
  var opener = null;

  function tiles() { return Array.prototype.slice.call(grid.querySelectorAll("a.tile")); }

  function show(index) {
    var all = tiles();
    if (index < 0 || index >= all.length) return;
    current = index;
    var tile = all[index];
    stage.textContent = "";
    var media;
    if (tile.getAttribute("data-kind") === "video" && tile.getAttribute("data-playback")) {
      media = document.createElement("video");
      media.controls = true;
      media.playsInline = true;
      media.preload = "metadata";
      media.poster = tile.getAttribute("data-display");
      media.src = tile.getAttribute("data-playback");
    } else {
      media = document.createElement("img");
      media.src = tile.getAttribute("data-display");
      media.alt = tile.querySelector("img").alt;
    }
    stage.appendChild(media);
    position.textContent = (index + 1) + " of " + all.length;
    var original = tile.getAttribute("data-original");
    download.hidden = !original;
    if (original) download.href = original + "?download=1";
    viewer.querySelector('[data-go="-1"]').disabled = index === 0;
    viewer.querySelector('[data-go="1"]').disabled = index === all.length - 1 && !document.querySelector("[data-share-more]");
    if (index >= all.length - 3) loadMore();
  }

  function open(index, from) {
    opener = from;
    viewer.hidden = false;
    document.body.classList.add("viewing");
    show(index);
    viewer.querySelector("[data-close]").focus();
  }

  function close() {
    viewer.hidden = true;
    stage.textContent = "";
    document.body.classList.remove("viewing");
    current = -1;
    if (opener) opener.focus();
  }

  function go(step) {
    var all = tiles();
    if (current + step >= all.length) {
      loadMore().then(function () { show(Math.min(current + step, tiles().length - 1)); });
      return;
    }
    show(current + step);
  }

  grid.addEventListener("click", function (event) {
    var tile = event.target.closest("a.tile");
    if (!tile || event.ctrlKey || event.metaKey || event.shiftKey || event.button) return;
    event.preventDefault();
    open(tiles().indexOf(tile), tile);
  });

  viewer.addEventListener("click", function (event) {
    var button = event.target.closest("button");
    if (!button) return;
    if (button.hasAttribute("data-close")) close();
    else if (button.hasAttribute("data-go")) go(parseInt(button.getAttribute("data-go"), 10));
  });

  document.addEventListener("keydown", function (event) {
    if (viewer.hidden || event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.key === "Escape") { event.preventDefault(); close(); }
    else if (event.key === "ArrowRight") { event.preventDefault(); go(1); }
    else if (event.key === "ArrowLeft") { event.preventDefault(); go(-1); }
  });

  /* ---- More items, from the share's JSON. ---- */

  var pending = null;

  function tileFor(item, number) {
    var li = document.createElement("li");
    li.className = "tile-item";
    var a = document.createElement("a");
    a.className = "tile";
    a.href = item.urls.display;
    a.setAttribute("data-kind", item.kind);
    a.setAttribute("data-display", item.urls.display);
    if (item.urls.playback) a.setAttribute("data-playback", item.urls.playback);
    if (item.urls.original) a.setAttribute("data-original", item.urls.original);
    var img = document.createElement("img");
    img.loading = "lazy";
    img.src = item.urls.thumbnail;
    img.alt = (item.kind === "video" ? "Video " : "Photo ") + number;
    img.width = 200;
    img.height = 200;
    a.appendChild(img);
    li.appendChild(a);
    return li;
  }

  function loadMore() {
    var link = document.querySelector("[data-share-more]");
    if (!link) return Promise.resolve();
    if (pending) return pending;
    pending = fetch(link.href, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        pending = null;
        if (!data) return;
        var count = tiles().length;
        data.items.forEach(function (item, i) { grid.appendChild(tileFor(item, count + i + 1)); });
        if (data.next_cursor) {
          link.href = grid.getAttribute("data-items") + "?cursor=" + encodeURIComponent(data.next_cursor);
        } else {
          link.parentNode.parentNode.removeChild(link.parentNode);
        }
      }, function () { pending = null; });
    return pending;
  }

  var more = document.querySelector("[data-share-more]");
  if (more) {
    more.addEventListener("click", function (event) { event.preventDefault(); loadMore(); });
  }
})();
