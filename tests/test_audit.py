"""The audit trail: the catalog contract (both backends), what the routes record, /account and `flask momento audit`."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest
from ulid import ULID

from momento.accounts import audit
from momento.errors import BackendError, BadRequest
from momento.models import AuditEvent
from tests import corpus
from tests.backends import backends
from tests.conftest import both_backends

pytestmark = pytest.mark.usefixtures("fast_passwords")  # many sign-ins: hashing is not under test here

UA = {"User-Agent": "AuditTest/1.0 (X11)"}


def event(user_id: str, i: int, **changes) -> AuditEvent:
    """The i-th event of a user (a higher i is newer); the same arguments give the same event."""
    ulid = ULID.from_bytes((1_700_000_000_000 + i).to_bytes(6, "big") + user_id.encode().ljust(10, b"-")[:10])
    values = dict(user_id=user_id, id=str(ulid), at=f"2026-11-22T10:00:{i:02}Z",
                  action="sign_in", ip="192.0.2.1", user_agent="curl/8", details={"via": "page", "n": i})
    return AuditEvent(**(values | changes))


@backends
def test_contract_audit_events_newest_first_by_user(catalog):
    for i in range(5):
        catalog.add_audit_event(event("u1", i))
    catalog.add_audit_event(event("u2", 9, actor="operator", ip=None, user_agent=None, details={}))
    page = catalog.list_audit_events("u1", limit=2)
    assert [e.details["n"] for e in page.items] == [4, 3]
    assert page.items[0] == event("u1", 4)
    page2 = catalog.list_audit_events("u1", limit=2, cursor=page.next_cursor)
    page3 = catalog.list_audit_events("u1", limit=2, cursor=page2.next_cursor)
    assert [e.details["n"] for e in page2.items + page3.items] == [2, 1, 0]
    assert page3.next_cursor is None
    other = catalog.list_audit_events("u2", limit=10)
    assert other.items == (event("u2", 9, actor="operator", ip=None, user_agent=None, details={}),)
    assert catalog.list_audit_events("nobody", limit=10).items == ()
    with pytest.raises(BadRequest):
        catalog.list_audit_events("u1", limit=2, cursor="not-a-cursor")


def test_record_is_best_effort(app, backends, alice, monkeypatch, caplog):
    def broken(_event):
        raise BackendError("catalog down")

    monkeypatch.setattr(backends.catalog, "add_audit_event", broken)
    assert audit.record(backends.catalog, alice.user.id, "sign_in") is None
    assert "not recorded" in caplog.text
    with pytest.raises(ValueError):
        audit.record(backends.catalog, alice.user.id, "made_up")


def _actions(backends, user):
    return [(e.action, e.details) for e in backends.catalog.list_audit_events(user.user.id, limit=100).items]


@both_backends
def test_routes_record_who_what_when_and_where(app, backends, alice, bob):
    c = app.test_client()
    assert c.post("/login", data={"email": alice.email, "password": "wrong"}, headers=UA).status_code == 401
    assert c.post("/login", data={"email": "nobody@example.com", "password": "wrong"}).status_code == 401
    assert c.post("/login", data={"email": alice.email, "password": alice.password}, headers=UA).status_code == 302
    token = c.post("/api/v1/auth/token", json={"email": alice.email, "password": alice.password}).json["token"]
    assert c.post("/api/v1/auth/token", json={"email": alice.email, "password": "nope"}).status_code == 401
    up = alice.upload(corpus.jpeg(40, 30)).json
    assert alice.delete(f"/api/v1/uploads/{up['id']}").status_code == 204
    assert alice.delete(f"/api/v1/uploads/{up['id']}").status_code == 204  # no change, no second event
    assert alice.post(f"/api/v1/uploads/{up['id']}/restore").status_code == 200
    assert c.delete("/api/v1/auth/token", headers={"Authorization": f"Bearer {token}"}).status_code == 204

    events = backends.catalog.list_audit_events(alice.user.id, limit=100).items
    actions = [e.action for e in events]
    assert actions == ["token_revoked", "restore", "trash", "upload", "sign_in_failed", "token_created", "sign_in",
                       "sign_in_failed"]
    failed = events[-1]
    assert failed.ip == "127.0.0.1" and failed.user_agent == UA["User-Agent"]
    assert failed.details == {"via": "page", "reason": "bad_credentials"}
    assert events[1].details == {"upload_id": up["id"], "filename": "photo.jpg"}
    assert [e.id for e in events] == sorted((e.id for e in events), reverse=True)
    assert all(e.at.endswith("Z") for e in events)
    assert _actions(backends, bob) == []  # nothing of alice's lands on bob


def test_disabled_account_failures_are_recorded(app, runner, backends, alice):
    runner.invoke(args=["users", "disable", alice.email])
    resp = app.test_client().post("/api/v1/auth/token", json={"email": alice.email, "password": alice.password})
    assert resp.status_code == 401
    assert _actions(backends, alice)[0] == ("sign_in_failed", {"via": "api", "reason": "account_disabled"})


def test_account_page_shows_own_activity_only(app, alice, bob):
    c = app.test_client()
    bob.client.post("/login", data={"email": bob.email, "password": "wrong"}, headers={"User-Agent": "BobAgent"})
    c.post("/login", data={"email": alice.email, "password": alice.password}, headers=UA)
    page = c.get("/account")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "alice@example.com" in html and "Signed in" in html and "AuditTest/1.0" in html
    assert "BobAgent" not in html and "bob@example.com" not in html
    assert app.test_client().get("/account").status_code == 302  # anonymous: to the sign-in page


def test_account_page_pages_through_activity(app, backends, alice):
    for i in range(55):
        audit.record(backends.catalog, alice.user.id, "sign_in", ip=f"10.0.0.{i}")
    c = app.test_client()
    c.post("/login", data={"email": alice.email, "password": alice.password})
    first = c.get("/account").get_data(as_text=True)
    assert "Older activity" in first
    older = first.split('href="/account?cursor=')[1].split('"')[0]
    second = c.get(f"/account?cursor={older}").get_data(as_text=True)
    assert "10.0.0.0" in second and "10.0.0.0<" not in first
    assert c.get("/account?cursor=garbage").status_code == 400


@both_backends
def test_audit_command(app, runner, backends, alice, bob):
    audit.record(backends.catalog, alice.user.id, "sign_in", ip="192.0.2.10")
    audit.record(backends.catalog, bob.user.id, "sign_in", ip="192.0.2.20")
    assert runner.invoke(args=["users", "quota", alice.email, "2GB"]).exit_code == 0
    everyone = runner.invoke(args=["momento", "audit", "--json"])
    assert everyone.exit_code == 0, everyone.output
    rows = json.loads(everyone.output)
    assert [(r["email"], r["action"]) for r in rows] == [
        ("alice@example.com", "quota_changed"), ("bob@example.com", "sign_in"), ("alice@example.com", "sign_in")]
    assert rows[0]["actor"] == "operator" and rows[0]["details"]["quota"] == "2 GB"
    one = runner.invoke(args=["momento", "audit", "--user", bob.email, "--json"])
    assert [r["email"] for r in json.loads(one.output)] == ["bob@example.com"]
    table = runner.invoke(args=["momento", "audit", "--limit", "1"])
    assert table.exit_code == 0 and "Storage quota changed to 2 GB by an operator" in table.output
    missing = runner.invoke(args=["momento", "audit", "--user", "nobody@example.com"])
    assert missing.exit_code != 0


def test_describe():
    e = event("u", 1, action="upload", details={"filename": "IMG_1.jpg"})
    assert audit.describe(e) == "Uploaded IMG_1.jpg"
    failed = replace(e, action="sign_in_failed", details={"via": "page", "reason": "bad_credentials"})
    assert audit.describe(failed) == "Failed sign-in (wrong password)"
    assert audit.describe(replace(e, action="quota_changed", actor="operator", details={"quota": "5 GB"})) == \
        "Storage quota changed to 5 GB by an operator"
