/* Large files on the upload page: sends a file through Momento's tus endpoint with tus-js-client
   (static/vendor/tus-js-client, the tus project's client), which cuts it into chunks, retries with backoff and
   resumes after a reload (it keeps each upload's URL in localStorage under the file's fingerprint). Then asks the
   server for the stored Upload. upload.js calls window.MomentoResumable.upload(file, options); the answer comes
   back through options.onDone(status, body) in the shape of POST /api/v1/uploads: (201, Upload), (200, Upload
   with "duplicate": true), or (4xx, {"error": ...}); status 0 when the network never came back.
   Options: endpoint, tags (comma-separated), csrfToken, chunkSize, onProgress(loaded, total), onDone. */
(function () {
  "use strict";

  var CHUNK = 16 * 1024 * 1024; // two of the server's 8 MiB parts, so no bytes wait on the server between chunks
  var DELAYS = [500, 1000, 2000, 4000, 8000, 15000, 30000, 30000, 30000, 60000]; // then give up

  function statusOf(err) {
    var response = err && err.originalResponse;
    return response ? response.getStatus() : 0;
  }

  // Lost connections, server trouble and busy answers are worth another try; so is an upload gone from the
  // server mid-way (expired), which the client then creates again. Refusals (type, size, quota) are final.
  function worthRetrying(err) {
    var status = statusOf(err);
    if (status === 0 || status >= 500 || status === 409 || status === 423 || status === 429 || status === 460) return true;
    var request = err && err.originalRequest;
    return (status === 404 || status === 410) && !!request && request.getMethod() === "PATCH";
  }

  function parseJson(text) {
    try { return JSON.parse(text); } catch (e) { return null; }
  }

  function Resumable(file, options) {
    var self = this;
    self.options = options;
    self.stopped = false;
    var metadata = { filename: file.name || "upload" };
    if (options.tags) metadata.tags = options.tags;
    self.headers = { "X-CSRFToken": options.csrfToken || "", "Accept": "application/json" };
    self.tus = new window.tus.Upload(file, {
      endpoint: options.endpoint || "/api/v1/tus/",
      chunkSize: options.chunkSize || CHUNK,
      retryDelays: DELAYS,
      metadata: metadata,
      headers: self.headers,
      removeFingerprintOnSuccess: true,
      onShouldRetry: worthRetrying,
      onProgress: function (loaded, total) { if (!self.stopped && options.onProgress) options.onProgress(loaded, total); },
      onSuccess: function () { if (!self.stopped) self.settle(0); },
      onError: function (err) {
        var status = statusOf(err);
        if (status) self.forget(); // refused: the next try of this file starts afresh
        self.done(status, status ? parseJson(err.originalResponse.getBody()) : null);
      }
    });
  }

  Resumable.prototype.done = function (status, body) {
    if (this.stopped) return;
    this.stopped = true;
    if (this.options.onDone) this.options.onDone(status, body);
  };

  // The most recent unfinished upload of the same file, if an earlier page left one, else a new one.
  Resumable.prototype.start = function () {
    var self = this, upload = this.tus;
    upload.findPreviousUploads().then(function (previous) {
      previous.sort(function (a, b) { return String(b.creationTime).localeCompare(String(a.creationTime)); });
      if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
    }).catch(function () { /* no storage: a fresh upload */ }).then(function () { if (!self.stopped) upload.start(); });
  };

  Resumable.prototype.forget = function () {
    var upload = this.tus, storage = window.tus.defaultOptions.urlStorage;
    if (!upload.url) return;
    upload.findPreviousUploads().then(function (previous) {
      for (var i = 0; i < previous.length; i++) {
        if (previous[i].uploadUrl === upload.url) storage.removeUpload(previous[i].urlStorageKey);
      }
    }).catch(function () { /* nothing stored */ });
  };

  Resumable.prototype.request = function (method, headers) {
    var all = { "Tus-Resumable": "1.0.0" };
    for (var name in this.headers) all[name] = this.headers[name];
    for (var extra in headers) all[extra] = headers[extra];
    return window.fetch(this.tus.url, { method: method, headers: all, credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        return response.text().then(function (text) { return { status: response.status, body: parseJson(text) }; });
      });
  };

  // Every byte is in: GET /api/v1/tus/<id> tells the stored Upload, or the refusal. A finish that failed on
  // the server (all bytes in, still receiving) is run again by an empty PATCH.
  Resumable.prototype.settle = function (attempt) {
    var self = this;
    var later = function (state) {
      if (attempt >= DELAYS.length) { self.done(0, null); return; }
      window.setTimeout(function () {
        if (self.stopped) return;
        var nudge = state && state.offset >= state.length
          ? self.request("PATCH", { "Upload-Offset": String(state.offset), "Content-Type": "application/offset+octet-stream" })
          : Promise.resolve();
        nudge.catch(function () { /* asked again below */ }).then(function () { self.settle(attempt + 1); });
      }, DELAYS[attempt]);
    };
    self.request("GET", {}).then(function (answer) {
      var state = answer.body;
      if (answer.status === 200 && state && state.state === "stored" && state.upload) {
        if (state.duplicate) state.upload.duplicate = true;
        self.done(state.duplicate ? 200 : 201, state.upload);
      } else if (answer.status === 200 && state && state.state === "refused") {
        self.forget();
        self.done(422, { error: state.error });
      } else if (answer.status >= 400 && answer.status < 500) {
        self.done(answer.status, state);
      } else {
        later(answer.status === 200 ? state : null);
      }
    }, function () { later(null); });
  };

  // Cancel: stop sending and let the server drop what it has.
  Resumable.prototype.abort = function () {
    if (this.stopped) return;
    this.stopped = true;
    this.tus.abort(true).catch(function () { /* it expires on the server */ });
  };

  window.MomentoResumable = {
    supported: function () { return !!(window.tus && window.tus.isSupported && window.fetch && window.Promise); },
    upload: function (file, options) {
      var upload = new Resumable(file, options || {});
      upload.start();
      return upload;
    }
  };
})();
