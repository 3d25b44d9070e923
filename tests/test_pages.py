"""The HTML pages through the test client: what each shows in each state, and that none carries inline code."""
from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from ulid import ULID

from momento.models import Upload
from tests import corpus
from tests.conftest import Account, both_backends
# A token's or session's last use is noted by key (at most once a minute): the only writes a page view makes.
WRITES_OF_SIGN_IN = {"UpdateItem", "PutItem"}


def html(resp) -> str:
    """The body of a 200 page."""
    assert resp.status_code == 200, resp.status_code
    return resp.get_data(as_text=True)


def text(page: str) -> str:
    """A page's visible words, whitespace collapsed (good enough to look for phrases)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def upload(account: Account, data: bytes, name: str, tags: str | None = None) -> str:
    """Upload through the API and return the new id."""
    resp = account.upload(data, name, tags=tags)
    assert resp.status_code in (200, 201), resp.json
    return resp.json["id"]


def test_empty_gallery_invites_an_upload(alice):
    page = html(alice.get("/"))
    assert "Your library is empty." in page and 'href="/upload"' in page
    assert "0 photos · 0 videos" in text(page)
    assert 'data-action="select"' not in page and "selection-bar" not in page
    assert "No videos here yet." in html(alice.get("/?kind=video"))


def test_gallery_groups_by_month_with_video_badges(alice):
    old = upload(alice, corpus.jpeg(exif_date="2023:07:14 19:30:00"), "sunset.jpg", "beach,holiday")
    clip = upload(alice, corpus.mp4(seconds=1), "clip.mp4")
    page = html(alice.get("/"))
    headings = re.findall(r'<li class="month-label"[^>]*>\s*<h2><span class="visually-hidden">([^<]+)</span>', page)
    assert len(headings) == 2 and headings[1] == "July 2023" and re.fullmatch(r"[A-Z][a-z]+ \d{4}", headings[0])
    assert 'data-month="2023-07"' in page
    # The video tile says so, with its duration; the photo tile does not.
    video_tile = page[page.index(f'data-id="{clip}"'):page.index(f'data-id="{old}"')]
    assert 'class="badge"' in video_tile and "Video</span> 0:01" in video_tile
    photo_tile = page[page.index(f'data-id="{old}"'):]
    assert 'class="badge"' not in photo_tile.split("</li>")[0]
    # Lazy thumbnails, alt text from the filename and tags, a box to select each tile.
    assert f'<img loading="lazy" decoding="async" src="/media/{old}/thumbnail" alt="sunset.jpg — beach, holiday"' in page
    assert "Select sunset.jpg" in page and f'value="{old}"' in page
    assert 'data-tags="beach,holiday"' in page
    # The multi-select bar and autocomplete of the user's own tags (not the automatic ones).
    assert 'id="selection-bar"' in page and 'data-api="/api/v1/uploads"' in page and 'data-action="trash"' in page
    assert '<option value="beach">' in page and '<option value="year:2023">' not in page
    assert "1 photo · 1 video" in text(page)
    videos = html(alice.get("/?kind=video"))
    assert f'data-id="{clip}"' in videos and f'data-id="{old}"' not in videos


def test_gallery_pages_with_a_more_link(app, alice):
    app.config["GALLERY_PAGE_SIZE"] = 2
    ids = [upload(alice, corpus.jpeg(color=(i * 40, 10, 10)), f"p{i}.jpg") for i in range(3)]
    first = html(alice.get("/"))
    assert [f'data-id="{i}"' in first for i in ids] == [False, True, True]
    more = re.search(r'<a class="button" href="([^"]+)" rel="next" data-more>More</a>', first)
    assert more, "a plain link to the next page, for the script to turn into infinite scroll"
    second = html(alice.get(more.group(1).replace("&amp;", "&")))
    assert f'data-id="{ids[0]}"' in second and "data-more" not in second


def test_detail_page_shows_metadata_and_edits_tags(alice):
    uid = upload(alice, corpus.jpeg(640, 480, exif_date="2023:07:14 19:30:00", make="Canon", model="Canon EOS R6",
                                    gps=(48.8583, 2.2945)), "sunset.jpg", "beach")
    page = html(alice.get(f"/uploads/{uid}"))
    words = text(page)
    for phrase in ("Taken 14 July 2023, 19:30", "Camera Canon EOS R6", "Dimensions 640 × 480 px", "Size ",
                   "Location 48.85830, 2.29450"):
        assert phrase in words, phrase
    assert re.search(r'href="https://www\.openstreetmap\.org/\?mlat=48\.858[^"]*"\s+rel="noopener noreferrer external"', page)
    assert f'<img src="/media/{uid}/original" alt="sunset.jpg — beach" width="640" height="480">' in page
    assert 'data-chips' in page and 'list="known-tags"' in page and '<option value="beach">' in page
    assert 'data-confirm="Move sunset.jpg to the trash?"' in page
    resp = alice.post(f"/uploads/{uid}/tags", data={"tags": "beach, Sunset ,"})
    assert resp.status_code == 302
    page = html(alice.get(f"/uploads/{uid}"))
    assert "Tags saved." in page and 'value="beach, sunset"' in page
    assert 'href="/search?tag=sunset"' in page


def test_detail_page_of_a_heic_shows_its_preview(alice):
    uid = upload(alice, corpus.heic(), "IMG_0001.HEIC")
    page = html(alice.get(f"/uploads/{uid}"))
    assert f'src="/media/{uid}/thumbnail"' in page and "browsers cannot show HEIC" in page


@pytest.mark.parametrize("state, words, source", [
    ("none", None, "original"),
    ("pending", "Pending: being prepared.", "original"),
    ("ready", "Ready: plays in every browser.", "playback"),
    ("failed", "Failed: it could not be made", "original"),
])
def test_video_detail_page_plays_and_says_the_rendition_state(alice, backends, state, words, source):
    uid = upload(alice, corpus.mp4(seconds=1), "clip.mp4")
    backends.catalog.set_rendition(alice.user.id, uid, state)
    page = html(alice.get(f"/uploads/{uid}"))
    assert "<video controls" in page and f'<source src="/media/{uid}/{source}"' in page
    assert "Duration 0:01" in text(page)
    if words is None:
        assert "Playback version" not in page
    else:
        assert f"Playback version {words}" in text(page)


def _record(backends, user_id: str, at_ms: int, n: int) -> str:
    """A bare upload record whose id carries the time at_ms (no object needed to render the page)."""
    uid = str(ULID.from_bytes(at_ms.to_bytes(6, "big") + n.to_bytes(10, "big")))
    backends.catalog.put_upload(Upload(user_id=user_id, id=uid, kind="photo", filename=f"{n}.jpg", mime="image/jpeg",
                                       ext="jpg", size=1, sha256=f"{n:064x}", uploaded_at="2024-01-01T00:00:00Z"))
    return uid


def _neighbours(account, uid) -> tuple[str | None, str | None]:
    page = html(account.get(f"/uploads/{uid}"))
    prev = re.search(r'href="/uploads/(\w+)" rel="prev" data-key="ArrowLeft"', page)
    nxt = re.search(r'href="/uploads/(\w+)" rel="next" data-key="ArrowRight"', page)
    return (prev.group(1) if prev else None), (nxt.group(1) if nxt else None)


def test_previous_and_next_follow_the_gallery(app, alice, backends):
    now = ULID().milliseconds
    day, year = 86_400_000, 365 * 86_400_000
    # Far apart in time (the search for the newer one widens), and a crowd within one second (it pages down).
    spread = [_record(backends, alice.user.id, now - year * 3 + i * day * 50, i) for i in range(4)]
    crowd = [_record(backends, alice.user.id, now - 5000 + i, 100 + i) for i in range(70)]
    order = list(reversed(spread + crowd))  # the gallery: newest first
    for i in (0, 1, 69, 70, 71, len(order) - 1):
        expected = (order[i - 1] if i > 0 else None, order[i + 1] if i + 1 < len(order) else None)
        assert _neighbours(alice, order[i]) == expected, i
    # Trashed items are skipped; a trashed item has no neighbours of its own.
    alice.delete(f"/api/v1/uploads/{order[1]}")
    assert _neighbours(alice, order[0]) == (None, order[2])
    assert _neighbours(alice, order[2]) == (order[0], order[3])
    assert _neighbours(alice, order[1]) == (None, None)


def test_trash_page_lists_and_restores_several(alice):
    assert "The trash is empty." in html(alice.get("/trash"))
    a = upload(alice, corpus.jpeg(color=(10, 200, 10)), "a.jpg")
    b = upload(alice, corpus.png(), "b.png")
    for uid in (a, b):
        assert alice.delete(f"/api/v1/uploads/{uid}").status_code == 204
    page = html(alice.get("/trash"))
    assert f'data-id="{a}"' in page and f'data-id="{b}"' in page
    assert 'data-mode="trash"' in page and 'data-action="restore"' in page and 'data-action="trash"' not in page
    assert page.count('name="next" value="trash"') == 2  # a plain form per item, for pages without scripts
    assert "2 in the trash" in text(html(alice.get("/")))
    resp = alice.post(f"/uploads/{a}/restore", data={"next": "trash"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/trash")
    page = html(alice.get(f"/uploads/{b}"))
    assert "In the trash since" in page and ">Restore</button>" in page and 'rel="prev"' not in page


def test_search_page_chips_results_and_paging(app, alice):
    empty = html(alice.get("/search"))
    assert 'class="results"' not in empty and "data-chips" in empty and "<details" in empty and " open" not in empty
    sea = upload(alice, corpus.jpeg(color=(10, 10, 200)), "sea.jpg", "sea,summer")
    upload(alice, corpus.jpeg(color=(10, 200, 10)), "hill.jpg", "hill,summer")
    page = html(alice.get("/search?tag=sea&not_tag=hill&kind=photo"))
    assert f'data-id="{sea}"' in page and "hill.jpg" not in page
    # The fields hold the query, so the chips script shows it again; the filters it uses are open.
    assert re.search(r'id="tag" name="tag" type="text" list="known-tags" value="sea" data-chips', page)
    assert 'value="hill" data-chips' in page and '<details class="more-filters" open>' in page
    # Each part of the search is a chip with a link to the same search without it.
    chips = re.findall(r'<li class="chip chip-(\w+)">([^<]+)<a class="chip-remove" href="([^"]+)"', page)
    assert [(kind, label.strip(), href.replace("&amp;", "&")) for kind, label, href in chips] == [
        ("all", "sea", "/search?not_tag=hill&kind=photo"),
        ("not", "not hill", "/search?tag=sea&kind=photo"),
        ("kind", "photos", "/search?tag=sea&not_tag=hill"),
    ]
    assert "Nothing matches this search." in html(alice.get("/search?tag=nowhere"))
    app.config["GALLERY_PAGE_SIZE"] = 1
    first = html(alice.get("/search?tag=summer"))
    more = re.search(r'href="([^"]+)" rel="next" data-more', first).group(1).replace("&amp;", "&")
    assert "tag=summer" in more and "cursor=" in more
    assert f'data-id="{sea}"' in html(alice.get(more))


def test_upload_page_offers_folders_tags_and_a_drop_zone(alice):
    upload(alice, corpus.jpeg(), "x.jpg", "family")
    page = html(alice.get("/upload"))
    assert 'id="upload-files"' in page and "multiple" in page and 'id="dropzone"' in page
    assert re.search(r'<input id="upload-folder"[^>]*webkitdirectory', page)
    assert re.search(r'<p class="folder-pick" id="folder-pick" hidden>', page)  # shown by the script where it works
    assert 'data-chips' in page and '<option value="family">' in page
    assert 'data-detail-url="/uploads/UPLOAD_ID"' in page


class _InlineCode(HTMLParser):
    """Collects what a strict Content-Security-Policy (default-src 'self') would refuse."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=...>")
            if name == "style":
                self.found.append(f"<{tag} style=...>")
            if name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}=javascript:...>")
            if name in ("href", "src") and tag in ("script", "link", "img") and re.match(r"^(https?:)?//", value or ""):
                self.found.append(f"<{tag} {name}={value}> (not served by Momento)")
        if tag == "style":
            self.found.append("<style>")
        if tag == "script":
            if not names.get("src"):
                self.found.append("<script> without src")
            self._in_script = True

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.found.append("<script> with a body")


def test_no_page_has_inline_scripts_styles_or_handlers(app, client, alice, backends):
    photo = upload(alice, corpus.jpeg(exif_date="2023:07:14 19:30:00", gps=(1.0, 2.0)), "p.jpg", "a")
    clip = upload(alice, corpus.mp4(seconds=1), "c.mp4")
    backends.catalog.set_rendition(alice.user.id, clip, "pending")
    gone = upload(alice, corpus.png(), "g.png")
    alice.delete(f"/api/v1/uploads/{gone}")
    pages = {url: alice.get(url) for url in (
        "/", "/?kind=video", "/upload", "/search", "/search?tag=a&any_tag=b&not_tag=c&kind=photo&from=2020-01-01",
        "/search?tag=zzz", "/trash", f"/uploads/{photo}", f"/uploads/{clip}", f"/uploads/{gone}",
        "/uploads/01ARZ3NDEKTSV4RRFFQ69G5FAV")}
    if "account.account" in app.view_functions:
        pages["/account"] = alice.get("/account")
    pages |= {url: client.get(url) for url in ("/login", "/register")}
    pages["/register (errors)"] = client.post("/register", data={"email": "x", "password": "1", "confirm": "2"})
    fresh = Account(app, "empty@example.com")
    pages |= {f"{url} (empty)": fresh.get(url) for url in ("/", "/trash")}
    for url, resp in pages.items():
        assert resp.mimetype == "text/html", url
        parser = _InlineCode()
        parser.feed(resp.get_data(as_text=True))
        assert not parser.found, f"{url}: {parser.found}"
    assert pages["/uploads/01ARZ3NDEKTSV4RRFFQ69G5FAV"].status_code == 404


def test_pages_label_their_fields_and_landmarks(alice, client):
    upload(alice, corpus.jpeg(), "x.jpg")
    for resp in (alice.get("/"), alice.get("/upload"), alice.get("/search?tag=x"), client.get("/login")):
        page = html(resp)
        assert '<html lang="en">' in page and '<main id="main"' in page and 'class="skip-link"' in page
        assert 'aria-label="Main"' in page and 'name="viewport"' in page
        # Every visible input, select and textarea has a label (for=id) or an aria-label.
        labelled = set(re.findall(r'<label[^>]*for="([^"]+)"', page))
        for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", page):
            if re.search(r'type="(hidden|submit)"', tag):
                continue
            ident = re.search(r'id="([^"]+)"', tag)
            wrapped = "tile-select" in page and 'type="checkbox"' in tag  # inside <label class="tile-select">
            assert wrapped or "aria-label" in tag or (ident and ident.group(1) in labelled) or \
                re.search(r'class="visually-hidden"', tag), tag


def test_the_upload_pages_request_is_stored_with_csrf_on(request, tmp_path):
    """What upload.js sends: the session cookie, X-CSRFToken from the page's meta tag, the file, then tags."""
    import io

    from momento import create_app
    from tests.conftest import app_config

    app = create_app(app_config(request, tmp_path, "local", WTF_CSRF_ENABLED=True))
    c = app.test_client()

    def meta(url: str) -> str:
        return re.search(r'<meta name="csrf-token" content="([^"]+)">', html(c.get(url))).group(1)

    c.post("/register", data={"csrf_token": meta("/register"), "email": "u@example.com", "password": "longenough",
                              "confirm": "longenough"})
    token = meta("/upload")
    resp = c.post("/api/v1/uploads", data={"file": (io.BytesIO(corpus.jpeg()), "a.jpg"), "tags": "x"},
                  content_type="multipart/form-data", headers={"X-CSRFToken": token, "Accept": "application/json"})
    assert resp.status_code == 201, resp.get_json()
    assert resp.json["tags"] == ["x"]


# The gallery's two orders: by date taken (the default) and by date added.

def _gallery(account: Account, url: str) -> tuple[list[str], list[str], list[str]]:
    """(ids, data-month of each month label, headings) of a gallery and every page after it, by its More links,
    with a label that continues the previous page's last month left out (as library.js does)."""
    ids: list[str] = []
    months: list[str] = []
    headings: list[str] = []
    while url:
        page = html(account.get(url))
        ids += re.findall(r'<li class="tile-item" id="u-\w+" data-id="(\w+)"', page)
        for month, heading in re.findall(r'<li class="month-label" id="m-[^"]+" data-month="([^"]+)">\s*'
                                         r'<h2><span class="visually-hidden">([^<]+)</span>', page):
            if not months or months[-1] != month:
                months.append(month)
                headings.append(heading)
        more = re.search(r'<a class="button" href="([^"]+)" rel="next" data-more>', page)
        url = more.group(1).replace("&amp;", "&") if more else None
    return ids, months, headings


def _interleaved(account: Account) -> dict[str, str]:
    """Old photos imported between new ones: capture months that interleave with the upload order."""
    made = {}
    for n, (name, when) in enumerate([("a", "2019:03:01 10:00:00"), ("b", "2021:05:02 10:00:00"),
                                      ("c", "2019:03:20 10:00:00"), ("d", None), ("e", "2021:05:02 10:00:00"),
                                      ("f", "2019:03:01 10:00:00")]):
        made[name] = upload(account, corpus.jpeg(40, 30, exif_date=when, color=(n * 40, 90, 10)), f"{name}.jpg")
    made["clip"] = upload(account, corpus.mp4(seconds=1), "clip.mp4")
    return made


@both_backends
def test_gallery_months_never_repeat_in_either_order(app, alice, bob):
    app.config["GALLERY_PAGE_SIZE"] = 2
    made = _interleaved(alice)
    bob.upload(corpus.jpeg(30, 30, exif_date="2020:01:01 10:00:00"))
    m = made
    # By date taken, newest first; the two of 2021-05-02 10:00 (and of 2019-03-01) by id, newer first.
    ids, months, headings = _gallery(alice, "/")
    assert ids == [m["clip"], m["d"], m["e"], m["b"], m["c"], m["f"], m["a"]]
    assert months[1:] == ["2021-05", "2019-03"] and len(set(months)) == 3
    assert headings[1:] == ["May 2021", "March 2019"]
    # By date added: the upload order, under upload months, which cannot repeat either.
    ids, months, headings = _gallery(alice, "/?order=added")
    assert ids == [m["clip"], m["f"], m["e"], m["d"], m["c"], m["b"], m["a"]]
    assert len(months) == len(set(months)) == 1 and re.fullmatch(r"[A-Z][a-z]+ \d{4}", headings[0])
    # The kind filter works in both orders, and each link keeps the order and the kind.
    assert _gallery(alice, "/?kind=photo")[0] == [m["d"], m["e"], m["b"], m["c"], m["f"], m["a"]]
    assert _gallery(alice, "/?kind=photo&order=added")[0] == [m["f"], m["e"], m["d"], m["c"], m["b"], m["a"]]
    assert _gallery(alice, "/?kind=video&order=added")[0] == _gallery(alice, "/?kind=video")[0] == [m["clip"]]
    page = html(alice.get("/?kind=photo&order=added"))
    more = re.search(r'href="([^"]+)" rel="next" data-more', page).group(1)
    assert "order=added" in more and "kind=photo" in more and "cursor=" in more
    assert f'href="/uploads/{m["f"]}?order=added&amp;kind=photo"' in page
    assert f'href="/uploads/{m["d"]}?kind=photo"' in html(alice.get("/?kind=photo"))
    # The switch: Taken is the default, each keeps the kind.
    switch = html(alice.get("/?kind=photo")).split('aria-label="Order"')[1].split("</nav>")[0]
    assert re.search(r'href="/\?kind=photo"\s*aria-current="page">Taken</a>', switch)
    assert re.search(r'href="/\?kind=photo&amp;order=added">Added</a>', switch)
    # Trashed uploads leave both orders.
    alice.delete(f"/api/v1/uploads/{m['e']}")
    assert m["e"] not in _gallery(alice, "/")[0] and m["e"] not in _gallery(alice, "/?order=added")[0]


@both_backends
def test_gallery_refuses_a_bad_order_or_cursor(alice):
    uid = upload(alice, corpus.jpeg(), "x.jpg")
    assert alice.get("/?order=size").status_code == 400
    assert alice.get(f"/uploads/{uid}?order=size").status_code == 400
    assert alice.get(f"/uploads/{uid}?kind=sound").status_code == 400
    for url in ("/?cursor=garbage", "/?order=added&cursor=garbage", "/?kind=video&cursor=e30"):
        assert alice.get(url).status_code == 400, url
    # Each order's cursor is its own.
    taken_cursor = "eyJkYXRlIjoiMjAyMC0wMS0wMVQwMDowMDowMFoiLCJpZCI6IjAxQVJaM05ERUtUU1Y0UlJGRlE2OUc1RkFWIn0"
    assert alice.get(f"/?cursor={taken_cursor}").status_code == 200
    assert alice.get(f"/?order=added&cursor={taken_cursor}").status_code == 400


def _walk(account: Account, first: str, query: str = "") -> tuple[list[str], list[str]]:
    """The ids met pressing Next from `first` to the end, then Previous back (links keep the query)."""
    forward, url = [], f"/uploads/{first}{query}"
    while True:
        page = html(account.get(url))
        forward.append(url.split("/")[2].split("?")[0])
        back = re.search(r'<a class="back" href="([^"]+)"', page).group(1).replace("&amp;", "&")
        assert back == "/" + query + "#u-" + forward[-1], back  # back to the list, at this tile
        nxt = re.search(r'href="/uploads/(\w+)([^"]*)" rel="next" data-key="ArrowRight"', page)
        if not nxt:
            break
        assert nxt.group(2).replace("&amp;", "&") == query
        url = f"/uploads/{nxt.group(1)}{query}"
    backward = [forward[-1]]
    while True:
        page = html(account.get(f"/uploads/{backward[-1]}{query}"))
        prev = re.search(r'href="/uploads/(\w+)([^"]*)" rel="prev" data-key="ArrowLeft"', page)
        if not prev:
            break
        backward.append(prev.group(1))
    return forward, backward[::-1]


@both_backends
def test_previous_and_next_follow_the_order_of_the_gallery(app, alice):
    app.config["GALLERY_PAGE_SIZE"] = 3
    made = _interleaved(alice)
    alice.delete(f"/api/v1/uploads/{made['c']}")
    for query in ("", "?order=added", "?kind=photo", "?order=added&kind=photo"):
        shown = _gallery(alice, "/" + query)[0]
        assert _walk(alice, shown[0], query) == (shown, shown), query
    # A detail page opened without an order follows the date order; a trashed upload has no neighbours.
    taken = _gallery(alice, "/")[0]
    assert _neighbours(alice, taken[2]) == (taken[1], taken[3])
    assert _neighbours(alice, made["c"]) == (None, None)


@both_backends
def test_gallery_requests_never_scan_dynamodb(app, alice, backends, dynamo_ops):
    """The gallery's orders, pages, filters and detail neighbours read by key only."""
    app.config["GALLERY_PAGE_SIZE"] = 2
    made = _interleaved(alice)
    ops = dynamo_ops(backends.catalog) if app.config["BACKEND"] == "aws" else None
    urls = ["/", "/?order=added", "/?kind=video", "/?kind=photo", "/?kind=photo&order=added", "/?tag=x"]
    for url in list(urls):
        more = re.search(r'href="([^"]+)" rel="next" data-more', html(alice.get(url)))
        if more:
            urls.append(more.group(1).replace("&amp;", "&"))
    urls += [f"/uploads/{made['c']}", f"/uploads/{made['c']}?order=added", f"/uploads/{made['c']}?kind=photo",
             f"/uploads/{made['clip']}?order=added&kind=video"]
    for url in urls:
        assert alice.get(url).status_code == 200, url
    if ops is not None:
        assert "Query" in ops and "BatchGetItem" in ops and "Scan" not in ops, ops
        assert set(ops) - WRITES_OF_SIGN_IN <= {"Query", "GetItem", "BatchGetItem"}, set(ops)
