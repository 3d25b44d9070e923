"""Search: every query form and their combinations, paging, trash, isolation and index consistency, checked
against a brute-force oracle on both backends (so the two backends give identical answers)."""
from __future__ import annotations

import hashlib
import random

import pytest
from ulid import ULID

from momento.catalog.indexing import filename_words
from momento.errors import BackendError, BadRequest
from momento.models import PHOTO, VIDEO, Upload
from momento.search import build_query, by_date, search, tag_counts
from tests.backends import backends

TAGS = ["beach", "family", "sunset", "dog", "work", "snow"]


def make_library(catalog, user_id="u1", n=40, seed=7) -> list[Upload]:
    """n uploads with a deterministic mix of tags, kinds, dates and filenames."""
    rng = random.Random(seed)
    uploads = []
    for i in range(n):
        kind = VIDEO if i % 5 == 0 else PHOTO
        year = 2019 + i % 6
        taken = f"{year}-{1 + i % 12:02d}-{1 + i % 27:02d}T10:00:00Z" if i % 7 else None
        upload = Upload(
            user_id=user_id, id=str(ULID.from_timestamp(1_700_000_000 + i)), kind=kind,
            filename=f"{'IMG' if kind == PHOTO else 'MOV'}_{i:04d} {rng.choice(['Holiday', 'Office', 'Park'])}.jpg",
            mime="image/jpeg", ext="jpg", size=100 + i, sha256=hashlib.sha256(f"{user_id}{i}".encode()).hexdigest(),
            uploaded_at=f"2026-0{1 + i % 9}-15T08:00:00Z", taken_at=taken,
            tags=tuple(sorted(rng.sample(TAGS, rng.randint(0, 3)))),
            auto_tags=(f"kind:{kind}", f"year:{(taken or '2026')[:4]}"),
        )
        uploads.append(catalog.put_upload(upload))
    return uploads


def oracle(uploads, *, tags=(), any_tags=(), not_tags=(), kind=None, start=None, end=None, q=None):
    """The expected answer, by brute force over the records."""
    query = build_query(tags=tags, any_tags=any_tags, not_tags=not_tags, kind=kind, start=start, end=end, q=q)
    out = []
    for u in uploads:
        have = set(u.tags) | set(u.auto_tags) | {f"kind:{u.kind}", f"month:{u.sort_date[:7]}"}
        if u.trashed or not set(query.all_tags) <= have or (query.any_tags and not have & set(query.any_tags)):
            continue
        if have & set(query.not_tags) or (query.kind and u.kind != query.kind):
            continue
        if query.start and u.sort_date < query.start or query.end and u.sort_date > query.end:
            continue
        names = filename_words(u.filename)

        def hit(word):
            return any(t.startswith(word) or t.partition(":")[2].startswith(word) for t in have) or \
                any(fw.startswith(word) for fw in names)
        parts, wanted, unwanted = query.q.split(), [], []
        while parts:  # `-x` and `not x` exclude; each part splits like a file name
            part = parts.pop(0)
            if part == "not" and parts:
                unwanted.append(filename_words(parts.pop(0)))
            elif part.startswith("-") and len(part) > 1:
                unwanted.append(filename_words(part[1:]))
            else:
                wanted += filename_words(part)
        if not all(hit(w) for w in wanted) or any(ws and all(hit(w) for w in ws) for ws in unwanted):
            continue
        out.append(u.id)
    return sorted(out, reverse=True)


def run(catalog, user_id="u1", limit=7, **kw):
    """Every page of a search, following cursors."""
    query = build_query(**kw)
    ids, cursor = [], None
    for _ in range(100):
        page = search(catalog, user_id, query, limit=limit, cursor=cursor)
        assert len(page.items) <= limit
        ids += [u.id for u in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return ids
    raise AssertionError("paging did not end")


QUERIES = [
    {},
    {"kind": "video"},
    {"tags": ["beach"]},
    {"tags": ["beach", "family"]},
    {"tags": ["beach", "family", "sunset"]},
    {"any_tags": ["dog", "snow"]},
    {"not_tags": ["work"]},
    {"tags": ["beach"], "any_tags": ["dog", "sunset"], "not_tags": ["family"]},
    {"tags": ["Beach "], "kind": "photo"},
    {"start": "2021-01-01", "end": "2022-12-31"},
    {"start": "2023-06-01"},
    {"end": "2020-03-01", "kind": "photo"},
    {"tags": ["family"], "start": "2020-01-01", "end": "2024-12-31"},
    {"q": "holi"},
    {"q": "2021"},
    {"q": "be"},
    {"q": "park sun"},
    {"q": "img", "not_tags": ["dog"], "kind": "photo"},
    {"tags": ["nothing-has-this"]},
    {"any_tags": ["nothing-has-this"]},
    {"q": "zzz"},
    {"q": "img_00"},
    {"q": "IMG_0012"},
    {"q": "park -img"},
    {"q": "holiday not beach"},
    {"q": "2021 -mov_00"},
    {"q": "beach not"},
    {"q": "office.jpg - --"},
    {"tags": ["year:2026"]},
]


@backends
def test_every_query_form_matches_the_oracle(backends_pair):
    _, catalog = backends_pair
    uploads = make_library(catalog)
    for kw in QUERIES:
        assert run(catalog, **kw) == oracle(uploads, **kw), kw


@backends
def test_trash_and_tag_changes_keep_the_index_in_step(backends_pair):
    _, catalog = backends_pair
    uploads = make_library(catalog, n=20)
    beach = [u for u in uploads if "beach" in u.tags]
    catalog.set_trashed("u1", beach[0].id, "2026-11-01T00:00:00Z")
    catalog.set_tags("u1", beach[1].id, ("renamed",))
    uploads = list(catalog.get_uploads("u1", [u.id for u in uploads]))
    uploads.sort(key=lambda u: u.id)
    for kw in ({"tags": ["beach"]}, {"tags": ["renamed"]}, {}, {"q": "ren"}, {"not_tags": ["beach"]}):
        assert run(catalog, **kw) == oracle(uploads, **kw), kw
    counts = tag_counts(catalog, "u1")
    assert counts["renamed"] == 1
    assert counts.get("beach", 0) == len(beach) - 2
    catalog.set_trashed("u1", beach[0].id, None)
    assert beach[0].id in run(catalog, tags=["beach"])
    assert tag_counts(catalog, "u1").get("beach", 0) == len(beach) - 1


def by_date_ids(catalog, user_id="u1", *, kind=None, limit=7) -> list[str]:
    """Every id of the date order, page after page."""
    seen, cursor = [], None
    while True:
        page = by_date(catalog, user_id, kind=kind, limit=limit, cursor=cursor)
        seen += [u.id for u in page.items]
        if not (cursor := page.next_cursor):
            return seen


@backends
def test_the_date_order_matches_the_oracle(backends_pair):
    _, catalog = backends_pair
    uploads = make_library(catalog, n=30)
    make_library(catalog, "u2", n=5, seed=3)
    catalog.set_trashed("u1", uploads[3].id, "2026-11-01T00:00:00Z")
    catalog.delete_upload("u1", uploads[4].id)
    catalog.set_tags("u1", uploads[5].id, ("moved",))  # a change that keeps the date keeps the place
    live = [u for u in uploads if u not in uploads[3:5]]
    for kind in (None, PHOTO, VIDEO):
        expected = [u.id for u in sorted(live, key=lambda u: (u.sort_date, u.id), reverse=True)
                    if kind in (None, u.kind)]
        for limit in (1, 7, 50):
            assert by_date_ids(catalog, kind=kind, limit=limit) == expected, (kind, limit)
    page = by_date(catalog, "u1", kind=None, limit=3, cursor=None)
    assert [u.tags for u in page.items] == [catalog.get_upload("u1", u.id).tags for u in page.items]
    with pytest.raises(BadRequest):
        by_date(catalog, "u1", kind=None, limit=3, cursor="nope")


@backends
def test_usage_counters_follow_trash_and_delete(backends_pair):
    _, catalog = backends_pair
    uploads = make_library(catalog, n=10)
    total = sum(u.size for u in uploads)
    assert catalog.usage("u1")["bytes"] == total
    catalog.set_trashed("u1", uploads[0].id, "2026-11-01T00:00:00Z")
    use = catalog.usage("u1")
    assert use["bytes"] == total - uploads[0].size and use["trash_bytes"] == uploads[0].size
    assert use["trash_count"] == 1 and use["photos"] + use["videos"] == 9
    catalog.delete_upload("u1", uploads[0].id)
    assert catalog.usage("u1")["trash_bytes"] == 0


@backends
def test_users_are_isolated(backends_pair):
    _, catalog = backends_pair
    make_library(catalog, "u1", n=10)
    other = make_library(catalog, "u2", n=5, seed=3)
    assert run(catalog, "u2") == sorted((u.id for u in other), reverse=True)
    assert set(run(catalog, "u2", tags=["beach"])) <= {u.id for u in other}
    assert catalog.term_members("u2", "t:kind:photo", [u.id for u in make_library(catalog, "u3", n=2, seed=1)]) == set()


@backends
def test_rebuild_index_is_idempotent_and_repairs(backends_pair):
    _, catalog = backends_pair
    uploads = make_library(catalog, n=15)
    before = {kw.get("q", "") + str(kw): run(catalog, **kw) for kw in QUERIES}
    counts = catalog.term_counts("u1")
    assert catalog.rebuild_index("u1") == 15
    assert catalog.rebuild_index("u1") == 15
    assert catalog.term_counts("u1") == counts
    assert {kw.get("q", "") + str(kw): run(catalog, **kw) for kw in QUERIES} == before
    assert len(uploads) == 15


@backends
def test_a_failed_tag_change_changes_nothing(backends_pair, monkeypatch):
    _, catalog = backends_pair
    uploads = make_library(catalog, n=8)
    target = next(u for u in uploads if u.tags)
    old_counts = catalog.term_counts("u1")
    if hasattr(catalog, "_transact"):
        monkeypatch.setattr(catalog, "_transact", lambda items: (_ for _ in ()).throw(BackendError("injected")))
    else:
        real = catalog._reindex

        def half(db, old, new):
            real(db, old, new)  # the index moves, then the transaction fails: all of it must roll back
            raise BackendError("injected")

        monkeypatch.setattr(catalog, "_reindex", half)
    with pytest.raises(BackendError):
        catalog.set_tags("u1", target.id, ("brand-new",))
    monkeypatch.undo()
    assert catalog.get_upload("u1", target.id).tags == target.tags
    assert run(catalog, tags=["brand-new"]) == []
    assert target.id in run(catalog, tags=[target.tags[0]])
    assert catalog.term_counts("u1") == old_counts


@pytest.mark.parametrize("kw", [{"kind": "audio"}, {"start": "yesterday"}, {"start": "2024-05-01", "end": "2024-01-01"},
                                {"tags": ["x" * 65]}])
def test_bad_queries_are_refused(kw):
    with pytest.raises(BadRequest):
        build_query(**kw)
