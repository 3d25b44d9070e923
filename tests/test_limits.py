"""Abuse limits: sign-in lock-outs per account and per address, uploads per minute and bytes per day."""
from __future__ import annotations

import pytest

from ulid import ULID

from momento import create_app
from momento.formats import in_words
from momento.config import ConfigError
from momento.errors import RateLimited, TooLarge
from tests.conftest import Account, app_config

pytestmark = pytest.mark.usefixtures("fast_passwords")  # many sign-ins: hashing is not under test here

PASSWORD = "correct horse battery"


@pytest.fixture
def limited_app(request, tmp_path):
    """An app with limits on (they are off under TESTING otherwise), small enough to reach in a test."""
    extra = getattr(request, "param", {})
    config = {"RATELIMIT_ENABLED": True, "LOGIN_LIMIT": "3 per 15 minutes", "LOGIN_ADDRESS_LIMIT": "100 per hour"}
    return create_app(app_config(request, tmp_path, "local", **(config | extra)))


def _login(client, email, password, **kw):
    return client.post("/login", data={"email": email, "password": password}, **kw)


def _token(client, email, password, **kw):
    return client.post("/api/v1/auth/token", json={"email": email, "password": password}, **kw)


def test_login_page_locks_an_account_after_failed_attempts_and_says_for_how_long(limited_app):
    alice = Account(limited_app, "alice@example.com")
    c = limited_app.test_client()
    for _ in range(3):
        assert _login(c, alice.email, "wrong password").status_code == 401
    locked = _login(c, alice.email, PASSWORD)  # even the right password waits: the attacker may have found it
    assert locked.status_code == 429
    wait = int(locked.headers["Retry-After"])
    assert 0 < wait <= 15 * 60 + 1
    page = locked.get_data(as_text=True)
    assert "Too many failed sign-in attempts for this account" in page
    assert "try again in 15 minutes" in page or "try again in 14 minutes" in page
    assert '<form method="post"' in page  # the sign-in page itself, not a bare error
    # Another account from the same address is not locked by alice's failures.
    bob = Account(limited_app, "bob@example.com")
    assert _login(c, bob.email, PASSWORD).status_code == 302


def test_successful_sign_ins_do_not_count(limited_app):
    alice = Account(limited_app, "alice@example.com")
    for _ in range(6):
        c = limited_app.test_client()
        assert _login(c, alice.email, PASSWORD).status_code == 302


def test_page_and_token_api_share_the_account_budget_and_the_api_answers_json(limited_app):
    alice = Account(limited_app, "alice@example.com")
    c = limited_app.test_client()
    assert _login(c, "Alice@Example.com ", "nope").status_code == 401  # the same account, however it is typed
    assert _token(c, alice.email, "nope").status_code == 401
    assert _token(c, alice.email, "nope").status_code == 401
    resp = _token(c, alice.email, PASSWORD)
    assert resp.status_code == 429
    assert resp.json["error"]["code"] == "rate_limited"
    assert "try again in" in resp.json["error"]["message"]
    assert int(resp.headers["Retry-After"]) > 0


@pytest.mark.parametrize("limited_app", [{"LOGIN_LIMIT": "100 per hour", "LOGIN_ADDRESS_LIMIT": "4 per minute"}],
                         indirect=True)
def test_one_address_trying_many_accounts_is_stopped(limited_app):
    c = limited_app.test_client()
    for i in range(4):
        assert _token(c, f"victim{i}@example.com", "guess").status_code == 401
    resp = _token(c, "victim9@example.com", "guess")
    assert resp.status_code == 429 and "from your network" in resp.json["error"]["message"]
    assert 0 < int(resp.headers["Retry-After"]) <= 61
    # Another address is not affected.
    other = _token(c, "victim9@example.com", "guess", environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert other.status_code == 401


def test_limits_are_off_in_tests_unless_asked(app, client, alice):
    assert app.config["RATELIMIT_ENABLED"] is False
    for _ in range(15):
        assert _login(client, alice.email, "wrong").status_code == 401


def _admit(app, user, declared=0):
    """Admission as the form front door takes it, inside a request of the app."""
    from momento.uploads.admission import admit
    from momento.web.library import upload_budgets

    return admit(app.extensions["momento"].catalog, user, upload_budgets(), declared=declared,
                 reservation_id=str(ULID()))


@pytest.mark.parametrize("limited_app", [{"UPLOAD_LIMIT": "2 per minute"}], indirect=True)
def test_upload_rate_per_user(limited_app):
    alice = Account(limited_app, "alice@example.com")
    bob = Account(limited_app, "bob@example.com")
    with limited_app.test_request_context():
        _admit(limited_app, alice.user)
        _admit(limited_app, alice.user)
        with pytest.raises(RateLimited) as caught:
            _admit(limited_app, alice.user)
        assert caught.value.status == 429 and caught.value.code == "rate_limited"
        assert 0 < caught.value.retry_after <= 60
        _admit(limited_app, bob.user)  # per user


@pytest.mark.parametrize("limited_app", [{"UPLOAD_BYTES_PER_DAY": "1000"}], indirect=True)
def test_daily_byte_budget(limited_app):
    alice = Account(limited_app, "alice@example.com")
    with limited_app.test_request_context():
        first = _admit(limited_app, alice.user, 600)
        with pytest.raises(RateLimited) as caught:
            _admit(limited_app, alice.user, 600)
        assert caught.value.code == "daily_limit_exceeded"
        assert 23 * 3600 < caught.value.retry_after <= 24 * 3600
        assert "400 bytes is left today" in caught.value.message
        # A refused claim takes nothing: what is left can still be used.
        second = _admit(limited_app, alice.user, 400)
        first.settle(100)  # an upload that kept less gives the rest back
        third = _admit(limited_app, alice.user, 500)
        with pytest.raises(TooLarge):
            _admit(limited_app, alice.user, 1001)
        # A body that declared no length claims its bytes as they arrive, and they count like any others.
        second.settle(200)  # 100 + 200 + 500 of 1000 used
        growing = _admit(limited_app, alice.user)
        growing.need(150)
        growing.need(200)
        with pytest.raises(RateLimited):
            growing.need(201)
        growing.settle(200)
        third.settle(500)
        with pytest.raises(RateLimited):
            _admit(limited_app, alice.user, 1)


def test_rate_limited_errors_become_429_with_retry_after(limited_app):
    def view():
        raise RateLimited("Slow down.", retry_after=42)

    limited_app.add_url_rule("/api/v1/_slow", view_func=view)
    resp = limited_app.test_client().get("/api/v1/_slow")
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "42"
    assert resp.json["error"] == {"code": "rate_limited", "message": "Slow down."}


def test_upload_limits_do_nothing_when_limits_are_off(app, alice):
    with app.test_request_context():
        for _ in range(500):
            _admit(app, alice.user)
        assert _admit(app, alice.user, 10**15).counted == 0


@pytest.mark.parametrize("setting,value", [("LOGIN_LIMIT", "lots"), ("UPLOAD_LIMIT", "5 per fortnight"),
                                           ("UPLOAD_BYTES_PER_DAY", "12 parsecs"), ("PROXY_FIX", "-1")])
def test_bad_settings_fail_at_start(request, tmp_path, setting, value):
    with pytest.raises(ConfigError, match=f"MOMENTO_{setting}"):
        create_app(app_config(request, tmp_path, "local", **{setting: value}))


def test_none_turns_a_limit_off(request, tmp_path):
    app = create_app(app_config(request, tmp_path, "local", RATELIMIT_ENABLED=True, LOGIN_LIMIT="none",
                                UPLOAD_BYTES_PER_DAY="none"))
    alice = Account(app, "alice@example.com")
    c = app.test_client()
    for _ in range(12):
        assert _login(c, alice.email, "wrong").status_code == 401
    with app.test_request_context():
        assert _admit(app, alice.user, 10**12).counted == 0


def test_in_words():
    assert in_words(1) == "1 second"
    assert in_words(45) == "45 seconds"
    assert in_words(61) == "2 minutes"
    assert in_words(900) == "15 minutes"
    assert in_words(86400) == "24 hours"


def test_a_limit_storage_that_does_not_answer_is_a_503_and_the_health_check_says_so(request, tmp_path):
    """Redis down (here: nothing listens on its port): whatever counts answers 503 backend_unavailable, never
    a crash, reading still works, and /healthz reports the server unavailable so a load balancer moves on."""
    import io
    import socket

    from tests import corpus

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing answers there
    app = create_app(app_config(request, tmp_path, "local", RATELIMIT_ENABLED=True,
                                RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{port}"))
    alice = Account(app, "alice@example.com", PASSWORD)
    client = app.test_client()
    for resp in (_token(client, alice.email, PASSWORD),
                 client.post("/api/v1/uploads", headers=alice.headers, content_type="multipart/form-data",
                             data={"file": (io.BytesIO(corpus.jpeg(20, 20)), "a.jpg")})):
        assert resp.status_code == 503 and resp.json["error"]["code"] == "backend_unavailable", resp.json
    assert alice.get("/api/v1/uploads").json["items"] == []  # nothing half-stored, and reads still answer
    health = client.get("/healthz")
    assert health.status_code == 503 and health.json["status"] == "unavailable"
    assert "momento_backend_errors_total{backend=\"ratelimit\"" in client.get("/metrics").get_data(as_text=True)
