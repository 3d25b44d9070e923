"""Acknowledged means durable: on the local backend an upload's bytes, folders and record are synced, in that
order, before the success answer; a crash at any step leaves nothing verify --repair cannot put in step."""
from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from momento import create_app, resumable_record
from momento.ops import verify
from tests import corpus
from tests.conftest import Account
from tests.crash_server import PART_SIZE, instrument

ROOT = Path(__file__).resolve().parent.parent
TUS = {"Tus-Resumable": "1.0.0"}
STREAM = "application/offset+octet-stream"


def video_file(size: int = PART_SIZE * 5 // 2) -> bytes:
    """A real MP4 padded to `size`: three parts and a tail at PART_SIZE."""
    video = corpus.mp4(seconds=1)
    return video + b"\0" * (size - len(video))


PHOTO = corpus.jpeg(64, 48)
VIDEO = video_file()
CUT = PART_SIZE * 9 // 4  # the first PATCH ends here: two full parts and a tail


class Timeline:
    """The durability steps (fsync, replace, commit) and the answers, in the order they happened."""

    def __init__(self):
        self.events: list[tuple[str, str]] = []

    def step(self, kind: str, detail: str, phase: str) -> None:
        if phase == "after":
            self.events.append((kind, detail))

    def answer(self, status: int) -> int:
        self.events.append(("answer", str(status)))
        return len(self.events) - 1

    def find(self, kind: str, test=lambda d: True, *, last: bool = False, start: int = 0) -> int:
        """The index of the first (or last) event of this kind whose detail passes test, after `start`."""
        found = [i for i, (k, d) in enumerate(self.events) if i >= start and k == kind and test(d)]
        assert found, f"no {kind} step matching in {self.events[start:]}"
        return found[-1] if last else found[0]


@pytest.fixture
def timeline(monkeypatch, app) -> Timeline:
    app.config["TUS_PART_SIZE"] = PART_SIZE
    line = Timeline()
    undo = instrument(line.step)
    yield line
    undo()


def _folder(path: str) -> str:
    return path.rpartition("/")[0]


def test_form_upload_order(app, alice, timeline):
    resp = alice.upload(PHOTO)
    answered = timeline.answer(resp.status_code)
    assert resp.status_code == 201, resp.json
    key = f"user-{alice.user.id}/photos/{resp.json['id']}.jpg"
    place = timeline.find("replace", lambda d: d.endswith("/objects/" + key))
    temp = timeline.events[place][1].split(" -> ")[0]
    original = Path(app.config["DATA_DIR"]) / "objects" / key
    assert timeline.find("fsync", lambda d: d == temp) < place  # the bytes, then the name
    meta = timeline.find("replace", lambda d: d.endswith(key + ".meta"))
    assert timeline.find("fsync", lambda d: d == timeline.events[meta][1].split(" -> ")[0]) < meta < place
    folder = timeline.find("fsync", lambda d: d == str(original.parent), start=place)
    # the folders made for this first upload are named durably in their parents too
    parents = [timeline.find("fsync", lambda d: d == str(p), start=place) for p in original.parents[:2]]
    record = timeline.find("commit", lambda d: d == "put_upload")
    assert place < folder < record < answered and max(parents) < record


def test_thumbnail_is_not_synced(app, alice, timeline):
    resp = alice.upload(PHOTO)
    thumb = timeline.find("replace", lambda d: "/thumbs/" in d and not d.endswith(".meta"))
    temp = timeline.events[thumb][1].split(" -> ")[0]
    assert ("fsync", temp) not in timeline.events
    assert resp.status_code == 201


def _tus_patch(account: Account, url: str, data: bytes, offset: int):
    return account.client.patch(url, data=data, content_type=STREAM,
                                headers={**account.headers, **TUS, "Upload-Offset": str(offset)})


def _tus_create(account: Account, length: int) -> str:
    meta = f"filename {base64.b64encode(b'clip.mp4').decode()}"
    resp = account.client.post("/api/v1/tus/", headers={**account.headers, **TUS, "Upload-Length": str(length),
                                                        "Upload-Metadata": meta})
    assert resp.status_code == 201, resp.json
    return resp.headers["Location"]


def test_tus_patch_and_completion_order(app, alice, timeline):
    url = _tus_create(alice, len(VIDEO))
    begin = len(timeline.events)
    first = _tus_patch(alice, url, VIDEO[:CUT], 0)
    answered = timeline.answer(first.status_code)
    assert first.status_code == 204 and first.headers["Upload-Offset"] == str(CUT)
    acknowledged = timeline.find("commit", lambda d: d == "update_tus", last=True)
    assert acknowledged < answered
    parts = [i for i, (k, d) in enumerate(timeline.events[:answered]) if k == "fsync" and "/parts/" in d
             and Path(d).is_file() and not d.endswith("content-type")]
    assert len(parts) == 2  # two full parts, each synced with its folder before the offset is recorded
    for i in parts:
        assert begin < i < timeline.find("fsync", lambda d: d == _folder(timeline.events[i][1]), start=i) < acknowledged
    tail = timeline.find("replace", lambda d: d.endswith(f"/tail-{CUT}"), start=begin)
    assert timeline.find("fsync", lambda d: d == timeline.events[tail][1].split(" -> ")[0], start=begin) < tail
    tail_folder = _folder(timeline.events[tail][1].split(" -> ")[1])
    assert tail < timeline.find("fsync", lambda d: d == tail_folder, start=tail) < acknowledged

    begin = len(timeline.events)
    last = _tus_patch(alice, url, VIDEO[CUT:], CUT)
    answered = timeline.answer(last.status_code)
    assert last.status_code == 204, last.json
    joined = timeline.find("replace", lambda d: "/join-" in d and "/videos/" in d, start=begin)
    source, target = timeline.events[joined][1].split(" -> ")
    assert timeline.find("fsync", lambda d: d == source, start=begin) < joined
    folder = timeline.find("fsync", lambda d: d == _folder(target), start=joined)
    record = timeline.find("commit", lambda d: d == "put_upload", start=begin)
    settled = timeline.find("commit", lambda d: d == "update_tus", last=True)
    assert joined < folder < record < settled < answered
    assert Path(target).read_bytes() == VIDEO


def test_catalog_commits_are_synced(app, backends):
    """synchronous=FULL: in WAL mode SQLite fsyncs the log at each commit (NORMAL may lose the last ones)."""
    assert backends.catalog.db.execute("PRAGMA synchronous").fetchone()[0] == 2
    assert backends.catalog.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
