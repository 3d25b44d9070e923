"""The account's security API (session only): sessions, password, two-factor."""
from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask_login import login_required

from .. import accounts
from . import limits
from ..accounts import audit, sessions, twofactor
from ..backends import catalog
from ..errors import BadRequest, NotFound
from .library import owner
from .scopes import session_only
from .signin import current_session, end_session

bp = Blueprint("account_api", __name__, url_prefix="/api/v1/account")


def _body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("Send a JSON object.", code="invalid_body")
    return body


def current_hash():
    """The stored id of this request's session (None for a token, which never gets here)."""
    record = current_session()
    return record.id if record else None


@bp.get("/sessions")
@session_only
@login_required
def list_sessions():
    """Where the account is signed in."""
    current = current_hash()
    return jsonify({"items": [sessions.to_json(s, current) for s in sessions.live(catalog(), owner().id)]})


@bp.delete("/sessions/<session_id>")
@session_only
@login_required
def end_one(session_id: str):
    """Sign one session out at once (the current one too: that signs this browser out)."""
    user = owner()
    if not sessions.end(catalog(), user.id, session_id):
        raise NotFound("No such session.")
    audit.record_request(catalog(), user, "session_ended")
    if session_id == current_hash():
        end_session()
    return "", 204


@bp.post("/password")
@session_only
@login_required
def change_password():
    """A new password; every other session ends."""
    body = _body()
    if not isinstance(body.get("current"), str) or not isinstance(body.get("new"), str):
        raise BadRequest('Send JSON {"current": "...", "new": "..."}.', code="invalid_body")
    with limits.secret_check(owner().email):
        user = accounts.change_password(catalog(), owner(), body["current"], body["new"], keep_session=current_hash())
    audit.record_request(catalog(), user, "password_changed", via="api")
    return "", 204


@bp.post("/2fa")
@session_only
@login_required
def begin_two_factor():
    """A new TOTP secret to put into an authenticator app; two-factor is on once a code confirms it."""
    secret, uri = twofactor.begin(catalog(), owner())
    return jsonify({"secret": secret, "otpauth_uri": uri}), 201


@bp.post("/2fa/confirm")
@session_only
@login_required
def confirm_two_factor():
    """Two-factor on, and the ten recovery codes (shown this once)."""
    codes = twofactor.confirm(catalog(), owner(), _body().get("code"))
    audit.record_request(catalog(), owner(), "two_factor_on", via="api")
    return jsonify({"recovery_codes": codes})


@bp.delete("/2fa")
@session_only
@login_required
def disable_two_factor():
    """Two-factor off, with a current code or a recovery code."""
    with limits.secret_check(owner().email):
        twofactor.disable(catalog(), owner(), _body().get("code"))
    audit.record_request(catalog(), owner(), "two_factor_off", via="api")
    return "", 204
