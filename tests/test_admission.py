"""One way in: quotas and the daily allowance hold on every front door, under parallel and resumable uploads."""
from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from momento import create_app
from momento.uploads import tus_record
from tests import corpus
from tests.conftest import Account, app_config, both_backends
from tests.test_tus import TusClient

MB = 10**6
BOUNDARY = "admission-boundary"


def padded_jpeg(i: int, size: int) -> bytes:
    """A real JPEG followed by `size` bytes in all (decoders stop at the end of the picture); unique per i."""
    picture = corpus.jpeg(64 + i, 48)
    return picture + bytes([i % 256]) * (size - len(picture))


def padded_mp4(i: int, size: int) -> bytes:
    """A real MP4 padded with zeros (a last box running to the end of the file) to about `size` bytes, unique per i."""
    video = corpus.mp4(seconds=1)
    return video + bytes(size - len(video) - i)


def used_bytes(backends, account) -> int:
    """Live and trashed bytes the catalog counts for the account."""
    usage = backends.catalog.usage(account.user.id)
    return usage["bytes"] + usage["trash_bytes"]


def set_quota(runner, account, size: str) -> None:
    result = runner.invoke(args=["users", "quota", account.email, size])
    assert result.exit_code == 0, result.output


def nothing_reserved(backends, account, quota: int) -> bool:
    """Whether every byte the quota leaves is free again (no reservation left behind)."""
    free = quota - used_bytes(backends, account)
    hold = backends.catalog.reserve_bytes(account.user.id, "probe", free, quota=quota,
                                          expires_at="2999-01-01T00:00:00Z", now="2000-01-01T00:00:00Z")
    backends.catalog.release_bytes(account.user.id, "probe")
    return hold.granted


@both_backends
def test_parallel_form_uploads_never_pass_the_quota(app, runner, alice, backends):
    set_quota(runner, alice, "3MB")
    files = [padded_jpeg(i, 900_000) for i in range(6)]

    def send(data: bytes):
        client = app.test_client()
        return client.post("/api/v1/uploads", data={"file": (io.BytesIO(data), "p.jpg")}, headers=alice.headers,
                           content_type="multipart/form-data")

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(send, files))
    stored = [a for a in answers if a.status_code == 201]
    refused = [a for a in answers if a.status_code != 201]
    assert 1 <= len(stored) <= 3
    assert all(a.status_code == 413 and a.json["error"]["code"] == "quota_exceeded" for a in refused)
    assert used_bytes(backends, alice) == sum(a.json["size"] for a in stored) <= 3 * MB
    assert len(list(backends.storage.list(f"user-{alice.user.id}/photos/"))) == len(stored)
    assert nothing_reserved(backends, alice, 3 * MB)


@both_backends
def test_a_body_without_a_length_is_stopped_at_the_quota(app, runner, alice, backends):
    set_quota(runner, alice, "1MB")
    data = padded_jpeg(1, 1_500_000)
    body = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.jpg\"\r\n\r\n".encode()
            + data + f"\r\n--{BOUNDARY}--\r\n".encode())
    resp = alice.client.post("/api/v1/uploads", input_stream=io.BytesIO(body),
                             headers={**alice.headers, "Transfer-Encoding": "chunked",
                                      "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
                             environ_overrides={"wsgi.input_terminated": True})
    assert resp.status_code == 413 and resp.json["error"]["code"] == "quota_exceeded"
    assert list(backends.storage.list(f"user-{alice.user.id}/")) == []
    assert nothing_reserved(backends, alice, MB)


@both_backends
def test_resumable_uploads_reserve_their_length(app, runner, alice, backends):
    app.config["TUS_PART_SIZE"] = 5 * 1024 * 1024
    set_quota(runner, alice, "3MB")
    tus = TusClient(alice)
    urls = []
    for _ in range(2):
        resp = tus.create(1_200_000)
        assert resp.status_code == 201
        urls.append(resp.headers["Location"])
    third = tus.create(1_200_000)  # 3.6 MB would be held: refused before a byte is sent
    assert third.status_code == 413 and third.json["error"]["code"] == "quota_exceeded"
    assert "in progress" in third.json["error"]["message"]
    # A form upload cannot take the reserved room either.
    form = alice.upload(padded_jpeg(2, 700_000))
    assert form.status_code == 413
    # Terminating one gives its bytes back at once.
    assert alice.client.delete(urls[0], headers=tus.headers()).status_code == 204
    again = tus.create(1_200_000)
    assert again.status_code == 201
    # Finishing one turns its reservation into usage (counted once).
    data = padded_mp4(0, 1_200_000)
    assert tus.patch(urls[1], data, 0).status_code == 204
    assert used_bytes(backends, alice) == 1_200_000
    assert tus.create(1_200_000).status_code == 413  # 1.2 used + 1.2 held + 1.2 > 3
    alice.client.delete(again.headers["Location"], headers=tus.headers())
    assert nothing_reserved(backends, alice, 3 * MB)


@both_backends
def test_an_expired_resumable_upload_stops_holding_the_quota(app, runner, alice, backends, monkeypatch):
    set_quota(runner, alice, "2MB")
    tus = TusClient(alice)
    assert tus.create(1_500_000).status_code == 201
    assert tus.create(1_000_000).status_code == 413
    later = tus_record.now() + timedelta(hours=25)
    monkeypatch.setattr(tus_record, "now", lambda: later)
    result = runner.invoke(args=["momento", "tus-cleanup"])
    assert result.exit_code == 0, result.output
    assert tus.create(1_000_000).status_code == 201


@pytest.fixture
def allowance_app(request, tmp_path):
    """Limits on, with a 3 MB daily allowance."""
    return create_app(app_config(request, tmp_path, "local", RATELIMIT_ENABLED=True, UPLOAD_BYTES_PER_DAY="3MB",
                                 TUS_PART_SIZE=5 * 1024 * 1024))


def test_chunked_patch_bodies_count_against_the_daily_allowance(allowance_app):
    alice = Account(allowance_app, "alice@example.com")
    tus = TusClient(alice)
    data = padded_mp4(0, 3_900_000)
    url = tus.start(data)
    offset, answers = 0, []
    for start in range(0, len(data), 1_300_000):
        piece = data[start:start + 1_300_000]
        resp = alice.client.patch(url, input_stream=io.BytesIO(piece),
                                  headers=tus.headers(**{"Upload-Offset": str(offset), "Transfer-Encoding": "chunked",
                                                         "Content-Type": "application/offset+octet-stream"}),
                                  environ_overrides={"wsgi.input_terminated": True})
        answers.append(resp.status_code)
        if resp.status_code != 204:
            break
        offset = int(resp.headers["Upload-Offset"])
    assert answers == [204, 204, 429], answers
    assert offset == 2_600_000  # what the refused PATCH brought did not count
    # what was received counts for a form upload too: 0.4 MB is left today
    refused = alice.upload(padded_jpeg(5, 500_000))
    assert refused.status_code == 429 and refused.json["error"]["code"] == "daily_limit_exceeded"


def test_import_respects_the_quota(app, runner, alice, backends, tmp_path):
    folder = tmp_path / "import"
    folder.mkdir()
    for i in range(3):
        (folder / f"p{i}.jpg").write_bytes(padded_jpeg(i, 600_000))
    set_quota(runner, alice, "1.3MB")
    result = runner.invoke(args=["momento", "import", str(folder), "--user", alice.email, "--json"])
    import json

    report = json.loads(result.output)
    assert report["imported"] == 2
    assert report["refused"].get("quota_exceeded") == ["p2.jpg"]
    assert used_bytes(backends, alice) <= 1_300_000


def test_parallel_uploads_decode_a_few_at_a_time(app, alice, monkeypatch):
    """However many uploads arrive together, a process decodes at most DECODES_AT_ONCE of them at once."""
    import threading
    import time

    from momento.uploads import commit

    real, lock, running, most = commit.inspect, threading.Lock(), [0], [0]

    def counting(*args, **kwargs):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.2)  # a decode that takes a while, so the others pile up behind it
        try:
            return real(*args, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(commit, "inspect", counting)

    def send(i: int):
        return app.test_client().post("/api/v1/uploads", data={"file": (io.BytesIO(corpus.jpeg(60 + i, 40)), "p.jpg")},
                                      headers=alice.headers, content_type="multipart/form-data").status_code

    with ThreadPoolExecutor(6) as pool:
        assert list(pool.map(send, range(6))) == [201] * 6
    assert most[0] == app.config["DECODES_AT_ONCE"] == 2
