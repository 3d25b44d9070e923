// Passkeys: add, rename and remove them on /account, sign in with one on /login (WebAuthn through
// navigator.credentials, no library). The server's options come as JSON with base64url strings.
(function () {
  "use strict";

  function toBytes(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    b64 += "===".slice((b64.length + 3) % 4);
    var raw = atob(b64), out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer), raw = "";
    for (var i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function call(method, url, body) {
    return fetch(url, {
      method: method, credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf()},
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (resp) {
      if (resp.status === 204) return null;
      return resp.json().then(function (data) {
        if (!resp.ok) throw new Error((data.error && data.error.message) || "The server refused.");
        return data;
      });
    });
  }

  function credentialJSON(cred) {
    var r = cred.response, response = {clientDataJSON: toText(r.clientDataJSON)};
    if (r.attestationObject) {
      response.attestationObject = toText(r.attestationObject);
      if (r.getTransports) response.transports = r.getTransports();
    } else {
      response.authenticatorData = toText(r.authenticatorData);
      response.signature = toText(r.signature);
      if (r.userHandle) response.userHandle = toText(r.userHandle);
    }
    return {id: cred.id, rawId: toText(cred.rawId), type: cred.type, response: response,
            clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {}};
  }

  function showError(box, err) {
    if (!box) return;
    box.textContent = err && err.name === "NotAllowedError" ? "The passkey request was cancelled or timed out." :
      (err && err.message) || "Something went wrong.";
    box.hidden = false;
  }

  function addPasskey(section) {
    var box = section.querySelector("[data-passkey-error]");
    var name = section.querySelector("[data-passkey-new-name]");
    return call("POST", "/api/v1/account/passkeys/options").then(function (options) {
      options.challenge = toBytes(options.challenge);
      options.user.id = toBytes(options.user.id);
      (options.excludeCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
      return navigator.credentials.create({publicKey: options});
    }).then(function (cred) {
      return call("POST", "/api/v1/account/passkeys", {credential: credentialJSON(cred), name: name.value});
    }).then(function () { window.location.reload(); }, function (err) { showError(box, err); });
  }

  function signIn(area) {
    var box = area.querySelector("[data-passkey-error]");
    var remember = document.querySelector('input[name="remember"]');
    return call("POST", "/api/v1/auth/passkey/options").then(function (options) {
      options.challenge = toBytes(options.challenge);
      (options.allowCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
      return navigator.credentials.get({publicKey: options});
    }).then(function (cred) {
      return call("POST", "/api/v1/auth/passkey", {credential: credentialJSON(cred), next: area.dataset.next,
                                                   remember: !!(remember && remember.checked)});
    }).then(function (answer) { window.location.assign(answer.redirect); }, function (err) { showError(box, err); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.PublicKeyCredential || !navigator.credentials) return;
    var area = document.querySelector("[data-passkey-signin]");
    if (area) {
      area.hidden = false;
      area.querySelector("[data-passkey-button]").addEventListener("click", function () { signIn(area); });
    }
    var section = document.querySelector("[data-passkeys]");
    if (!section) return;
    var add = section.querySelector("[data-passkey-add]");
    add.hidden = false;
    add.querySelector("[data-passkey-add-button]").addEventListener("click", function () { addPasskey(section); });
    var box = section.querySelector("[data-passkey-error]");
    section.querySelectorAll("[data-passkey-id]").forEach(function (row) {
      var url = "/api/v1/account/passkeys/" + encodeURIComponent(row.dataset.passkeyId);
      row.querySelector("[data-passkey-remove]").addEventListener("click", function () {
        if (!window.confirm("Remove this passkey? It will no longer sign you in.")) return;
        call("DELETE", url).then(function () { row.remove(); }, function (err) { showError(box, err); });
      });
      row.querySelector("[data-passkey-rename]").addEventListener("click", function () {
        var label = row.querySelector("[data-passkey-name]");
        var name = window.prompt("A name for this passkey", label.textContent);
        if (name === null) return;
        call("PATCH", url, {name: name}).then(function (p) { label.textContent = p.name; },
                                              function (err) { showError(box, err); });
      });
    });
  });
})();
