"""Accounts that hold: server sessions, scoped tokens, password change, sign-in hygiene (through HTTP)."""
from __future__ import annotations

import io
import threading

import pytest

from momento import create_app
from tests import corpus
from tests.conftest import Account, app_config, both_backends

pytestmark = pytest.mark.usefixtures("fast_passwords")


def _sign_in(client, account, **extra):
    return client.post("/login", data={"email": account.email, "password": account.password, **extra})


def _token(client, account, **body):
    return client.post("/api/v1/auth/token", json={"email": account.email, "password": account.password, **body})


@both_backends
def test_a_cookie_copied_before_sign_out_stops_working(app, alice):
    browser = app.test_client()
    assert _sign_in(browser, alice, remember="y").status_code == 302
    cookie = browser.get_cookie("session").value
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    assert thief.get("/").status_code == 200
    browser.post("/logout")
    assert browser.get("/").status_code == 302
    assert thief.get("/").status_code == 302  # the server forgot the session: the copy is worthless
    assert thief.get("/api/v1/uploads").status_code == 401


@both_backends
def test_sessions_are_listed_and_ended_one_by_one_or_all(app, alice):
    phone, laptop = app.test_client(), app.test_client()
    _sign_in(phone, alice, remember="y")
    _sign_in(laptop, alice)
    items = laptop.get("/api/v1/account/sessions", headers={"User-Agent": "x"}).json["items"]
    assert len(items) == 2 and sorted(i["current"] for i in items) == [False, True]
    assert set(items[0]) == {"id", "created_at", "last_seen_at", "user_agent", "address", "current"}
    other = next(i for i in items if not i["current"])
    assert laptop.delete(f"/api/v1/account/sessions/{other['id']}").status_code == 204
    assert phone.get("/").status_code == 302  # signed out at once, remember-me and all
    assert laptop.delete(f"/api/v1/account/sessions/{other['id']}").status_code == 404
    assert alice.get("/api/v1/account/sessions").status_code == 403  # tokens never see sessions
    _sign_in(phone, alice)
    laptop.post("/account/sessions/end-all")
    assert phone.get("/").status_code == 302 and laptop.get("/").status_code == 302


@both_backends
def test_old_tokens_and_cookies_stay_dead_after_disable_and_enable(app, alice, runner):
    browser = app.test_client()
    _sign_in(browser, alice)
    second = _token(app.test_client(), alice).json["token"]
    runner.invoke(args=["users", "disable", alice.email])
    runner.invoke(args=["users", "enable", alice.email])
    assert alice.get("/api/v1/uploads").status_code == 401
    assert app.test_client().get("/api/v1/uploads", headers={"Authorization": f"Bearer {second}"}).status_code == 401
    assert browser.get("/").status_code == 302


@both_backends
def test_scoped_named_expiring_tokens(app, alice):
    c = app.test_client()
    made = _token(c, alice, name="backup script", scopes=["read"], expires_in_days=30)
    assert made.status_code == 201
    body = made.json
    assert set(body) == {"token", "id", "name", "scopes", "expires_at", "user"}
    assert body["scopes"] == ["read"] and body["name"] == "backup script" and body["expires_at"]
    reader = {"Authorization": f"Bearer {body['token']}"}
    assert c.get("/api/v1/uploads", headers=reader).status_code == 200
    refused = c.post("/api/v1/uploads", headers=reader, data={"file": (io.BytesIO(corpus.jpeg()), "a.jpg")},
                    content_type="multipart/form-data")
    assert refused.status_code == 403 and refused.json["error"]["code"] == "insufficient_scope"
    upload = alice.upload(corpus.jpeg(40, 30)).json
    for method, url in (("PATCH", f"/api/v1/uploads/{upload['id']}"), ("DELETE", f"/api/v1/uploads/{upload['id']}"),
                        ("POST", f"/api/v1/uploads/{upload['id']}/restore"), ("POST", "/api/v1/tus/")):
        resp = c.open(url, method=method, headers=reader | {"Tus-Resumable": "1.0.0", "Upload-Length": "10"},
                      json={"tags": ["x"]} if method == "PATCH" else None)
        assert resp.status_code == 403 and resp.json["error"]["code"] == "insufficient_scope", (method, url)
    assert c.get(f"/media/{upload['id']}/thumbnail", headers=reader).status_code == 200
    uploader = {"Authorization": f"Bearer {_token(c, alice, scopes=['upload']).json['token']}"}
    assert c.get("/api/v1/uploads", headers=uploader).json["error"]["code"] == "insufficient_scope"
    for bad in ({"scopes": ["admin"]}, {"scopes": []}, {"scopes": "read"}, {"expires_in_days": 0},
                {"expires_in_days": 366}, {"expires_in_days": "7"}):
        assert _token(c, alice, **bad).status_code == 400, bad


@both_backends
def test_tokens_are_listed_with_last_use_and_revoked_at_once(app, alice):
    browser = app.test_client()
    _sign_in(browser, alice)
    made = _token(app.test_client(), alice, name="laptop").json
    headers = {"Authorization": f"Bearer {made['token']}"}
    assert browser.get("/api/v1/uploads", headers=headers).status_code == 200
    items = browser.get("/api/v1/auth/tokens").json["items"]
    mine = next(i for i in items if i["id"] == made["id"])
    assert set(mine) == {"id", "name", "scopes", "created_at", "last_used_at", "expires_at"}
    assert mine["last_used_at"] and mine["name"] == "laptop" and "token" not in mine
    assert made["token"] not in browser.get("/account").get_data(as_text=True)
    for path in ("/api/v1/auth/tokens", f"/api/v1/auth/tokens/{made['id']}"):
        resp = app.test_client().open(path, method="GET" if path.endswith("tokens") else "DELETE", headers=headers)
        assert resp.status_code == 403 and resp.json["error"]["code"] == "session_only"
    assert browser.delete(f"/api/v1/auth/tokens/{made['id']}").status_code == 204
    assert app.test_client().get("/api/v1/uploads", headers=headers).status_code == 401
    assert browser.delete(f"/api/v1/auth/tokens/{made['id']}").status_code == 404


def test_the_account_page_makes_a_scoped_token_shown_once(app, alice):
    import re

    browser = app.test_client()
    _sign_in(browser, alice)
    page = browser.post("/account/tokens", data={"name": "backup script", "scopes": ["read"],
                                                 "expires_in_days": "30"}).get_data(as_text=True)
    secret = re.search(r'id="new-token" type="text" readonly value="([^"]+)"', page).group(1)
    headers = {"Authorization": f"Bearer {secret}"}
    assert app.test_client().get("/api/v1/uploads", headers=headers).status_code == 200
    refused = app.test_client().post("/api/v1/uploads", headers=headers, data={"file": (io.BytesIO(b"x"), "a.jpg")})
    assert refused.status_code == 403 and refused.json["error"]["code"] == "insufficient_scope"
    listed = [i for i in browser.get("/api/v1/auth/tokens").json["items"] if i["name"] == "backup script"]
    assert [(i["scopes"], bool(i["expires_at"])) for i in listed] == [(["read"], True)]
    assert secret not in browser.get("/account").get_data(as_text=True)  # shown that once only
    none = browser.post("/account/tokens", data={"name": "nothing allowed"}, follow_redirects=True)
    names = [i["name"] for i in browser.get("/api/v1/auth/tokens").json["items"]]
    assert "scopes" in none.get_data(as_text=True) and "nothing allowed" not in names


@both_backends
def test_password_change_ends_every_other_session(app, alice, runner):
    here, there = app.test_client(), app.test_client()
    _sign_in(here, alice), _sign_in(there, alice, remember="y")
    wrong = here.post("/api/v1/account/password", json={"current": "nope", "new": "another long one"})
    assert wrong.status_code == 401
    assert here.post("/api/v1/account/password", json={"current": alice.password, "new": "x"}).status_code == 400
    assert alice.post("/api/v1/account/password", json={"current": alice.password, "new": "another long one"}
                      ).status_code == 403
    assert here.post("/api/v1/account/password",
                     json={"current": alice.password, "new": "another long one"}).status_code == 204
    assert here.get("/").status_code == 200 and there.get("/").status_code == 302
    assert _sign_in(app.test_client(), alice).status_code == 401
    alice.password = "another long one"
    assert _sign_in(app.test_client(), alice).status_code == 302
    result = runner.invoke(args=["users", "password", alice.email, "--password", "third password here"])
    assert result.exit_code == 0, result.output
    assert here.get("/").status_code == 302  # the command ends every session


def test_the_page_changes_the_password(app, alice):
    c = app.test_client()
    _sign_in(c, alice)
    resp = c.post("/account/password", data={"pw-current": alice.password, "pw-new": "brand new secret",
                                             "pw-confirm": "brand new secret"})
    assert resp.status_code == 302
    alice.password = "brand new secret"
    assert _sign_in(app.test_client(), alice).status_code == 302


def test_signout_command_ends_sessions_and_tokens(app, alice, runner):
    c = app.test_client()
    _sign_in(c, alice)
    result = runner.invoke(args=["users", "signout", alice.email])
    assert result.exit_code == 0 and "1 session(s)" in result.output and "1 token(s)" in result.output
    assert c.get("/").status_code == 302 and alice.get("/api/v1/uploads").status_code == 401
    assert _token(app.test_client(), alice).status_code == 201  # the account itself still works


@pytest.mark.parametrize("target", ["/\t/evil.example", "//evil.example", "/\\evil.example",
                                    "\\\\evil.example", "https://evil.example/", "javascript:alert(1)",
                                    "/\n/evil.example", " //evil.example", "/x\r\nSet-Cookie: a=b",
                                    "http:/evil.example", "", "evil.example"])
def test_next_never_leaves_the_site_and_never_fails(app, alice, target):
    from urllib.parse import quote

    resp = app.test_client().post(f"/login?next={quote(target, safe='')}",
                                  data={"email": alice.email, "password": alice.password})
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/", (target, resp.headers["Location"])


@pytest.mark.parametrize("target", ["/search?q=beach", "/uploads/01JD3Z8Q4M5X2V7K9T1B6N0C3F", "/trash",
                                    "/%09/evil.example"])
def test_next_keeps_paths_of_this_site(app, alice, target):
    from urllib.parse import quote

    resp = app.test_client().post(f"/login?next={quote(target, safe='')}",
                                  data={"email": alice.email, "password": alice.password})
    assert resp.headers["Location"] == target


def test_the_csrf_token_and_session_are_renewed_at_sign_in(tmp_path, request):
    app = create_app(app_config(request, tmp_path, "local", WTF_CSRF_ENABLED=True))
    alice = Account(app, "alice@example.com")
    c = app.test_client()
    c.get("/login")
    with c.session_transaction() as s:
        before = s.get("csrf_token")
        s["planted"] = "by an attacker"
    assert before
    page = c.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    assert c.post("/login", data={"email": alice.email, "password": alice.password,
                                  "csrf_token": token}).status_code == 302
    with c.session_transaction() as s:
        assert s.get("csrf_token") and s["csrf_token"] != before
        assert "planted" not in s and s.get("sid")


@pytest.fixture
def limited(request, tmp_path):
    """Limits on, small enough to reach."""
    return create_app(app_config(request, tmp_path, "local", RATELIMIT_ENABLED=True, LOGIN_LIMIT="5 per 15 minutes",
                                 LOGIN_ADDRESS_LIMIT="100 per hour", REGISTER_LIMIT="3 per hour"))


def test_parallel_wrong_passwords_never_exceed_the_limit(limited):
    alice = Account(limited, "alice@example.com")
    statuses, start = [], threading.Barrier(20)

    def attempt():
        c = limited.test_client()
        start.wait()
        statuses.append(c.post("/api/v1/auth/token", json={"email": alice.email, "password": "wrong"}).status_code)

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses.count(401) == 5, statuses  # exactly the budget was checked, never more
    assert statuses.count(429) == 15


def test_register_is_limited_per_address(limited):
    c = limited.test_client()
    for i in range(3):
        resp = c.post("/register", data={"email": f"new{i}@example.com", "password": "long enough pw",
                                         "confirm": "long enough pw"})
        assert resp.status_code == 302, i
        c.post("/logout")
    resp = c.post("/register", data={"email": "new9@example.com", "password": "long enough pw",
                                     "confirm": "long enough pw"})
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) > 0
    assert "Too many new accounts" in resp.get_data(as_text=True)


def test_last_seen_and_last_used_are_written_at_most_once_a_minute(app, alice, monkeypatch):
    catalog = app.extensions["momento"].catalog
    writes = []
    for name in ("touch_session", "touch_token"):
        original = getattr(catalog, name)
        monkeypatch.setattr(catalog, name, lambda record, _o=original, _n=name: (writes.append(_n), _o(record)))
    c = app.test_client()
    _sign_in(c, alice, remember="y")
    for _ in range(5):
        assert c.get("/api/v1/uploads").status_code == 200
        assert alice.get("/api/v1/uploads").status_code == 200
    assert writes.count("touch_session") == 0  # a new session was seen just now
    assert writes.count("touch_token") == 1  # the first use is recorded, the next four within the minute are not
    (record,) = catalog.list_sessions(alice.user.id)
    from datetime import datetime, timedelta, timezone

    from momento.formats import parse_iso

    # "keep me signed in": a long session on the server (REMEMBER_DAYS), not a cookie that bypasses it
    assert record.remember and parse_iso(record.expires_at) > datetime.now(timezone.utc) + timedelta(days=29)
