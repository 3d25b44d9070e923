"""Purging the trash: the catalog's freeze, the durable queue with retries, interruption and resumption."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from momento.errors import BackendError, NotFound
from momento.ops import purge
from tests import corpus
from tests.backends import backends as on_both
from tests.conftest import both_backends
from tests.test_contract_catalog import upload, user

LONG_AGO = "2020-01-01T00:00:00Z"


# the catalog's part: begin_purge freezes a trashed upload

@on_both
def test_begin_purge_freezes_a_trashed_upload(backends_pair):
    _, catalog = backends_pair
    catalog.create_user(user(1))
    up = catalog.put_upload(upload("user1", 1))
    assert catalog.begin_purge("user1", up.id, "2030-01-01T00:00:00Z", "2026-11-22T00:00:00Z") is None  # live
    catalog.set_trashed("user1", up.id, "2026-11-01T00:00:00Z")
    assert catalog.begin_purge("user1", up.id, "2026-10-31T00:00:00Z", "2026-11-22T00:00:00Z") is None  # too recent
    frozen = catalog.begin_purge("user1", up.id, "2026-11-01T00:00:00Z", "2026-11-22T00:00:00Z")
    assert frozen.purge_started_at == "2026-11-22T00:00:00Z" and frozen.trashed_at == "2026-11-01T00:00:00Z"
    # resuming finds it frozen whatever the cut-off
    again = catalog.begin_purge("user1", up.id, "2000-01-01T00:00:00Z", "2026-11-23T00:00:00Z")
    assert again == frozen == catalog.get_upload("user1", up.id)
    with pytest.raises(NotFound):
        catalog.set_trashed("user1", up.id, None)  # no restore while the objects are going
    with pytest.raises(NotFound):
        catalog.set_tags("user1", up.id, ("late",))
    assert [u.id for u in catalog.list_uploads("user1", trashed=True).items] == [up.id]
    assert catalog.usage("user1")["trash_count"] == 1
    catalog.delete_upload("user1", up.id)
    assert catalog.get_upload("user1", up.id) is None
    assert catalog.begin_purge("user1", up.id, "2030-01-01T00:00:00Z", "2026-11-22T00:00:00Z") is None
    assert catalog.usage("user1")["trash_count"] == 0


# the command

def _trash(app, alice, data: bytes, when: str) -> str:
    upload_id = alice.upload(data).json["id"]
    app.extensions["momento"].catalog.set_trashed(alice.user.id, upload_id, when)
    return upload_id


def _keys(app) -> set[str]:
    return {o.key for o in app.extensions["momento"].storage.list("")}


@pytest.fixture
def fast_retries(monkeypatch):
    monkeypatch.setattr(purge, "RETRY_DELAY", 0.01)


@both_backends
def test_purge_old_trash_only_and_rerun(app, runner, alice):
    old = _trash(app, alice, corpus.jpeg(30, 20), LONG_AGO)
    recent = _trash(app, alice, corpus.jpeg(31, 20), datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    live = alice.upload(corpus.jpeg(32, 20)).json["id"]
    catalog = app.extensions["momento"].catalog
    old_keys = set(catalog.get_upload(alice.user.id, old).object_keys)

    result = runner.invoke(args=["momento", "purge", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["queued"], report["purged"], report["skipped"], report["failed"]) == (1, 1, 0, [])
    assert report["bytes_freed"] > 0
    assert catalog.get_upload(alice.user.id, old) is None
    assert not old_keys & _keys(app)
    assert catalog.get_upload(alice.user.id, recent).trashed and alice.get(f"/media/{live}/original").status_code == 200
    assert catalog.usage(alice.user.id)["trash_count"] == 1
    assert catalog.due_jobs(purge.QUEUE, "9999-12-31T00:00:00Z") == []

    again = json.loads(runner.invoke(args=["momento", "purge", "--json"]).output)
    assert (again["queued"], again["purged"]) == (0, 0)
    everything = runner.invoke(args=["momento", "purge", "--older-than", "0"])
    assert everything.exit_code == 0 and "Purged 1 upload" in everything.output
    assert catalog.get_upload(alice.user.id, recent) is None
    assert len(_keys(app)) == 2  # the live upload's original and thumbnail


@both_backends
def test_failed_deletes_are_retried_with_backoff(app, alice, monkeypatch):
    b = app.extensions["momento"]
    gone = _trash(app, alice, corpus.jpeg(33, 20), LONG_AGO)
    real_delete, failures = b.storage.delete, []

    def flaky(key):
        if len(failures) < 2:
            failures.append(key)
            raise BackendError("The object store failed to delete the object (SlowDown).")
        real_delete(key)

    monkeypatch.setattr(b.storage, "delete", flaky)
    clock = [datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        clock[0] += timedelta(seconds=seconds)

    report = purge.purge_trash(b.storage, b.catalog, 30, clock=lambda: clock[0], sleep=sleep)
    assert (report.purged, report.retries, report.failed) == (1, 2, [])
    assert slept == [purge.RETRY_DELAY, 2 * purge.RETRY_DELAY]  # 2 s, then 4 s
    assert b.catalog.get_upload(alice.user.id, gone) is None


@both_backends
def test_a_purge_that_keeps_failing_parks_the_job_and_a_later_run_finishes(app, runner, alice, monkeypatch,
                                                                          fast_retries):
    b = app.extensions["momento"]
    photo = corpus.jpeg(34, 20)
    stuck = _trash(app, alice, photo, LONG_AGO)
    real_delete = b.storage.delete

    def broken(key):
        raise BackendError("The object store failed to delete the object (AccessDenied).")

    monkeypatch.setattr(b.storage, "delete", broken)
    result = runner.invoke(args=["momento", "purge", "--json"])
    assert result.exit_code == 1
    [failed] = json.loads(result.output)["failed"]
    assert failed["upload_id"] == stuck and failed["attempts"] == purge.MAX_ATTEMPTS
    # frozen and still in the trash: it neither shows nor comes back while its objects may be half gone
    assert alice.get("/api/v1/uploads").json["items"] == []
    assert alice.post(f"/api/v1/uploads/{stuck}/restore").status_code == 404
    assert b.catalog.due_jobs(purge.QUEUE, "9999-12-31T00:00:00Z")[0].error.startswith("The object store failed")
    kept = _keys(app)
    again = alice.upload(photo)  # the same bytes: neither a restore nor a second copy, but a clear answer
    assert again.status_code == 409 and again.json["error"]["code"] == "being_deleted", again.json
    assert _keys(app) == kept

    monkeypatch.setattr(b.storage, "delete", real_delete)
    healed = runner.invoke(args=["momento", "purge"])
    assert healed.exit_code == 0, healed.output
    assert b.catalog.get_upload(alice.user.id, stuck) is None and _keys(app) == set()
    fresh = alice.upload(photo)
    assert fresh.status_code == 201 and fresh.json["id"] != stuck


@both_backends
def test_an_interrupted_purge_resumes_where_it_stopped(app, runner, alice, monkeypatch):
    b = app.extensions["momento"]
    ids = [_trash(app, alice, corpus.jpeg(40 + i, 20), LONG_AGO) for i in range(3)]
    real = b.catalog.delete_upload
    calls = []

    def power_cut(user_id, upload_id):
        calls.append(upload_id)
        if len(calls) == 2:
            raise RuntimeError("power cut")  # after the objects of the second job went, before its record
        real(user_id, upload_id)

    monkeypatch.setattr(b.catalog, "delete_upload", power_cut)
    crashed = runner.invoke(args=["momento", "purge"])
    assert crashed.exit_code == 1 and isinstance(crashed.exception, RuntimeError)
    half = calls[1]
    left = b.catalog.get_upload(alice.user.id, half)
    assert left.purge_started_at and not set(left.object_keys) & _keys(app)
    # the record whose objects are gone does not show, and cannot be restored
    assert alice.get("/api/v1/uploads").json["items"] == []
    assert alice.get(f"/api/v1/uploads/{half}").json["trashed_at"] == LONG_AGO
    assert alice.post(f"/api/v1/uploads/{half}/restore").status_code == 404

    monkeypatch.setattr(b.catalog, "delete_upload", real)
    resumed = runner.invoke(args=["momento", "purge", "--json"])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.output)["purged"] == 2  # the interrupted one and the one never reached
    assert all(b.catalog.get_upload(alice.user.id, i) is None for i in ids)
    assert _keys(app) == set() and b.catalog.due_jobs(purge.QUEUE, "9999-12-31T00:00:00Z") == []


def test_restored_before_its_turn_is_skipped(app, alice):
    b = app.extensions["momento"]
    kept = _trash(app, alice, corpus.jpeg(50, 20), LONG_AGO)
    report = purge.start(b.catalog, 30)
    b.catalog.set_trashed(alice.user.id, kept, None)  # restored after the job was queued
    purge.work_queue(b.storage, b.catalog, report)
    assert (report.queued, report.purged, report.skipped) == (1, 0, 1)
    assert alice.get(f"/media/{kept}/original").status_code == 200


def test_retry_delay_doubles():
    assert [purge.retry_delay(n).total_seconds() for n in (1, 2, 3)] == [2.0, 4.0, 8.0]
