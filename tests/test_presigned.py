"""Presigned delivery on aws: /media checks ownership, then sends the browser to S3 for the bytes."""
from __future__ import annotations

import urllib.error
import urllib.request
from urllib.parse import parse_qs, urlsplit

import pytest

from momento import create_app
from momento.config import ConfigError
from momento.migrate import apply_pending
from tests import corpus
from tests.conftest import Account, app_config

pytestmark = pytest.mark.aws


def presigned_app(request, tmp_path, **extra):
    """An aws app on the session's moto with presigned delivery (the aws default)."""
    config = app_config(request, tmp_path, "aws", **extra)
    if "MEDIA_DELIVERY" not in extra:
        config.pop("MEDIA_DELIVERY")  # the suite's default is proxy: back to the backend's own
    app = create_app(config)
    with app.app_context():
        apply_pending(app.extensions["momento"])
    return app


@pytest.fixture
def app(request, tmp_path):
    return presigned_app(request, tmp_path)


def fetch(url: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    """GET with plain urllib: no credentials, no cookies."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def test_original_redirects_to_a_short_lived_url_that_needs_no_credentials(app, alice, moto_server):
    photo = corpus.jpeg(80, 60)
    upload_id = alice.upload(photo, "Beach day.jpg").json["id"]
    resp = alice.get(f"/media/{upload_id}/original")
    assert resp.status_code == 302 and resp.data[:0] == b""
    location = resp.headers["Location"]
    assert location.startswith(moto_server + "/")
    query = parse_qs(urlsplit(location).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and int(query["X-Amz-Expires"][0]) == 300
    assert resp.headers["Cache-Control"] == "private, max-age=150"
    status, headers, body = fetch(location)
    assert status == 200 and body == photo
    assert headers["content-type"] == "image/jpeg"
    assert headers["content-disposition"].startswith('inline; filename="Beach day.jpg"')
    status, headers, body = fetch(location, {"Range": "bytes=10-19"})
    assert status == 206 and body == photo[10:20] and headers["content-range"] == f"bytes 10-19/{len(photo)}"
    download = alice.get(f"/media/{upload_id}/original?download=1").headers["Location"]
    assert fetch(download)[1]["content-disposition"].startswith("attachment;")


def test_thumbnail_and_head(app, alice):
    upload_id = alice.upload(corpus.jpeg(80, 60)).json["id"]
    thumb = alice.get(f"/media/{upload_id}/thumbnail")
    assert thumb.status_code == 302
    status, headers, body = fetch(thumb.headers["Location"])
    assert status == 200 and headers["content-type"] in ("image/webp", "image/jpeg") and body
    head = alice.head(f"/media/{upload_id}/original")  # a presigned GET cannot answer HEAD: the server does
    assert head.status_code == 200 and head.headers["Accept-Ranges"] == "bytes" and "Location" not in head.headers


def test_another_users_upload_is_404_without_a_url(app, alice, bob):
    upload_id = alice.upload(corpus.jpeg()).json["id"]
    for variant in ("original", "thumbnail", "playback"):
        resp = bob.get(f"/media/{upload_id}/{variant}")
        assert resp.status_code == 404 and "Location" not in resp.headers
        assert b"X-Amz" not in resp.data
    assert app.test_client().get(f"/media/{upload_id}/original").status_code in (302, 401)
    assert "X-Amz" not in (app.test_client().get(f"/media/{upload_id}/original").headers.get("Location") or "")


def test_the_pages_csp_names_the_bucket_origin_for_images_and_media_only(app, alice, moto_server):
    pages = app.test_client()
    assert pages.post("/login", data={"email": alice.email, "password": alice.password}).status_code == 302
    csp = pages.get("/").headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["img-src"] == f"'self' {moto_server} data: blob:"
    assert directives["media-src"] == f"'self' {moto_server} blob:"
    assert sum(moto_server in value for value in directives.values()) == 2
    assert directives["default-src"] == "'self'" and directives["script-src"] == "'self'"


def test_lifetime_is_configurable(request, tmp_path):
    app = presigned_app(request, tmp_path, PRESIGN_SECONDS=60)
    alice = Account(app, "alice@example.com")
    upload_id = alice.upload(corpus.jpeg()).json["id"]
    location = alice.get(f"/media/{upload_id}/original").headers["Location"]
    assert parse_qs(urlsplit(location).query)["X-Amz-Expires"] == ["60"]


def test_proxy_mode_still_streams(request, tmp_path):
    app = presigned_app(request, tmp_path, MEDIA_DELIVERY="proxy")
    alice = Account(app, "alice@example.com")
    photo = corpus.jpeg(80, 60)
    upload_id = alice.upload(photo).json["id"]
    resp = alice.get(f"/media/{upload_id}/original", headers={"Range": "bytes=0-9"})
    assert resp.status_code == 206 and resp.data == photo[:10]
    pages = app.test_client()
    pages.post("/login", data={"email": alice.email, "password": alice.password})
    assert "img-src 'self' data: blob:;" in pages.get("/").headers["Content-Security-Policy"]


def test_split_roles_sign_with_the_readers_key(request, tmp_path):
    app = presigned_app(request, tmp_path, UPLOADER_ACCESS_KEY_ID="uploaderkey", UPLOADER_SECRET_ACCESS_KEY="u",
                        READER_ACCESS_KEY_ID="readerkey", READER_SECRET_ACCESS_KEY="r")
    alice = Account(app, "alice@example.com")
    upload_id = alice.upload(corpus.jpeg()).json["id"]
    location = alice.get(f"/media/{upload_id}/original").headers["Location"]
    assert parse_qs(urlsplit(location).query)["X-Amz-Credential"][0].startswith("readerkey/")


@pytest.mark.parametrize("config, delivery", [
    ({"BACKEND": "aws"}, "presigned"), ({"BACKEND": "local"}, "proxy"),
    ({"BACKEND": "aws", "MEDIA_DELIVERY": "Proxy"}, "proxy"),
])
def test_delivery_defaults_by_backend(tmp_path, config, delivery):
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path), **config})
    assert app.config["MEDIA_DELIVERY"] == delivery and app.config["PRESIGN_SECONDS"] == 300


@pytest.mark.parametrize("config", [
    {"BACKEND": "local", "MEDIA_DELIVERY": "presigned"}, {"BACKEND": "aws", "MEDIA_DELIVERY": "cdn"},
    {"BACKEND": "aws", "PRESIGN_SECONDS": "0"}, {"BACKEND": "aws", "PRESIGN_SECONDS": str(8 * 24 * 3600)},
])
def test_bad_delivery_settings_fail_at_start(tmp_path, config):
    with pytest.raises(ConfigError, match="MEDIA_DELIVERY|PRESIGN_SECONDS"):
        create_app({"TESTING": True, "DATA_DIR": str(tmp_path), **config})
