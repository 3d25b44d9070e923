"""Opaque cursors: where the last page ended, wrapped so clients cannot lean on its form.

The upload order's cursor holds the last upload id of a page; the date order's holds the last date and id.
"""
from __future__ import annotations

import base64
import json
import re
from typing import Any, Optional

from ..errors import BadRequest
from ..formats import is_ulid

_DATE = re.compile(r"^[0-9A-Za-z:.+\-]{1,40}$")  # the stored form, '2024-07-01T12:03:11Z'


def _wrap(fields: dict[str, str]) -> str:
    raw = json.dumps(fields, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unwrap(cursor: str, *names: str) -> tuple[Any, ...]:
    """The named fields of a cursor; BadRequest when it is not a wrapped object holding them."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        fields = json.loads(raw)
        return tuple(fields[name] for name in names)
    except (ValueError, KeyError, TypeError) as exc:
        raise BadRequest("The cursor is not valid.", code="bad_cursor") from exc


def encode_cursor(last_id: str) -> str:
    """Wrap the last id of a page into a cursor string."""
    return _wrap({"after": last_id})


def decode_cursor(cursor: Optional[str]) -> Optional[str]:
    """The id a cursor points after; BadRequest when it was not made by encode_cursor."""
    if not cursor:
        return None
    (last_id,) = _unwrap(cursor, "after")
    if not isinstance(last_id, str) or not is_ulid(last_id):
        raise BadRequest("The cursor is not valid.", code="bad_cursor")
    return last_id


def encode_date_cursor(date: str, upload_id: str) -> str:
    """Wrap a place in the date order (the date and id of a page's last entry) into a cursor string."""
    return _wrap({"date": date, "id": upload_id})


def decode_date_cursor(cursor: Optional[str]) -> Optional[tuple[str, str]]:
    """The (date, upload id) a date cursor points past; BadRequest when it was not made by encode_date_cursor."""
    if not cursor:
        return None
    date, upload_id = _unwrap(cursor, "date", "id")
    if not (isinstance(date, str) and _DATE.match(date) and is_ulid(upload_id)):
        raise BadRequest("The cursor is not valid.", code="bad_cursor")
    return date, upload_id
