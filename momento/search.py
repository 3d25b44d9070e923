"""Tag and date search, written once over the catalogs' key-lookup primitives so both backends agree.

A live upload is indexed under terms: `t:<tag>` for each user and automatic tag, `f:<word>` for each word of
its filename. Each index entry carries the upload's id, date (capture, else upload) and kind. A search picks
the smallest group of terms as its driver, walks that group's entries newest first (or oldest first, for a
viewer's "previous"), and checks the other conditions by key lookups, so its cost follows the size of the
answer, not of the library.

The words typed in `q` are split exactly as file names are indexed (`filename_words`), so `IMG_20` is the two
words `img` and `20`; every word must match the start of a tag, of a tag's value or of a file-name word, and a
word written `-work` or `not work` must not. A part typed whole that starts a tag or a tag's value matches too,
so a tag typed as the pages show it (`month:2024-07`, `2024-07`) finds it although `07` alone starts nothing.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, replace
from datetime import date, datetime
from itertools import islice
from typing import Callable, Iterable, Iterator, Optional, Protocol

from .catalog.cursor import decode_cursor, encode_cursor, encode_date_cursor
from .catalog.indexing import filename_words
from .errors import BadRequest
from .media.tags import normalize_tag
from .models import KINDS, IndexEntry, Page, Upload
from .formats import iso

BATCH = 100
COUNT_CAP = 1000  # results are counted up to this many ("more than 1000")
SMALL_RANGE = 200  # a date range with at most this many uploads is read whole from the date index
MAX_MONTH_STREAMS = 24  # a longer range is filtered while walking the smallest tag, or everything


class SearchIndex(Protocol):
    """What a catalog offers the search: reads by key only."""

    def tag_counts(self, user_id: str) -> dict[str, int]:
        """Every `t:` term (tag) of the user's live uploads with its count; bounded by the tag vocabulary."""

    def word_counts(self, user_id: str, prefix: str) -> dict[str, int]:
        """The `f:` terms (filename words) starting with `f:<prefix>`, with counts."""

    def term_entries(self, user_id: str, term: str, before: Optional[str], limit: int, *,
                     oldest_first: bool = False) -> list[IndexEntry]:
        """Up to limit entries of a term, newest first with ids below `before` (or oldest first, above it)."""

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


@dataclass(frozen=True)
class Word:
    """One part of `q` as typed: its text, its file-name words (all must match, unless the part as a whole
    starts a tag or a tag's value), and whether it excludes."""

    text: str
    words: tuple[str, ...]
    excluded: bool = False
    whole: str = ""  # the part without its `-` or `not`

    def groups(self, terms_of: "Callable[[str], set[str]]", tags: Iterable[str]) -> list[set[str]]:
        """The term groups that must all be met: one per word, each widened by the tags the whole part starts
        (A or (B and C) is (A or B) and (A or C))."""
        whole = {t for t in tags if _matches(t, self.whole)} if len(self.words) > 1 else set()
        return [terms_of(w) | whole for w in self.words]

    def met_by(self, terms: set[str]) -> bool:
        """Whether an upload with these index terms matches the part (its exclusion aside)."""
        return all(self.groups(lambda w: {t for t in terms if _term_matches(t, w)}, terms))


def typed_words(q: str) -> list[Word]:
    """`q` split at spaces, each part split into words exactly as file names are indexed; `-x` and `not x`
    mark a part that must not match."""
    parts, out, i = q.split(), [], 0
    while i < len(parts):
        part = parts[i]
        if part == "not" and i + 1 < len(parts):
            text, body, excluded, i = f"not {parts[i + 1]}", parts[i + 1], True, i + 2
        else:
            excluded = part.startswith("-") and len(part) > 1
            text, body, i = part, part[1:] if excluded else part, i + 1
        words = tuple(filename_words(body))
        if words:
            out.append(Word(text, words, excluded, body))
    return out


def search(index: SearchIndex, user_id: str, query: Query, *, limit: int, cursor: Optional[str],
           oldest_first: bool = False) -> Page:
    """Uploads matching the query, newest first by id (or oldest first), a page at a time."""
    found = list(islice(_matching_ids(index, user_id, query, decode_cursor(cursor), oldest_first), limit + 1))
    page_ids = found[:limit]
    by_id = {u.id: u for u in index.get_uploads(user_id, page_ids)}
    items = tuple(by_id[i] for i in page_ids if i in by_id and not by_id[i].trashed)
    more = len(found) > limit
    return Page(items, encode_cursor(page_ids[-1]) if more and page_ids else None)


def count(index: SearchIndex, user_id: str, query: Query, *, cap: int = COUNT_CAP) -> int:
    """How many uploads match, counted from the index up to cap + 1 (so cap + 1 means "more than cap")."""
    return sum(1 for _ in islice(_matching_ids(index, user_id, query, None, False), cap + 1))


@dataclass(frozen=True)
class Hint:
    """A part of a search that found nothing: as a person would name it, whether it matches nothing even on its
    own, and the same search without it, with how many that finds."""

    part: str
    matches_nothing: bool
    without: Query
    count: int
    what: str = "words"  # words, tag, any, not, kind or dates: how a page says that it matches nothing


def explain(index: SearchIndex, user_id: str, query: Query) -> list[Hint]:
    """For a search that found nothing: each of its parts, and what the search finds without it (a count each,
    read from the index like the search itself)."""
    counts = index.tag_counts(user_id)
    typed = typed_words(query.q)
    parts: list[tuple[str, bool, Query, str]] = []
    for word in typed:
        rest = " ".join(w.text for w in typed if w is not word)
        empty = not word.excluded and any(not g for g in word.groups(
            lambda w: _word_terms(index, user_id, counts, w), list(counts)))
        parts.append((word.text, empty, replace(query, q=rest), "words"))
    for t in query.all_tags:
        parts.append((f"tag {t}", not counts.get(f"t:{t}"), replace(query, all_tags=_without(query.all_tags, t)),
                      "tag"))
    if query.any_tags:
        empty = not any(counts.get(f"t:{t}") for t in query.any_tags)
        parts.append(("any of " + ", ".join(query.any_tags), empty, replace(query, any_tags=()), "any"))
    for t in query.not_tags:
        parts.append((f"not tag {t}", False, replace(query, not_tags=_without(query.not_tags, t)), "not"))
    if query.kind:
        parts.append((f"{query.kind}s only", not counts.get(f"t:kind:{query.kind}"), replace(query, kind=None),
                      "kind"))
    if query.start or query.end:
        label = " ".join(x for x in (query.start and f"from {query.start[:10]}", query.end and f"until {query.end[:10]}") if x)
        parts.append((label, not _months(counts, query), replace(query, start=None, end=None), "dates"))
    return [Hint(part, empty, without, count(index, user_id, without), what) for part, empty, without, what in parts]


def _without(values: tuple[str, ...], value: str) -> tuple[str, ...]:
    return tuple(v for v in values if v != value)


def _word_terms(index, user_id: str, counts: dict[str, int], word: str) -> set[str]:
    """The index terms a typed word matches: tags and tag values it starts, and file-name words it starts
    (their counts are added to `counts`, for choosing the driver)."""
    words = index.word_counts(user_id, word)
    counts.update(words)
    return {term for term in counts if _matches(term, word)} | set(words)


def _matching_ids(index, user_id: str, query: Query, before: Optional[str], oldest_first: bool) -> Iterator[str]:
    """The ids of matching uploads past `before`, in order, read lazily a batch at a time."""
    dated = bool(query.start or query.end)
    typed = typed_words(query.q)
    counts = index.tag_counts(user_id) if (typed or dated or query.all_tags or query.any_tags) else {}
    groups = [{f"t:{t}"} for t in query.all_tags]
    if query.any_tags:
        groups.append({f"t:{t}" for t in query.any_tags})
    # An exclusion holds one group per word: an upload is left out when it matches every word of it.
    excluded: list[list[set[str]]] = [[{f"t:{t}"}] for t in query.not_tags]
    for word in typed:
        word_groups = word.groups(lambda w: _word_terms(index, user_id, counts, w), list(counts))
        if not word.excluded:
            groups.extend(word_groups)
        elif all(word_groups):
            excluded.append(word_groups)
    if any(not g for g in groups):
        return
    if query.kind and not groups:
        groups.append({f"t:kind:{query.kind}"})

    sizes = [sum(counts.get(t, 0) for t in g) for g in groups]
    candidates = list(zip(groups, sizes))
    if dated:
        months = _months(counts, query)
        date_size = sum(counts[t] for t in months)
        if date_size <= SMALL_RANGE and (not groups or date_size < min(sizes)):
            # Few uploads in the range: read them all from the date index and order them by id.
            entries = _date_driver(index, user_id, query, before, oldest_first)
            yield from _filtered(index, user_id, query, entries, groups, excluded)
            return
        if len(months) <= MAX_MONTH_STREAMS:
            candidates.append((months, date_size))  # the month terms walk the range newest first
    if not candidates:
        # Nothing narrows the listing: every live upload is the union of the two kinds.
        entries, checks = _merged(index, user_id, [f"t:kind:{k}" for k in KINDS], before, oldest_first), []
    else:
        driver = min(candidates, key=lambda c: c[1])[0]
        entries = _merged(index, user_id, sorted(driver), before, oldest_first)
        checks = [g for g in groups if g is not driver]
    yield from _filtered(index, user_id, query, entries, checks, excluded)


def _filtered(index, user_id: str, query: Query, entries, checks, excluded) -> Iterator[str]:
    """Filter the driver's entries by date and kind, then by the other groups and the exclusions."""
    for batch in _batches(entries, BATCH):
        ids = [e.upload_id for e in batch if _in_range(e, query)]
        for group in checks:
            ids = [i for i in ids if i in _members(index, user_id, group, ids)]
        for rule in excluded:
            hit = set(ids)
            for group in rule:
                hit = _members(index, user_id, group, [i for i in ids if i in hit]) if hit else hit
            ids = [i for i in ids if i not in hit]
        yield from ids


def _members(index, user_id: str, group: set[str], ids: list[str]) -> set[str]:
    """Which of these uploads carry at least one term of the group."""
    keep: set[str] = set()
    for term in group:
        keep |= index.term_members(user_id, term, [i for i in ids if i not in keep])
    return keep


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


def _term_matches(term: str, word: str) -> bool:
    """A word against one index term: a file-name word by its start, a tag or a tag's value by its start."""
    return term[2:].startswith(word) if term.startswith("f:") else _matches(term, word)


def matches_words(q: str, terms: set[str]) -> bool:
    """Whether an upload with these index terms matches the words of `q`, as search() would find it."""
    for word in typed_words(q):
        if word.met_by(terms) == word.excluded:
            return False
    return True


def _in_range(entry: IndexEntry, query: Query) -> bool:
    if query.kind and entry.kind != query.kind:
        return False
    if query.start and entry.date < query.start:
        return False
    return not (query.end and entry.date > query.end)


def _date_driver(index, user_id: str, query: Query, before: Optional[str], oldest_first: bool) -> Iterator[IndexEntry]:
    entries = index.date_entries(user_id, query.start or "0000", query.end or "9999")
    entries.sort(key=lambda e: e.upload_id, reverse=not oldest_first)
    past = (lambda i: i > before) if oldest_first else (lambda i: i < before)  # noqa: E731
    yield from (e for e in entries if before is None or past(e.upload_id))


def _merged(index, user_id: str, terms: Iterable[str], before: Optional[str], oldest_first: bool = False
            ) -> Iterator[IndexEntry]:
    """Entries of several terms, merged newest first (or oldest first) without repeats."""
    streams = [_term_stream(index, user_id, t, before, oldest_first) for t in terms]
    last = None
    for entry in heapq.merge(*streams, key=lambda e: e.upload_id, reverse=not oldest_first):
        if entry.upload_id != last:
            last = entry.upload_id
            yield entry


def _term_stream(index, user_id: str, term: str, before: Optional[str], oldest_first: bool) -> Iterator[IndexEntry]:
    size = 50
    while True:
        entries = index.term_entries(user_id, term, before, size, oldest_first=oldest_first)
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


