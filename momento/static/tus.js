/* Momento's tus 1.0 client for large files: sends a file in chunks to /api/v1/tus/, retries with backoff when
   the connection drops, and resumes after a reload (the upload's URL is kept in localStorage, keyed by the
   file's name, size and date). The upload page calls window.MomentoTus.upload(file, options); the answer comes
   back through options.onDone(status, body) in the same shape as POST /api/v1/uploads: (201, Upload),
   (200, Upload with "duplicate": true), or (4xx, {"error": ...}); status 0 when the network never came back.
   Options: tags (comma-separated), csrfToken, onProgress(loaded, total), onDone(status, body), chunkSize. */
(function () {
  "use strict";

  var ENDPOINT = "/api/v1/tus/";
  var THRESHOLD = 20 * 1000 * 1000; // files from 20 MB on go through tus; smaller ones are one POST
  var CHUNK = 32 * 1024 * 1024; // a multiple of the server's part size, so no bytes wait between chunks
  var DELAYS = [500, 1000, 2000, 4000, 8000, 15000, 30000, 30000, 30000, 60000]; // then give up
  var STORE = "momento-tus:";
  var VERSION = "1.0.0";

  function storageGet(key) {
    try { return window.localStorage.getItem(key); } catch (e) { return null; }
  }
  function storageSet(key, value) {
    try { window.localStorage.setItem(key, value); } catch (e) { /* private mode: no resume after reload */ }
  }
  function storageDrop(key) {
    try { window.localStorage.removeItem(key); } catch (e) { /* as above */ }
  }

  // Upload-Metadata values are base64 of UTF-8.
  function b64(text) {
    var bytes = new TextEncoder().encode(text);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return window.btoa(binary);
  }

  function parseJson(text) {
    try { return JSON.parse(text); } catch (e) { return null; }
  }

  function Upload(file, options) {
    this.file = file;
    this.options = options || {};
    this.chunk = this.options.chunkSize || CHUNK;
    this.key = STORE + [file.name, file.size, file.lastModified, file.type].join("|");
    this.url = null;
    this.offset = 0;
    this.attempt = 0;
    this.xhr = null;
    this.timer = null;
    this.stopped = false;
    this.recreated = false;
  }

  // One request; calls back with (status, xhr) where status 0 means the network failed.
  Upload.prototype.send = function (method, url, headers, body, onProgress, callback) {
    var self = this;
    var xhr = new XMLHttpRequest();
    self.xhr = xhr;
    xhr.open(method, url, true);
    xhr.setRequestHeader("Tus-Resumable", VERSION);
    xhr.setRequestHeader("Accept", "application/json");
    if (self.options.csrfToken) xhr.setRequestHeader("X-CSRFToken", self.options.csrfToken);
    for (var name in headers) xhr.setRequestHeader(name, headers[name]);
    if (onProgress) {
      xhr.upload.addEventListener("progress", function (event) {
        if (!self.stopped && event.lengthComputable) onProgress(event.loaded);
      });
    }
    xhr.addEventListener("load", function () { if (!self.stopped) callback(xhr.status, xhr); });
    xhr.addEventListener("error", function () { if (!self.stopped) callback(0, xhr); });
    xhr.addEventListener("timeout", function () { if (!self.stopped) callback(0, xhr); });
    xhr.send(body === undefined ? null : body);
  };

  Upload.prototype.progress = function (loaded) {
    if (this.options.onProgress) this.options.onProgress(Math.min(loaded, this.file.size), this.file.size);
  };

  Upload.prototype.done = function (status, body) {
    if (this.stopped) return;
    this.stopped = true;
    if (this.options.onDone) this.options.onDone(status, body);
  };

  Upload.prototype.fail = function (xhr) {
    storageDrop(this.key);
    this.done(xhr.status, parseJson(xhr.responseText));
  };

  // Network errors, 5xx, 423 and 429 are worth another try after a pause: then `next`, by default asking the
  // server where to resume.
  Upload.prototype.retry = function (xhr, next) {
    var self = this;
    if (self.attempt >= DELAYS.length) {
      self.done(xhr ? xhr.status : 0, xhr ? parseJson(xhr.responseText) : null);
      return;
    }
    var wait = DELAYS[self.attempt++];
    self.timer = window.setTimeout(function () {
      self.timer = null;
      if (next) next.call(self);
      else self.resume();
    }, wait);
  };

  function retryable(status) {
    return status === 0 || status >= 500 || status === 423 || status === 429;
  }

  Upload.prototype.start = function () {
    this.url = storageGet(this.key);
    if (this.url) this.resume();
    else this.create();
  };

  Upload.prototype.create = function () {
    var self = this;
    var meta = "filename " + b64(self.file.name || "upload");
    if (self.options.tags) meta += ",tags " + b64(self.options.tags);
    self.send("POST", ENDPOINT, { "Upload-Length": String(self.file.size), "Upload-Metadata": meta }, undefined,
      null, function (status, xhr) {
        if (status === 201 && xhr.getResponseHeader("Location")) {
          self.url = xhr.getResponseHeader("Location");
          self.offset = 0;
          storageSet(self.key, self.url);
          self.patch();
        } else if (retryable(status)) {
          self.retry(xhr);
        } else {
          self.fail(xhr);
        }
      });
  };

  // HEAD: where the server has the upload now.
  Upload.prototype.resume = function () {
    var self = this;
    if (!self.url) { self.create(); return; }
    self.send("HEAD", self.url, {}, undefined, null, function (status, xhr) {
      if (status === 200) {
        self.offset = parseInt(xhr.getResponseHeader("Upload-Offset"), 10) || 0;
        self.progress(self.offset);
        if (self.offset >= self.file.size) self.settle();
        else self.patch();
      } else if (status === 404 || status === 410 || status === 403) {
        self.restart();
      } else if (retryable(status)) {
        self.retry(xhr);
      } else {
        self.fail(xhr);
      }
    });
  };

  // The upload is gone on the server (expired, or never finished before a restart of the page): once more from 0.
  Upload.prototype.restart = function () {
    storageDrop(this.key);
    this.url = null;
    if (this.recreated) { this.done(404, null); return; }
    this.recreated = true;
    this.create();
  };

  Upload.prototype.patch = function () {
    var self = this;
    var start = self.offset;
    var end = Math.min(start + self.chunk, self.file.size);
    var headers = { "Upload-Offset": String(start), "Content-Type": "application/offset+octet-stream" };
    // An empty PATCH at the end asks the server to finish an upload whose last step failed.
    var body = start < end ? self.file.slice(start, end) : new Blob([]);
    self.send("PATCH", self.url, headers, body, function (loaded) { self.progress(start + loaded); },
      function (status, xhr) {
        if (status === 204) {
          self.attempt = 0;
          self.offset = parseInt(xhr.getResponseHeader("Upload-Offset"), 10) || end;
          if (xhr.getResponseHeader("Momento-Upload-Id") || self.offset >= self.file.size) self.settle();
          else self.patch();
        } else if (status === 409) {
          self.resume(); // another request moved the upload on: ask where it is
        } else if (status === 404 || status === 410) {
          self.restart();
        } else if (retryable(status) || status === 460) {
          self.retry(xhr);
        } else {
          self.fail(xhr); // refused: type, size, decoding
        }
      });
  };

  // All bytes are in: fetch the result, in the shape of POST /api/v1/uploads.
  Upload.prototype.settle = function () {
    var self = this;
    self.send("GET", self.url, {}, undefined, null, function (status, xhr) {
      var state = status === 200 ? parseJson(xhr.responseText) : null;
      if (state && state.state === "stored" && state.upload) {
        storageDrop(self.key);
        var upload = state.upload;
        if (state.duplicate) upload.duplicate = true;
        self.done(state.duplicate ? 200 : 201, upload);
      } else if (state && state.state === "refused") {
        storageDrop(self.key);
        self.done(422, { error: state.error });
      } else if (state && state.offset >= state.length) {
        self.offset = state.offset;
        self.retry(null, self.patch); // finishing failed on the server: an empty PATCH runs it again
      } else if (state) {
        self.resume();
      } else if (status === 404 || status === 410) {
        self.restart();
      } else if (retryable(status)) {
        self.retry(xhr);
      } else {
        self.fail(xhr);
      }
    });
  };

  // Cancel: stop sending and let the server drop what it has.
  Upload.prototype.abort = function () {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) window.clearTimeout(this.timer);
    if (this.xhr) {
      try { this.xhr.abort(); } catch (e) { /* already settled */ }
    }
    storageDrop(this.key);
    if (this.url) {
      var xhr = new XMLHttpRequest();
      xhr.open("DELETE", this.url, true);
      xhr.setRequestHeader("Tus-Resumable", VERSION);
      if (this.options.csrfToken) xhr.setRequestHeader("X-CSRFToken", this.options.csrfToken);
      xhr.send(null);
    }
  };

  window.MomentoTus = {
    threshold: THRESHOLD,
    wants: function (file) { return !!(file && file.size >= THRESHOLD && window.XMLHttpRequest && window.Blob); },
    upload: function (file, options) {
      var upload = new Upload(file, options);
      upload.start();
      return upload;
    }
  };
})();
