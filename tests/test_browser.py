"""The pages as a person uses them, in Debian's Chromium driven by Playwright, against a real server.

One story per test (the server and the browser are started once for the module): sign up, sign out and
in, upload several files with one refused, look, tag, search, trash, restore, select several, sign out.
Every page is photographed at phone and desktop sizes into tests/screenshots/ (git ignores it), and any
JavaScript error, or anything the strict Content-Security-Policy the server sends refuses, fails the test.
"""
from __future__ import annotations

import os
import re
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

from momento import create_app
from tests import corpus

CHROMIUM = "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    pytest.skip(f"Debian's Chromium is not installed at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")

SHOTS = Path(__file__).parent / "screenshots"
SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
NARROW = {"width": 360, "height": 740}
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
CSP = "default-src 'self'; img-src 'self'; media-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'"
# Chrome's own line for every 4xx answer; expected for the refused upload and for nothing else we count.
EXPECTED_4XX = re.compile(r"^Failed to load resource: the server responded with a status of 4\d\d \([^)]*\)$")
EMAIL, PASSWORD = "ada@example.com", "correct horse battery"
TIMEOUT_MS = 10_000


@contextmanager
def serving(app, host: str = "127.0.0.1", csp: bool = True):
    """The app on a free port of 127.0.0.1 in a thread, sending the strict CSP production is meant to send (anything
    inline on a page would be refused and logged); its base URL, with `host` as the name browsers use."""
    from werkzeug.serving import make_server

    def strict_csp(response):
        response.headers.setdefault("Content-Security-Policy", CSP)
        return response

    if csp:  # added directly: the app may have answered test-client requests already (to fill a library)
        app.after_request_funcs.setdefault(None, []).append(strict_csp)

    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{httpd.server_port}"
    finally:
        httpd.shutdown()
        thread.join(5)


def new_tab(browser, base_url: str, **options):
    """A fresh context (no cookies) and its tab, which records JavaScript errors in tab.errors and accepts every
    confirm(); the caller closes the context and checks tab.errors."""
    context = browser.new_context(base_url=base_url, viewport=SIZES["desktop"], **options)
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    tab.errors = []
    tab.on("pageerror", lambda exc: tab.errors.append(f"uncaught: {exc}"))
    tab.on("console", lambda msg: tab.errors.append(f"console: {msg.text}")
           if msg.type == "error" and not EXPECTED_4XX.match(msg.text) else None)
    tab.on("dialog", lambda dialog: dialog.accept())
    return context, tab


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real Momento (local backend, CSRF on, not in testing mode) on a free port of 127.0.0.1."""
    data = tmp_path_factory.mktemp("browser-data")
    app = create_app({"TESTING": False, "SECRET_KEY": "browser-test-secret", "DATA_DIR": str(data),
                      "BACKEND": "local", "WTF_CSRF_ENABLED": True, "GALLERY_PAGE_SIZE": 2})
    with serving(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium from Debian."""
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    """A fresh tab that records JavaScript errors and accepts every confirm(); any error fails the test."""
    context, tab = new_tab(browser, server)
    yield tab
    context.close()
    assert not tab.errors, "JavaScript errors:\n" + "\n".join(tab.errors)


def shoot(page, name: str, dark: bool = False) -> None:
    """Full-page screenshots at phone and desktop widths (and back to desktop); nothing wider than 360 px."""
    SHOTS.mkdir(exist_ok=True)
    page.set_viewport_size(NARROW)
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{name} is {overflow} px too wide for a 360 px screen"
    if dark:
        page.emulate_media(color_scheme="dark")
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        page.wait_for_timeout(50)  # let the layout settle (sticky bars, lazy images)
        page.screenshot(path=SHOTS / f"{name}{'-dark' if dark else ''}-{size}.png", full_page=True)
    page.set_viewport_size(SIZES["desktop"])
    if dark:
        page.emulate_media(color_scheme="light")


def write_files(folder: Path) -> dict[str, Path]:
    """Three good files and a text file pretending to be a photo."""
    files = {
        "sunset.jpg": corpus.jpeg(640, 480, exif_date="2023:07:14 19:30:00", make="Canon", model="Canon EOS R6",
                                  gps=(48.8583, 2.2945)),
        "garden.png": corpus.png(480, 640, color=(40, 160, 60)),
        "clip.mp4": corpus.mp4(seconds=1, faststart=True),
        "notes.jpg": corpus.text_as_jpg(),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return {name: folder / name for name in files}


def wait_until(page, condition, what: str, seconds: float = 10) -> None:
    """Let the page run until `condition()` holds."""
    for _ in range(int(seconds * 20)):
        if condition():
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"timed out waiting for {what}")


def wait_for_js(page, script: str, seconds: float = 10) -> None:
    """Let the page run until a script returns true. page.evaluate runs it through the DevTools protocol, which
    the page's CSP does not govern (wait_for_function may eval it in the page, which a strict CSP refuses)."""
    wait_until(page, lambda: page.evaluate(script), script, seconds)


def api_count(page, query: str) -> int:
    """How many uploads the JSON API finds, asked with the tab's session cookie."""
    return len(page.request.get(f"/api/v1/uploads?{query}").json()["items"])


def follow(page, locator) -> None:
    """Click and wait for the next page to load (its deferred scripts have run by then)."""
    with page.expect_navigation():
        locator.click()


def go(page, name: str) -> None:
    """Follow a link of the main navigation."""
    follow(page, page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True))


def expect(locator):
    """Playwright's assertions."""
    return sync_api.expect(locator)


def test_a_person_uses_momento(page, tmp_path):
    files = write_files(tmp_path)

    # Sign up: lands on the upload page, signed in.
    page.goto("/register")
    shoot(page, "register")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    follow(page, page.get_by_role("button", name="Create account"))
    expect(page).to_have_url(re.compile(r"/upload$"))

    # Sign out, then in again.
    follow(page, page.get_by_role("button", name="Sign out"))
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    shoot(page, "login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    follow(page, page.get_by_role("button", name="Sign in", exact=True))
    expect(page.get_by_role("heading", name="Your library")).to_be_visible()
    expect(page.get_by_text("Your library is empty.")).to_be_visible()
    shoot(page, "gallery-empty")

    # Upload four files at once with a tag for all; the text file is refused in words.
    go(page, "Upload")
    expect(page.locator("#folder-pick")).to_be_visible()  # Chromium can pick folders
    shoot(page, "upload-empty")
    tags = page.get_by_label("Tags", exact=True)
    tags.fill("holiday")
    tags.press("Enter")
    expect(page.locator(".chip-field .chip")).to_have_text(["holiday×"])
    tags.press("Tab")  # the keyboard reaches the file picker inside the drop zone next
    expect(page.locator("#upload-files")).to_be_focused()
    page.locator("#upload-files").set_input_files([str(p) for p in files.values()])
    rows = page.locator(".upload-row")
    expect(rows).to_have_count(4)
    settled = page.locator('.upload-row[data-state="stored"], .upload-row[data-state="refused"]')
    expect(settled).to_have_count(4)
    for name in ("sunset.jpg", "garden.png", "clip.mp4"):
        row = rows.filter(has_text=name)
        expect(row.locator(".upload-state")).to_have_text("Stored Open")
        assert row.locator("progress").evaluate("bar => bar.value") == 100
    refused = rows.filter(has_text="notes.jpg")
    expect(refused.locator(".upload-state")).to_contain_text("Refused: ")
    assert refused.locator("progress").evaluate("bar => bar.value") == 100
    expect(page.locator("#upload-summary")).to_contain_text("4 of 4 done: 3 stored, 1 refused.")
    # The same photo again: a duplicate, with a link to the one already there.
    page.locator("#upload-files").set_input_files(str(files["sunset.jpg"]))
    duplicate = rows.nth(4)
    expect(duplicate).to_have_attribute("data-state", "duplicate")
    expect(duplicate.locator(".upload-state")).to_have_text("Already in your library See it")
    shoot(page, "upload-done")
    assert api_count(page, "tag=holiday") == 3

    # The gallery: months, a video badge; two tiles a page here, the third arrives by scrolling.
    go(page, "Gallery")
    expect(page.locator(".tile-item")).to_have_count(3)
    expect(page.locator("a[data-more]")).to_have_count(0)  # the second page was in view, so it came by itself
    expect(page.locator("#announcer")).to_have_text("1 more item loaded.")  # said to screen readers
    # A heading per capture month (the files went up in parallel, so in no fixed order).
    headings = set(page.locator(".month-label h2 .visually-hidden").all_text_contents())
    assert "July 2023" in headings and len(headings) == 2, headings
    expect(page.locator(".tile .badge")).to_contain_text("0:01")
    expect(page.get_by_role("img", name="sunset.jpg — holiday")).to_be_visible()
    shoot(page, "gallery")
    shoot(page, "gallery", dark=True)
    # Sorted by when they were added instead: all three today, so one month, across both pages.
    order = page.get_by_role("navigation", name="Order")
    follow(page, order.get_by_role("link", name="Added"))
    expect(page).to_have_url(re.compile(r"/\?order=added$"))
    expect(page.locator(".tile-item")).to_have_count(3)
    expect(page.locator(".month-label h2")).to_have_count(1)
    expect(order.get_by_role("link", name="Added")).to_have_attribute("aria-current", "page")
    follow(page, order.get_by_role("link", name="Taken"))
    expect(page.locator(".tile-item")).to_have_count(3)
    expect(page.locator(".month-label h2")).to_have_count(2)

    # Open the photo: metadata, tags with autocomplete, previous and next with the arrow keys.
    follow(page, page.get_by_role("link", name="sunset.jpg — holiday"))
    expect(page.get_by_role("heading", name="sunset.jpg")).to_be_visible()
    meta = page.locator("dl.meta")
    expect(meta).to_contain_text("14 July 2023, 19:30")
    expect(meta).to_contain_text("Canon EOS R6")
    expect(meta).to_contain_text("640 × 480 px")
    expect(meta).to_contain_text("48.85830, 2.29450")
    expect(meta.get_by_role("link", name="Show on a map")).to_have_attribute("href", re.compile(r"openstreetmap.*48\.858"))
    expect(page.locator("#known-tags option")).to_have_count(1)  # "holiday", the user's only tag
    shoot(page, "detail-photo")
    shoot(page, "detail-photo", dark=True)
    entry = page.get_by_label("Edit tags", exact=True)
    entry.fill("beach")
    entry.press("Enter")
    expect(page.locator("#announcer")).to_have_text("beach added.")
    page.get_by_role("button", name="Save tags").click()  # saved in place, without a reload
    expect(page.locator("[data-tags-status]")).to_have_text("Tags saved.")
    expect(meta.locator(".chips").first).to_have_text(re.compile(r"holiday\s*beach"))
    sunset = page.url
    # Previous and next follow the gallery (the three were sent in parallel, so their order varies).
    pager = page.get_by_role("navigation", name="Gallery")
    there, back = ("ArrowRight", "ArrowLeft") if pager.get_by_role("link", name="Next").count() else ("ArrowLeft", "ArrowRight")
    neighbour = pager.locator(f'a[data-key="{there}"]').get_attribute("href")
    page.keyboard.press(there)
    expect(page).to_have_url(re.compile(re.escape(neighbour) + "$"))
    expect(pager.locator(f'a[data-key="{back}"]')).to_have_attribute("href", re.compile(re.escape(sunset[-26:]) + "$"))
    page.keyboard.press(back)
    expect(page).to_have_url(sunset)

    # The video: a player, its duration, and words for the state of its playback version.
    page.goto("/?kind=video")
    follow(page, page.get_by_role("link", name=re.compile(r"^clip\.mp4")))
    expect(page.get_by_role("heading", name="clip.mp4")).to_be_visible()
    expect(page.locator("video source")).to_have_count(1)
    expect(meta).to_contain_text("0:01")
    shoot(page, "detail-video")

    # Search for it by tag, with chips; the query lives in the URL.
    go(page, "Search")
    tag = page.get_by_label("All of these tags", exact=True)
    tag.fill("beach")
    tag.press("Enter")
    expect(page.locator(".chip-field .chip").first).to_have_text("beach×")
    follow(page, page.get_by_role("button", name="Search", exact=True))
    expect(page).to_have_url(re.compile(r"/search\?tag=beach$"))
    results = page.locator(".results .tile-item")
    expect(results).to_have_count(1)
    expect(page.get_by_role("img", name="sunset.jpg — holiday, beach")).to_be_visible()
    shoot(page, "search")
    page.goto("/search?tag=holiday&not_tag=beach")
    expect(results).to_have_count(2)
    expect(page.get_by_label("None of these tags", exact=True).locator("xpath=..").locator(".chip")).to_have_text(["beach×"])

    # Delete it, find it in the trash, restore it.
    page.goto(sunset)
    follow(page, page.get_by_role("button", name="Move to trash"))
    expect(page.get_by_text("sunset.jpg moved to the trash.")).to_be_visible()
    expect(page.locator(".tile-item")).to_have_count(2)
    go(page, "Trash")
    expect(page.locator(".tile-item")).to_have_count(1)
    shoot(page, "trash")
    follow(page, page.get_by_role("button", name="Restore sunset.jpg"))
    expect(page.locator(".flash").get_by_text("sunset.jpg restored.")).to_be_visible()
    expect(page.get_by_text("The trash is empty.")).to_be_visible()
    assert api_count(page, "tag=beach") == 1

    # Select two tiles: tag them together, trash them together, restore them together.
    go(page, "Gallery")
    expect(page.locator(".tile-item")).to_have_count(3)
    page.get_by_role("button", name="Select").click()
    page.get_by_role("img", name=re.compile(r"^sunset\.jpg")).click()
    page.get_by_role("img", name=re.compile(r"^garden\.png")).click()
    bar = page.get_by_role("region", name="Selected items")
    expect(bar.locator("[data-count]")).to_have_text("2")
    bar.get_by_label("Tags to add to the selected items").fill("best")
    bar.get_by_role("button", name="Add tags").click()
    expect(bar.locator(".selection-status")).to_have_text("Added best to 2 items.")
    expect(page.get_by_role("img", name="garden.png — holiday, best")).to_be_visible()
    shoot(page, "gallery-selecting")
    assert api_count(page, "tag=best") == 2
    bar.get_by_role("button", name="Move to trash").click()
    expect(bar.locator(".selection-status")).to_contain_text("2 items moved to the trash.")
    expect(page.locator(".tile-item")).to_have_count(1)
    assert api_count(page, "") == 1
    go(page, "Trash")
    expect(page.locator(".tile-item")).to_have_count(2)
    page.get_by_role("button", name="Select").click()
    trash_bar = page.get_by_role("region", name="Selected items")
    trash_bar.get_by_role("button", name="Select all").click()
    expect(trash_bar.locator("[data-count]")).to_have_text("2")
    shoot(page, "trash-selecting")
    follow(page, trash_bar.get_by_role("button", name="Restore"))
    expect(page.get_by_text("The trash is empty.")).to_be_visible()
    assert api_count(page, "") == 3

    # Sign out: the pages are closed again.
    follow(page, page.get_by_role("button", name="Sign out"))
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
