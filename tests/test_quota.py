"""Storage quotas: sizes, the check the receive path makes, `flask users quota`, usage on the gallery."""
from __future__ import annotations

from dataclasses import replace

import pytest

from momento import create_app
from momento.errors import TooLarge
from momento.quota import UNLIMITED, QuotaGuard, check_quota, effective_quota, human_bytes, parse_size
from tests import corpus
from tests.conftest import Account, app_config, both_backends

pytestmark = pytest.mark.usefixtures("fast_passwords")  # many sign-ins: hashing is not under test here


@pytest.mark.parametrize("text,expected", [
    ("500MB", 500 * 10**6), ("20GB", 20 * 10**9), ("20 gb", 20 * 10**9), ("1.5GB", 1_500_000_000),
    ("1GiB", 2**30), ("512KiB", 512 * 1024), ("1024", 1024), ("0", 0), (4096, 4096), ("2TB", 2 * 10**12),
    ("none", None), ("None", None), ("unlimited", None), (None, None),
])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "5 parsecs", "-5MB", "MB", "1.2.3GB", True, -1])
def test_parse_size_refuses_nonsense(text):
    with pytest.raises(ValueError):
        parse_size(text)


def test_human_bytes():
    assert human_bytes(1) == "1 byte"
    assert human_bytes(999) == "999 bytes"
    assert human_bytes(1_200_000_000) == "1.2 GB"
    assert human_bytes(5 * 10**9) == "5 GB"


def test_effective_quota(alice):
    user = alice.user
    assert effective_quota(user, None) is None
    assert effective_quota(user, 5000) == 5000  # no quota of its own: the default
    assert effective_quota(replace(user, quota=100), 5000) == 100
    assert effective_quota(replace(user, quota=UNLIMITED), 5000) is None


@both_backends
def test_check_quota_counts_live_and_trashed_bytes(app, alice, backends):
    first = alice.upload(corpus.jpeg(64, 48)).json
    second = alice.upload(corpus.jpeg(80, 60)).json
    used = first["size"] + second["size"]
    user = replace(alice.user, quota=used + 100)
    check_quota(backends.catalog, user, 100, default=None)
    with pytest.raises(TooLarge) as caught:
        check_quota(backends.catalog, user, 101, default=None)
    assert caught.value.status == 413 and caught.value.code == "quota_exceeded"
    assert "100 bytes left" in caught.value.message
    # Trashed uploads keep their bytes until purged: they still count, and the message says so.
    assert alice.delete(f"/api/v1/uploads/{first['id']}").status_code == 204
    with pytest.raises(TooLarge) as caught:
        check_quota(backends.catalog, user, 101, default=None)
    assert "trash" in caught.value.message


def test_the_guard_checks_growing_sizes_without_reading_again(app, alice, backends, monkeypatch):
    user = replace(alice.user, quota=1000)
    guard = check_quota(backends.catalog, user, 10, default=None)  # the declared size
    monkeypatch.setattr(backends.catalog, "usage", lambda *_: pytest.fail("read again"))
    guard.check(999)
    guard.check(1000)
    with pytest.raises(TooLarge, match="1 KB"):
        guard.check(1001)  # as bytes arrive
    assert guard.remaining == 1000


def test_no_quota_reads_nothing(app, alice, backends, monkeypatch):
    monkeypatch.setattr(backends.catalog, "usage", lambda *_: pytest.fail("read usage"))
    guard = QuotaGuard.for_user(backends.catalog, alice.user, None)
    guard.check(10**15)
    assert guard.remaining is None


def test_default_quota_comes_from_the_config(request, tmp_path):
    app = create_app(app_config(request, tmp_path, "local", DEFAULT_QUOTA="1KB"))
    alice = Account(app, "alice@example.com")
    with app.test_request_context():
        check_quota(app.extensions["momento"].catalog, alice.user, 1000)
        with pytest.raises(TooLarge, match="quota of 1 KB"):
            check_quota(app.extensions["momento"].catalog, alice.user, 1001)


@both_backends
def test_users_quota_command(app, runner, alice, backends):
    result = runner.invoke(args=["users", "quota", "alice@example.com", "500MB"])
    assert result.exit_code == 0, result.output
    assert "500 MB" in result.output
    assert backends.catalog.get_user(alice.user.id).quota == 500 * 10**6
    result = runner.invoke(args=["users", "quota", "alice@example.com", "none"])
    assert result.exit_code == 0 and "unlimited" in result.output
    assert backends.catalog.get_user(alice.user.id).quota == UNLIMITED
    result = runner.invoke(args=["users", "quota", "alice@example.com", "default"])
    assert result.exit_code == 0 and backends.catalog.get_user(alice.user.id).quota is None
    bad = runner.invoke(args=["users", "quota", "alice@example.com", "plenty"])
    assert bad.exit_code != 0 and "500MB" in bad.output
    missing = runner.invoke(args=["users", "quota", "nobody@example.com", "1GB"])
    assert missing.exit_code != 0


def test_gallery_shows_usage_against_the_quota(app, runner, alice):
    alice.upload(corpus.jpeg(64, 48))
    runner.invoke(args=["users", "quota", "alice@example.com", "5GB"])
    c = app.test_client()
    c.post("/login", data={"email": alice.email, "password": alice.password})
    page = c.get("/").get_data(as_text=True)
    assert "of 5.0 GB used" in page or "of 5 GB used" in page
