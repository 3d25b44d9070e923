"""The pages' second pass, in Debian's Chromium driven by Playwright against a real server: the viewer stays in a
search's results and comes back to the same tile, the gallery packs sparse months and jumps to a month, tags typed
while files wait go with them, selection and trash by keyboard alone, and axe-core finds no violation on any page,
at phone and desktop sizes. The fixtures are test_browser.py's (a JavaScript error or anything the
Content-Security-Policy refuses fails a test), with a server whose pages hold the default 60 tiles."""
from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from momento import create_app
from tests import corpus
from tests.test_browser import SIZES, browser, expect, follow, page, serving, shoot, sync_api, wait_for_js  # noqa: F401 (fixtures)

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
EMAIL, PASSWORD = "lin@example.com", "correct horse battery"
MONTHS = 38


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A real Momento on a free port, and its app (to fill a library quickly through the API)."""
    app = create_app({"TESTING": False, "SECRET_KEY": "browser-test-secret", "BACKEND": "local",
                      "DATA_DIR": str(tmp_path_factory.mktemp("browser-pages")), "WTF_CSRF_ENABLED": True})
    with serving(app) as url:
        yield url, app


@pytest.fixture(scope="module")
def server(live):
    """The address test_browser.py's page fixture opens."""
    return live[0]


@pytest.fixture(scope="module")
def library(live) -> dict[str, str]:
    """52 photos over 38 months (two in each of the first 14 months), named walk_01.jpg…, some tagged beach or
    work; filename -> id."""
    from momento.accounts import issue_token, register

    app = live[1]
    with app.app_context():
        catalog = app.extensions["momento"].catalog
        token = issue_token(catalog, register(catalog, EMAIL, PASSWORD))
    client, made = app.test_client(), {}
    for n in range(52):
        month = n if n < MONTHS else n - MONTHS
        year, number = 2021 + month // 12, month % 12 + 1
        name = f"walk_{n + 1:02d}.jpg"
        tags = "beach" if n % 3 == 0 else "work" if n % 3 == 1 else ""
        data = corpus.jpeg(48, 36, exif_date=f"{year}:{number:02d}:{10 + n % 15:02d} 12:00:00",
                           color=(n * 37 % 255, n * 91 % 255, 120))
        # no empty field: werkzeug's test client leaves out the line break that ends an empty value (RFC 2046)
        form = {"file": (io.BytesIO(data), name)} | ({"tags": tags} if tags else {})
        resp = client.post("/api/v1/uploads", headers={"Authorization": f"Bearer {token}"}, data=form,
                           content_type="multipart/form-data")
        assert resp.status_code == 201, resp.json
        made[name] = resp.json["id"]
    return made


def sign_in(page) -> None:
    """Sign in as the library's owner."""
    page.goto("/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    follow(page, page.get_by_role("button", name="Sign in", exact=True))


def accessible(page, name: str) -> None:
    """axe-core over the page at phone and desktop sizes: any violation fails, with where it is."""
    if not page.evaluate("() => !!window.axe"):
        page.evaluate(AXE.read_text())  # through the DevTools protocol, so the page's own CSP stays strict
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        page.wait_for_timeout(50)
        found = page.evaluate("""() => axe.run(document).then(r => r.violations.map(v =>
            v.id + ': ' + v.help + ' at ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', ')))""")
        assert not found, f"{name} at {size}:\n" + "\n".join(found)
    page.set_viewport_size(SIZES["desktop"])


def test_the_gallery_packs_sparse_months_and_jumps(page, library):
    sign_in(page)
    expect(page.locator(".tile-item")).to_have_count(52)
    expect(page.locator(".month-label")).to_have_count(MONTHS)
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height <= 3 * SIZES["desktop"]["height"], f"52 photos over 38 months take {height} px"
    shoot(page, "gallery-packed")
    accessible(page, "gallery")
    # The index: years, then a year's months with their counts; a month opens the gallery there.
    jump = page.get_by_role("navigation", name="Jump to a month")
    jump.locator("summary", has_text="2022").click()
    follow(page, jump.get_by_role("link", name="March 2022 (1)"))
    expect(page.locator(".month-label").first).to_have_attribute("data-month", "2022-03")
    assert page.locator(".month-label").nth(1).get_attribute("data-month") == "2022-02"
    expect(page.get_by_role("link", name="↑ Back to the newest")).to_be_visible()


def test_the_viewer_stays_in_a_search_and_comes_back(page, library):
    sign_in(page)
    page.goto("/search")
    words = page.get_by_label("Words")
    words.fill("walk_0 -work")
    with page.expect_navigation():
        words.press("Enter")
    expected = ["walk_09.jpg", "walk_07.jpg", "walk_06.jpg", "walk_04.jpg", "walk_03.jpg", "walk_01.jpg"]
    ids = [library[n] for n in expected]
    expect(page.locator(".tile-item")).to_have_count(6)
    assert page.locator(".tile-item").evaluate_all("items => items.map(i => i.dataset.id)") == ids
    expect(page.locator("#announcer")).to_have_text("6 results.")
    accessible(page, "search")
    follow(page, page.locator(f"#u-{ids[0]} a.tile"))
    accessible(page, "detail")
    seen = [page.url.split("/uploads/")[1][:26]]
    for _ in range(len(ids) - 1):
        with page.expect_navigation():
            page.keyboard.press("ArrowRight")
        seen.append(page.url.split("/uploads/")[1][:26])
    assert seen == ids  # the search's results, in its order, and nothing else
    assert page.locator('a[rel="next"]').count() == 0
    with page.expect_navigation():
        page.keyboard.press("ArrowLeft")
    assert page.url.split("/uploads/")[1][:26] == ids[-2]
    # Escape goes back to the search, at the tile just seen, with the focus on it.
    with page.expect_navigation():
        page.keyboard.press("Escape")
    expect(page).to_have_url(re.compile(r"/search\?q=walk_0\+-work#u-" + ids[-2] + "$"))
    expect(page.locator(f"#u-{ids[-2]} a.tile")).to_be_focused()
    # A search that finds nothing says which word, and offers the search without it.
    page.goto("/search?q=walk+zebra")
    expect(page.locator(".why")).to_contain_text("“zebra”")
    expect(page.get_by_role("link", name="Without “zebra”")).to_be_visible()
    accessible(page, "search-nothing")
    shoot(page, "search-nothing")


def test_the_results_come_into_view_on_a_phone(page, library):
    sign_in(page)
    page.set_viewport_size(SIZES["phone"])
    page.goto("/search")
    page.locator("summary").click()  # the form's more filters make it taller than the screen
    page.get_by_label("Words").fill("beach")
    with page.expect_navigation():
        page.get_by_role("button", name="Search", exact=True).click()
    heading = page.get_by_role("heading", name="Results")
    expect(heading).to_be_focused()
    assert page.evaluate("document.getElementById('results-heading').getBoundingClientRect().top") < 400
    shoot(page, "search-results")


def test_tags_typed_while_files_wait_go_with_them(page, library, tmp_path):
    sign_in(page)
    page.goto("/upload")
    held, holding = [], [True]
    page.route("**/api/v1/uploads", lambda route: held.append(route) if holding[0] else route.continue_())
    files = []
    for n in range(4):
        path = tmp_path / f"queued_{n}.jpg"
        path.write_bytes(corpus.jpeg(30, 20, color=(200, n * 50, 10)))
        files.append(str(path))
    page.locator("#upload-files").set_input_files(files)
    wait_for_js(page, "() => document.querySelectorAll('.upload-row[data-state=sending]').length === 3")
    tags = page.get_by_label("Tags", exact=True)
    tags.fill("late")
    tags.press("Enter")
    holding[0] = False
    for route in held:
        route.continue_()
    expect(page.locator('.upload-row[data-state="stored"]')).to_have_count(4)
    tagged = page.request.get("/api/v1/uploads?tag=late").json()["items"]
    assert [u["filename"] for u in tagged] == ["queued_3.jpg"]  # the three already on their way went without
    # "Add tags to these 4" tags the ones already stored.
    extra = page.get_by_label("Tags to add to these 4")
    extra.fill("trip, late")
    page.get_by_role("button", name="Add tags to these 4").click()
    expect(page.locator(".add-tags-status")).to_have_text("Added trip, late to 4 files.")
    assert len(page.request.get("/api/v1/uploads?tag=late&tag=trip").json()["items"]) == 4
    accessible(page, "upload")
    shoot(page, "upload-add-tags")


def test_selection_and_trash_by_keyboard_alone(page, library):
    sign_in(page)
    page.goto("/?kind=photo")
    page.get_by_role("button", name="Select").focus()
    page.keyboard.press("Enter")
    first = page.locator(".tile-select input").first
    expect(first).to_be_focused()
    page.keyboard.press("Space")
    # The bar comes before the grid: Shift+Tab from the first box (past its tile) reaches the bar's last control.
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    expect(page.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("#selection-bar")).to_be_hidden()
    expect(page.get_by_role("button", name="Select")).to_be_focused()
    # Again, and trash it: the focus lands on Undo, and the tile is gone.
    page.keyboard.press("Enter")
    page.keyboard.press("Space")
    gone = page.locator(".tile-item").first.get_attribute("data-id")
    bar = page.get_by_role("region", name="Selected items")
    bar.get_by_role("button", name="Move to trash").focus()
    page.keyboard.press("Enter")
    expect(bar.get_by_role("button", name="Undo")).to_be_focused()
    expect(page.locator(f"#u-{gone}")).to_have_count(0)
    accessible(page, "gallery-selecting")
    # The trash: the name, the date, the days left, and Empty trash.
    page.goto("/trash")
    item = page.locator(f"#u-{gone}")
    expect(item).to_contain_text(".jpg")
    expect(item).to_contain_text("30 days left")
    expect(page.get_by_role("button", name="Empty trash")).to_be_visible()
    accessible(page, "trash")
    shoot(page, "trash")


def test_tags_save_in_place_and_every_page_passes_axe(page, library, browser, server):
    sign_in(page)
    page.goto(f"/uploads/{library['walk_02.jpg']}")
    entry = page.get_by_label("Edit tags", exact=True)
    entry.fill("saved")
    entry.press("Enter")
    url = page.url
    page.get_by_role("button", name="Save tags").click()
    expect(page.locator("[data-tags-status]")).to_have_text("Tags saved.")
    expect(page.locator("#announcer")).to_have_text("Tags saved.")
    expect(page.locator("[data-tags-shown]")).to_contain_text("saved")
    assert page.url == url and page.evaluate("window.scrollY") >= 0
    assert len(page.request.get("/api/v1/uploads?tag=saved").json()["items"]) == 1
    for path, name in (("/account", "account"), ("/", "gallery"), ("/upload", "upload-empty"), ("/trash", "trash")):
        page.goto(path)
        accessible(page, name)
    page.goto("/account")
    shoot(page, "account")
    # Signed out: the sign-in and registration pages.
    fresh = browser.new_context(base_url=server, viewport=SIZES["desktop"])
    other = fresh.new_page()
    for path, name in (("/login", "login"), ("/register", "register")):
        other.goto(path)
        accessible(other, name)
    fresh.close()


def test_the_focus_ring_is_visible_on_tag_fields(page, library):
    sign_in(page)
    page.goto(f"/uploads/{library['walk_03.jpg']}")
    entry = page.get_by_label("Edit tags", exact=True)
    entry.focus()
    outline = page.locator(".tags-form .chip-field").evaluate(
        "el => { const s = getComputedStyle(el); return [s.outlineStyle, s.outlineWidth, s.outlineColor]; }")
    assert outline[0] == "solid" and outline[1] == "3px" and outline[2] == "rgb(179, 89, 0)", outline
