"""Browsing in context: which list a detail page was opened from, its neighbours there, and the gallery's month index.

The context rides in the detail page's query string (`list=gallery|search|trash` plus the list's own arguments,
whatever they are, so a saved search's `search=<id>` comes along too); previous and next are found by key reads
from the upload's place in that list, never by reading the list.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from flask import url_for
from ulid import ULID

from ..backends import catalog
from ..catalog.cursor import encode_cursor, encode_date_cursor
from ..errors import BadRequest
from ..models import Upload
from ..search import beside_by_date, search
from .library import request_query

KEY = "list"  # names the list; not `from`, which a search's own start date uses
SOURCES = {"gallery": "pages.gallery", "search": "pages.search_page", "trash": "pages.trash_page"}
LABELS = {"gallery": "Gallery", "search": "Search results", "trash": "Trash"}
TAKEN, ADDED = "taken", "added"  # the gallery's orders: by capture date (the default), by upload
PAGE = 60


@dataclass(frozen=True)
class Context:
    """The list a detail page walks: where it is (gallery, search, trash) and the list's query-string arguments."""

    source: str
    args: dict

    @classmethod
    def from_args(cls, args, upload: Optional[Upload] = None) -> "Context":
        """From the detail page's query string; an upload in the trash is always walked in the trash."""
        source = args.get(KEY) if args.get(KEY) in SOURCES else "gallery"
        if upload is not None and upload.trashed:
            source = "trash"
        kept = {k: v for k, v in args.to_dict(flat=False).items() if k not in (KEY, "cursor") and any(v)}
        return cls(source, kept if source != "trash" else {})

    @property
    def link_args(self) -> dict:
        """What a link to another detail page of this list carries (the gallery, the default, says no `list`)."""
        return self.args | ({KEY: self.source} if self.source != "gallery" else {})

    @property
    def label(self) -> str:
        """The list's name, for the way back."""
        return LABELS[self.source]

    def back_url(self, upload_id: Optional[str] = None) -> str:
        """The list itself, at the tile of this upload (its script loads pages until that tile is there)."""
        return url_for(SOURCES[self.source], **self.args) + (f"#u-{upload_id}" if upload_id else "")


def neighbours(upload: Upload, context: Context) -> tuple[Optional[str], Optional[str]]:
    """The ids before (newer) and after (older) an upload in the list of its context, None at either end."""
    user_id = upload.user_id
    if context.source == "trash":
        return _newer(user_id, upload.id, trashed=True), _older(user_id, upload.id, trashed=True)
    if upload.trashed:
        return None, None
    args = _Args(context.args)
    query = request_query(args)
    order = args.get("order") or TAKEN
    if order not in (TAKEN, ADDED):
        raise BadRequest("order must be 'taken' or 'added'.", code="invalid_order")
    if context.source == "gallery" and query.is_plain:
        if order == ADDED:
            return _newer(user_id, upload.id, kind=query.kind), _older(user_id, upload.id, kind=query.kind)
        return (beside_by_date(catalog(), upload, kind=query.kind, newer=True),
                beside_by_date(catalog(), upload, kind=query.kind, newer=False))
    here = encode_cursor(upload.id)
    newer = search(catalog(), user_id, query, limit=1, cursor=here, oldest_first=True).items
    older = search(catalog(), user_id, query, limit=1, cursor=here).items
    return (newer[0].id if newer else None), (older[0].id if older else None)


class _Args(dict):
    """A dict of lists that answers like the request's MultiDict (get, getlist)."""

    def get(self, name, default=None):
        """The first value."""
        values = super().get(name)
        return values[0] if values else default

    def getlist(self, name):
        """Every value."""
        return list(super().get(name) or ())


def _older(user_id: str, upload_id: str, kind: Optional[str] = None, trashed: bool = False) -> Optional[str]:
    """The id after this one in the added order (newest first)."""
    page = catalog().list_uploads(user_id, kind=kind, trashed=trashed, limit=1, cursor=encode_cursor(upload_id))
    return page.items[0].id if page.items else None


def _newer(user_id: str, upload_id: str, kind: Optional[str] = None, trashed: bool = False) -> Optional[str]:
    """The id before this one in the added order.

    The catalog only pages downwards, so look below an upper bound (a ULID past every id of its
    millisecond) that starts a second after this upload and widens eightfold until it holds newer
    uploads, then page down to this one: a handful of queries whatever the size of the library.
    """
    start, now = ULID.from_str(upload_id).milliseconds, ULID().milliseconds
    step = 1000
    while True:
        bound = min(start + step, now + 1000)
        cursor = encode_cursor(str(ULID.from_bytes(bound.to_bytes(6, "big") + b"\xff" * 10)))
        page = catalog().list_uploads(user_id, kind=kind, trashed=trashed, limit=PAGE, cursor=cursor)
        newer = [u.id for u in page.items if u.id > upload_id]
        if newer:
            while page.next_cursor and page.items[-1].id > upload_id:
                page = catalog().list_uploads(user_id, kind=kind, trashed=trashed, limit=PAGE, cursor=page.next_cursor)
                newer += [u.id for u in page.items if u.id > upload_id]
            return newer[-1]
        if bound > now:
            return None
        step *= 8


@dataclass(frozen=True)
class Month:
    """A month of the library in the jump index: 'YYYY-MM', how many uploads, and the gallery's cursor there."""

    month: str
    count: int
    cursor: str


def month_index(counts: dict[str, int]) -> list[tuple[str, int, list[Month]]]:
    """Years, newest first, each with its total and its months, from the `month:` tag counts (one counters read
    the pages make anyway), so the index costs nothing more on a library of any size."""
    years: dict[str, list[Month]] = {}
    for tag, n in counts.items():
        if tag.startswith("month:") and n > 0 and len(tag) == 13:
            month = tag[6:]
            years.setdefault(month[:4], []).append(Month(month, n, month_cursor(month)))
    return [(year, sum(m.count for m in months), sorted(months, key=lambda m: m.month, reverse=True))
            for year, months in sorted(years.items(), reverse=True)]


def month_cursor(month: str) -> str:
    """The date order's cursor just past the month's end, so the page starts with the month's newest upload."""
    year, number = int(month[:4]), int(month[5:7])
    following = f"{year + number // 12:04d}-{number % 12 + 1:02d}-01T00:00:00Z"
    return encode_date_cursor(following, "0" * 26)
