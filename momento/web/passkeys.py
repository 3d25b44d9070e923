"""Passkeys on the web: adding, naming and removing them (signed-in session only), and signing in with one.

The relying party is the request's host (MOMENTO_WEBAUTHN_RP_ID and MOMENTO_WEBAUTHN_ORIGIN override it behind
a proxy); each ceremony's challenge waits in the signed session cookie and is used once.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, jsonify, request, session
from flask_login import login_required

from ..accounts import audit, passkeys
from ..backends import catalog
from ..errors import BadRequest
from . import limits
from .library import owner
from .scopes import session_only
from .signin import safe_next, start_session

bp = Blueprint("passkeys", __name__, url_prefix="/api/v1")

REGISTERING, SIGNING_IN = "passkey_registration", "passkey_sign_in"


def relying_party() -> tuple[str, str]:
    """The WebAuthn rp_id and expected origin for this request."""
    origin = current_app.config.get("WEBAUTHN_ORIGIN") or request.host_url.rstrip("/")
    rp_id = current_app.config.get("WEBAUTHN_RP_ID") or urlsplit(origin).hostname or request.host.split(":")[0]
    return rp_id, origin


def _json_options(options: str) -> Response:
    return Response(options, mimetype="application/json")


def _credential() -> tuple[dict, dict]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("credential"), dict):
        raise BadRequest('Send JSON {"credential": {...}} as the browser made it.', code="invalid_body")
    return body, body["credential"]


def _challenge(name: str) -> str:
    challenge = session.pop(name, None)
    if not isinstance(challenge, str):
        raise BadRequest("Start again: the passkey request expired.", code="no_challenge")
    return challenge


@bp.get("/account/passkeys")
@session_only
@login_required
def list_passkeys():
    """The account's passkeys."""
    return jsonify({"items": [passkeys.to_json(p) for p in catalog().list_passkeys(owner().id)]})


@bp.post("/account/passkeys/options")
@session_only
@login_required
def registration_options():
    """Options for navigator.credentials.create()."""
    rp_id, _ = relying_party()
    options, session[REGISTERING] = passkeys.registration_options(
        owner(), catalog().list_passkeys(owner().id), rp_id=rp_id, rp_name=current_app.config["WEBAUTHN_RP_NAME"])
    return _json_options(options)


@bp.post("/account/passkeys")
@session_only
@login_required
def add_passkey():
    """Store the passkey the browser just made."""
    body, credential = _credential()
    rp_id, origin = relying_party()
    passkey = passkeys.register(catalog(), owner(), credential, _challenge(REGISTERING), rp_id=rp_id, origin=origin,
                                name=body.get("name"))
    audit.record_request(catalog(), owner(), "passkey_added", name=passkey.name)
    return jsonify(passkeys.to_json(passkey)), 201


@bp.patch("/account/passkeys/<credential_id>")
@session_only
@login_required
def rename_passkey(credential_id: str):
    """Give a passkey a new name."""
    body = request.get_json(silent=True)
    passkey = passkeys.rename(catalog(), owner(), credential_id, body.get("name") if isinstance(body, dict) else None)
    return jsonify(passkeys.to_json(passkey))


@bp.delete("/account/passkeys/<credential_id>")
@session_only
@login_required
def remove_passkey(credential_id: str):
    """Remove a passkey; it no longer signs in."""
    passkey = catalog().get_passkey(credential_id)
    passkeys.remove(catalog(), owner(), credential_id)
    audit.record_request(catalog(), owner(), "passkey_removed", name=passkey.name if passkey else None)
    return "", 204


@bp.post("/auth/passkey/options")
def sign_in_options():
    """Options for navigator.credentials.get(): no account named, the browser offers its passkeys."""
    rp_id, _ = relying_party()
    options, session[SIGNING_IN] = passkeys.authentication_options(rp_id=rp_id)
    return _json_options(options)


@bp.post("/auth/passkey")
def sign_in():
    """Sign in with the passkey the browser chose; 200 with where to go next."""
    body, credential = _credential()
    attempt = limits.count_sign_in("")  # the address's budget: no account is named
    rp_id, origin = relying_party()
    user = passkeys.authenticate(catalog(), credential, _challenge(SIGNING_IN), rp_id=rp_id, origin=origin)
    attempt.give_back()
    start_session(user, bool(body.get("remember")))
    audit.record_request(catalog(), user, "sign_in", via="passkey")
    return jsonify({"redirect": safe_next(body.get("next"))})
