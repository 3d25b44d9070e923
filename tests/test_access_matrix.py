"""Access control: every route in the URL map, as anonymous, as the owner, as another user and as a disabled user.

Routes are read from app.url_map, so a new route is covered the moment it exists; only the few routes whose
answer differs from the general rule are listed in SPECIAL.
"""
from __future__ import annotations

import io
import uuid

import pytest

from tests import corpus
from tests.conftest import Account, both_backends

pytestmark = pytest.mark.usefixtures("fast_passwords")  # many sign-ins: hashing is not under test here

ROLES = ("anonymous", "owner", "other", "disabled")
SESSION_ONLY = ("/api/v1/auth/tokens", "/api/v1/account/")
# Routes anyone may call.
PUBLIC = {"/login", "/register", "/healthz", "/static/<path:filename>"}
# A share link opens for anyone who has it, signed in or not (tests/test_sharing.py checks the links themselves).
SHARED = {"/s/<token>", "/s/<token>/items", "/s/<token>/media/<upload_id>/<variant>"}
TUS = {"Tus-Resumable": "1.0.0"}
# (rule, method) -> {role: expected status} where the general rule does not hold.
SPECIAL = {
    # Tokens are made from credentials, not from a session: the body decides (the role's own credentials).
    ("/api/v1/auth/token", "POST"): {"anonymous": 401, "owner": 201, "other": 201, "disabled": 401},
    # Revoking needs the token itself in Authorization; a session alone is told so.
    ("/api/v1/auth/token", "DELETE"): {"anonymous": 401, "owner": 401, "other": 401, "disabled": 401},
    # A photo has no playback rendition: the owner gets a plain 404 too.
    ("/media/<upload_id>/playback", "GET"): {"owner": 404},
    # Signing in when signed in goes to the gallery; signing in with a wrong password is a 401 page.
    ("/login", "POST"): {"anonymous": 401, "owner": 302, "other": 302, "disabled": 401},
    # Passkey sign-in starts without an account; an empty answer is refused as bad input.
    ("/api/v1/auth/passkey/options", "POST"): {"anonymous": 200, "owner": 200, "other": 200, "disabled": 200},
    ("/api/v1/auth/passkey", "POST"): {"anonymous": 400, "owner": 400, "other": 400, "disabled": 400},
    # Two-factor and passkey steps without their body are bad input, not a server error.
    ("/api/v1/account/2fa/confirm", "POST"): {"owner": 400, "other": 400},
    ("/api/v1/account/2fa", "DELETE"): {"owner": 400, "other": 400},
    ("/api/v1/account/password", "POST"): {"owner": 400, "other": 400},
    ("/api/v1/account/passkeys", "POST"): {"owner": 400, "other": 400},
    # The second sign-in step without a first one goes back to the first.
    ("/login/code", "GET"): {"anonymous": "login", "owner": "login", "other": "login", "disabled": "login"},
    ("/login/code", "POST"): {"anonymous": "login", "owner": "login", "other": "login", "disabled": "login"},
    # The share form with nothing chosen says so (the matrix sends no uploads).
    ("/shares/new", "GET"): {"owner": 400, "other": 400},
    ("/shares/new", "POST"): {"owner": 400, "other": 400},
    # tus discovery tells nothing about anyone.
    ("/api/v1/tus/", "OPTIONS"): {"anonymous": 204, "owner": 204, "other": 204, "disabled": 204},
    # Metrics are for the machine itself (the test client is on loopback); strangers: tests/test_observe.py.
    ("/metrics", "GET"): {"anonymous": 200, "owner": 200, "other": 200, "disabled": 200},
    # Sharing someone else's upload: the id is not yours, so it is not found.
    ("/api/v1/shares", "POST"): {"other": 404},
    ("/shares/new", "POST"): {"other": 404},
}


def _body(rule: str, method: str, account: Account | None, upload_id: str = "") -> dict:
    """A plausible request body for a route, so a refusal means the access rule and not a missing body."""
    if (rule, method) == ("/api/v1/searches", "POST"):
        return {"json": {"name": "matrix", "query": {"tag": ["matrix"]}}}
    if (rule, method) == ("/api/v1/shares", "POST"):
        return {"json": {"uploads": [upload_id]}}
    if (rule, method) == ("/api/v1/searches/<search_id>", "PATCH"):
        return {"json": {"name": "renamed"}}
    if (rule, method) == ("/searches", "POST"):
        return {"data": {"name": "matrix", "tag": "matrix"}}
    if (rule, method) == ("/searches/<search_id>/rename", "POST"):
        return {"data": {"name": "renamed"}}
    if (rule, method) == ("/shares/new", "POST"):
        return {"data": {"uploads": upload_id, "expires_in_days": "7"}}
    if rule.startswith("/api/v1/tus"):
        if method == "POST":
            return {"headers": TUS | {"Upload-Length": "100"}}
        if method == "PATCH":
            return {"headers": TUS | {"Upload-Offset": "0"}, "data": b"x" * 10,
                    "content_type": "application/offset+octet-stream"}
        return {"headers": TUS}
    if (rule, method) == ("/api/v1/uploads", "POST"):
        return {"data": {"file": (io.BytesIO(corpus.jpeg(40 + len(rule) % 7, 30)), "m.jpg")},
                "content_type": "multipart/form-data"}
    if method == "PATCH" and rule.startswith("/api/"):
        return {"json": {"tags": ["matrix"]}}
    if rule.endswith("/tags") and method == "POST":
        return {"data": {"tags": "matrix"}}
    if (rule, method) == ("/api/v1/auth/token", "POST"):
        email, password = (account.email, account.password) if account else ("nobody@example.com", "wrong password")
        return {"json": {"email": email, "password": password}}
    if (rule, method) == ("/login", "POST"):
        email, password = (account.email, account.password) if account else ("nobody@example.com", "wrong password")
        return {"data": {"email": email, "password": password}}
    if (rule, method) == ("/register", "POST"):
        return {"data": {"email": f"{uuid.uuid4().hex[:8]}@example.com", "password": "long enough pw",
                         "confirm": "long enough pw"}}
    return {}


def _expected_class(rule, method: str, role: str, filled: bool) -> str:
    """'2xx/3xx', '401', 'login' (a redirect to the sign-in page), '404', or 'not 5xx'."""
    path = rule.rule
    if path in PUBLIC or path in SHARED:
        return "2xx/3xx"
    api = path.startswith(("/api/", "/media/"))
    if role in ("anonymous", "disabled"):
        return "401" if api else "login"
    has_id = bool(rule.arguments)
    if role == "other" and has_id:
        return "404"
    return "2xx/3xx" if filled or not has_id else "not 5xx"


def _check(resp, expected, where: str) -> None:
    status, body = resp.status_code, resp.get_data()[:200]
    if isinstance(expected, int):
        assert status == expected, (where, status, body)
    elif expected == "2xx/3xx":
        assert 200 <= status < 400, (where, status, body)
    elif expected == "401":
        assert status == 401 and resp.json["error"]["code"] in ("unauthorized", "invalid_token"), (where, status, body)
    elif expected == "login":
        assert status == 302 and "/login" in resp.headers["Location"], (where, status, resp.headers.get("Location"))
    elif expected == "404":
        assert status == 404, (where, status, body)
        if resp.mimetype == "application/json":
            assert resp.json["error"]["code"].endswith("not_found")  # as for an id nobody has
    else:
        assert status < 500, (where, status, body)
    if status >= 400 and resp.mimetype == "application/json":
        assert resp.json["error"]["message"]


def _client(app, account: Account | None):
    """A browser: signed in as the account (its session, as /login would leave it), or anonymous."""
    c = app.test_client()
    if account is not None:
        from datetime import timedelta

        from momento.accounts import sessions

        with app.app_context():
            session_id, _ = sessions.start(app.extensions["momento"].catalog, account.user, remember=False,
                                           lifetime=timedelta(hours=1))
        with c.session_transaction() as session:
            session["_user_id"], session["_fresh"], session["sid"] = account.user.id, True, session_id
    return c


def _new_tus_upload(owner: Account) -> str:
    resp = owner.post("/api/v1/tus/", headers=TUS | {"Upload-Length": "100"})
    assert resp.status_code == 201, resp.get_data()
    return resp.headers["Location"].rstrip("/").rsplit("/", 1)[-1]


# argument -> how to fill it with something of the owner's (called for each request: some requests delete it)
def _new_search(owner: Account) -> str:
    """A saved search of the owner's."""
    resp = owner.post("/api/v1/searches", json={"name": "matrix", "query": {"tag": ["matrix"]}})
    assert resp.status_code == 201, resp.json
    return resp.json["id"]


def _new_share(owner: Account, upload_id: str) -> dict:
    """A link to one of the owner's uploads."""
    resp = owner.post("/api/v1/shares", json={"uploads": [upload_id]})
    assert resp.status_code == 201, resp.json
    return resp.json


FILLERS = {
    "upload_id": lambda owner, upload_id: upload_id,
    "tus_id": lambda owner, upload_id: _new_tus_upload(owner),
    "filename": lambda owner, upload_id: "momento.css",
    "search_id": lambda owner, upload_id: _new_search(owner),
    "share_id": lambda owner, upload_id: _new_share(owner, upload_id)["id"],
    "token": lambda owner, upload_id: _new_share(owner, upload_id)["url"].rsplit("/", 1)[1],
    "variant": lambda owner, upload_id: "thumbnail",
}


def _fill(rule, owner: Account, upload_id: str) -> tuple[str, bool]:
    """The URL with its arguments filled; False when an argument is not one Momento can fill (a new kind of id)."""
    values, filled = {}, True
    for name in rule.arguments:
        if name in FILLERS:
            values[name] = FILLERS[name](owner, upload_id)
        else:
            values[name] = "01JD3Z8Q4M5X2V7K9T1B6N0C3F"
            filled = False
    return rule.build(values, append_unknown=False)[1], filled


def _methods(rule) -> list[str]:
    """The methods a rule serves; OPTIONS only where a view answers it itself (Flask's automatic one tells nothing)."""
    methods = set(rule.methods) - {"HEAD"}
    if rule.provide_automatic_options or methods != {"OPTIONS"}:
        methods.discard("OPTIONS")
    return sorted(methods)


@both_backends
def test_access_matrix(app, runner):
    owner, other = Account(app, "owner@example.com"), Account(app, "other@example.com")
    disabled = Account(app, "disabled@example.com")
    upload = owner.upload(corpus.jpeg(64, 48), tags="matrix").json
    assert runner.invoke(args=["users", "disable", disabled.email]).exit_code == 0
    accounts = {"anonymous": None, "owner": owner, "other": other, "disabled": disabled}
    checked = 0
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        for method in _methods(rule):
            for role in ROLES:
                url, filled = _fill(rule, owner, upload["id"])
                expected = SPECIAL.get((rule.rule, method), {}).get(role) or _expected_class(rule, method, role, filled)
                resp = _client(app, accounts[role]).open(url, method=method, **_body(rule.rule, method, accounts[role], upload["id"]))
                _check(resp, expected, f"{method} {url} as {role}")
                checked += 1
    assert checked >= 4 * 20
    # The owner's upload is still whole after everyone tried everything (others changed nothing).
    after = owner.get(f"/api/v1/uploads/{upload['id']}").json
    assert after["tags"] == ["matrix"] and after["size"] == upload["size"]


def test_tokens_follow_the_same_rules(app, runner):
    """Through Authorization: Bearer, as scripts call: the owner's id routes answer, another's are 404s, and a
    disabled account's token is refused everywhere."""
    owner, other = Account(app, "owner@example.com"), Account(app, "other@example.com")
    disabled = Account(app, "disabled@example.com")
    upload = owner.upload(corpus.jpeg(64, 48)).json
    runner.invoke(args=["users", "disable", disabled.email])
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(("/api/", "/media/")) or rule.rule == "/api/v1/auth/token":
            continue
        for method in _methods(rule):
            for who, expected in ((owner, "owner"), (other, "other"), (disabled, "disabled")):
                url, filled = _fill(rule, owner, upload["id"])
                exp = SPECIAL.get((rule.rule, method), {}).get(expected) or _expected_class(rule, method, expected, filled)
                if expected == "disabled":
                    exp = "401"  # a token that no longer works is refused before any route, public ones too
                elif rule.rule.startswith(SESSION_ONLY):
                    exp = 403  # tokens never manage tokens, sessions, the password, two-factor or passkeys
                body = _body(rule.rule, method, who, upload["id"])
                body["headers"] = who.headers | body.get("headers", {})
                resp = who.client.open(url, method=method, **body)
                _check(resp, exp, f"{method} {url} with {expected}'s token")


@pytest.mark.parametrize("path", sorted(PUBLIC - {"/static/<path:filename>"}))
def test_public_routes_answer_without_a_session(client, path):
    assert client.get(path).status_code == 200
