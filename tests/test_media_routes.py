"""Serving: types, caching headers, single ranges (open-ended and suffix), HEAD, 304 and 416."""
from __future__ import annotations

import pytest

from tests import corpus
from tests.conftest import both_backends


@pytest.fixture
def video(alice):
    data = corpus.mp4(seconds=2)
    body = alice.upload(data, "clip.mp4").json
    return data, body


@both_backends
def test_full_get_headers(app, alice, video):
    data, body = video
    resp = alice.get(body["urls"]["original"])
    assert resp.status_code == 200 and resp.data == data
    assert resp.mimetype == "video/mp4"
    assert resp.headers["Accept-Ranges"] == "bytes"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Cache-Control"].startswith("private")
    assert resp.headers["ETag"].startswith('"')
    assert "filename*=UTF-8''clip.mp4" in resp.headers["Content-Disposition"]
    again = alice.get(body["urls"]["original"], headers={"If-None-Match": resp.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    weak = alice.get(body["urls"]["original"], headers={"If-None-Match": "W/" + resp.headers["ETag"]})
    assert weak.status_code == 304  # If-None-Match compares weakly


@both_backends
@pytest.mark.parametrize("header,first,last", [
    ("bytes=0-0", 0, 0),
    ("bytes=10-99", 10, 99),
    ("bytes=100-", 100, None),
    ("bytes=-500", -500, None),
    ("bytes=0-99999999", 0, None),
    ("bytes=-99999999", 0, None),  # a suffix longer than the file is the whole file (RFC 9110 14.1.2)
])
def test_single_ranges(app, alice, video, header, first, last):
    data, body = video
    resp = alice.get(body["urls"]["original"], headers={"Range": header})
    assert resp.status_code == 206
    want = data[first:] if last is None else data[first:last + 1]
    assert resp.data == want
    start = first if first >= 0 else len(data) + first
    assert resp.headers["Content-Range"] == f"bytes {start}-{start + len(want) - 1}/{len(data)}"
    assert int(resp.headers["Content-Length"]) == len(want)


@both_backends
def test_unsatisfiable_range_is_416(app, alice, video):
    data, body = video
    resp = alice.get(body["urls"]["original"], headers={"Range": f"bytes={len(data)}-"})
    assert resp.status_code == 416
    assert resp.headers["Content-Range"] == f"bytes */{len(data)}"
    assert resp.json["error"]["code"] == "range_not_satisfiable"


@pytest.mark.parametrize("header", ["bytes=-0", "bytes=-000"])
def test_empty_suffix_is_416(alice, video, header):
    data, body = video
    resp = alice.get(body["urls"]["original"], headers={"Range": header})
    assert resp.status_code == 416 and resp.headers["Content-Range"] == f"bytes */{len(data)}"


@pytest.mark.parametrize("header", ["bytes=abc", "items=0-1", "bytes=5-1", "bytes=0-1,5-9"])
def test_malformed_or_multi_ranges_get_the_whole_file(alice, video, header):
    data, body = video
    resp = alice.get(body["urls"]["original"], headers={"Range": header})
    assert resp.status_code == 200 and resp.data == data


def test_stale_if_range_gets_the_whole_file(alice, video):
    data, body = video
    resp = alice.get(body["urls"]["original"], headers={"Range": "bytes=0-9", "If-Range": '"other"'})
    assert resp.status_code == 200 and resp.data == data


@both_backends
def test_head(app, alice, video):
    data, body = video
    resp = alice.head(body["urls"]["original"])
    assert resp.status_code == 200 and resp.data == b""
    assert int(resp.headers["Content-Length"]) == len(data)
    assert resp.headers["Accept-Ranges"] == "bytes"
    ranged = alice.head(body["urls"]["original"], headers={"Range": "bytes=-10"})
    assert ranged.status_code == 206 and int(ranged.headers["Content-Length"]) == 10


def test_thumbnail_and_download(alice):
    body = alice.upload(corpus.jpeg(1200, 800), "wide photo.jpg").json
    thumb = alice.get(body["urls"]["thumbnail"])
    assert thumb.status_code == 200 and thumb.mimetype == "image/webp"
    from io import BytesIO

    from PIL import Image

    assert max(Image.open(BytesIO(thumb.data)).size) <= 512
    dl = alice.get(body["urls"]["original"] + "?download=1")
    assert dl.headers["Content-Disposition"].startswith("attachment;")
    assert "wide%20photo.jpg" in dl.headers["Content-Disposition"]


def test_playback_is_404_without_rendition(alice, video):
    _, body = video
    resp = alice.get(f"/media/{body['id']}/playback")
    assert resp.status_code == 404


def test_missing_object_is_404_not_500(alice, backends):
    body = alice.upload(corpus.jpeg(60, 60)).json
    backends.storage.delete(f"user-{alice.user.id}/photos/{body['id']}.jpg")
    resp = alice.get(body["urls"]["original"])
    assert resp.status_code == 404 and resp.json["error"]["code"] == "object_missing"
