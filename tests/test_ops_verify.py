"""`flask momento verify [--repair]`: store and catalog compared, what can be repaired repaired."""
from __future__ import annotations

import io
import json

import pytest
from PIL import Image
from ulid import ULID

from momento.errors import BackendError
from momento.ops import verify
from tests import corpus
from tests.conftest import both_backends


def _run(runner, *extra) -> tuple[int, dict]:
    result = runner.invoke(args=["momento", "verify", "--json", *extra])
    return result.exit_code, json.loads(result.output)


def _kinds(report) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for p in report["problems"]:
        out.setdefault(p["kind"], []).append(p)
    return out


def _skew_counter(catalog, user_id: str, name: str, by: int) -> None:
    """Put a usage counter out of step with the records, as a lost write would."""
    if hasattr(catalog, "db"):
        catalog.db.execute("UPDATE counters SET n = n + ? WHERE user_id = ? AND name = ?", (by, user_id, name))
    else:
        catalog.client.update_item(TableName=catalog.tables["index"], Key=catalog._counts_key(user_id),
                                   UpdateExpression="ADD #c :n", ExpressionAttributeNames={"#c": name},
                                   ExpressionAttributeValues={":n": {"N": str(by)}})


@pytest.fixture
def old_orphans(monkeypatch):
    """Every object counts as older than the grace period (moto's modification times cannot be set)."""
    monkeypatch.setattr(verify, "ORPHAN_GRACE", -1.0)


@both_backends
def test_clean_store(app, runner, alice):
    alice.upload(corpus.jpeg(40, 30))
    code, report = _run(runner)
    assert code == 0 and report["clean"] and report["problems"] == []
    assert (report["users"], report["uploads"], report["objects"]) == (1, 1, 2)
    assert "all in step" in runner.invoke(args=["momento", "verify"]).output


@both_backends
def test_finds_and_repairs(app, runner, alice, bob, old_orphans):
    b = app.extensions["momento"]
    broken = alice.upload(corpus.jpeg(50, 40), tags="beach").json["id"]
    thumbless = alice.upload(corpus.png(60, 40)).json["id"]
    bob.upload(corpus.jpeg(30, 30))
    record = b.catalog.get_upload(alice.user.id, broken)
    b.storage.delete(record.original_key)
    thumb_key = b.catalog.get_upload(alice.user.id, thumbless).thumb_key
    b.storage.delete(thumb_key)
    orphan = f"user-{alice.user.id}/photos/{ULID()}.jpg"  # a crash between the object and its record
    b.storage.put_bytes(orphan, corpus.jpeg(10, 10), "image/jpeg")
    b.storage.put_bytes("user-gone/photos/x.jpg", b"x", "image/jpeg")  # an account that no longer exists
    _skew_counter(b.catalog, bob.user.id, "@bytes", 1234)

    code, report = _run(runner)
    assert code == 1 and not report["clean"]
    found = _kinds(report)
    assert [p["where"] for p in found["orphan_object"]] == [orphan, "user-gone/photos/x.jpg"]
    assert found["missing_original"][0]["where"] == f"{alice.user.id}/{broken}"
    assert found["missing_thumbnail"][0]["where"] == f"{alice.user.id}/{thumbless}"
    assert "@bytes" in found["index_out_of_step"][0]["detail"]
    assert not any(p["repaired"] for p in report["problems"])
    assert b.storage.stat(orphan)  # nothing changed without --repair

    code, repaired = _run(runner, "--repair")
    assert code == 1  # the missing original cannot be repaired
    assert {p["kind"] for p in repaired["problems"] if not p["repaired"]} == {"missing_original"}
    assert {o.key for o in b.storage.list("")} & {orphan, "user-gone/photos/x.jpg"} == set()
    thumb = b"".join(b.storage.open(thumb_key))
    assert Image.open(io.BytesIO(thumb)).size[0] > 0
    assert b.catalog.usage(bob.user.id)["bytes"] == len(corpus.jpeg(30, 30))

    code, after = _run(runner)
    assert [p["kind"] for p in after["problems"]] == ["missing_original"]
    table = runner.invoke(args=["momento", "verify"])
    assert table.exit_code == 1 and "needs a person" in table.output
    b.catalog.delete_upload(alice.user.id, broken)  # what an operator would do about it...
    code, last = _run(runner, "--repair")  # ...which leaves its thumbnail an orphan, for repair to remove
    assert code == 0 and [p["where"] for p in last["problems"]] == [record.thumb_key]


@both_backends
def test_young_orphans_and_foreign_keys_are_left_alone(app, runner, alice):
    b = app.extensions["momento"]
    fresh = f"user-{alice.user.id}/photos/{ULID()}.jpg"  # may be an upload whose record is on its way
    b.storage.put_bytes(fresh, b"x", "image/jpeg")
    b.storage.put_bytes("backups/readme.txt", b"not ours", "text/plain")
    code, report = _run(runner, "--repair")
    assert code == 1
    found = _kinds(report)
    assert found["orphan_object"][0]["where"] == fresh and not found["orphan_object"][0]["repaired"]
    assert found["unknown_object"][0]["where"] == "backups/readme.txt"
    assert {o.key for o in b.storage.list("")} == {fresh, "backups/readme.txt"}


def test_a_file_put_beside_the_objects_by_hand_is_left_alone(app, runner, alice):
    import os
    import time

    root = app.extensions["momento"].storage.root
    for name in ("randomfile.bin", "notes/readme.txt"):
        path = root / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"someone else's")
        os.utime(path, (time.time() - 7200, time.time() - 7200))
    code, report = _run(runner, "--repair")
    found = _kinds(report)
    assert "missing_sidecar" not in found, found
    assert not (root / "randomfile.bin.meta").exists() and not (root / "notes/readme.txt.meta").exists()
    assert (root / "randomfile.bin").read_bytes() == b"someone else's"


@both_backends
def test_interrupted_repair_then_rerun(app, runner, alice, bob, monkeypatch):
    b = app.extensions["momento"]
    for who in (alice, bob):
        who.upload(corpus.jpeg(20 + len(who.email), 20), tags="sea")
        _skew_counter(b.catalog, who.user.id, "t:sea", 2)
    real = b.catalog.rebuild_index
    calls = []

    def flaky(user_id):
        calls.append(user_id)
        if len(calls) == 2:
            raise BackendError("The catalog failed (BatchWriteItem: ProvisionedThroughputExceededException).")
        return real(user_id)

    monkeypatch.setattr(b.catalog, "rebuild_index", flaky)
    stopped = runner.invoke(args=["momento", "verify", "--repair"])
    assert stopped.exit_code == 1 and "run verify again" in stopped.output
    monkeypatch.setattr(b.catalog, "rebuild_index", real)
    code, report = _run(runner, "--repair")
    assert code == 0 and [p["where"] for p in report["problems"]] == [f"user {calls[1]}"]
    code, report = _run(runner)
    assert code == 0 and report["problems"] == []


def test_a_record_written_after_the_listing_is_no_orphan(app, alice, backends):
    """An upload that finishes while verify runs: its object was listed before its record existed."""
    upload_id = alice.upload(corpus.jpeg(33, 33)).json["id"]
    record = backends.catalog.get_upload(alice.user.id, upload_id)
    checker = verify.Verifier(backends.storage, backends.catalog, now=1e12)
    assert checker._has_record_now(alice.user, record.original_key)
    assert not checker._has_record_now(alice.user, f"user-{alice.user.id}/photos/{ULID()}.jpg")


@both_backends
def test_an_unfinished_purge_is_reported_not_repaired(app, runner, alice):
    b = app.extensions["momento"]
    upload_id = alice.upload(corpus.jpeg(44, 33)).json["id"]
    b.catalog.set_trashed(alice.user.id, upload_id, "2020-01-01T00:00:00Z")
    frozen = b.catalog.begin_purge(alice.user.id, upload_id, "2020-01-01T00:00:00Z", "2026-11-22T00:00:00Z")
    b.storage.delete(frozen.original_key)  # a purge stopped half-way through the objects
    code, report = _run(runner, "--repair")
    assert code == 1 and [p["kind"] for p in report["problems"]] == ["unfinished_purge"]
    assert b.storage.stat(frozen.thumb_key)  # left for purge, which finishes it
    assert runner.invoke(args=["momento", "purge"]).exit_code == 0
    assert _run(runner)[0] == 0
