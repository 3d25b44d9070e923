"""The streaming receive path: early refusal, limits mid-stream, cut-off bodies, bounded reading."""
from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests import corpus
from tests.conftest import both_backends

BOUNDARY = "momentoboundary"


def multipart(file_bytes: bytes, filename: str = "f.jpg", tags: str | None = None, tags_after: bool = False) -> bytes:
    """A multipart body with one file part and an optional tags field before or after it."""
    tag_part = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"tags\"\r\n\r\n{tags}\r\n".encode()
                if tags is not None else b"")
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    body = (b"" if tags_after else tag_part) + head + file_bytes + b"\r\n" + (tag_part if tags_after else b"")
    return body + f"--{BOUNDARY}--\r\n".encode()


class CountingStream(io.RawIOBase):
    """A request body that records how much of it the server read, and can stop short (a cut connection)."""

    def __init__(self, data: bytes, cut_at: int | None = None):
        self.data, self.pos, self.cut_at = data, 0, cut_at

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, pos: int, whence: int = 0) -> int:
        self.pos = {0: pos, 1: self.pos + pos, 2: len(self.data) + pos}[whence]
        return self.pos

    def readinto(self, buffer) -> int:
        end = len(self.data) if self.cut_at is None else self.cut_at
        n = min(len(buffer), end - self.pos)
        buffer[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n


def post(account, body_stream, length: int):
    return account.client.post("/api/v1/uploads", input_stream=body_stream, content_length=length,
                               content_type=f"multipart/form-data; boundary={BOUNDARY}", headers=account.headers)


def _nothing_left(app, backends, account):
    assert list(backends.storage.list(f"user-{account.user.id}/")) == []
    assert account.get("/api/v1/uploads").json["items"] == []
    tmp = Path(app.config["DATA_DIR"]) / "tmp"
    assert not tmp.exists() or list(tmp.iterdir()) == []


def test_non_media_is_refused_before_the_body_is_read(app, alice, backends):
    body = multipart(b"just some text\n" * 700_000)  # ~10 MB of text
    stream = CountingStream(body)
    resp = post(alice, stream, len(body))
    assert resp.status_code == 415
    assert stream.pos < 1024 * 1024, f"read {stream.pos} bytes of {len(body)}"
    _nothing_left(app, backends, alice)


def test_size_limit_is_enforced_mid_stream(app, alice, backends):
    app.config["MAX_VIDEO_BYTES"] = 300_000
    video = corpus.mp4(seconds=2) + b"\0" * 2_000_000
    body = multipart(video, "big.mp4")
    stream = CountingStream(body)
    resp = post(alice, stream, len(body))
    assert resp.status_code == 413 and resp.json["error"]["code"] == "file_too_large"
    assert stream.pos < 1_000_000
    _nothing_left(app, backends, alice)


@both_backends
def test_cut_off_body_leaves_nothing(app, alice, backends):
    body = multipart(corpus.jpeg(800, 600, noise=True))
    resp = post(alice, CountingStream(body, cut_at=len(body) // 2), len(body))
    assert resp.status_code == 400 and resp.json["error"]["code"] == "incomplete_body"
    _nothing_left(app, backends, alice)


def test_tags_field_after_the_file(alice):
    body = multipart(corpus.jpeg(64, 64), tags="after, the file", tags_after=True)
    resp = post(alice, CountingStream(body), len(body))
    assert resp.status_code == 201 and resp.json["tags"] == ["after", "the file"]


def test_small_file_under_the_sniff_size(alice):
    tiny = corpus.png(2, 2)
    assert len(tiny) < 8192
    body = multipart(tiny, "tiny.png")
    assert post(alice, CountingStream(body), len(body)).status_code == 201


@pytest.mark.parametrize("body,ctype,code", [
    (b"not multipart", "text/plain", "not_multipart"),
    (b"--x\r\ngarbage", "multipart/form-data; boundary=x", "missing_file"),
    (b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n\xff\xd8\xff',
     "multipart/form-data; boundary=x", "incomplete_body"),
])
def test_malformed_bodies(alice, body, ctype, code):
    resp = alice.client.post("/api/v1/uploads", data=body, content_type=ctype, headers=alice.headers)
    assert resp.status_code == 400 and resp.json["error"]["code"] == code


def test_second_file_part_is_refused(alice, backends, app):
    part = multipart(corpus.jpeg(32, 32))[: -len(f"--{BOUNDARY}--\r\n")]
    body = part + multipart(corpus.jpeg(33, 33))
    resp = post(alice, CountingStream(body), len(body))
    assert resp.status_code == 400 and resp.json["error"]["code"] == "missing_file"
    _nothing_left(app, backends, alice)


@both_backends
def test_multipart_parts_stream_to_s3(app, alice, backends):
    """A file larger than one part goes to the store in several parts and arrives whole."""
    if app.config["BACKEND"] == "aws":
        backends.storage.part_size = 5 * 1024 * 1024
    video = corpus.mp4(seconds=1) + b"\0" * (11 * 1024 * 1024)
    resp = alice.upload(video, "padded.mp4")
    assert resp.status_code == 201, resp.json
    assert alice.get(resp.json["urls"]["original"]).data == video


def test_quota_is_checked_on_the_declared_size_and_as_bytes_arrive(app, alice, backends):
    from dataclasses import replace

    with app.app_context():
        backends.catalog.update_user(replace(backends.catalog.get_user(alice.user.id), quota=200_000))
    body = multipart(corpus.jpeg(800, 600, noise=True) + b"")
    big = multipart(corpus.mp4(seconds=1) + b"\0" * 400_000, "v.mp4")
    stream = CountingStream(big)
    resp = post(alice, stream, len(big))
    assert resp.status_code == 413 and resp.json["error"]["code"] == "quota_exceeded"
    assert stream.pos == 0  # refused on the declared size, before a byte was read
    # Just over the quota: the declared size (less the multipart framing allowance) passes, the bytes do not.
    edge = multipart(corpus.mp4(seconds=1) + b"\0" * 205_000, "edge.mp4")
    stream = CountingStream(edge)
    resp = post(alice, stream, len(edge))
    assert resp.status_code == 413 and resp.json["error"]["code"] == "quota_exceeded"
    assert stream.pos > 0  # refused while reading, not on the declared size
    _nothing_left(app, backends, alice)
    assert post(alice, CountingStream(body), len(body)).status_code == 201
    assert "left" in alice.upload(corpus.mp4(seconds=1) + b"\0" * 300_000, "w.mp4").json["error"]["message"]


def _receive(app, stream: CountingStream, length: int, announced: list | None = None):
    """receive() on a body of declared length; the form, and the file's bytes as the pipeline got them (the
    lengths the file was announced at go to `announced`)."""
    from flask import request

    from momento.web.receive import receive

    fed = []
    announced = [] if announced is None else announced

    class Incoming:
        sniffed, room = None, 0

        def feed(self, data):
            fed.append(bytes(data))

        def expect(self, size):
            announced.append(size)

        def abort(self):
            fed.clear()

    with app.test_request_context("/", method="POST", input_stream=stream, environ_overrides={
            "CONTENT_LENGTH": str(length), "CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY}"}):
        form = receive(request, lambda filename: Incoming(), max_field_bytes=500 * 1024, max_parts=10)
    return form, b"".join(fed)


def test_a_body_is_read_to_its_declared_length_and_no_further(app):
    """Bytes past Content-Length (a pipelined next request, say) are never taken for the body."""
    body = multipart(b"b" * 200_000, tags="x")
    stream = CountingStream(body + b"GET /next HTTP/1.1\r\n\r\n")
    form, data = _receive(app, stream, len(body))
    assert data == b"b" * 200_000 and form.fields == {"tags": "x"}
    assert stream.pos == len(body)


@pytest.mark.parametrize("size", [1, 70_000, 3 * 1024 * 1024 + 7])
def test_a_last_file_is_announced_at_its_exact_length(app, size):
    """The file's length is told from the body's as soon as its part begins: exact when it is the form's last
    part (as forms and our pages send it), only a hint when a field follows. A file whose part ends in the first
    read needs no announcement."""
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    for tags_after, expected in [(False, size), (True, None)]:
        body = multipart(data, tags="a, b", tags_after=tags_after)
        announced = []
        form, got = _receive(app, CountingStream(body), len(body), announced)
        assert got == data and form.fields == {"tags": "a, b"}
        if size == 1:
            assert announced == []
            continue
        assert len(announced) == 1
        if expected is not None:
            assert announced == [expected]
        else:  # the field after it is counted in
            assert announced[0] > size


def test_a_client_that_went_away_is_an_incomplete_body(app):
    from momento.errors import BadRequest

    body = multipart(b"x" * 100_000)
    with pytest.raises(BadRequest) as caught:
        _receive(app, CountingStream(body, cut_at=60_000), len(body))
    assert caught.value.code == "incomplete_body"



@both_backends
def test_a_large_upload_is_hashed_whole(app, alice, backends):
    """The sha256 covers every byte of a file read in many pieces, and a cut-off one leaves nothing."""
    import hashlib
    video = corpus.mp4(seconds=2) + b"\0" * (3 * 1024 * 1024 + 17)  # trailing bytes after the boxes are kept
    body = multipart(video, "long.mp4")
    resp = post(alice, CountingStream(body, cut_at=len(body) - 5000), len(body))
    assert resp.status_code == 400 and resp.json["error"]["code"] == "incomplete_body"
    _nothing_left(app, backends, alice)
    resp = post(alice, CountingStream(body), len(body))
    assert resp.status_code == 201, resp.json
    assert resp.json["sha256"] == hashlib.sha256(video).hexdigest() and resp.json["size"] == len(video)
