"""A large form upload goes to S3 as one PUT sent while it arrives (S3Writer.expect): exact, cut or extended when
the announced length was off, and nothing left behind when it is abandoned or S3 fails."""
from __future__ import annotations

import io
import random
import uuid

import pytest

from momento.errors import BackendError
from tests import corpus
from tests.backends import build_storage
from tests.test_streaming import multipart, post

MiB = 1024 * 1024
DATA = random.Random(3).randbytes(7 * MiB + 12345)

pytestmark = pytest.mark.aws


@pytest.fixture
def s3(moto_server, tmp_path):
    storage = build_storage({"BACKEND": "aws", "BUCKET": f"momento-test-{uuid.uuid4().hex[:8]}",
                             "DATA_DIR": str(tmp_path)}, part_size=5 * MiB)
    calls: list[str] = []
    events = storage.writes.meta.events
    for api in ("PutObject", "CreateMultipartUpload", "UploadPart", "UploadPartCopy"):
        events.register(f"before-call.s3.{api}", lambda api=api, **_: calls.append(api))
    storage.calls = calls
    return storage


def _write(storage, key: str, data: bytes, announced: int | None, chunk: int = 1 * MiB):
    writer = storage.writer(key, "video/mp4")
    writer.write(data[:1000])  # the head, before the length is known (as the form's first read)
    if announced is not None:
        writer.expect(announced)
    for i in range(1000, len(data), chunk):
        writer.write(data[i:i + chunk])
    return writer


def _stored(storage, key: str) -> bytes:
    return b"".join(storage.open(key))


def _no_open_uploads(storage) -> None:
    assert storage.client.list_multipart_uploads(Bucket=storage.bucket).get("Uploads", []) == []


def test_an_announced_length_goes_up_as_one_put(s3):
    info = _write(s3, "user-a/videos/x.mp4", DATA, len(DATA)).commit()
    assert info.size == len(DATA) and info.etag
    assert _stored(s3, "user-a/videos/x.mp4") == DATA
    assert s3.calls == ["PutObject"]  # no parts, no completion
    assert s3.stat("user-a/videos/x.mp4").content_type == "video/mp4"


@pytest.mark.parametrize("off", [+100_000, +2, -2, -1000])
def test_a_wrong_announcement_is_made_right_inside_s3(s3, off):
    """Announced longer (a form field after the file) or shorter (no line break after the form's end): the
    object is still exactly the bytes written."""
    info = _write(s3, "user-a/videos/y.mp4", DATA, len(DATA) + off).commit()
    assert info.size == len(DATA)
    assert _stored(s3, "user-a/videos/y.mp4") == DATA
    assert s3.calls[0] == "PutObject" and "UploadPartCopy" in s3.calls
    assert [o.key for o in s3.list("user-a/")] == ["user-a/videos/y.mp4"]
    _no_open_uploads(s3)


def test_a_file_far_shorter_than_announced_is_read_back_and_put_again(s3):
    small = DATA[:2 * MiB]
    info = _write(s3, "user-a/videos/z.mp4", small, 6 * MiB).commit()
    assert info.size == len(small) and _stored(s3, "user-a/videos/z.mp4") == small


def test_announcements_that_change_nothing(s3):
    """Within one part, or once parts went, the writer goes on as it was."""
    assert _write(s3, "user-a/videos/s.mp4", DATA[:3 * MiB], 3 * MiB).commit().size == 3 * MiB
    assert s3.calls == ["PutObject"]  # the one PUT of a small object, at commit
    s3.calls.clear()
    writer = _write(s3, "user-a/videos/m.mp4", DATA, None)
    writer.expect(len(DATA))  # too late: parts are out
    writer.commit()
    assert "UploadPart" in s3.calls and s3.calls.count("PutObject") == 0
    assert _stored(s3, "user-a/videos/m.mp4") == DATA


@pytest.mark.parametrize("written", [3 * MiB, len(DATA)], ids=["mid-body", "every-byte"])
def test_an_abandoned_put_leaves_nothing(s3, written, monkeypatch):
    """Even with every byte written, nothing is stored before commit: the last byte waits for it, so a key that
    may not delete (the web role) leaves nothing either."""
    def no_delete(key):
        raise BackendError("The object store failed to delete the object (AccessDenied).")

    monkeypatch.setattr(s3, "delete", no_delete)
    writer = _write(s3, "user-a/videos/a.mp4", DATA[:written], len(DATA))
    writer.abort()
    writer.abort()  # twice is fine
    assert list(s3.list("user-a/")) == []
    _no_open_uploads(s3)


def test_s3_failing_the_put_is_a_backend_error_and_leaves_nothing(s3):
    def refuse(**_):
        raise ConnectionResetError("the store went away")

    s3.writes.meta.events.register("before-send.s3.PutObject", refuse)
    try:
        with pytest.raises(BackendError):
            _write(s3, "user-a/videos/f.mp4", DATA, len(DATA)).commit()
    finally:
        s3.writes.meta.events.unregister("before-send.s3.PutObject", refuse)
    assert list(s3.list("user-a/")) == []


def test_a_put_failing_mid_body_stops_the_writer(s3):
    """S3 stops reading half-way: the next write (or the commit) raises, and nothing is stored."""
    writer = s3.writer("user-a/videos/g.mp4", "video/mp4")
    writer.write(DATA[:1000])
    writer.expect(len(DATA))
    real_read = writer._put.pipe.read
    reads = []

    def breaking_read(size=-1):
        reads.append(size)
        if len(reads) == 5:
            raise OSError("connection reset")
        return real_read(size)

    writer._put.pipe.read = breaking_read
    with pytest.raises(BackendError):
        for i in range(1000, len(DATA), MiB):
            writer.write(DATA[i:i + MiB])
        writer.commit()
    writer.abort()
    assert list(s3.list("user-a/")) == []


@pytest.mark.parametrize("app", ["aws"], indirect=True)
def test_form_uploads_land_whole_whichever_field_comes_last(app, alice, backends):
    """Through the API on S3: the file last (announced exactly) or a tags field after it (cut inside S3)."""
    calls: list[str] = []
    for api in ("PutObject", "UploadPart", "UploadPartCopy"):
        backends.storage.writes.meta.events.register(f"before-call.s3.{api}", lambda api=api, **_: calls.append(api))
    for n, tags in enumerate([None, "after, the-file"]):
        calls.clear()
        video = corpus.mp4(seconds=1 + n)
        data = video + b"\0" * (6 * MiB - len(video))  # padding after its boxes is kept as it is
        body = multipart(data, f"v{n}.mp4", tags=tags, tags_after=True)
        resp = post(alice, io.BytesIO(body), len(body))
        assert resp.status_code == 201, resp.json
        media = alice.get(f"/media/{resp.json['id']}/original")
        assert media.status_code == 200 and media.data == data
        # the original in one streamed PUT (then a copy that cuts the field off), the thumbnail in another
        assert sorted(calls) == ["PutObject", "PutObject"] + ([] if tags is None else ["UploadPartCopy"])
        if tags:
            assert {"after", "the-file"} <= set(resp.json["tags"])
    _no_open_uploads(backends.storage)



@pytest.mark.parametrize("off", [+100_000, -2])
def test_a_key_that_may_not_copy_makes_it_right_through_the_server(s3, off):
    """A write-only key (MOMENTO_UPLOADER_*) is refused UploadPartCopy, which reads its source: the bytes then
    come back through the server and go up again, and the object is still exactly what was written."""
    from botocore.exceptions import ClientError

    def denied(**_):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no read"}}, "UploadPartCopy")

    s3.writes.meta.events.register("before-call.s3.UploadPartCopy", denied)
    info = _write(s3, "user-a/videos/w.mp4", DATA, len(DATA) + off).commit()
    assert info.size == len(DATA) and _stored(s3, "user-a/videos/w.mp4") == DATA
    assert s3.calls.count("UploadPart") >= 2  # written again in parts
    _no_open_uploads(s3)


@pytest.mark.parametrize("app", ["aws"], indirect=True)
def test_large_uploads_refused_after_their_bytes_leave_no_object(app, alice, backends, monkeypatch):
    """A duplicate and a file its decode refuses, each past one part and sent whole: nothing is stored for them,
    without a single delete (the web role may never delete)."""
    def no_delete(key):
        raise BackendError("The object store failed to delete the object (AccessDenied).")

    monkeypatch.setattr(backends.storage, "delete", no_delete)
    video = corpus.mp4(seconds=1)
    data = video + b"\0" * (6 * MiB - len(video))
    first = post(alice, io.BytesIO(body := multipart(data, "v.mp4")), len(body))
    assert first.status_code == 201, first.json
    again = post(alice, io.BytesIO(body), len(body))
    assert again.json["duplicate"] is True and again.json["id"] == first.json["id"]
    broken = video[:len(video) // 2] + b"\1" * (6 * MiB)  # the index cut in half, then what is no box at all
    refused = post(alice, io.BytesIO(body := multipart(broken, "w.mp4")), len(body))
    assert refused.status_code == 422, refused.json
    assert sorted(o.key for o in backends.storage.list(f"user-{alice.user.id}/")) == sorted(
        [f"user-{alice.user.id}/videos/{first.json['id']}.mp4", f"user-{alice.user.id}/thumbs/{first.json['id']}.webp"])
    _no_open_uploads(backends.storage)
