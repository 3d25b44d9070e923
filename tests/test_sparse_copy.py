"""Decoding from sparse local copies on S3: the right poster and metadata, and only the bytes needed read back."""
from __future__ import annotations

import os
import tempfile

import pytest

from momento.media import inspect, sniff
from momento.uploads import sparse
from momento.uploads.sparse import Mp4Keeper, Ranges, SparseFile
from tests import corpus

aws_only = pytest.mark.parametrize("app", [pytest.param("aws", marks=pytest.mark.aws)], indirect=True)
FILES = {
    "plain.mp4": lambda: corpus.mp4(seconds=2),
    "faststart.mp4": lambda: corpus.mp4(seconds=2, faststart=True),
    "portrait.mov": lambda: corpus.mov(seconds=2),
    "clip.webm": lambda: corpus.webm(seconds=2),
    "photo.jpg": lambda: corpus.jpeg(640, 480, exif_date="2021:05:06 07:08:09"),
}


def reference(data: bytes):
    """What decoding the whole file says."""
    with tempfile.NamedTemporaryFile() as f:
        f.write(data)
        f.flush()
        return inspect(f.name, sniff(data[:4096]))


def padded(data: bytes, size: int) -> bytes:
    """An MP4 followed by a box running to the end of the file (`size` bytes in all)."""
    return data + b"\0" * 8 + os.urandom(size - len(data) - 8)


@pytest.fixture
def reads(backends, monkeypatch):
    """The (start, end) of every read of the store, counted through a wrapper on storage.open."""
    seen = []
    real = backends.storage.open

    def counting(key, start=None, end=None):
        stream = real(key, start, end)
        seen.append((key, stream.start, stream.end))
        return stream
    monkeypatch.setattr(backends.storage, "open", counting)
    return seen


def read_back(reads, prefix: str = "user-") -> int:
    """Bytes read from the user's objects."""
    return sum(end - start + 1 for key, start, end in reads if key.startswith(prefix))


def assert_matches(app, backends, alice, body, data):
    """The stored record and thumbnail are what decoding the whole file gives."""
    want = reference(data)
    with app.app_context():
        upload = backends.catalog.get_upload(alice.user.id, body["id"])
        thumb = b"".join(backends.storage.open(upload.thumb_key))
        original = b"".join(backends.storage.open(upload.original_key))
    assert original == data
    assert thumb == want.thumbnail
    assert (upload.width, upload.height, upload.duration) == (want.width, want.height, want.duration)
    assert upload.taken_at == want.taken_at and upload.gps == want.gps
    assert {k: upload.extra.get(k) for k in want.extra} == dict(want.extra)


@aws_only
@pytest.mark.parametrize("name", list(FILES))
def test_each_kind_is_stored_with_its_poster_and_metadata(app, alice, backends, reads, name):
    data = FILES[name]()
    resp = alice.upload(data, name)
    assert resp.status_code == 201, resp.json
    assert read_back(reads) == 0  # everything decoding needed was kept on this disk
    assert_matches(app, backends, alice, resp.json, data)


@aws_only
def test_poster_beyond_the_kept_window_is_fetched_from_the_published_original(app, alice, backends, reads,
                                                                              monkeypatch):
    monkeypatch.setattr(sparse, "MEDIA_WINDOW", 0)  # no media kept: every frame must be fetched back
    monkeypatch.setattr(sparse, "FILL_BLOCK", 4096)
    data = corpus.mp4(seconds=2)
    resp = alice.upload(data, "clip.mp4")
    assert resp.status_code == 201, resp.json
    assert 0 < read_back(reads) < len(data)
    assert_matches(app, backends, alice, resp.json, data)


@aws_only
def test_a_damaged_video_fetched_back_leaves_nothing(app, alice, backends, reads, monkeypatch):
    monkeypatch.setattr(sparse, "MEDIA_WINDOW", 0)
    good = corpus.mp4(seconds=2, faststart=True)
    moov_end = good.index(b"mdat") + 4
    damaged = good[:moov_end] + bytes(len(good) - moov_end)  # the frames are zeros
    resp = alice.upload(damaged, "broken.mp4")
    assert resp.status_code == 422
    with app.app_context():
        assert [o.key for o in backends.storage.list("user-")] == []


@aws_only
def test_tus_completion_reads_back_only_the_index_and_opening_frames(app, alice, backends, reads):
    from tests.test_tus import MiB, TusClient, padded_video

    app.config["TUS_PART_SIZE"] = 5 * MiB
    tus = TusClient(alice)
    video = padded_video(12 * MiB)
    url = tus.start(video)
    for start in range(0, len(video), 5 * MiB):
        resp = tus.patch(url, video[start:start + 5 * MiB], start)
        assert resp.status_code == 204, resp.json
    upload_id = resp.headers["Momento-Upload-Id"]
    fetched = read_back(reads)
    assert 0 < fetched <= sparse.FILL_BLOCK + 64 * 1024  # one block at the start (index and frames), not 12 MiB
    assert_matches(app, backends, alice, {"id": upload_id}, video)


def test_keeper_keeps_headers_index_and_window_whatever_the_chunking():
    data = padded(corpus.mp4(seconds=1), 1024 * 1024)
    moov = data.index(b"moov") - 4
    moov_end = moov + int.from_bytes(data[moov:moov + 4], "big")
    for chunk in (13, 4096, len(data)):
        copy = SparseFile(tempfile.gettempdir())
        keeper = Mp4Keeper(copy, window=1000)
        for at in range(0, len(data), chunk):
            keeper.feed(data[at:at + chunk])
        keeper.finish()
        with open(copy.name, "rb") as f:
            kept = f.read()
        assert len(kept) == len(data)
        assert copy.kept.missing(moov, moov_end) == [] and copy.kept.missing(0, 1000) == []
        for start, end in zip(copy.kept.starts, copy.kept.ends):
            assert kept[start:end] == data[start:end]
        assert copy.kept.total < 100_000  # the padding box beyond the window is a hole
        copy.close()


def test_ranges_merge_and_report_gaps():
    r = Ranges()
    for s, e in ((10, 20), (30, 40), (20, 30), (50, 60)):
        r.add(s, e)
    assert (r.starts, r.ends) == ([10, 50], [40, 60])
    assert r.missing(0, 70) == [(0, 10), (40, 50), (60, 70)]
    assert r.missing(12, 38) == []
