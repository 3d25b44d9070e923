"""Resumable uploads over tus 1.0: pieces, cuts, a second server, offsets, checksums, expiry, refusals."""
from __future__ import annotations

import base64
import hashlib
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from momento import create_app
from momento.uploads import tus_record as resumable_record
from momento.errors import BackendError
from momento.uploads.tus_record import TusUpload
from tests import corpus
from tests.conftest import Account, both_backends
from tests.test_streaming import CountingStream

MiB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}
STREAM = "application/offset+octet-stream"


class TusClient:
    """A tus client speaking through an account's test client (with its token)."""

    def __init__(self, account: Account, client=None):
        self.account, self.client = account, client or account.client

    def headers(self, **extra) -> dict:
        return {**self.account.headers, **TUS, **extra}

    def create(self, length: int, filename: str = "clip.mp4", tags: str | None = None, **headers):
        meta = [f"filename {base64.b64encode(filename.encode()).decode()}"]
        if tags is not None:
            meta.append(f"tags {base64.b64encode(tags.encode()).decode()}")
        return self.client.post("/api/v1/tus/", headers=self.headers(**{"Upload-Length": str(length),
                                                                        "Upload-Metadata": ",".join(meta)}, **headers))

    def start(self, data: bytes, **kw) -> str:
        resp = self.create(len(data), **kw)
        assert resp.status_code == 201, resp.json
        return resp.headers["Location"]

    def patch(self, url: str, data: bytes, offset: int, *, cut_at: int | None = None, checksum: str | None = None):
        extra = {"Upload-Offset": str(offset)}
        if checksum:
            extra["Upload-Checksum"] = checksum
        return self.client.patch(url, input_stream=CountingStream(data, cut_at), content_length=len(data), content_type=STREAM,
                                 headers=self.headers(**extra))

    def offset(self, url: str) -> int:
        resp = self.client.head(url, headers=self.headers())
        assert resp.status_code == 200, resp.status_code
        assert resp.headers["Cache-Control"] == "no-store"
        return int(resp.headers["Upload-Offset"])

    def state(self, url: str) -> dict:
        resp = self.client.get(url, headers=self.account.headers)
        assert resp.status_code == 200, resp.json
        return resp.json


def padded_video(size: int = 11 * MiB, fill: bytes = b"\0") -> bytes:
    """A real MP4 followed by padding, which the probe accepts: big enough for several 5 MiB parts."""
    video = corpus.mp4(seconds=1)
    return video + fill * (size - len(video))


@pytest.fixture(autouse=True)
def small_parts(app):
    """S3's (and moto's) smallest part, so that an 11 MiB file makes three parts."""
    app.config["TUS_PART_SIZE"] = 5 * MiB


@pytest.fixture
def tus(alice) -> TusClient:
    return TusClient(alice)


def nothing_left(app, backends, account: Account) -> None:
    """No object of the user, no tail, no multipart upload or part file."""
    storage = backends.storage
    assert list(storage.list(f"user-{account.user.id}/")) == []
    assert list(storage.list("tus/")) == []
    if app.config["BACKEND"] == "aws":
        assert storage.client.list_multipart_uploads(Bucket=storage.bucket).get("Uploads", []) == []
    else:
        parts = Path(app.config["DATA_DIR"]) / "parts"
        assert not parts.exists() or list(parts.iterdir()) == []


def only_tails_gone(backends) -> None:
    assert list(backends.storage.list("tus/")) == []


def stored_bytes(account: Account, upload_id: str) -> bytes:
    return account.get(f"/media/{upload_id}/original").data


@both_backends
def test_upload_in_pieces(app, alice, tus, backends):
    video = padded_video()
    url = tus.start(video, tags="trip, Summer")
    assert tus.offset(url) == 0
    cuts = [0, 3 * MiB, 7 * MiB, 10 * MiB + 123, len(video)]
    for start, end in zip(cuts, cuts[1:]):
        resp = tus.patch(url, video[start:end], start)
        assert resp.status_code == 204, resp.json
        assert resp.headers["Upload-Offset"] == str(end) and resp.headers["Tus-Resumable"] == "1.0.0"
        assert tus.offset(url) == end
    upload_id = resp.headers["Momento-Upload-Id"]
    state = tus.state(url)
    assert state["state"] == "stored" and state["offset"] == state["length"] == len(video)
    assert state["upload"]["id"] == upload_id and state["error"] is None and state["duplicate"] is False
    assert state["upload"]["kind"] == "video" and state["upload"]["filename"] == "clip.mp4"
    assert state["upload"]["tags"] == ["trip", "summer"]
    assert state["upload"]["sha256"] == hashlib.sha256(video).hexdigest()
    assert stored_bytes(alice, upload_id) == video
    only_tails_gone(backends)
    assert alice.get(f"/api/v1/uploads/{upload_id}").json["size"] == len(video)


@both_backends
def test_resume_after_a_cut(app, alice, tus, backends):
    video = padded_video()
    url = tus.start(video)
    resp = tus.patch(url, video, 0, cut_at=7 * MiB + 5)  # the connection drops mid-body
    assert resp.status_code == 204
    offset = tus.offset(url)
    assert offset == 7 * MiB + 5  # what arrived before the cut counts
    resp = tus.patch(url, video[offset:], offset)
    assert resp.status_code == 204, resp.json
    assert stored_bytes(alice, resp.headers["Momento-Upload-Id"]) == video
    only_tails_gone(backends)


@both_backends
def test_resume_on_a_second_server(app, alice, tus):
    """A PATCH can land on any server sharing the backend: nothing of the upload is kept in the process."""
    video = padded_video()
    url = tus.start(video)
    assert tus.patch(url, video[:6 * MiB + 77], 0).status_code == 204
    other = create_app(dict(app.config))
    on_other = TusClient(alice, other.test_client())
    offset = on_other.offset(url)
    assert offset == 6 * MiB + 77
    resp = on_other.patch(url, video[offset:], offset)
    assert resp.status_code == 204, resp.json
    upload_id = resp.headers["Momento-Upload-Id"]
    assert stored_bytes(alice, upload_id) == video  # read back through the first server
    assert tus.state(url)["upload"]["id"] == upload_id


@both_backends
def test_wrong_offset_is_a_conflict(tus):
    video = padded_video(6 * MiB)
    url = tus.start(video)
    assert tus.patch(url, video[:MiB], 0).status_code == 204
    for wrong in (0, MiB - 1, MiB + 1):
        resp = tus.patch(url, video[wrong:wrong + 1000], wrong)
        assert resp.status_code == 409 and resp.json["error"]["code"] == "offset_mismatch"
    assert tus.offset(url) == MiB


@both_backends
def test_checksums(tus):
    video = padded_video(6 * MiB)
    url = tus.start(video)
    piece = video[:2 * MiB]
    bad = "sha256 " + base64.b64encode(hashlib.sha256(b"something else").digest()).decode()
    resp = tus.patch(url, piece, 0, checksum=bad)
    assert resp.status_code == 460 and resp.json["error"]["code"] == "checksum_mismatch"
    assert tus.offset(url) == 0  # the bytes were thrown away
    resp = tus.patch(url, piece, 0, checksum="crc32 AAAAAA==")
    assert resp.status_code == 400 and resp.json["error"]["code"] == "checksum_algorithm"
    for malformed in ("sha1", "sha1 ", "sha1 !!!", "sha256 " + base64.b64encode(b"short").decode()):
        resp = tus.patch(url, piece, 0, checksum=malformed)
        assert resp.status_code == 400 and resp.json["error"]["code"] == "invalid_checksum", malformed
    good = "sha1 " + base64.b64encode(hashlib.sha1(piece).digest()).decode()
    assert tus.patch(url, piece, 0, cut_at=MiB, checksum=good).status_code == 400  # a cut body cannot be checked
    assert tus.offset(url) == 0
    assert tus.patch(url, piece, 0, checksum=good).status_code == 204
    md5 = "md5 " + base64.b64encode(hashlib.md5(video[2 * MiB:]).digest()).decode()
    resp = tus.patch(url, video[2 * MiB:], 2 * MiB, checksum=md5)
    assert resp.status_code == 204 and resp.headers["Momento-Upload-Id"]


@both_backends
def test_expired_uploads_are_gone(app, alice, tus, backends, runner, monkeypatch):
    video = padded_video()
    urls = [tus.start(video) for _ in range(2)]
    for url in urls:
        assert tus.patch(url, video[:7 * MiB], 0).status_code == 204
    assert list(backends.storage.list("tus/"))  # the tails past the first part
    later = datetime.now(timezone.utc) + timedelta(hours=app.config["TUS_EXPIRY_HOURS"], minutes=1)
    monkeypatch.setattr(resumable_record, "now", lambda: later)
    # touched: answered 404 and removed on the way
    resp = tus.client.head(urls[0], headers=tus.headers())
    assert resp.status_code == 404
    assert tus.patch(urls[0], video[7 * MiB:], 7 * MiB).status_code == 404
    # untouched: removed by the clean-up command
    result = runner.invoke(args=["momento", "tus-cleanup", "--json"])
    assert result.exit_code == 0, result.output
    assert '"removed": 1' in result.output
    assert tus.client.head(urls[1], headers=tus.headers()).status_code == 404
    assert backends.catalog.expired_tus("2999-01-01T00:00:00Z") == []
    nothing_left(app, backends, alice)


@both_backends
def test_termination(app, alice, tus, backends):
    video = padded_video()
    url = tus.start(video)
    assert tus.patch(url, video[:8 * MiB], 0).status_code == 204
    resp = tus.client.delete(url, headers=tus.headers())
    assert resp.status_code == 204 and resp.headers["Tus-Resumable"] == "1.0.0"
    assert tus.client.head(url, headers=tus.headers()).status_code == 404
    assert tus.client.delete(url, headers=tus.headers()).status_code == 404
    nothing_left(app, backends, alice)


@both_backends
def test_refused_at_completion_leaves_nothing(app, alice, tus, backends):
    """A file that sniffs as MP4 but does not decode, in several parts: 422, and nothing of it stays."""
    broken = corpus.mp4_header_noise(11 * MiB)
    url = tus.start(broken)
    assert tus.patch(url, broken[:6 * MiB], 0).status_code == 204
    resp = tus.patch(url, broken[6 * MiB:], 6 * MiB)
    assert resp.status_code == 422, resp.json
    state = tus.state(url)
    assert state["state"] == "refused" and state["upload"] is None
    assert state["error"]["code"] == resp.json["error"]["code"]
    assert tus.patch(url, b"", len(broken)).status_code == 422  # the error again, whatever the offset
    nothing_left(app, backends, alice)


@both_backends
def test_non_media_is_refused_at_the_first_bytes(app, alice, tus, backends):
    text = b"not a photo at all\n" * 600_000
    url = tus.start(text, filename="notes.jpg")
    resp = tus.patch(url, text[:4000], 0)  # not enough to tell yet
    assert resp.status_code == 204
    resp = tus.patch(url, text[4000:20000], 4000)
    assert resp.status_code == 415
    assert tus.state(url)["state"] == "refused"
    nothing_left(app, backends, alice)


def test_size_limits(app, tus, backends):
    app.config.update(MAX_PHOTO_BYTES=100_000, MAX_VIDEO_BYTES=5 * MiB)
    resp = tus.create(5 * MiB + 1)
    assert resp.status_code == 413 and resp.json["error"]["code"] == "file_too_large"
    assert resp.headers["Tus-Resumable"] == "1.0.0"
    # Under the largest limit but over the photo limit: refused once the first bytes show a photo.
    photo = corpus.jpeg(64, 64)
    url = tus.start(photo + b"\0" * 200_000)
    resp = tus.patch(url, photo + b"\0" * 10_000, 0)
    assert resp.status_code == 413 and "photo" in resp.json["error"]["message"]
    assert tus.state(url)["state"] == "refused"
    assert list(backends.storage.list("tus/")) == []


def test_small_file_and_duplicate(alice, tus, backends):
    tiny = corpus.png(2, 2)
    url = tus.start(tiny, filename="dot.png")
    resp = tus.patch(url, tiny, 0)
    assert resp.status_code == 204
    first = resp.headers["Momento-Upload-Id"]
    again = tus.start(tiny, filename="copy.png", tags="dots")
    resp = tus.patch(again, tiny, 0)
    assert resp.status_code == 204 and resp.headers["Momento-Upload-Id"] == first
    state = tus.state(again)
    assert state["state"] == "stored" and state["duplicate"] is True and state["upload"]["id"] == first
    assert state["upload"]["tags"] == ["dots"]  # the tags it came with are added to the upload
    assert [o.key.rsplit("/", 1)[1] for o in backends.storage.list(f"user-{alice.user.id}/photos/")] == [f"{first}.png"]
    # The finishing PATCH sent again (its answer was lost) gets the same answer.
    resp = tus.patch(again, b"", len(tiny))
    assert resp.status_code == 204 and resp.headers["Momento-Upload-Id"] == first
    events = backends.catalog.list_audit_events(alice.user.id).items
    assert [e.details.get("upload_id") for e in events if e.action == "upload"] == [first]  # duplicates are not


def test_quota_is_checked_at_creation(alice, tus, backends):
    backends.catalog.update_user(replace(alice.user, quota=1_000_000))
    resp = tus.create(1_000_001)
    assert resp.status_code == 413 and resp.json["error"]["code"] == "quota_exceeded"
    assert tus.create(1_000_000).status_code == 201


def test_protocol_rules(app, tus, alice, bob, client):
    options = client.options("/api/v1/tus/")
    assert options.status_code == 204 and options.headers["Tus-Version"] == "1.0.0"
    with app.app_context():  # discovery is the same for every caller, whatever a token's scopes
        from momento.accounts.tokens import issue

        secret, _ = issue(app.extensions["momento"].catalog, alice.user, scopes=["read"])
    assert client.options("/api/v1/tus/", headers={"Authorization": f"Bearer {secret}"}).status_code == 204
    assert set(options.headers["Tus-Extension"].split(",")) == {"creation", "termination", "checksum", "expiration"}
    assert options.headers["Tus-Checksum-Algorithm"] == "md5,sha1,sha256"
    assert int(options.headers["Tus-Max-Size"]) == app.config["MAX_VIDEO_BYTES"]
    resp = alice.client.post("/api/v1/tus/", headers={**alice.headers, "Upload-Length": "10"})
    assert resp.status_code == 412 and resp.headers["Tus-Version"] == "1.0.0"
    resp = tus.create(0)
    assert resp.status_code == 400
    resp = alice.client.post("/api/v1/tus/", headers=tus.headers(**{"Upload-Defer-Length": "1"}))
    assert resp.status_code == 400
    resp = tus.create(100)
    assert resp.headers["Upload-Expires"].endswith("GMT") and resp.headers["Location"].startswith("/api/v1/tus/")
    url = resp.headers["Location"]
    wrong_type = alice.client.patch(url, data=b"x", content_type="application/octet-stream",
                                    headers=tus.headers(**{"Upload-Offset": "0"}))
    assert wrong_type.status_code == 415
    assert tus.patch(url, b"x" * 101, 0).status_code == 413  # more than Upload-Length
    # Another user's upload does not exist for them; nobody's does without credentials.
    theirs = TusClient(bob)
    assert theirs.client.head(url, headers=theirs.headers()).status_code == 404
    assert theirs.patch(url, b"x", 0).status_code == 404
    assert theirs.client.get(url, headers=bob.headers).status_code == 404
    assert theirs.client.delete(url, headers=theirs.headers()).status_code == 404
    assert client.head(url, headers=TUS).status_code == 401
    assert client.post("/api/v1/tus/", headers={**TUS, "Upload-Length": "10"}).status_code == 401
    assert tus.offset(url) == 0


def test_record_round_trip():
    record = TusUpload(id="01J0000000000000000000000A", user_id="u", length=10, part_size=5 * MiB,
                       upload_id="01J0000000000000000000000B", created_at="2026-11-22T00:00:00Z",
                       expires_at="2026-11-23T00:00:00Z", tags=("a",), etags=("e1",), error=None)
    assert TusUpload.from_dict(record.to_dict()) == record


def service(app):
    from momento.uploads.tus import ResumableUploads

    b = app.extensions["momento"]
    return ResumableUploads.from_config(b.storage, b.catalog, app.config)


def reader(data: bytes, before=None):
    """A body read in 1 MiB pieces; `before()` runs once, at the first read."""
    view = {"pos": 0, "before": before}

    def read(n: int) -> bytes:
        if view["before"]:
            view["before"], hook = None, view["before"]
            hook()
        chunk = data[view["pos"]:view["pos"] + n]
        view["pos"] += len(chunk)
        return chunk
    return read


def test_two_patches_at_one_offset_cannot_both_win(app, alice):
    from momento.errors import Conflict

    uploads = service(app)
    video = padded_video()
    record = uploads.create(alice.user, length=len(video), filename="race.mp4", tags=())
    later = {}

    def newer_patch():  # arrives while the first one is still reading its body, at the same offset
        later["record"] = uploads.receive(alice.user, record.id, offset=0, read=reader(video[:9 * MiB]))

    with pytest.raises(Conflict):
        uploads.receive(alice.user, record.id, offset=0, read=reader(video[:7 * MiB], before=newer_patch))
    assert later["record"].offset == 9 * MiB
    current = uploads.find(alice.user, record.id)
    assert current.offset == 9 * MiB  # the newer one counted, the older one did not
    # the older one's tail (its 7 MiB) went with it; the newer one's is the only one
    tails = [o.key for o in app.extensions["momento"].storage.list(current.tail_prefix)]
    assert tails == [current.tail_key]
    done = uploads.receive(alice.user, record.id, offset=9 * MiB, read=reader(video[9 * MiB:]))
    assert stored_bytes(alice, done.result_id) == video


def test_a_failed_finish_is_run_again_by_an_empty_patch(app, alice, tus, backends, monkeypatch):
    video = padded_video()
    url = tus.start(video)
    real = backends.storage.complete_parts

    def flaky(*args, **kwargs):
        monkeypatch.setattr(backends.storage, "complete_parts", real)
        raise BackendError("The object store failed to finish the object (SlowDown).")

    monkeypatch.setattr(backends.storage, "complete_parts", flaky)
    resp = tus.patch(url, video, 0)
    assert resp.status_code == 503
    assert tus.offset(url) == len(video) and tus.state(url)["state"] == "receiving"
    resp = tus.patch(url, b"", len(video))
    assert resp.status_code == 204, resp.json
    assert stored_bytes(alice, resp.headers["Momento-Upload-Id"]) == video


def test_a_hash_state_from_another_version_is_recomputed(app, alice, tus, backends):
    video = padded_video()
    url = tus.start(video)
    assert tus.patch(url, video[:6 * MiB], 0).status_code == 204
    record = backends.catalog.get_tus(alice.user.id, url.rsplit("/", 1)[1])
    backends.catalog.update_tus(record.evolve(hash_state="rehashes-0.0.1-sha256:AAAA"))
    resp = tus.patch(url, video[6 * MiB:], 6 * MiB)
    assert resp.status_code == 204
    assert tus.state(url)["upload"]["sha256"] == hashlib.sha256(video).hexdigest()


@both_backends
def test_head_answers_as_soon_as_a_patch_of_this_process_lets_go(app, alice):
    """HEAD right after a dropped connection waits for the PATCH still taking in its bytes: a PATCH of this process
    wakes it as it lets go of the upload, rather than at HEAD's next read of the record (at doubling pauses)."""
    uploads = service(app)
    video = padded_video()
    record = uploads.create(alice.user, length=len(video), filename="cut.mp4", tags=())
    answered, threads = {}, []

    def head():
        answered["record"] = uploads.position(alice.user, record.id, wait=5.0)
        answered["at"] = time.monotonic()

    def dropped_connection():  # the client asks where to resume while the PATCH is still reading
        threads.append(threading.Thread(target=head))
        threads[0].start()
        time.sleep(0.35)  # HEAD reads the record at 0.01, 0.03, 0.07, 0.15, 0.31, 0.63 s: it ends between two

    uploads.receive(alice.user, record.id, offset=0, read=reader(video[:7 * MiB], before=dropped_connection))
    let_go = time.monotonic()
    threads[0].join(5)
    assert answered["record"].offset == 7 * MiB and answered["record"].patching_since is None
    assert answered["at"] - let_go < 0.1
