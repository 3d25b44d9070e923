"""Browsing in context through the test client: a search's count and its explanation when it finds nothing, the
detail page walking the list it was opened from (search, trash) by key reads, the month index, and the trash's
dates, days left and "Empty trash"; on both backends where the catalog is involved."""
from __future__ import annotations

import re

from momento.models import Upload
from tests import corpus
from tests.conftest import both_backends
from tests.test_pages import html, text, upload
# A token's or session's last use is noted by key (at most once a minute): the only writes a page view makes.
WRITES_OF_SIGN_IN = {"UpdateItem", "PutItem"}


def links(page: str) -> tuple:
    """(previous, next, back) hrefs of a detail page, with &amp; undone."""
    def href(pattern):
        found = re.search(pattern, page)
        return found.group(1).replace("&amp;", "&") if found else None
    return (href(r'href="([^"]+)" rel="prev"'), href(r'href="([^"]+)" rel="next"'),
            href(r'<a class="back" href="([^"]+)"'))


def photos(alice, *names_tags) -> list[str]:
    """Upload small distinct photos; their ids, oldest first."""
    return [upload(alice, corpus.jpeg(20 + i, 20, color=(i * 30 % 255, 40, 90)), name, tags)
            for i, (name, tags) in enumerate(names_tags)]


@both_backends
def test_the_search_page_counts_and_explains(app, alice, dynamo_ops, backends):
    photos(alice, ("IMG_20230704.jpg", "beach"), ("walk_01.jpg", "beach,work"), ("IMG_20240101.jpg", "snow"))
    ops = dynamo_ops(backends.catalog) if app.config["BACKEND"] == "aws" else None
    page = html(alice.get("/search?q=IMG_20"))
    assert re.search(r'<p class="result-count" data-announce>2 results.</p>', page)
    assert 'tabindex="-1"' in page and "data-results" in page  # the script moves the view to the results
    assert "1 result." in html(alice.get("/search?q=walk_01"))
    assert "1 result." in html(alice.get("/search?q=beach+not+work"))
    assert "1 result." in html(alice.get("/search?q=beach+-work"))
    nothing = text(html(alice.get("/search?q=beach+zebra"))).replace(" .", ".").replace(" :", ":")
    assert "No tag or file name in your library matches “zebra”." in nothing
    assert "Without “zebra”: 2 results" in nothing
    dated = html(alice.get("/search?from=2999-01-01"))
    assert "Nothing in your library is dated from 2999-01-01" in text(dated)
    assert re.search(r'<a href="/">Without “from 2999-01-01”</a>', dated)  # the whole library: the gallery
    assert "No upload in your library carries “tag zebra”" in text(html(alice.get("/search?tag=zebra&tag=beach")))
    page = html(alice.get("/search?q=snow&tag=beach"))
    assert "Each part matches something, but not all of them together." in text(page)
    assert 'href="/search?tag=beach"' in page and 'href="/search?q=snow"' in page
    if ops is not None:
        assert "Scan" not in ops and set(ops) - WRITES_OF_SIGN_IN <= {"Query", "GetItem", "BatchGetItem"}, set(ops)


def test_a_search_with_dates_keeps_them_on_the_way_through(app, alice):
    """The list's name (`list=search`) never takes the place of the search's own `from` date."""
    ids = photos(alice, ("a.jpg", "sea"), ("b.jpg", "sea"), ("c.jpg", "sea"))
    today = alice.get(f"/api/v1/uploads/{ids[0]}").json["uploaded_at"][:10]
    page = html(alice.get(f"/search?tag=sea&from={today}"))
    assert f'href="/uploads/{ids[2]}?tag=sea&amp;from={today}&amp;list=search"' in page
    prev, nxt, back = links(html(alice.get(f"/uploads/{ids[1]}?tag=sea&from={today}&list=search")))
    assert prev == f"/uploads/{ids[2]}?tag=sea&from={today}&list=search"
    assert back == f"/search?tag=sea&from={today}#u-{ids[1]}"
    # a date after everything: nothing before or after in that list
    assert html(alice.get(f"/search?tag=sea&from=2999-01-01")).count("tile-item") == 0


@both_backends
def test_the_viewer_walks_a_search_and_comes_back(app, alice, dynamo_ops, backends):
    ids = photos(alice, ("a.jpg", "sea"), ("b.jpg", "hill"), ("c.jpg", "sea"), ("d.jpg", "sea,work"), ("e.jpg", "sea"))
    ops = dynamo_ops(backends.catalog) if app.config["BACKEND"] == "aws" else None
    page = html(alice.get("/search?q=sea+-work"))
    found = re.findall(r'<li class="tile-item" id="u-\w+" data-id="(\w+)"', page)
    assert found == [ids[4], ids[2], ids[0]]
    assert f'href="/uploads/{ids[4]}?q=sea+-work&amp;list=search"' in page
    prev, nxt, back = links(html(alice.get(f"/uploads/{ids[2]}?q=sea+-work&list=search")))
    assert prev == f"/uploads/{ids[4]}?q=sea+-work&list=search" and nxt == f"/uploads/{ids[0]}?q=sea+-work&list=search"
    assert back == f"/search?q=sea+-work#u-{ids[2]}"
    prev, nxt, _ = links(html(alice.get(f"/uploads/{ids[0]}?q=sea+-work&list=search")))
    assert prev.startswith(f"/uploads/{ids[2]}?") and nxt is None
    # A saved search rides along by its id: the viewer walks its results, and Escape follows the way back.
    saved = alice.post("/api/v1/searches", json={"name": "sea, not work", "query": {"q": "sea -work"}}).json["id"]
    page = html(alice.get(f"/uploads/{ids[2]}?list=search&search={saved}"))
    prev, nxt, _ = links(page)
    assert prev == f"/uploads/{ids[4]}?search={saved}&list=search"
    assert nxt == f"/uploads/{ids[0]}?search={saved}&list=search"
    assert re.search(rf'<a class="back" href="/search\?search={saved}#u-\w+" data-key="Escape">← Search results</a>',
                     page)
    if ops is not None:  # reads by key only (the PutItem saved the search)
        assert "Scan" not in ops and set(ops) <= {"Query", "GetItem", "BatchGetItem", "PutItem"}, set(ops)


@both_backends
def test_the_trash_walks_itself_and_empties(app, alice, backends):
    ids = photos(alice, ("one.jpg", None), ("two.jpg", None), ("three.jpg", None))
    for uid in ids:
        assert alice.delete(f"/api/v1/uploads/{uid}").status_code == 204
    page = html(alice.get("/trash"))
    words = text(page)
    assert "one.jpg" in words and "Trashed" in words and "30 days left" in words and "Empty trash" in words
    assert f'href="/uploads/{ids[1]}?list=trash"' in page
    prev, nxt, back = links(html(alice.get(f"/uploads/{ids[1]}?list=trash")))
    assert prev == f"/uploads/{ids[2]}?list=trash" and nxt == f"/uploads/{ids[0]}?list=trash"
    assert back == f"/trash#u-{ids[1]}"
    trashed_at = alice.get(f"/api/v1/uploads/{ids[0]}").json["trashed_at"]
    resp = alice.post("/trash/empty")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/trash")
    words = text(html(alice.get("/trash")))
    assert "3 items marked for deletion" in words and words.count("Deleted at the next clean-up") == 3
    assert alice.get(f"/api/v1/uploads/{ids[0]}").json["trashed_at"] == trashed_at  # when it was trashed, still
    events = backends.catalog.list_audit_events(alice.user.id).items
    assert [(e.action, e.details) for e in events if e.action == "trash_emptied"] == [("trash_emptied", {"count": 3})]
    # The next purge run deletes them whatever its age limit.
    from momento.ops.purge import purge_trash
    with app.app_context():
        report = purge_trash(backends.storage, backends.catalog, older_than_days=3650)
    assert report.purged == 3 and "The trash is empty." in html(alice.get("/trash"))


@both_backends
def test_emptying_marks_only_what_is_in_the_trash_then_and_a_restore_unmarks(app, alice, backends):
    """Empty trash marks what the trash holds now; one restored and trashed again waits its 30 days as any other,
    and an upload marked by an earlier version (trashed on 1970-01-01) still counts as emptied."""
    from momento.ops.purge import purge_trash
    first, second = photos(alice, ("a.jpg", None), ("b.jpg", None))
    for uid in (first, second):
        assert alice.delete(f"/api/v1/uploads/{uid}").status_code == 204
    assert alice.post("/trash/empty").status_code == 302
    assert alice.post(f"/api/v1/uploads/{second}/restore").status_code == 200
    assert alice.delete(f"/api/v1/uploads/{second}").status_code == 204
    words = text(html(alice.get("/trash")))
    assert words.count("Deleted at the next clean-up") == 1 and "30 days left" in words
    with app.app_context():
        report = purge_trash(backends.storage, backends.catalog, older_than_days=30)
    assert report.purged == 1 and alice.get(f"/api/v1/uploads/{first}").status_code == 404
    assert alice.get(f"/api/v1/uploads/{second}").status_code == 200
    backends.catalog.set_trashed(alice.user.id, second, "1970-01-01T00:00:00Z")  # as an earlier version marked it
    assert "Deleted at the next clean-up" in text(html(alice.get("/trash")))
    assert alice.post("/trash/empty").status_code == 302  # already marked: nothing more to mark
    assert backends.catalog.get_upload(alice.user.id, second).emptied_at is None
    with app.app_context():
        assert purge_trash(backends.storage, backends.catalog, older_than_days=30).purged == 1


def _dated(backends, user_id: str, n: int, taken: str) -> str:
    """A bare record taken at `taken` (no object needed to render the gallery)."""
    from ulid import ULID
    uid = str(ULID())
    backends.catalog.put_upload(Upload(user_id=user_id, id=uid, kind="photo", filename=f"{n}.jpg", mime="image/jpeg",
                                       ext="jpg", size=1, sha256=f"{n:064x}", uploaded_at="2026-01-01T00:00:00Z",
                                       taken_at=taken, auto_tags=(f"month:{taken[:7]}", f"year:{taken[:4]}")))
    return uid


@both_backends
def test_the_month_index_jumps_into_the_date_order(app, alice, backends, dynamo_ops):
    made = {m: _dated(backends, alice.user.id, i, f"{m}-10T10:00:00Z")
            for i, m in enumerate(["2021-02", "2021-11", "2023-07", "2023-08", "2024-01"])}
    ops = dynamo_ops(backends.catalog) if app.config["BACKEND"] == "aws" else None
    page = html(alice.get("/"))
    nav = page.split('aria-label="Jump to a month"')[1].split("</nav>")[0]
    assert [y for y in re.findall(r"<summary>(\d{4}) <span", nav)] == ["2024", "2023", "2021"]
    jump = re.search(r'href="([^"]+)">July 2023 <span class="count">\(1\)</span>', nav).group(1).replace("&amp;", "&")
    shown = re.findall(r'data-id="(\w+)"', html(alice.get(jump)))
    assert shown[:1] == [made["2023-07"]] and made["2023-08"] not in shown and made["2021-02"] in shown
    assert "Back to the newest" in html(alice.get(jump))
    if ops is not None:
        assert "Scan" not in ops and set(ops) - WRITES_OF_SIGN_IN <= {"Query", "GetItem", "BatchGetItem"}, set(ops)
