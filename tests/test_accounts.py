"""Accounts: register, sign in and out, CSRF, cookies, API tokens, disabled accounts."""
from __future__ import annotations

import re

import pytest

from momento import create_app
from tests.conftest import app_config, both_backends


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


@pytest.fixture
def csrf_app(request, tmp_path):
    """An app with CSRF checks on, as in production."""
    return create_app(app_config(request, tmp_path, "local", WTF_CSRF_ENABLED=True))


def test_register_login_logout_with_csrf(csrf_app):
    c = csrf_app.test_client()
    page = c.get("/register")
    assert page.status_code == 200
    # Without the token the form is refused.
    resp = c.post("/register", data={"email": "a@example.com", "password": "longenough", "confirm": "longenough"})
    assert resp.status_code == 400
    token = _csrf(page.get_data(as_text=True))
    resp = c.post("/register", data={"csrf_token": token, "email": "A@Example.com", "password": "longenough",
                                     "confirm": "longenough"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/upload")
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert c.get("/").status_code == 200
    # Logging out needs a POST with the token.
    assert c.post("/logout").status_code == 400
    home = c.get("/upload").get_data(as_text=True)
    assert c.post("/logout", data={"csrf_token": _csrf(home)}).status_code == 302
    assert c.get("/").status_code == 302
    login = c.get("/login").get_data(as_text=True)
    bad = c.post("/login", data={"csrf_token": _csrf(login), "email": "a@example.com", "password": "wrongpass"})
    assert bad.status_code == 401 and "Wrong email or password" in bad.get_data(as_text=True)
    ok = c.post("/login?next=/trash", data={"csrf_token": _csrf(login), "email": "a@example.com", "password": "longenough"})
    assert ok.status_code == 302 and ok.headers["Location"].endswith("/trash")


def test_json_api_with_session_needs_csrf_header(csrf_app):
    c = csrf_app.test_client()
    page = c.get("/register").get_data(as_text=True)
    c.post("/register", data={"csrf_token": _csrf(page), "email": "s@example.com", "password": "longenough",
                               "confirm": "longenough"})
    resp = c.post("/api/v1/uploads", data={}, content_type="multipart/form-data")
    assert resp.status_code == 400 and resp.json["error"]["code"] == "csrf_failed"
    token = _csrf(c.get("/upload").get_data(as_text=True))
    resp = c.post("/api/v1/uploads", data={}, content_type="multipart/form-data", headers={"X-CSRFToken": token})
    assert resp.status_code == 400 and resp.json["error"]["code"] == "missing_file"


def test_open_redirect_is_refused(client, alice):
    resp = client.post("/login?next=//evil.example/x", data={"email": alice.email, "password": alice.password})
    assert resp.status_code == 302 and resp.headers["Location"] == "/"


def test_register_validation(client, alice):
    assert client.post("/register", data={"email": "alice@example.com", "password": "longenough",
                                          "confirm": "longenough"}).status_code == 400
    assert client.post("/register", data={"email": "b@example.com", "password": "short",
                                          "confirm": "short"}).status_code == 400
    assert client.post("/register", data={"email": "not-an-email", "password": "longenough",
                                          "confirm": "longenough"}).status_code == 400
    assert client.post("/register", data={"email": "c@example.com", "password": "longenough",
                                          "confirm": "different1"}).status_code == 400


def test_closed_registration(app, client):
    app.config["OPEN_REGISTRATION"] = False
    assert client.get("/register").status_code == 403


@both_backends
def test_tokens(app, client, alice, backends):
    resp = client.post("/api/v1/auth/token", json={"email": "ALICE@example.com", "password": alice.password})
    assert resp.status_code == 201
    token = resp.json["token"]
    assert resp.json["user"] == {"id": alice.user.id, "email": "alice@example.com"}
    assert "@" not in alice.user.id
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/uploads", headers=auth).status_code == 200
    # Only a hash is stored: the token itself is nowhere in the catalog.
    assert backends.catalog.get_token(token) is None
    assert client.delete("/api/v1/auth/token", headers=auth).status_code == 204
    assert client.get("/api/v1/uploads", headers=auth).status_code == 401
    # The other token still works.
    assert alice.get("/api/v1/uploads").status_code == 200


@pytest.mark.parametrize("body", [{"email": "alice@example.com", "password": "nope-nope"},
                                  {"email": "ghost@example.com", "password": "whatever1"}])
def test_token_bad_credentials(client, alice, body):
    resp = client.post("/api/v1/auth/token", json=body)
    assert resp.status_code == 401 and resp.json["error"]["code"] == "bad_credentials"


@pytest.mark.parametrize("body", [None, [], {"email": 1, "password": 2}, {"email": "x"}])
def test_token_bad_body(client, body):
    resp = client.post("/api/v1/auth/token", json=body)
    assert resp.status_code == 400 and resp.json["error"]["code"] == "invalid_body"


def test_password_is_hashed_with_argon2(alice, backends):
    stored = backends.catalog.get_user(alice.user.id).password_hash
    assert stored.startswith("$argon2id$") and alice.password not in stored


def test_disabled_account(app, client, alice, runner):
    client.post("/login", data={"email": alice.email, "password": alice.password})
    assert client.get("/").status_code == 200
    assert runner.invoke(args=["users", "disable", alice.email]).exit_code == 0
    assert client.get("/").status_code == 302  # the session stops working at once
    assert alice.get("/api/v1/uploads").status_code == 401
    resp = client.post("/api/v1/auth/token", json={"email": alice.email, "password": alice.password})
    assert resp.status_code == 401 and resp.json["error"]["code"] == "account_disabled"
    assert runner.invoke(args=["users", "enable", alice.email]).exit_code == 0
    # Enabling brings no old session or token back: they ended for good.
    assert alice.get("/api/v1/uploads").status_code == 401
    assert client.get("/").status_code == 302
    assert client.post("/login", data={"email": alice.email, "password": alice.password}).status_code == 302
    assert client.get("/").status_code == 200
