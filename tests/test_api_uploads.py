"""The upload API end to end, on both backends: accepted media, refusals, duplicates, listing, tags, trash."""
from __future__ import annotations

import hashlib

import pytest

from tests import corpus
from tests.conftest import both_backends


def _keys(backends, user_id):
    return sorted(o.key for o in backends.storage.list(f"user-{user_id}/"))


@both_backends
def test_photo_upload_stores_original_thumbnail_and_record(app, alice, backends):
    data = corpus.jpeg(640, 480, exif_date="2024:07:01 12:03:11", make="Apple", model="iPhone 15 Pro",
                       gps=(48.8583, 2.2945))
    resp = alice.upload(data, "IMG_0001.JPG", tags="Beach,  Family  Trip ")
    assert resp.status_code == 201, resp.json
    body = resp.json
    assert body["kind"] == "photo" and body["mime"] == "image/jpeg"
    assert body["size"] == len(data) and body["sha256"] == hashlib.sha256(data).hexdigest()
    assert (body["width"], body["height"]) == (640, 480)
    assert body["taken_at"] == "2024-07-01T12:03:11Z"
    assert body["tags"] == ["beach", "family trip"]
    assert {"year:2024", "month:2024-07", "camera:apple", "orientation:landscape", "has:location"} <= set(body["auto_tags"])
    assert body["location"]["lat"] == pytest.approx(48.8583, abs=1e-3)
    uid = alice.user.id
    assert _keys(backends, uid) == sorted([f"user-{uid}/photos/{body['id']}.jpg", f"user-{uid}/thumbs/{body['id']}.webp"])
    stored = b"".join(backends.storage.open(f"user-{uid}/photos/{body['id']}.jpg"))
    assert stored == data
    assert backends.storage.stat(f"user-{uid}/photos/{body['id']}.jpg").content_type == "image/jpeg"
    assert alice.get(f"/api/v1/uploads/{body['id']}").json == body


@both_backends
def test_video_upload(app, alice, backends):
    data = corpus.mp4(seconds=2)
    resp = alice.upload(data, "clip.mp4")
    assert resp.status_code == 201, resp.json
    body = resp.json
    assert body["kind"] == "video" and body["mime"] == "video/mp4"
    assert body["duration"] == pytest.approx(2.0, abs=0.3)
    assert body["rendition"] == "none"
    uid = alice.user.id
    assert f"user-{uid}/videos/{body['id']}.mp4" in _keys(backends, uid)
    thumb = alice.get(body["urls"]["thumbnail"])
    assert thumb.status_code == 200 and thumb.mimetype in ("image/webp", "image/jpeg")


@pytest.mark.parametrize("make,mime,ext", [
    (lambda: corpus.png(), "image/png", "png"),
    (lambda: corpus.webp(), "image/webp", "webp"),
    (lambda: corpus.gif_animated(), "image/gif", "gif"),
    (lambda: corpus.heic(), "image/heic", "heic"),
    (lambda: corpus.mov(), "video/quicktime", "mov"),
    (lambda: corpus.webm(), "video/webm", "webm"),
])
def test_every_accepted_type(alice, backends, make, mime, ext):
    resp = alice.upload(make(), "whatever.bin")
    assert resp.status_code == 201, resp.json
    assert resp.json["mime"] == mime
    assert backends.storage.stat(f"user-{alice.user.id}/{resp.json['kind']}s/{resp.json['id']}.{ext}").size > 0


@pytest.mark.parametrize("make,name,status,code", [
    (corpus.text_as_jpg, "holiday.jpg", 415, "unsupported_media_type"),
    (corpus.html, "page.png", 415, "unsupported_media_type"),
    (corpus.shell_script, "run.jpg", 415, "unsupported_media_type"),
    (corpus.pdf, "doc.jpg", 415, "unsupported_media_type"),
    (corpus.zip_file, "archive.mp4", 415, "unsupported_media_type"),
    (corpus.svg, "vector.svg", 415, "unsupported_media_type"),
    (corpus.mkv, "movie.webm", 415, "unsupported_media_type"),
    (corpus.polyglot_gif_js, "poly.gif", 422, None),
    (lambda: corpus.truncated(corpus.jpeg(400, 300)), "cut.jpg", 422, None),
    (lambda: corpus.truncated(corpus.png(400, 300)), "cut.png", 422, None),
    (lambda: corpus.truncated(corpus.mp4(seconds=2), keep=0.3), "cut.mp4", 422, None),
    (corpus.mp4_header_noise, "noise.mp4", 422, None),
    (corpus.decompression_bomb_png, "bomb.png", 422, "too_many_pixels"),
])
def test_bad_files_are_refused_and_leave_nothing(alice, backends, make, name, status, code):
    resp = alice.upload(make(), name)
    assert resp.status_code == status, resp.json
    assert resp.json["error"]["message"]
    if code:
        assert resp.json["error"]["code"] == code
    assert _keys(backends, alice.user.id) == []
    assert alice.get("/api/v1/uploads").json["items"] == []


def test_empty_and_missing_file(alice):
    assert alice.upload(b"", "empty.jpg").status_code == 400
    resp = alice.post("/api/v1/uploads", data={"tags": "x"}, content_type="multipart/form-data")
    assert resp.status_code == 400 and resp.json["error"]["code"] == "missing_file"


def _form(*parts: tuple[str, str | None, bytes], boundary: str = "b0und") -> bytes:
    """A multipart body written by hand: (field name, file name or None, bytes) per part."""
    out = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def test_form_read_as_browsers_and_scripts_write_it(alice, backends):
    photo = corpus.jpeg(64, 48)
    # media type and parameter names ignore case (RFC 9110 8.3.1)
    resp = alice.post("/api/v1/uploads", data=_form(("file", "a.jpg", photo)),
                      headers={"Content-Type": "MULTIPART/FORM-DATA; BOUNDARY=b0und"})
    assert resp.status_code == 201, resp.json
    # a repeated tags field adds to the list
    resp = alice.post("/api/v1/uploads", data=_form(("tags", None, b"beach"), ("file", "b.jpg", corpus.jpeg(65, 48)),
                                                    ("tags", None, b"Family, sea")),
                      content_type="multipart/form-data; boundary=b0und")
    assert resp.status_code == 201 and resp.json["tags"] == ["beach", "family", "sea"]


def test_form_refusals_say_what_is_wrong_and_keep_nothing(alice, backends):
    def send(*parts):
        return alice.post("/api/v1/uploads", data=_form(*parts), content_type="multipart/form-data; boundary=b0und")

    resp = send(("photo", "a.jpg", corpus.jpeg(64, 48)))
    assert resp.status_code == 400 and resp.json["error"]["code"] == "missing_file"
    assert resp.json["error"]["fields"] == [{"field": "file", "reason": "missing"}]
    resp = send(("file", "a.jpg", corpus.jpeg(64, 48)), ("file", "b.jpg", corpus.jpeg(65, 48)))
    assert resp.json["error"]["fields"] == [{"field": "file", "reason": "too_many"}]
    resp = send(("file", "a.jpg", corpus.jpeg(64, 48)), ("tags", None, b"\xff\xfe,ok"))
    assert resp.status_code == 400 and resp.json["error"]["code"] == "invalid_tag"
    assert _keys(backends, alice.user.id) == [] and alice.get("/api/v1/uploads").json["items"] == []


def test_json_body_over_its_limit_names_its_own_limit(alice):
    photo = alice.upload(corpus.jpeg(64, 48)).json
    resp = alice.client.patch(f"/api/v1/uploads/{photo['id']}", data=b'{"tags": ["' + b"a" * (1024 * 1024) + b'"]}',
                              headers={**alice.headers, "Content-Type": "application/json"})
    assert resp.status_code == 413 and "1 MiB" in resp.json["error"]["message"]


def test_per_kind_size_limit(app, alice, backends):
    app.config["MAX_PHOTO_BYTES"] = 10_000
    big = corpus.jpeg(800, 600, noise=True)
    assert len(big) > 10_000
    resp = alice.upload(big)
    assert resp.status_code == 413 and resp.json["error"]["code"] == "file_too_large"
    assert _keys(backends, alice.user.id) == []
    assert alice.upload(corpus.mp4(seconds=1), "small.mp4").status_code == 201


def test_request_over_max_content_length(app, alice):
    app.config["MAX_CONTENT_LENGTH"] = 5_000
    resp = alice.upload(corpus.jpeg(800, 600, noise=True))
    assert resp.status_code == 413
    assert resp.json["error"]["code"] == "request_too_large"


def test_pixel_limit_is_configurable(app, alice):
    app.config["MAX_PIXELS"] = 100 * 100
    resp = alice.upload(corpus.jpeg(200, 200))
    assert resp.status_code == 422 and resp.json["error"]["code"] == "too_many_pixels"
    assert alice.upload(corpus.jpeg(90, 90)).status_code == 201


@pytest.mark.parametrize("name", corpus.odd_filenames())
def test_odd_filenames_are_only_metadata(alice, backends, name):
    resp = alice.upload(corpus.jpeg(32, 32, color=(len(name) % 255, 9, 9)), name)
    assert resp.status_code == 201, resp.json
    clean = resp.json["filename"]
    assert "/" not in clean and "\\" not in clean and len(clean) <= 200
    assert not any(ord(c) < 32 or 0x202A <= ord(c) <= 0x202E or 0x2066 <= ord(c) <= 0x2069 for c in clean)
    assert all(o.key.endswith((".jpg", ".webp")) for o in backends.storage.list(f"user-{alice.user.id}/"))


@both_backends
def test_duplicate_returns_existing(app, alice, bob, backends):
    data = corpus.jpeg(100, 100)
    first = alice.upload(data, "a.jpg")
    again = alice.upload(data, "b.jpg")
    assert first.status_code == 201 and again.status_code == 200
    assert again.json["duplicate"] is True and again.json["id"] == first.json["id"]
    assert len(_keys(backends, alice.user.id)) == 2
    # the tags the bytes came with the second time are added to the upload's own
    tagged = alice.upload(data, "c.jpg", tags="Beach, family")
    assert tagged.status_code == 200 and tagged.json["tags"] == ["beach", "family"]
    assert alice.upload(data, "d.jpg", tags="family,sea").json["tags"] == ["beach", "family", "sea"]
    assert [u["id"] for u in alice.get("/api/v1/uploads?tag=sea").json["items"]] == [first.json["id"]]
    # Another user's identical bytes are their own upload.
    assert bob.upload(data).status_code == 201


def test_duplicate_of_trashed_upload_restores_it(alice):
    data = corpus.jpeg(100, 100)
    uid = alice.upload(data).json["id"]
    assert alice.delete(f"/api/v1/uploads/{uid}").status_code == 204
    again = alice.upload(data)
    assert again.status_code == 200 and again.json["duplicate"] and again.json["trashed_at"] is None
    assert [u["id"] for u in alice.get("/api/v1/uploads").json["items"]] == [uid]


@both_backends
def test_list_paging_kind_and_trash(app, alice):
    ids = [alice.upload(corpus.jpeg(40, 30, color=(i * 40, 10, 10))).json["id"] for i in range(5)]
    vid = alice.upload(corpus.mp4(seconds=1), "v.mp4").json["id"]
    page1 = alice.get("/api/v1/uploads?limit=2").json
    assert [u["id"] for u in page1["items"]] == [vid, ids[4]]
    page2 = alice.get(f"/api/v1/uploads?limit=2&cursor={page1['next_cursor']}").json
    page3 = alice.get(f"/api/v1/uploads?limit=2&cursor={page2['next_cursor']}").json
    assert [u["id"] for u in page2["items"] + page3["items"]] == [ids[3], ids[2], ids[1], ids[0]]
    assert page3["next_cursor"] is None
    assert [u["id"] for u in alice.get("/api/v1/uploads?kind=video").json["items"]] == [vid]
    assert alice.delete(f"/api/v1/uploads/{ids[2]}").status_code == 204
    listed = [u["id"] for u in alice.get("/api/v1/uploads").json["items"]]
    assert ids[2] not in listed and len(listed) == 5
    assert alice.get(f"/api/v1/uploads/{ids[2]}").json["trashed_at"]
    restored = alice.post(f"/api/v1/uploads/{ids[2]}/restore")
    assert restored.status_code == 200 and restored.json["trashed_at"] is None
    assert ids[2] in [u["id"] for u in alice.get("/api/v1/uploads").json["items"]]


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=abc", "kind=audio", "cursor=nonsense", "cursor=e30"])
def test_bad_list_queries(alice, query):
    resp = alice.get(f"/api/v1/uploads?{query}")
    assert resp.status_code == 400 and resp.json["error"]["code"]


@both_backends
def test_patch_tags(app, alice):
    uid = alice.upload(corpus.jpeg(50, 50)).json["id"]
    resp = alice.patch(f"/api/v1/uploads/{uid}", {"tags": ["  Sunset ", "sunset", "Two   Words"]})
    assert resp.status_code == 200 and resp.json["tags"] == ["sunset", "two words"]
    assert alice.get(f"/api/v1/uploads/{uid}").json["tags"] == ["sunset", "two words"]
    for bad in ({"tags": "x"}, {"tags": [""]}, {"tags": ["x" * 65]}, {"tags": [str(i) for i in range(51)]},
                {"tags": [1]}, {"nope": []}, ["tags"]):
        r = alice.patch(f"/api/v1/uploads/{uid}", bad)
        assert r.status_code == 400, bad
    assert alice.get(f"/api/v1/uploads/{uid}").json["tags"] == ["sunset", "two words"]


def test_unauthenticated_api_is_401(client):
    for method, url in [("get", "/api/v1/uploads"), ("post", "/api/v1/uploads"), ("get", "/api/v1/tags")]:
        resp = getattr(client, method)(url)
        assert resp.status_code == 401 and resp.json["error"]["code"] == "unauthorized"
    resp = client.get("/api/v1/uploads", headers={"Authorization": "Bearer nope"})
    assert resp.status_code == 401 and resp.json["error"]["code"] == "invalid_token"


def test_unknown_route_and_method_are_json(alice):
    assert alice.get("/api/v1/nothing").status_code == 404
    assert alice.get("/api/v1/nothing").json["error"]["code"] == "not_found"
    resp = alice.client.put("/api/v1/uploads", headers=alice.headers)
    assert resp.status_code == 405 and resp.json["error"]["code"] == "method_not_allowed"


def test_a_wrong_method_is_405_before_any_csrf_check(request, tmp_path):
    """With CSRF on, an unsafe request to a route that does not take its method is a 405 (it changes nothing)."""
    from momento import create_app
    from tests.conftest import app_config

    app = create_app(app_config(request, tmp_path, "local", WTF_CSRF_ENABLED=True))
    c = app.test_client()
    for method in ("PUT", "DELETE", "PATCH"):
        resp = c.open("/healthz", method=method)
        assert resp.status_code == 405 and resp.json["error"]["code"] == "method_not_allowed", method
    assert c.post("/api/v1/nowhere").status_code == 404
    assert c.post("/login", data={"email": "a@example.com", "password": "x"}).status_code == 400  # still checked
