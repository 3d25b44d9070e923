"""Tag and date search, written once over the catalogs' key-lookup primitives so both backends agree.

A live upload is indexed under terms: `t:<tag>` for each user and automatic tag, `f:<word>` for each word of
its filename. Each index entry carries the upload's id, date (capture, else upload) and kind. A search picks
the smallest group of terms as its driver, walks that group's entries newest first, and checks the other
conditions by key lookups, so its cost follows the size of the answer, not of the library.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import date, datetime
from typing import Iterable, Iterator, Optional, Protocol

from .catalog.cursor import decode_cursor, encode_cursor, encode_date_cursor
from .errors import BadRequest
from .media.tags import normalize_tag
from .models import KINDS, IndexEntry, Page, Upload
from .formats import iso

BATCH = 100
SMALL_RANGE = 200  # a date range with at most this many uploads is read whole from the date index
MAX_MONTH_STREAMS = 24  # a longer range is filtered while walking the smallest tag, or everything


class SearchIndex(Protocol):
    """What a catalog offers the search: reads by key only."""

    def tag_counts(self, user_id: str) -> dict[str, int]:
        """Every `t:` term (tag) of the user's live uploads with its count; bounded by the tag vocabulary."""

    def word_counts(self, user_id: str, prefix: str) -> dict[str, int]:
        """The `f:` terms (filename words) starting with `f:<prefix>`, with counts."""

    def term_entries(self, user_id: str, term: str, before: Optional[str], limit: int) -> list[IndexEntry]:
        """Up to limit entries of a term, newest first, with ids below `before`."""

    def term_members(self, user_id: str, term: str, upload_ids: list[str]) -> set[str]:
        """Which of these uploads carry the term."""

    def date_entries(self, user_id: str, start: str, end: str) -> list[IndexEntry]:
        """Live uploads whose date is within [start, end]."""

    def dated_page(self, user_id: str, *, cursor: Optional[str] = None, limit: int = 50, kind: Optional[str] = None,
                   oldest_first: bool = False) -> tuple[list[IndexEntry], Optional[str]]:
        """Live uploads by date then id, newest first (or oldest first), up to limit past an opaque cursor,
        with the next page's cursor (None at the end)."""

    def get_uploads(self, user_id: str, upload_ids: list[str]) -> list[Upload]:
        """These uploads (missing ones left out), in any order."""


@dataclass(frozen=True)
class Query:
    """A search: tag groups, kind, date range and free text."""

    all_tags: tuple[str, ...] = ()
    any_tags: tuple[str, ...] = ()
    not_tags: tuple[str, ...] = ()
    kind: Optional[str] = None
    start: Optional[str] = None  # inclusive, ISO 'YYYY-MM-DDTHH:MM:SSZ'
    end: Optional[str] = None  # inclusive
    q: str = ""

    @property
    def is_plain(self) -> bool:
        """True when nothing narrows the listing (the gallery's case)."""
        return not (self.all_tags or self.any_tags or self.not_tags or self.start or self.end or self.q)


def parse_date(value: Optional[str], *, end: bool) -> Optional[str]:
    """'2024-07-01' or a full ISO time -> an inclusive bound in the stored form."""
    if not value:
        return None
    value = value.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return f"{day.isoformat()}T23:59:59Z" if end else f"{day.isoformat()}T00:00:00Z"
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"'{value[:40]}' is not a date; use YYYY-MM-DD.", code="invalid_date") from None
    if moment.tzinfo is not None:
        moment = (moment - moment.utcoffset()).replace(tzinfo=None)
    return iso(moment)


def build_query(*, tags=(), any_tags=(), not_tags=(), kind=None, start=None, end=None, q=None) -> Query:
    """A Query from raw request values; BadRequest for anything malformed."""
    if kind not in (None, "", *KINDS):
        raise BadRequest("kind must be 'photo' or 'video'.", code="invalid_kind")
    norm = lambda values: tuple(dict.fromkeys(normalize_tag(v) for v in values if v and v.strip()))  # noqa: E731
    query = Query(norm(tags), norm(any_tags), norm(not_tags), kind or None, parse_date(start, end=False),
                  parse_date(end, end=True), (q or "").strip().lower()[:200])
    if query.start and query.end and query.start > query.end:
        raise BadRequest("The start date is after the end date.", code="invalid_date")
    return query


def search(index: SearchIndex, user_id: str, query: Query, *, limit: int, cursor: Optional[str]) -> Page:
    """Uploads matching the query, newest first (by id), a page at a time."""
    before = decode_cursor(cursor)
    dated = bool(query.start or query.end)
    counts = index.tag_counts(user_id) if (query.q or dated or query.all_tags or query.any_tags) else {}
    groups = [{f"t:{t}"} for t in query.all_tags]
    if query.any_tags:
        groups.append({f"t:{t}" for t in query.any_tags})
    for word in query.q.split():
        words = index.word_counts(user_id, word)
        counts.update(words)
        groups.append({term for term in counts if _matches(term, word)} | set(words))
    excluded = {f"t:{t}" for t in query.not_tags}
    if any(not g for g in groups):
        return Page(())
    if query.kind and not groups:
        groups.append({f"t:kind:{query.kind}"})

    sizes = [sum(counts.get(t, 0) for t in g) for g in groups]
    candidates = list(zip(groups, sizes))
    if dated:
        months = _months(counts, query)
        date_size = sum(counts[t] for t in months)
        if date_size <= SMALL_RANGE and (not groups or date_size < min(sizes)):
            # Few uploads in the range: read them all from the date index and order them by id.
            entries, checks = _date_driver(index, user_id, query, before), groups
            return _collect(index, user_id, query, entries, checks, excluded, limit)
        if len(months) <= MAX_MONTH_STREAMS:
            candidates.append((months, date_size))  # the month terms walk the range newest first
    if not candidates:
        # Nothing narrows the listing: every live upload is the union of the two kinds.
        entries, checks = _merged(index, user_id, [f"t:kind:{k}" for k in KINDS], before), []
    else:
        driver = min(candidates, key=lambda c: c[1])[0]
        entries, checks = _merged(index, user_id, sorted(driver), before), [g for g in groups if g is not driver]
    return _collect(index, user_id, query, entries, checks, excluded, limit)


def _collect(index, user_id: str, query: Query, entries, checks, excluded, limit: int) -> Page:
    """Filter the driver's entries by date and kind, then by the other groups, until a page is full."""
    found: list[str] = []
    for batch in _batches(entries, BATCH):
        batch = [e for e in batch if _in_range(e, query)]
        ids = [e.upload_id for e in batch]
        for group in checks:
            keep: set[str] = set()
            for term in group:
                keep |= index.term_members(user_id, term, [i for i in ids if i not in keep])
            ids = [i for i in ids if i in keep]
        for term in excluded:
            if ids:
                gone = index.term_members(user_id, term, ids)
                ids = [i for i in ids if i not in gone]
        found.extend(ids)
        if len(found) > limit:
            break
    page_ids = found[:limit]
    by_id = {u.id: u for u in index.get_uploads(user_id, page_ids)}
    items = tuple(by_id[i] for i in page_ids if i in by_id and not by_id[i].trashed)
    more = len(found) > limit
    return Page(items, encode_cursor(page_ids[-1]) if more and page_ids else None)


def by_date(index: SearchIndex, user_id: str, *, kind: Optional[str], limit: int, cursor: Optional[str]) -> Page:
    """Live uploads by capture date (else upload date), newest first, a page at a time: the gallery's order."""
    entries, next_cursor = index.dated_page(user_id, cursor=cursor, limit=limit, kind=kind)
    by_id = {u.id: u for u in index.get_uploads(user_id, [e.upload_id for e in entries])}
    items = (by_id.get(e.upload_id) for e in entries)
    return Page(tuple(u for u in items if u is not None and not u.trashed), next_cursor)


def beside_by_date(index: SearchIndex, upload: Upload, *, kind: Optional[str], newer: bool) -> Optional[str]:
    """The id next to an upload in that order (the newer one, or the older), None at the end: one key read
    from its place in the date index."""
    here = encode_date_cursor(upload.sort_date, upload.id)
    entries, _ = index.dated_page(upload.user_id, cursor=here, limit=1, kind=kind, oldest_first=newer)
    return entries[0].upload_id if entries else None


def tag_counts(index: SearchIndex, user_id: str) -> dict[str, int]:
    """The user's tags (user and automatic) on live uploads, with counts."""
    return {t[2:]: n for t, n in index.tag_counts(user_id).items()}


def _months(counts: dict[str, int], query: Query) -> set[str]:
    """The month terms that overlap a date range."""
    first, last = (query.start or "0000-00")[:7], (query.end or "9999-99")[:7]
    return {t for t in counts if t.startswith("t:month:") and first <= t[8:] <= last}


def _matches(term: str, word: str) -> bool:
    """Free text matches a tag by prefix, and `2024` matches `year:2024` too (filename words: word_counts)."""
    if not term.startswith("t:"):
        return False
    value = term[2:]
    return value.startswith(word) or value.partition(":")[2].startswith(word)


def _in_range(entry: IndexEntry, query: Query) -> bool:
    if query.kind and entry.kind != query.kind:
        return False
    if query.start and entry.date < query.start:
        return False
    return not (query.end and entry.date > query.end)


def _date_driver(index, user_id: str, query: Query, before: Optional[str]) -> Iterator[IndexEntry]:
    entries = index.date_entries(user_id, query.start or "0000", query.end or "9999")
    entries.sort(key=lambda e: e.upload_id, reverse=True)
    yield from (e for e in entries if before is None or e.upload_id < before)


def _merged(index, user_id: str, terms: Iterable[str], before: Optional[str]) -> Iterator[IndexEntry]:
    """Entries of several terms, merged newest first without repeats."""
    streams = [_term_stream(index, user_id, t, before) for t in terms]
    last = None
    for entry in heapq.merge(*streams, key=lambda e: e.upload_id, reverse=True):
        if entry.upload_id != last:
            last = entry.upload_id
            yield entry


def _term_stream(index, user_id: str, term: str, before: Optional[str]) -> Iterator[IndexEntry]:
    size = 50
    while True:
        entries = index.term_entries(user_id, term, before, size)
        yield from entries
        if len(entries) < size:
            return
        before = entries[-1].upload_id
        size = min(size * 2, 1000)


def _batches(entries: Iterator[IndexEntry], size: int) -> Iterator[list[IndexEntry]]:
    batch: list[IndexEntry] = []
    for entry in entries:
        batch.append(entry)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


