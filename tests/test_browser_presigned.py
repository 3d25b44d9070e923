"""The gallery, a detail page and video playback in Chromium, with media delivered by presigned S3 URLs (moto):
the pages' CSP lets the bucket's images and videos in, and they load."""
from __future__ import annotations

import threading
import uuid

import pytest

from momento import create_app
from momento.migrate import apply_pending
from tests import corpus
from tests.conftest import Account
from tests.test_browser import ARGS, CHROMIUM, TIMEOUT_MS, sync_api, wait_for_js  # skips like it when Chromium is missing

pytestmark = [pytest.mark.aws, pytest.mark.slow]
EMAIL, PASSWORD = "pia@example.com", "correct horse battery"


@pytest.fixture(scope="module")
def server(moto_server, tmp_path_factory):
    """A real Momento on aws (the session's moto) with the default delivery, presigned; three uploads."""
    from werkzeug.serving import make_server

    tag = uuid.uuid4().hex[:10]
    app = create_app({"TESTING": False, "SECRET_KEY": "browser-test-secret", "BACKEND": "aws",
                      "BUCKET": f"momento-test-{tag}", "TABLE_PREFIX": f"t{tag}-", "RATELIMIT_ENABLED": False,
                      "DATA_DIR": str(tmp_path_factory.mktemp("presigned-browser")), "TAGGERS": "",
                      "WORKER_THREADS": 0})
    assert app.config["MEDIA_DELIVERY"] == "presigned"
    with app.app_context():
        apply_pending(app.extensions["momento"])
    person = Account(app, EMAIL, PASSWORD)
    ids = {name: person.upload(data, name).json["id"] for name, data in (
        ("garden.png", corpus.png(480, 640, color=(40, 160, 60))), ("sunset.jpg", corpus.jpeg(640, 480)),
        ("clip.webm", corpus.webm(seconds=1)), ("clip.mov", corpus.mov(seconds=1)))}
    worked = app.test_cli_runner().invoke(args=["momento", "work"])  # the MOV's browser rendition
    assert worked.exit_code == 0, worked.output
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}", ids
    httpd.shutdown()
    thread.join(5)


@pytest.fixture
def page(server, moto_server):
    """A signed-in tab that records errors and every request that went to the bucket."""
    base, _ = server
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = chromium.new_context(base_url=base)
        context.set_default_timeout(TIMEOUT_MS)
        tab = context.new_page()
        tab.errors, tab.from_bucket = [], []
        tab.on("pageerror", lambda exc: tab.errors.append(f"uncaught: {exc}"))
        tab.on("console", lambda msg: tab.errors.append(msg.text) if msg.type == "error" else None)
        tab.on("response", lambda r: tab.from_bucket.append(r.status) if r.url.startswith(moto_server) else None)
        tab.goto("/login")
        tab.get_by_label("Email").fill(EMAIL)
        tab.get_by_label("Password").fill(PASSWORD)
        with tab.expect_navigation():
            tab.get_by_role("button", name="Sign in", exact=True).click()
        yield tab
        errors = tab.errors
        chromium.close()
    assert not errors, "errors in the page (a CSP refusal shows here):\n" + "\n".join(errors)


def images_loaded(page) -> list[int]:
    """naturalWidth of every <img> of the page, once each has finished loading."""
    wait_for_js(page, "() => [...document.images].every(i => i.complete)")
    return page.evaluate("[...document.images].map(i => i.naturalWidth)")


def test_gallery_and_photo_detail_load_from_the_bucket(page, server):
    _, ids = server
    page.goto("/")
    widths = images_loaded(page)
    assert len(widths) >= 4 and all(w > 0 for w in widths)
    page.goto(f"/uploads/{ids['sunset.jpg']}")
    assert page.evaluate("document.querySelector('.viewer img').naturalWidth") == 640
    assert page.from_bucket and all(status in (200, 206, 304) for status in page.from_bucket)


@pytest.mark.parametrize("name", ["clip.webm", "clip.mov"])
def test_video_plays_from_the_bucket(page, server, name):
    _, ids = server
    page.goto(f"/uploads/{ids[name]}")
    wait_for_js(page, "() => document.querySelector('.viewer video').readyState >= 2", seconds=20)
    source = page.evaluate("document.querySelector('.viewer video').currentSrc")
    assert ("/playback" if name == "clip.mov" else "/original") in source
    assert page.from_bucket
