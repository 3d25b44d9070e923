"""Words in a search (`q`): split like file names, every word required, `-word` and `not word` excluded, and a
search that finds nothing says which part found nothing and what the search finds without it; on both backends."""
from __future__ import annotations

import hashlib

from ulid import ULID

from momento.models import PHOTO, VIDEO, Upload
from momento.search import build_query, count, explain, search, typed_words
from tests.backends import backends

LIBRARY = [  # filename, tags, taken
    ("IMG_20230704_101500.jpg", ("beach", "summer"), "2023-07-04T10:15:00Z"),
    ("IMG_20230705_090000.jpg", ("beach", "work"), "2023-07-05T09:00:00Z"),
    ("IMG_20240101_000100.jpg", ("snow",), "2024-01-01T00:01:00Z"),
    ("walk_01.mp4", ("summer",), "2023-08-01T08:00:00Z"),
    ("walk_02.mp4", ("work",), "2022-03-01T08:00:00Z"),
    ("Office party.PNG", ("work", "beach"), "2023-12-20T20:00:00Z"),
]


def make(catalog) -> dict[str, str]:
    """The library above for user u1; filename -> id."""
    ids = {}
    for i, (name, tags, taken) in enumerate(LIBRARY):
        kind = VIDEO if name.endswith(".mp4") else PHOTO
        upload = Upload(user_id="u1", id=str(ULID.from_timestamp(1_700_000_000 + i)), kind=kind, filename=name,
                        mime="image/jpeg", ext="jpg", size=10 + i, sha256=hashlib.sha256(name.encode()).hexdigest(),
                        uploaded_at="2026-01-01T00:00:00Z", taken_at=taken, tags=tags,
                        auto_tags=(f"kind:{kind}", f"year:{taken[:4]}"))
        ids[name] = catalog.put_upload(upload).id
    return ids


def names(catalog, ids, q, **kw) -> set[str]:
    """The file names a search finds (all pages)."""
    by_id = {v: k for k, v in ids.items()}
    page = search(catalog, "u1", build_query(q=q, **kw), limit=200, cursor=None)
    return {by_id[u.id] for u in page.items}


def test_words_are_split_like_file_names():
    assert [(w.text, w.words, w.excluded) for w in typed_words("img_20 -work not walk.01 beach")] == [
        ("img_20", ("img", "20"), False), ("-work", ("work",), True), ("not walk.01", ("walk", "01"), True),
        ("beach", ("beach",), False)]
    assert typed_words("- -- not") == [typed_words("not")[0]]  # a lone "not" is a word; dashes alone are nothing


@backends
def test_file_name_words_every_word_and_exclusions(backends_pair):
    _, catalog = backends_pair
    ids = make(catalog)
    img = {"IMG_20230704_101500.jpg", "IMG_20230705_090000.jpg", "IMG_20240101_000100.jpg"}
    assert names(catalog, ids, "IMG_20") == img  # the search box's own example
    assert names(catalog, ids, "img 20") == img
    assert names(catalog, ids, "walk_01") == {"walk_01.mp4"}
    assert names(catalog, ids, "walk-01") == {"walk_01.mp4"}
    assert names(catalog, ids, "IMG_2023") == img - {"IMG_20240101_000100.jpg"}
    assert names(catalog, ids, "beach not work") == {"IMG_20230704_101500.jpg"}
    assert names(catalog, ids, "summer 2023 beach -work") == {"IMG_20230704_101500.jpg"}
    assert names(catalog, ids, "beach -office") == {"IMG_20230704_101500.jpg", "IMG_20230705_090000.jpg"}
    assert names(catalog, ids, "-walk_01") == set(ids) - {"walk_01.mp4"}  # an exclusion of two words needs both
    assert names(catalog, ids, "work -zzz") == {"IMG_20230705_090000.jpg", "walk_02.mp4", "Office party.PNG"}
    assert names(catalog, ids, "summer", kind="video") == {"walk_01.mp4"}
    assert names(catalog, ids, "not beach", start="2023-01-01", end="2023-12-31") == {"walk_01.mp4"}
    assert count(catalog, "u1", build_query(q="beach")) == 3
    assert count(catalog, "u1", build_query(q="beach"), cap=2) == 3  # "more than 2"


@backends
def test_a_tag_typed_as_it_is_shown_finds_it(backends_pair):
    _, catalog = backends_pair
    ids = make(catalog)
    july = {"IMG_20230704_101500.jpg", "IMG_20230705_090000.jpg"}
    assert names(catalog, ids, "month:2023-07") == july  # the month tag as the pages show it
    assert names(catalog, ids, "2023-07") == july  # its value alone
    assert names(catalog, ids, "year:2023 beach -work") == {"IMG_20230704_101500.jpg"}
    assert names(catalog, ids, "month:2023-07 -beach") == set()
    # a word alone still matches only the start of a tag, a tag's value or a file-name word: `07` starts none
    # (it is inside month:2023-07), while `2023-07` typed whole starts that tag's value
    assert names(catalog, ids, "img 07") == set()
    assert names(catalog, ids, "img 2023-07") == july


@backends
def test_walking_a_search_both_ways(backends_pair):
    _, catalog = backends_pair
    make(catalog)
    query = build_query(q="-snow")
    newest_first = [u.id for u in search(catalog, "u1", query, limit=50, cursor=None).items]
    oldest_first = [u.id for u in search(catalog, "u1", query, limit=50, cursor=None, oldest_first=True).items]
    assert oldest_first == newest_first[::-1] and len(newest_first) == 5
    from momento.catalog.cursor import encode_cursor
    after = search(catalog, "u1", query, limit=1, cursor=encode_cursor(newest_first[2]), oldest_first=True).items
    assert [u.id for u in after] == [newest_first[1]]


@backends
def test_a_search_that_finds_nothing_says_why(backends_pair):
    _, catalog = backends_pair
    make(catalog)
    hints = {h.part: h for h in explain(catalog, "u1", build_query(q="beach zebra -work"))}
    assert hints["zebra"].matches_nothing and hints["zebra"].count == 1
    assert hints["zebra"].without.q == "beach -work"
    assert not hints["beach"].matches_nothing and hints["-work"].count == 0
    hints = {h.part: h for h in explain(catalog, "u1", build_query(q="snow", tags=["summer"], kind="video"))}
    assert [p for p, h in hints.items() if h.matches_nothing] == []
    assert hints["snow"].count == 1 and hints["tag summer"].count == 0 and hints["videos only"].count == 0
