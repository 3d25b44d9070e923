"""Storage quotas: sizes, the check the receive path makes, `flask users quota`, usage on the gallery."""
from __future__ import annotations

import json

from dataclasses import replace

import pytest

from momento import create_app
from momento.errors import TooLarge
from ulid import ULID

from momento.accounts.quota import UNLIMITED, effective_quota
from momento.formats import human_bytes, parse_size
from momento.uploads.admission import Budgets, admit
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


def _admit(backends, user, declared, *, default=None, reservation_id=None):
    return admit(backends.catalog, user, Budgets(default_quota=default), declared=declared,
                 reservation_id=reservation_id or str(ULID()))


@both_backends
def test_admission_counts_live_and_trashed_bytes(app, alice, backends):
    first = alice.upload(corpus.jpeg(64, 48)).json
    second = alice.upload(corpus.jpeg(80, 60)).json
    used = first["size"] + second["size"]
    user = replace(alice.user, quota=used + 100)
    _admit(backends, user, 100).settle(0)
    with pytest.raises(TooLarge) as caught:
        _admit(backends, user, 101)
    assert caught.value.status == 413 and caught.value.code == "quota_exceeded"
    assert "100 bytes left" in caught.value.message
    # Trashed uploads keep their bytes until purged: they still count, and the message says so.
    assert alice.delete(f"/api/v1/uploads/{first['id']}").status_code == 204
    with pytest.raises(TooLarge) as caught:
        _admit(backends, user, 101)
    assert "trash" in caught.value.message


@both_backends
def test_reservations_hold_bytes_until_settled(app, alice, backends):
    user = replace(alice.user, quota=1000)
    first = _admit(backends, user, 600)
    with pytest.raises(TooLarge) as caught:
        _admit(backends, user, 600)  # the first upload still holds its 600
    assert "Uploads in progress hold 600 bytes" in caught.value.message
    second = _admit(backends, user, 400)
    first.settle(0)  # refused: its bytes go back
    third = _admit(backends, user, 600)
    # A body of unknown length claims as it grows, and is stopped at the quota.
    growing = _admit(backends, replace(user, quota=1100), 0)
    growing.need(50)
    growing.need(100)
    with pytest.raises(TooLarge):
        growing.need(101)
    for admission in (second, third, growing):
        admission.settle(0)
    _admit(backends, user, 1000).settle(0)


@both_backends
def test_an_expired_reservation_stops_counting(app, alice, backends):
    user = replace(alice.user, quota=1000)
    catalog = backends.catalog
    hold = catalog.reserve_bytes(user.id, "crashed", 900, quota=1000, expires_at="2020-01-01T00:00:00Z",
                                 now="2019-12-31T00:00:00Z")
    assert hold.granted and hold.reserved == 900
    assert not catalog.reserve_bytes(user.id, "other", 200, quota=1000, expires_at="2030-01-01T00:00:00Z",
                                     now="2019-12-31T00:00:01Z").granted
    later = catalog.reserve_bytes(user.id, "other", 200, quota=1000, expires_at="2030-01-01T00:00:00Z",
                                  now="2020-01-01T00:00:01Z")
    assert later.granted and later.reserved == 200
    catalog.release_bytes(user.id, "other")
    catalog.release_bytes(user.id, "other")  # releasing twice is harmless
    catalog.release_bytes(user.id, "crashed")
    assert catalog.reserve_bytes(user.id, "x", 1000, quota=1000, expires_at="2030-01-01T00:00:00Z",
                                 now="2020-01-01T00:00:02Z").granted


@both_backends
def test_parallel_reservations_never_pass_the_quota(app, alice, backends):
    from concurrent.futures import ThreadPoolExecutor

    catalog = backends.catalog

    def claim(i):
        hold = catalog.reserve_bytes(alice.user.id, f"r{i}", 300, quota=1000, expires_at="2099-01-01T00:00:00Z",
                                     now="2026-01-01T00:00:00Z")
        return hold.granted

    with ThreadPoolExecutor(8) as pool:
        granted = list(pool.map(claim, range(8)))
    assert granted.count(True) == 3


def test_no_quota_writes_nothing(app, alice, backends, monkeypatch):
    monkeypatch.setattr(backends.catalog, "reserve_bytes", lambda *a, **k: pytest.fail("reserved"))
    admission = _admit(backends, alice.user, 10**15)
    admission.need(10**16)
    admission.settle(0)


def test_default_quota_comes_from_the_config(request, tmp_path):
    app = create_app(app_config(request, tmp_path, "local", DEFAULT_QUOTA="1KB"))
    alice = Account(app, "alice@example.com")
    with app.test_request_context():
        from momento.web.library import upload_budgets

        catalog = app.extensions["momento"].catalog
        admit(catalog, alice.user, upload_budgets(), declared=1000, reservation_id="a").settle(0)
        with pytest.raises(TooLarge, match="quota of 1 KB"):
            admit(catalog, alice.user, upload_budgets(), declared=1001, reservation_id="b")


@both_backends
def test_users_quota_command(app, runner, alice, backends):
    result = runner.invoke(args=["users", "quota", "alice@example.com", "500MB"])
    assert result.exit_code == 0, result.output
    assert "500 MB" in result.output
    assert backends.catalog.get_user(alice.user.id).quota == 500 * 10**6
    result = runner.invoke(args=["users", "quota", "alice@example.com", "none"])
    assert result.exit_code == 0 and "now has no storage quota." in result.output
    assert backends.catalog.get_user(alice.user.id).quota == UNLIMITED
    result = runner.invoke(args=["users", "quota", "alice@example.com", "default"])
    assert result.exit_code == 0 and backends.catalog.get_user(alice.user.id).quota is None
    bad = runner.invoke(args=["users", "quota", "alice@example.com", "plenty"])
    assert bad.exit_code != 0 and "500MB" in bad.output
    missing = runner.invoke(args=["users", "quota", "nobody@example.com", "1GB"])
    assert missing.exit_code != 0
    absurd = runner.invoke(args=["users", "quota", "alice@example.com", "99999999999999999999999TB"])
    assert absurd.exit_code == 1 and "more than any quota" in absurd.output
    assert runner.invoke(args=["users", "quota", "alice@example.com", "123456789012345678"]).exit_code == 0
    assert backends.catalog.get_user(alice.user.id).quota == 123456789012345678  # exact, no float rounding
    listed = json.loads(runner.invoke(args=["users", "list", "--json"]).output)
    assert [r["quota"] for r in listed if r["email"] == "alice@example.com"] == [123456789012345678]


def test_gallery_shows_usage_against_the_quota(app, runner, alice):
    alice.upload(corpus.jpeg(64, 48))
    runner.invoke(args=["users", "quota", "alice@example.com", "5GB"])
    c = app.test_client()
    c.post("/login", data={"email": alice.email, "password": alice.password})
    page = c.get("/").get_data(as_text=True)
    assert "of 5.0 GB used" in page or "of 5 GB used" in page
