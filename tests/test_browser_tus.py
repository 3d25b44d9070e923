"""Large files on the upload page, in Debian's Chromium against a real server: tus-js-client (vendored under
momento/static/vendor/) sends them in chunks, an upload cut by a reload resumes where the server stopped, the
same file again is a duplicate, and a refused file shows the server's words. The server, browser and page
fixtures are test_browser.py's: a JavaScript error or anything the Content-Security-Policy refuses fails a test.
"""
from __future__ import annotations

import hashlib
import re

from tests import corpus
from tests.test_browser import browser, expect, follow, page, server, shoot, sync_api, wait_until  # noqa: F401 (fixtures)

MiB = 1024 * 1024
PASSWORD = "correct horse battery"
TUS = "/api/v1/tus/"


def padded_video(size: int) -> bytes:
    """A real MP4 followed by zeros, which the server accepts as a video."""
    video = corpus.mp4(seconds=1)
    return video + b"\0" * (size - len(video))


def sign_up(page, email: str) -> None:
    """A new account; lands on the upload page."""
    page.goto("/register")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    follow(page, page.get_by_role("button", name="Create account"))
    expect(page).to_have_url(re.compile(r"/upload$"))


def small_chunks(page) -> None:
    """Every file through tus, in 1 MiB chunks (the page reads these per file)."""
    page.evaluate("""() => {
        const form = document.getElementById("upload-form");
        form.setAttribute("data-tus-threshold", "1");
        form.setAttribute("data-tus-chunk-size", String(1024 * 1024));
    }""")


def tus_log(page) -> list[tuple[str, str, str | None]]:
    """(method, path, Upload-Offset) of every tus request the page sends from now on."""
    seen: list[tuple[str, str, str | None]] = []

    def note(request):
        path = re.sub(r"^https?://[^/]+", "", request.url)
        if path.startswith(TUS):
            seen.append((request.method, path, request.headers.get("upload-offset")))
    page.on("request", note)
    return seen


def stored_tus_keys(page) -> list[str]:
    """What tus-js-client keeps in localStorage to resume uploads."""
    return page.evaluate("() => Object.keys(window.localStorage).filter(key => key.startsWith('tus::'))")


def drop(held) -> None:
    """Fail requests held back by a route (the browser may have given up on them already)."""
    for route in held:
        try:
            route.abort()
        except sync_api.Error:
            pass


def test_a_large_upload_resumes_after_a_reload(page, tmp_path):
    video = padded_video(5 * MiB + 12345)
    path = tmp_path / "holiday.mp4"
    path.write_bytes(video)
    sign_up(page, "grace@example.com")
    assert page.evaluate("() => typeof window.tus.Upload") == "function"  # the vendored client loaded
    small_chunks(page)
    tags = page.get_by_label("Tags", exact=True)
    tags.fill("trip")
    tags.press("Enter")
    log = tus_log(page)

    # The first chunk gets through; the second is held in the browser, then the page is reloaded.
    held, patches = [], []

    def hold_second_patch(route):
        patches.extend([route.request.method] if route.request.method == "PATCH" else [])
        if len(patches) > 1:
            held.append(route)  # never answered: the reload cuts it
        else:
            route.continue_()
    page.route(lambda url: TUS in url, hold_second_patch)
    page.locator("#upload-files").set_input_files(str(path))
    row = page.locator(".upload-row")
    wait_until(page, lambda: held, "the second chunk")
    expect(row.locator(".upload-state")).to_have_text("Sending")
    assert 0 < row.locator("progress").evaluate("bar => bar.value") < 99
    shoot(page, "upload-resumable-sending")
    upload_url = next(p for m, p, _ in log if m == "PATCH")
    assert [m for m, _, _ in log] == ["POST", "PATCH", "PATCH"], log
    assert page.request.get(upload_url).json()["offset"] == MiB  # the server has the first chunk
    assert len(stored_tus_keys(page)) == 1  # kept for the next page
    page.reload()
    drop(held)  # the old page's request, still paused: it never reaches the server
    page.unroute_all()

    # The same file on the new page: no new upload, the client asks where to go on and sends only the rest.
    log.clear()
    small_chunks(page)
    expect(page.locator(".upload-row")).to_have_count(0)
    page.locator("#upload-files").set_input_files(str(path))
    expect(row).to_have_attribute("data-state", "stored")
    expect(row.locator(".upload-state")).to_have_text("Stored Open")
    assert row.locator("progress").evaluate("bar => bar.value") == 100
    patches = [int(offset) for m, p, offset in log if m == "PATCH" and p == upload_url]
    assert [m for m, _, _ in log][:2] == ["HEAD", "PATCH"] and "POST" not in [m for m, _, _ in log], log
    assert patches == list(range(MiB, len(video), MiB)), patches  # 1 MiB the first time, the other 4 now
    assert ("GET", upload_url, None) in log  # then it asked for the stored upload
    assert stored_tus_keys(page) == []  # nothing left to resume
    expect(page.locator("#upload-summary")).to_contain_text("1 of 1 done: 1 stored.")
    shoot(page, "upload-resumable-done")

    # What was stored is the file, byte for byte, with its tag.
    upload_id = row.get_by_role("link", name="Open").get_attribute("href").rsplit("/", 1)[-1]
    stored = page.request.get(f"/api/v1/uploads/{upload_id}").json()
    assert stored["filename"] == "holiday.mp4" and stored["kind"] == "video" and stored["tags"] == ["trip"]
    assert stored["size"] == len(video) and stored["sha256"] == hashlib.sha256(video).hexdigest()
    assert page.request.get(f"/media/{upload_id}/original").body() == video
    assert page.request.get(upload_url).json()["upload"]["id"] == upload_id

    # The same file once more: a new tus upload (the finished one was forgotten) that turns out a duplicate.
    log.clear()
    page.locator("#upload-files").set_input_files(str(path))
    again = page.locator(".upload-row").nth(1)
    expect(again).to_have_attribute("data-state", "duplicate")
    expect(again.locator(".upload-state")).to_have_text("Already in your library See it")
    assert again.get_by_role("link", name="See it").get_attribute("href").endswith(upload_id)
    assert [m for m, _, _ in log][0] == "POST", log


def test_a_refused_large_file_shows_the_servers_words(page, tmp_path):
    junk = tmp_path / "notes.mp4"
    junk.write_bytes(b"not a video, only words\n" * (3 * MiB // 24))
    sign_up(page, "hopper@example.com")
    small_chunks(page)
    log = tus_log(page)
    page.locator("#upload-files").set_input_files(str(junk))
    row = page.locator(".upload-row")
    expect(row).to_have_attribute("data-state", "refused")
    upload_url = next(p for m, p, _ in log if m == "PATCH")
    error = page.request.get(upload_url).json()["error"]
    assert error and error["message"]
    expect(row.locator(".upload-state")).to_have_text(f"Refused: {error['message']}")
    assert row.locator("progress").evaluate("bar => bar.value") == 100
    expect(page.locator("#upload-announcer")).to_contain_text(f"notes.mp4: Refused: {error['message']}")
    assert stored_tus_keys(page) == []  # the next try of this file starts afresh
    shoot(page, "upload-resumable-refused")


def test_cancelling_a_large_upload_drops_it_on_the_server(page, tmp_path):
    video = padded_video(3 * MiB)
    path = tmp_path / "long.mp4"
    path.write_bytes(video)
    sign_up(page, "lovelace@example.com")
    small_chunks(page)
    log = tus_log(page)
    held = []

    def hold_patches(route):
        if route.request.method == "PATCH":
            held.append(route)
        else:
            route.continue_()
    page.route(lambda url: TUS in url, hold_patches)
    page.locator("#upload-files").set_input_files(str(path))
    wait_until(page, lambda: held, "the first chunk")
    upload_url = next(p for m, p, _ in log if m == "PATCH")
    with page.expect_response(lambda r: r.request.method == "DELETE") as deleted:
        page.get_by_role("button", name="Cancel long.mp4").click()
    assert deleted.value.status == 204  # sent with the CSRF header
    drop(held)
    page.unroute_all()
    row = page.locator(".upload-row")
    expect(row).to_have_attribute("data-state", "cancelled")
    expect(row.locator(".upload-state")).to_have_text("Cancelled")
    assert page.request.get(upload_url).status == 404
    assert stored_tus_keys(page) == []
