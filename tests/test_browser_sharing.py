"""Sharing in Chromium (Playwright), against a real server: the owner makes a link from a selection and
revokes it from /shares; a fresh browser without an account opens a protected link, gives the password,
walks the viewer with the arrow keys and plays a video. Phone and desktop screenshots go to tests/screenshots/.
"""
from __future__ import annotations

import re

import pytest

from momento import create_app
from tests import corpus
from tests.conftest import Account
from tests.test_browser import browser, expect, follow, new_tab, serving, shoot, wait_for_js  # noqa: F401 (fixtures)

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A real Momento (local backend, CSRF on) on a free port, with alice's three photos and a video."""
    data = tmp_path_factory.mktemp("share-browser-data")
    app = create_app({"TESTING": False, "SECRET_KEY": "share-browser-secret", "DATA_DIR": str(data),
                      "BACKEND": "local", "WTF_CSRF_ENABLED": True})
    alice = Account(app, "alice@example.com", PASSWORD)
    ids = [alice.upload(corpus.jpeg(640, 480, color=c, gps=(48.85, 2.29)), f"p{i}.jpg").get_json()["id"]
           for i, c in enumerate([(200, 40, 40), (40, 200, 40), (40, 40, 200)])]
    ids.append(alice.upload(corpus.mp4(seconds=1, faststart=True), "clip.mp4").get_json()["id"])
    with serving(app) as url:
        yield url, alice, ids


def test_owner_shares_a_selection_and_a_visitor_walks_it(browser, served):
    base, alice, ids = served
    owner_context, owner = new_tab(browser, base)
    owner.goto("/login")
    owner.get_by_label("Email").fill(alice.email)
    owner.get_by_label("Password").fill(PASSWORD)
    follow(owner, owner.get_by_role("button", name="Sign in", exact=True))
    owner.get_by_role("button", name="Select").click()
    owner.get_by_role("button", name="Select all").click()
    follow(owner, owner.locator("#selection-bar").get_by_role("button", name="Share"))
    expect(owner.get_by_role("heading", name="Share 4 items")).to_be_visible()
    owner.get_by_label("Title").fill("Summer")
    owner.get_by_label("Password (optional)").fill("sesame")
    shoot(owner, "share-new")
    follow(owner, owner.get_by_role("button", name="Create link"))
    link = owner.locator("#created-url").input_value()
    assert re.search(r"/s/[A-Za-z0-9_-]{32}$", link)
    owner.get_by_role("button", name="Copy").first.click()
    shoot(owner, "shares")

    visitor_context, visitor = new_tab(browser, base)
    visitor.goto(link)
    expect(visitor.get_by_label("Password")).to_be_visible()
    shoot(visitor, "share-password")
    visitor.get_by_label("Password").fill("wrong")
    follow(visitor, visitor.get_by_role("button", name="Open"))
    expect(visitor.get_by_role("alert")).to_contain_text("not right")
    visitor.get_by_label("Password").fill("sesame")
    follow(visitor, visitor.get_by_role("button", name="Open"))
    expect(visitor.get_by_role("heading", name="Summer")).to_be_visible()
    expect(visitor.locator(".share-grid a.tile")).to_have_count(4)
    assert "p0.jpg" not in visitor.content() and "alice" not in visitor.content()
    shoot(visitor, "share-grid")

    # The viewer: newest first, so the video leads; arrow keys walk, Escape closes.
    visitor.locator(".share-grid a.tile").first.click()
    viewer = visitor.locator("[data-share-viewer]")
    expect(viewer).to_be_visible()
    expect(viewer.locator("[data-position]")).to_have_text("1 of 4")
    video = viewer.locator("video")
    expect(video).to_have_count(1)
    played = video.evaluate("""v => new Promise(done => {
        v.muted = true;
        v.addEventListener('timeupdate', () => done(v.currentTime), {once: true});
        v.play().catch(e => done('refused: ' + e));
        setTimeout(() => done('timeout ' + v.readyState + ' ' + (v.error && v.error.code)), 8000);
    })""")
    assert isinstance(played, (int, float)) and played >= 0, played
    shoot(visitor, "share-video")
    visitor.keyboard.press("ArrowRight")
    expect(viewer.locator("[data-position]")).to_have_text("2 of 4")
    image = viewer.locator("img")
    expect(image).to_have_count(1)
    wait_for_js(visitor, "() => document.querySelector('[data-stage] img').naturalWidth > 0")
    assert "/display" in image.get_attribute("src")
    visitor.keyboard.press("ArrowRight")
    expect(viewer.locator("[data-position]")).to_have_text("3 of 4")
    visitor.keyboard.press("ArrowLeft")
    expect(viewer.locator("[data-position]")).to_have_text("2 of 4")
    shoot(visitor, "share-viewer")
    visitor.keyboard.press("Escape")
    expect(viewer).to_be_hidden()

    # The owner revokes; the visitor's next request is refused at once.
    owner.goto("/shares")
    owner.get_by_role("button", name="Revoke").click()
    owner.wait_for_load_state()
    expect(owner.get_by_text("You have not shared anything yet")).to_be_visible()
    assert visitor.request.get(link + "/items").status == 404
    assert visitor.goto(link).status == 404
    for tab in (owner, visitor):
        assert not tab.errors, "JavaScript errors:\n" + "\n".join(tab.errors)
    owner_context.close()
    visitor_context.close()
