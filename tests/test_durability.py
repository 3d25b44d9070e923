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
from datetime import timedelta
from pathlib import Path

import pytest

from momento import create_app
from momento.uploads import tus_record as resumable_record
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
        """Note a finished step."""
        if phase == "after":
            self.events.append((kind, detail))

    def answer(self, status: int) -> int:
        """Note an answer the client got; its index."""
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
    """The folder part of a path."""
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
    """One tus PATCH through the test client."""
    return account.client.patch(url, data=data, content_type=STREAM,
                                headers={**account.headers, **TUS, "Upload-Offset": str(offset)})


def _tus_create(account: Account, length: int) -> str:
    """A new tus upload's URL."""
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
    tail = timeline.find("replace", lambda d: f"/tail-{CUT}-" in d and not d.endswith(".meta"), start=begin)
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


# crash tests: a real server killed at each step, then verify --repair and the client's view

class Http:
    """Requests to the crash server; None for an answer that never came (the server died)."""

    def __init__(self, port: int, token: str):
        self.base, self.auth = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {token}"}

    def send(self, method: str, path: str, body: bytes = b"", **headers) -> tuple[int, dict, bytes] | None:
        """One request; (status, headers, body), or None when the server died first."""
        request = urllib.request.Request(self.base + path, data=body, method=method, headers={**self.auth, **headers})
        try:
            with urllib.request.urlopen(request, timeout=20) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()
        except (ConnectionError, urllib.error.URLError, OSError):
            return None


def _form(data: bytes) -> tuple[bytes, str]:
    """A multipart body holding one file, and its Content-Type."""
    boundary = "crashtestboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"photo.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _scenario(http: Http) -> dict:
    """A form upload, then a tus upload in two PATCHes; what each request was answered (stops at the first silence)."""
    answers: dict = {}
    body, kind = _form(PHOTO)
    answers["form"] = form = http.send("POST", "/api/v1/uploads", body, **{"Content-Type": kind})
    if form is None:
        return answers
    meta = f"filename {base64.b64encode(b'clip.mp4').decode()}"
    answers["create"] = created = http.send("POST", "/api/v1/tus/", **TUS, **{"Upload-Length": str(len(VIDEO)),
                                                                             "Upload-Metadata": meta})
    if created is None or created[0] != 201:
        return answers
    answers["url"] = url = created[1]["Location"].replace(http.base, "")
    for name, start, end in (("patch", 0, CUT), ("finish", CUT, len(VIDEO))):
        answers[name] = answer = http.send("PATCH", url, VIDEO[start:end], **TUS, **{
            "Upload-Offset": str(start), "Content-Type": STREAM})
        if answer is None or answer[0] != 204:
            return answers
    return answers


def _serve(data_dir: Path, crash: str) -> tuple[subprocess.Popen, int]:
    """The crash server on data_dir, armed to die at `crash`; the process and its port."""
    env = {**os.environ, "MOMENTO_CRASH_AT": crash, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "tests.crash_server", str(data_dir)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return proc, int(proc.stdout.readline())


# every step the scenario makes (test_step_counts keeps this in step with the code): fsyncs, renames, commits
STEPS = {"fsync": 31, "replace": 12, "commit": 12}  # commit 1: the token's last use, noted on its first request
BOUNDARIES = [(kind, n, "before") for kind, count in STEPS.items() for n in range(1, count + 1)] + \
    [(kind, STEPS[kind], "after") for kind in STEPS]


@pytest.fixture
def crash_app(tmp_path, monkeypatch, fast_passwords):
    """The app in this process on the crash server's data folder, with every leftover old enough to repair."""
    monkeypatch.setattr(verify, "ORPHAN_GRACE", -1.0)
    app = create_app({"TESTING": True, "SECRET_KEY": "crash-test", "DATA_DIR": str(tmp_path / "data"),
                      "BACKEND": "local", "WTF_CSRF_ENABLED": False, "TAGGERS": ""})
    app.config["TUS_PART_SIZE"] = PART_SIZE
    return app


def _verify(app, *extra) -> dict:
    """`flask momento verify --json` through the app's CLI."""
    result = app.test_cli_runner().invoke(args=["momento", "verify", "--json", *extra])
    return json.loads(result.output)


def test_step_counts(crash_app):
    """The scenario, uncrashed, makes exactly the steps BOUNDARIES covers."""
    alice = Account(crash_app, "alice@example.com")
    counts: dict = {}
    proc, port = _serve(Path(crash_app.config["DATA_DIR"]), "none:0:before")
    try:
        answers = _scenario(Http(port, alice.token))
    finally:
        proc.kill()
        proc.wait()
    assert [answers[k][0] for k in ("form", "create", "patch", "finish")] == [201, 201, 204, 204]
    log = Path(crash_app.config["DATA_DIR"]) / "steps.log"
    for line in log.read_text().splitlines():
        counts[line.split()[0]] = counts.get(line.split()[0], 0) + 1
    assert counts == STEPS, log.read_text()


@pytest.mark.slow
@pytest.mark.parametrize("kind,n,phase", BOUNDARIES)
def test_crash_leaves_nothing_half_done(crash_app, monkeypatch, kind, n, phase):
    alice = Account(crash_app, "alice@example.com")
    proc, port = _serve(Path(crash_app.config["DATA_DIR"]), f"{kind}:{n}:{phase}")
    try:
        answers = _scenario(Http(port, alice.token))
        proc.wait(timeout=5) if answers.get("finish") is None else None
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    repaired = _verify(crash_app, "--repair")
    report = _verify(crash_app)
    assert report["clean"] and report["problems"] == [], report

    form = answers.get("form")
    if form is not None and form[0] == 201:  # answered: complete
        upload_id = json.loads(form[2])["id"]
        assert alice.get(f"/media/{upload_id}/original").data == PHOTO
        assert alice.get(f"/media/{upload_id}/thumbnail").status_code == 200
    if answers.get("finish") is not None:
        state = alice.get(answers["url"]).json
        assert alice.get(f"/media/{state['upload']['id']}/original").data == VIDEO
    elif answers.get("patch") is not None and answers["patch"][0] == 204:
        # acknowledged bytes stay: the client resumes from at least there (a finish that died is run again)
        later = resumable_record.now() + timedelta(minutes=20)
        monkeypatch.setattr(resumable_record, "now", lambda: later)
        head = alice.head(answers["url"], headers=TUS)
        offset = int(head.headers["Upload-Offset"])
        assert offset >= CUT
        resp = alice.client.patch(answers["url"], data=VIDEO[offset:], content_type=STREAM,
                                  headers={**alice.headers, **TUS, "Upload-Offset": str(offset)})
        assert resp.status_code == 204, (resp.json, repaired)
        state = alice.get(answers["url"]).json
        assert alice.get(f"/media/{state['upload']['id']}/original").data == VIDEO
        report = _verify(crash_app)
        assert report["clean"] and report["problems"] == [], report


def test_verify_clears_crash_leftovers(app, alice, backends, monkeypatch):
    """What a crash can leave beside the objects is found, and --repair clears it (or completes a sidecar)."""
    monkeypatch.setattr(verify, "ORPHAN_GRACE", -1.0)
    data = Path(app.config["DATA_DIR"])
    upload = backends.catalog.get_upload(alice.user.id, alice.upload(PHOTO).json["id"])
    folder = data / "objects" / f"user-{alice.user.id}" / "photos"
    (folder / "01M8VF8J7DB3B7XX46W5DEPPF4.jpg.meta").write_text("{}")  # its object never arrived
    (data / "tmp" / "put-left").write_bytes(b"half an upload")
    (data / "parts" / ("ab" * 16)).mkdir(parents=True)
    (data / "objects" / upload.original_key).with_name(Path(upload.original_key).name + ".meta").unlink()
    (data / "objects" / upload.thumb_key).write_bytes(b"")  # written without fsync before a power cut
    kinds = sorted(p["kind"] for p in _verify(app)["problems"])
    assert kinds == ["missing_sidecar", "missing_thumbnail", "scratch_file", "stray_parts", "stray_sidecar"]
    _verify(app, "--repair")
    assert _verify(app)["problems"] == []
    assert alice.get(f"/media/{upload.id}/original").headers["Content-Type"] == "image/jpeg"
    assert alice.get(f"/media/{upload.id}/thumbnail").data[:4] == b"RIFF"


def test_verify_keeps_the_object_of_a_finish_that_died(app, alice, backends, monkeypatch):
    """A tus upload joined but not yet recorded is no orphan while its record lives: the next PATCH finishes it."""
    monkeypatch.setattr(verify, "ORPHAN_GRACE", -1.0)
    app.config["TUS_PART_SIZE"] = PART_SIZE
    url = _tus_create(alice, len(VIDEO))
    assert _tus_patch(alice, url, VIDEO[:CUT], 0).status_code == 204
    record = backends.catalog.get_tus(alice.user.id, url.rsplit("/", 1)[1])
    backends.storage.put_bytes(record.key, VIDEO, "video/mp4")  # as if joined by a finish that then died
    assert _verify(app, "--repair")["problems"] == []
    assert backends.storage.stat(record.key).size == len(VIDEO)
