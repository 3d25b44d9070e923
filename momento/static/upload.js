/* Momento upload page: sends each chosen or dropped file (or folder), three at a time, with a progress bar, a
   speed and a final state per file: to POST /api/v1/uploads, or for large files through the resumable (tus)
   endpoint with resumable.js. Never throws: every path ends in a state. The tags field is read when a file
   starts to be sent, so tags typed while files wait go with them; once everything is done, "Add tags to these
   N" sets more tags on the files already stored (PATCH /api/v1/uploads/<id>). */
(function () {
  "use strict";

  var PARALLEL = 3;
  var form = document.getElementById("upload-form");
  var input = document.getElementById("upload-files");
  var dropzone = document.getElementById("dropzone");
  var folderInput = document.getElementById("upload-folder");
  var folderPick = document.getElementById("folder-pick");
  var head = document.getElementById("uploads-head");
  var summary = document.getElementById("upload-summary");
  var list = document.getElementById("upload-list");
  var announcer = document.getElementById("upload-announcer");
  if (!form || !input || !dropzone || !list) return;

  var endpoint = form.getAttribute("action") || "/api/v1/uploads";
  var detailUrl = form.getAttribute("data-detail-url") || "/uploads/UPLOAD_ID";
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrfToken = csrfMeta ? csrfMeta.getAttribute("content") || "" : "";
  var queue = [];
  var running = 0;
  var jobs = [];

  // Same units as the server's |size filter (powers of 1000).
  function humanSize(n) {
    var units = ["bytes", "KB", "MB", "GB", "TB"];
    var size = Number(n) || 0;
    for (var i = 0; i < units.length; i++) {
      if (size < 1000 || i === units.length - 1) {
        return i === 0 ? Math.floor(size) + " bytes" : size.toFixed(1) + " " + units[i];
      }
      size /= 1000;
    }
    return String(n);
  }

  function announce(text) {
    if (!announcer) return;
    // Clearing first makes screen readers repeat an identical message.
    announcer.textContent = "";
    window.setTimeout(function () { announcer.textContent = text; }, 50);
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function makeRow(file) {
    var name = file.name || "unnamed file";
    var row = el("li", "upload-row");
    row.setAttribute("data-state", "queued");
    var head = el("div", "upload-head");
    head.appendChild(el("span", "upload-name", name));
    head.appendChild(el("span", "upload-size", humanSize(file.size)));
    var bar = el("progress", "upload-bar");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", "Upload progress of " + name);
    var foot = el("div", "upload-foot");
    var state = el("span", "upload-state", "Waiting");
    var speed = el("span", "upload-speed", "");
    var cancel = el("button", "button small upload-cancel", "Cancel");
    cancel.type = "button";
    cancel.setAttribute("aria-label", "Cancel " + name);
    foot.appendChild(state);
    foot.appendChild(speed);
    foot.appendChild(cancel);
    row.appendChild(head);
    row.appendChild(bar);
    row.appendChild(foot);
    return { row: row, bar: bar, state: state, speed: speed, cancel: cancel, name: name };
  }

  // Read when a file starts to be sent (the chips script keeps the named field up to date, typed text included).
  function currentTags() {
    var field = form.elements.namedItem("tags");
    return field && typeof field.value === "string" ? field.value : "";
  }

  // Hidden files of a chosen or dropped folder (.DS_Store, ._IMG_1.JPG, Thumbs.db) are not photos.
  function worthSending(file) {
    var name = file.name || "";
    return name.charAt(0) !== "." && name.toLowerCase() !== "thumbs.db" && name.toLowerCase() !== "desktop.ini";
  }

  function addFiles(files, fromFolder) {
    if (!files || !files.length) return;
    var added = 0;
    for (var i = 0; i < files.length; i++) {
      if (fromFolder && !worthSending(files[i])) continue;
      var job = { file: files[i], tags: "", ui: makeRow(files[i]), xhr: null, done: false, outcome: null, upload: null };
      job.ui.cancel.addEventListener("click", cancelJob.bind(null, job));
      list.appendChild(job.ui.row);
      queue.push(job);
      jobs.push(job);
      added += 1;
    }
    if (!added) {
      announce("That folder holds no files to upload.");
      return;
    }
    if (head) head.hidden = false;
    announce(added === 1 ? "1 file added." : added + " files added.");
    summarize();
    pump();
  }

  // "2 of 4 done: 1 stored, 1 refused", then a way on once everything has settled.
  function summarize() {
    if (!summary) return;
    var counts = { stored: 0, duplicate: 0, refused: 0, failed: 0, cancelled: 0 };
    var done = 0;
    for (var i = 0; i < jobs.length; i++) {
      if (jobs[i].outcome) { counts[jobs[i].outcome] += 1; done += 1; }
    }
    var words = [];
    var labels = { stored: "stored", duplicate: "already there", refused: "refused", failed: "failed", cancelled: "cancelled" };
    for (var key in labels) if (counts[key]) words.push(counts[key] + " " + labels[key]);
    summary.textContent = done + " of " + jobs.length + " done" + (words.length ? ": " + words.join(", ") : "") + ".";
    if (done === jobs.length && (counts.stored || counts.duplicate)) {
      summary.appendChild(document.createTextNode(" "));
      var a = el("a", "", "See them in your library");
      a.href = form.getAttribute("data-gallery-url") || "/";
      summary.appendChild(a);
    }
    offerTags(done === jobs.length ? jobs.filter(function (job) { return job.upload; }) : []);
  }

  /* ---- "Add tags to these N": more tags for the files already stored. ---- */

  var tagger = null;

  function offerTags(stored) {
    if (!stored.length) { if (tagger) tagger.form.hidden = true; return; }
    if (!tagger) {
      var box = el("form", "add-tags");
      box.id = "add-tags";
      var label = el("label", "", "");
      label.setAttribute("for", "add-tags-input");
      var input = el("input");
      input.id = "add-tags-input";
      input.type = "text";
      input.autocomplete = "off";
      input.setAttribute("list", "known-tags");
      input.placeholder = "beach, family";
      var button = el("button", "button small", "");
      button.type = "submit";
      var said = el("p", "add-tags-status");
      box.appendChild(label);
      box.appendChild(input);
      box.appendChild(button);
      box.appendChild(said);
      summary.parentNode.insertBefore(box, summary.nextSibling);
      tagger = { form: box, label: label, input: input, button: button, said: said, jobs: [] };
      box.addEventListener("submit", function (event) { event.preventDefault(); addTags(); });
    }
    tagger.jobs = stored;
    tagger.form.hidden = false;
    var n = stored.length === 1 ? "this file" : "these " + stored.length;
    tagger.label.textContent = "Tags to add to " + n;
    tagger.button.textContent = "Add tags to " + n;
  }

  function tagList(text) {
    var seen = {};
    return String(text || "").split(",").map(function (t) { return t.replace(/\s+/g, " ").trim().toLowerCase(); })
      .filter(function (t) { if (!t || seen[t]) return false; seen[t] = true; return true; });
  }

  function patchTags(job, adding) {
    var current = job.upload.tags || [];
    var merged = current.concat(adding.filter(function (t) { return current.indexOf(t) === -1; }));
    return fetch(endpoint + "/" + encodeURIComponent(job.upload.id), {
      method: "PATCH", credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken, "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ tags: merged })
    }).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (body) {
        if (!response.ok || !body) throw new Error(body && body.error ? body.error.message : "the server answered " + response.status + ".");
        job.upload = body;
      });
    });
  }

  function addTags() {
    var adding = tagList(tagger.input.value);
    if (!adding.length) { tagger.said.textContent = "Type the tags to add first."; tagger.input.focus(); return; }
    var todo = tagger.jobs.slice(), ok = 0, bad = [];
    tagger.button.disabled = true;
    (function next() {
      var job = todo.shift();
      if (job) {
        patchTags(job, adding).then(function () { ok += 1; }, function (e) { bad.push(e.message); }).then(next);
        return;
      }
      tagger.button.disabled = false;
      var text = "Added " + adding.join(", ") + " to " + ok + (ok === 1 ? " file." : " files.") +
        (bad.length ? " " + bad.length + " could not be changed: " + bad[0] : "");
      tagger.said.textContent = text;
      if (ok) tagger.input.value = "";
      announce(text);
      tagger.input.focus();
    })();
  }

  function pump() {
    while (running < PARALLEL && queue.length) {
      start(queue.shift());
    }
  }

  function cancelJob(job) {
    if (job.done) return;
    var waiting = queue.indexOf(job);
    if (waiting !== -1) queue.splice(waiting, 1);
    if (job.xhr) {
      try { job.xhr.abort(); } catch (e) { /* settled below either way */ }
    }
    finish(job, "cancelled", "Cancelled");
  }

  // The one way a job ends: sets its words, maybe a link, frees its slot and starts the next.
  function finish(job, kind, words, link) {
    if (job.done) return;
    job.done = true;
    if (job.xhr) {
      job.xhr = null;
      running = Math.max(0, running - 1);
    }
    var ui = job.ui;
    job.outcome = kind;
    ui.row.setAttribute("data-state", kind);
    ui.state.textContent = words;
    if (link) {
      ui.state.appendChild(document.createTextNode(" "));
      var a = el("a", "", link.text);
      a.href = link.href;
      ui.state.appendChild(a);
    }
    ui.speed.textContent = "";
    if (kind === "stored" || kind === "duplicate" || kind === "refused") ui.bar.value = 100;
    if (ui.cancel.parentNode) ui.cancel.parentNode.removeChild(ui.cancel);
    announce(ui.name + ": " + words + (/[.!?]$/.test(words) ? "" : "."));
    summarize();
    pump();
  }

  function start(job) {
    job.tags = currentTags();
    if (wantsResumable(job.file)) { startTus(job); return; }
    var ui = job.ui;
    var xhr;
    try {
      xhr = new XMLHttpRequest();
      var data = new FormData();
      data.append("tags", job.tags);  // the file last: the server then knows its length from the request's
      data.append("file", job.file, job.file.name || "upload");
      xhr.open("POST", endpoint, true);
      xhr.setRequestHeader("X-CSRFToken", csrfToken);
      xhr.setRequestHeader("Accept", "application/json");
      job.xhr = xhr;
      running += 1;
      ui.row.setAttribute("data-state", "sending");
      ui.state.textContent = "Sending";
      var startedAt = Date.now();
      xhr.upload.addEventListener("progress", function (event) {
        if (job.done || !event.lengthComputable || !event.total) return;
        ui.bar.value = Math.min(99, Math.floor((event.loaded / event.total) * 100));
        var seconds = (Date.now() - startedAt) / 1000;
        if (seconds > 0.25) ui.speed.textContent = humanSize(event.loaded / seconds) + "/s";
        if (event.loaded >= event.total) ui.state.textContent = "Processing";
      });
      xhr.addEventListener("load", function () { onAnswer(job, xhr); });
      xhr.addEventListener("error", function () {
        finish(job, "failed", "Failed: the connection was lost. Check your network and try again.");
      });
      xhr.addEventListener("timeout", function () { finish(job, "failed", "Failed: the server took too long."); });
      xhr.addEventListener("abort", function () { finish(job, "cancelled", "Cancelled"); });
      xhr.send(data);
    } catch (e) {
      finish(job, "failed", "Failed: the browser could not send this file.");
    }
  }

  // Read per file, so that the page (or a test) can lower them: from `data-tus-threshold` bytes on, a file goes
  // through the resumable (tus) endpoint in chunks of `data-tus-chunk-size`.
  function setting(name, fallback) {
    var value = parseInt(form.getAttribute(name), 10);
    return value > 0 ? value : fallback;
  }

  function wantsResumable(file) {
    return !!(window.MomentoResumable && window.MomentoResumable.supported() && file &&
              file.size >= setting("data-tus-threshold", 20 * 1000 * 1000));
  }

  // Large files go through the resumable (tus) endpoint: chunks, retries, and resume after a reload.
  function startTus(job) {
    var ui = job.ui, startedAt = Date.now(), base = null;
    running += 1;
    ui.row.setAttribute("data-state", "sending");
    ui.state.textContent = "Sending";
    job.xhr = window.MomentoResumable.upload(job.file, {
      endpoint: form.getAttribute("data-tus-url") || undefined, tags: job.tags, csrfToken: csrfToken,
      chunkSize: setting("data-tus-chunk-size", 0) || undefined,
      onProgress: function (loaded, total) {
        if (job.done || !total) return;
        if (base === null) base = loaded; // a resumed upload starts past 0: the speed counts this page's bytes
        ui.bar.value = Math.min(99, Math.floor((loaded / total) * 100));
        var seconds = (Date.now() - startedAt) / 1000;
        if (seconds > 0.25) ui.speed.textContent = humanSize((loaded - base) / seconds) + "/s";
        if (loaded >= total) ui.state.textContent = "Processing";
      },
      onDone: function (status, body) {
        if (status === 0) { finish(job, "failed", "Failed: the connection was lost. Check your network and try again."); return; }
        onAnswer(job, { status: status, responseText: body ? JSON.stringify(body) : "" });
      }
    });
  }

  function parseJson(text) {
    try { return JSON.parse(text); } catch (e) { return null; }
  }

  function fallbackMessage(status) {
    if (status === 413) return "the file is larger than this server accepts.";
    if (status === 401) return "you are signed out. Sign in again and retry.";
    if (status >= 500) return "the server had a problem (" + status + "). Try again later.";
    return "the server answered " + status + ".";
  }

  function onAnswer(job, xhr) {
    var status = xhr.status;
    var body = parseJson(xhr.responseText);
    if ((status === 200 || status === 201) && body && typeof body.id === "string") {
      job.upload = body;
      var href = detailUrl.replace("UPLOAD_ID", encodeURIComponent(body.id));
      if (body.duplicate) {
        finish(job, "duplicate", "Already in your library", { href: href, text: "See it" });
      } else {
        finish(job, "stored", "Stored", { href: href, text: "Open" });
      }
      return;
    }
    var message = body && body.error && typeof body.error.message === "string" ? body.error.message : fallbackMessage(status);
    finish(job, "refused", "Refused: " + message);
  }

  input.addEventListener("change", function () {
    addFiles(input.files);
    try { input.value = ""; } catch (e) { /* some old browsers refuse; choosing the same file again then needs a reload */ }
  });

  // Folders: offered only where the browser can pick one.
  if (folderInput && folderPick && "webkitdirectory" in folderInput) {
    folderPick.hidden = false;
    folderInput.addEventListener("change", function () {
      addFiles(folderInput.files, true);
      try { folderInput.value = ""; } catch (e) { /* as above */ }
    });
  }

  // Everything inside dropped folders, read through the entries API where there is one.
  function readEntries(entries, done) {
    var files = [];
    var pending = 0;
    function settle() { if (pending === 0) done(files); }
    function visit(entry) {
      if (!entry) return;
      pending += 1;
      if (entry.isFile) {
        entry.file(function (file) { files.push(file); pending -= 1; settle(); },
                   function () { pending -= 1; settle(); });
      } else if (entry.isDirectory) {
        var reader = entry.createReader();
        var more = function () {
          // readEntries answers in batches until it answers an empty one.
          reader.readEntries(function (batch) {
            if (!batch.length) { pending -= 1; settle(); return; }
            for (var i = 0; i < batch.length; i++) visit(batch[i]);
            more();
          }, function () { pending -= 1; settle(); });
        };
        more();
      } else {
        pending -= 1;
      }
    }
    for (var i = 0; i < entries.length; i++) visit(entries[i]);
    settle();
  }

  function addDropped(transfer) {
    var items = transfer.items;
    var entries = [];
    var hasFolder = false;
    if (items && items.length && typeof items[0].webkitGetAsEntry === "function") {
      for (var i = 0; i < items.length; i++) {
        var entry = items[i].kind === "file" ? items[i].webkitGetAsEntry() : null;
        if (entry) { entries.push(entry); if (entry.isDirectory) hasFolder = true; }
      }
    }
    if (!hasFolder) { addFiles(transfer.files); return; }
    readEntries(entries, function (files) { addFiles(files, true); });
  }

  form.addEventListener("submit", function (event) {
    // Enter in the tags field: nothing to send until files are chosen.
    event.preventDefault();
  });

  function hasFiles(event) {
    var types = event.dataTransfer && event.dataTransfer.types;
    if (!types) return false;
    for (var i = 0; i < types.length; i++) if (types[i] === "Files") return true;
    return false;
  }

  var depth = 0;
  dropzone.addEventListener("dragenter", function (event) {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth += 1;
    dropzone.classList.add("is-dragover");
  });
  dropzone.addEventListener("dragover", function (event) {
    if (!hasFiles(event)) return;
    event.preventDefault();
    if (event.dataTransfer) event.dataTransfer.dropEffect = "copy";
  });
  dropzone.addEventListener("dragleave", function () {
    depth = Math.max(0, depth - 1);
    if (depth === 0) dropzone.classList.remove("is-dragover");
  });
  dropzone.addEventListener("drop", function (event) {
    event.preventDefault();
    depth = 0;
    dropzone.classList.remove("is-dragover");
    if (event.dataTransfer) addDropped(event.dataTransfer);
  });

  // A file dropped next to the zone should not make the browser navigate away to it.
  window.addEventListener("dragover", function (event) { if (hasFiles(event)) event.preventDefault(); });
  window.addEventListener("drop", function (event) { if (hasFiles(event)) event.preventDefault(); });

  window.addEventListener("beforeunload", function (event) {
    if (running === 0 && queue.length === 0) return;
    event.preventDefault();
    event.returnValue = "";
  });
})();
