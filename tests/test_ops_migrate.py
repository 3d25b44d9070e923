"""`flask momento migrate`: pending steps in order, recorded, resumable after a step fails half-way."""
from __future__ import annotations

import json
import shutil

import pytest

from momento import migrate
from tests import corpus
from tests.conftest import Account, both_backends

# A step that tags every user's uploads one by one and fails after the first, once (a flag file says so).
HALF_WAY = '''"""Tag every upload 'migrated' (fails half-way the first time)."""
import os

FLAG = {flag!r}


def upgrade(backends):
    """Idempotent: setting the same tags twice gives the same record."""
    done = 0
    for user in backends.catalog.iter_users():
        for upload in backends.catalog.iter_all_uploads(user.id):
            backends.catalog.set_tags(user.id, upload.id, tuple(sorted(set(upload.tags) | {{"migrated"}})))
            done += 1
            if done == 1 and not os.path.exists(FLAG):
                open(FLAG, "w").close()
                raise {error}("the disk filled up")
'''
LAST = '''"""A last step after it."""


def upgrade(backends):
    """Nothing to do."""
'''


@pytest.fixture
def steps(tmp_path, monkeypatch):
    """A migrations folder with the real steps, then 0003 (fails half-way once) and 0004."""
    folder = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, folder, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", folder)

    def add(error: str = "BackendError") -> None:
        code = HALF_WAY.format(flag=str(tmp_path / "failed-once"), error=error)
        if error == "BackendError":
            code = code.replace("import os\n", "import os\n\nfrom momento.errors import BackendError\n")
        (folder / "0903_tag_everything.py").write_text(code)
        (folder / "0904_last.py").write_text(LAST)

    return add


def _status(runner) -> dict[str, str]:
    result = runner.invoke(args=["momento", "migrate", "--status", "--json"])
    assert result.exit_code == 0, result.output
    return {row["id"]: row["applied_at"] for row in json.loads(result.output)}


@both_backends
def test_interrupted_migration_resumes_on_rerun(app, runner, steps):
    alice = Account(app, "alice@example.com")
    ids = [alice.upload(corpus.jpeg(40 + i, 30)).json["id"] for i in range(3)]
    steps()
    before = _status(runner)
    assert before["0903_tag_everything"] == before["0904_last"] == "pending"
    assert before["0001_schema"] != "pending"
    table = runner.invoke(args=["momento", "migrate", "--status"])
    assert "0903_tag_everything" in table.output and "pending" in table.output

    failed = runner.invoke(args=["momento", "migrate"])
    assert failed.exit_code == 1
    assert "0903_tag_everything failed: the disk filled up" in failed.output and "again to resume" in failed.output
    after = _status(runner)
    assert after["0903_tag_everything"] == after["0904_last"] == "pending"  # the failed step is not recorded
    tagged = [i for i in ids if "migrated" in alice.get(f"/api/v1/uploads/{i}").json["tags"]]
    assert len(tagged) == 1  # half-way

    again = runner.invoke(args=["momento", "migrate", "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.output) == {"applied": ["0903_tag_everything", "0904_last"]}
    assert all(alice.get(f"/api/v1/uploads/{i}").json["tags"] == ["migrated"] for i in ids)
    assert all(at != "pending" for at in _status(runner).values())
    assert json.loads(runner.invoke(args=["momento", "migrate", "--json"]).output) == {"applied": []}


def test_a_crash_is_not_recorded_either(app, runner, steps):
    steps(error="RuntimeError")
    Account(app, "bob@example.com").upload(corpus.jpeg(30, 30))
    crashed = runner.invoke(args=["momento", "migrate"])
    assert crashed.exit_code == 1 and isinstance(crashed.exception, RuntimeError)
    assert _status(runner)["0903_tag_everything"] == "pending"
    assert runner.invoke(args=["momento", "migrate"]).exit_code == 0
    assert _status(runner)["0904_last"] != "pending"


@both_backends
def test_renditions_made_before_move_beside_the_thumbnails(app, alice, backends):
    """Migration 0011: a ready rendition at its old key (videos/) moves to thumbs/, once, and playback serves it."""
    import io

    from momento.jobs.queue import READY

    video = alice.upload(corpus.mp4(seconds=1), "clip.mp4").json
    with app.app_context():
        upload = backends.catalog.set_rendition(alice.user.id, video["id"], READY)
        backends.storage.put(upload.legacy_playback_key, io.BytesIO(b"an old rendition"), "video/mp4")
        step = next(m for m in migrate.discover() if m.id.startswith("0011"))
        step.upgrade(backends)
        step.upgrade(backends)  # again: nothing left to move, nothing lost
    keys = {o.key for o in backends.storage.list(f"user-{alice.user.id}/")}
    assert upload.playback_key in keys and upload.legacy_playback_key not in keys
    assert upload.playback_key.startswith(f"user-{alice.user.id}/thumbs/")
    assert alice.get(f"/media/{video['id']}/playback").data == b"an old rendition"
