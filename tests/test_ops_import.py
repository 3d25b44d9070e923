"""`flask momento import DIR --user EMAIL`: every file through the pipeline, duplicates and refusals reported."""
from __future__ import annotations

import json

import pytest

from momento.errors import BackendError
from momento.ops import importer
from tests import corpus
from tests.conftest import both_backends


@pytest.fixture
def folder(tmp_path):
    """Photos (one twice under another name), a video, and files Momento refuses."""
    root = tmp_path / "camera roll"
    (root / "2024" / "summer").mkdir(parents=True)
    (root / ".thumbnails").mkdir()
    beach = corpus.jpeg(64, 48)
    (root / "beach.jpg").write_bytes(beach)
    (root / "2024" / "beach copy.JPG").write_bytes(beach)
    (root / "2024" / "summer" / "sunset.png").write_bytes(corpus.png(40, 30))
    (root / "2024" / "clip.mp4").write_bytes(corpus.mp4(1))
    (root / "notes.txt").write_bytes(b"shopping list\n")
    (root / "broken.jpg").write_bytes(corpus.truncated(corpus.jpeg(200, 150), 0.3))
    (root / "empty.jpg").write_bytes(b"")
    (root / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (root / ".thumbnails" / "t.jpg").write_bytes(corpus.jpeg(8, 8))
    return root


def _import(runner, folder, *extra):
    result = runner.invoke(args=["momento", "import", str(folder), "--user", "alice@example.com", "--json", *extra])
    return result, (json.loads(result.output) if result.output.startswith("{") else None)


@both_backends
def test_import_then_rerun_imports_nothing_twice(app, runner, alice, folder):
    result, report = _import(runner, folder, "--tags", "Holiday, 2024", "--jobs", "3")
    assert result.exit_code == 0, result.output
    assert report["imported"] == 3 and report["duplicates"] == 1 and report["failed"] == []
    assert report["refused"] == {"unsupported_media_type": ["notes.txt"], "corrupt_media": ["broken.jpg"],
                                 "empty_file": ["empty.jpg"]}
    assert [f["path"] for f in report["files"]] == [  # the walk's order; hidden files and folders left out
        "beach.jpg", "broken.jpg", "empty.jpg", "notes.txt", "2024/beach copy.JPG", "2024/clip.mp4",
        "2024/summer/sunset.png"]
    items = alice.get("/api/v1/uploads").json["items"]
    names = sorted(u["filename"] for u in items)  # three at once: either copy of the beach may come first
    assert names[0] in ("beach.jpg", "beach copy.JPG") and names[1:] == ["clip.mp4", "sunset.png"]
    assert all(u["tags"] == ["holiday", "2024"] for u in items)

    again, second = _import(runner, folder)
    assert again.exit_code == 0
    assert (second["imported"], second["duplicates"]) == (0, 4)
    assert len(alice.get("/api/v1/uploads").json["items"]) == 3

    table = runner.invoke(args=["momento", "import", str(folder), "--user", "alice@example.com"])
    assert table.exit_code == 0
    assert "Imported 0 file(s)" in table.output and "4 duplicate(s)" in table.output
    assert "Refused (unsupported_media_type): 1" in table.output and "notes.txt" in table.output


def test_names_that_are_no_files_are_listed_as_refused(app, runner, alice, tmp_path):
    import os

    root = tmp_path / "odd"
    root.mkdir()
    (root / "ok.jpg").write_bytes(corpus.jpeg(30, 20))
    (root / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    os.mkfifo(root / "pipe.jpg")  # never opened: an import would wait on it for ever
    result, report = _import(runner, root)
    assert result.exit_code == 0, result.output
    assert report["imported"] == 1 and report["refused"] == {"not_a_file": ["gone.jpg", "pipe.jpg"]}


def test_a_photo_in_the_trash_stays_there(app, runner, alice, folder):
    first = _import(runner, folder)[1]
    beach = next(f["upload_id"] for f in first["files"] if f["path"] == "beach.jpg")
    alice.delete(f"/api/v1/uploads/{beach}")
    _, again = _import(runner, folder)
    assert {f["path"]: f["reason"] for f in again["files"] if f["status"] == "duplicate"}["beach.jpg"] == "in_trash"
    assert alice.get(f"/api/v1/uploads/{beach}").json["trashed_at"] is not None


@both_backends
def test_interrupted_import_then_rerun(app, runner, alice, folder, monkeypatch):
    real, calls = importer.ingest, []

    def crash_on_second(*args, **kwargs):
        calls.append(kwargs["filename"])
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C half-way
        return real(*args, **kwargs)

    monkeypatch.setattr(importer, "ingest", crash_on_second)
    stopped = runner.invoke(args=["momento", "import", str(folder), "--user", "alice@example.com", "--jobs", "1"])
    assert stopped.exit_code == 1 and "Aborted" in stopped.output  # click's answer to Ctrl-C
    # no new file starts; the one a worker had already taken may finish
    done = len(alice.get("/api/v1/uploads").json["items"])
    assert done in (1, 2)

    monkeypatch.setattr(importer, "ingest", real)
    result, report = _import(runner, folder)
    assert result.exit_code == 0
    assert (report["imported"], report["duplicates"]) == (3 - done, 1 + done)
    assert len(alice.get("/api/v1/uploads").json["items"]) == 3


def test_what_could_not_be_done_fails_the_command(app, runner, alice, folder, backends, monkeypatch):
    real = backends.catalog.put_upload

    def refuse_the_video(upload, job=None):
        if upload.kind == "video":
            raise BackendError("The catalog failed (TransactWriteItems: InternalServerError).")
        return real(upload, job)

    monkeypatch.setattr(backends.catalog, "put_upload", refuse_the_video)
    result, report = _import(runner, folder)
    assert result.exit_code == 1
    assert [(f["path"], f["reason"]) for f in report["failed"]] == [("2024/clip.mp4", "backend_unavailable")]
    assert report["imported"] == 2
    table = runner.invoke(args=["momento", "import", str(folder), "--user", "alice@example.com"])
    assert table.exit_code == 1 and "Could not import 2024/clip.mp4" in table.output


def test_unknown_or_closed_account(app, runner, alice, folder):
    missing = runner.invoke(args=["momento", "import", str(folder), "--user", "ghost@example.com"])
    assert missing.exit_code == 1 and "No account" in missing.output
    assert runner.invoke(args=["users", "disable", "alice@example.com"]).exit_code == 0
    closed = runner.invoke(args=["momento", "import", str(folder), "--user", "alice@example.com"])
    assert closed.exit_code == 1 and "disabled" in closed.output
    nothing = runner.invoke(args=["momento", "import", str(folder / "nope"), "--user", "alice@example.com"])
    assert nothing.exit_code == 2


@pytest.mark.parametrize("app", [pytest.param("aws", marks=pytest.mark.aws)], indirect=True)
def test_a_large_file_is_imported_to_s3_in_one_put_as_it_is_read(app, runner, alice, backends, tmp_path):
    """Its size is known from the folder, so it goes up as the form upload of a known length does: one PUT."""
    root = tmp_path / "big"
    root.mkdir()
    video = corpus.mp4(1)
    data = video + b"\0" * (6 * 1024 * 1024 - len(video))
    (root / "long.mp4").write_bytes(data)
    calls = []
    for api in ("PutObject", "UploadPart"):
        backends.storage.writes.meta.events.register(f"before-call.s3.{api}", lambda api=api, **_: calls.append(api))
    result, report = _import(runner, root)
    assert result.exit_code == 0 and report["imported"] == 1, result.output
    assert sorted(calls) == ["PutObject", "PutObject"]  # the original and its thumbnail; no parts
    upload_id = report["files"][0]["upload_id"]
    assert alice.get(f"/media/{upload_id}/original").data == data
