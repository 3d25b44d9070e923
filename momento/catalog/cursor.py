"""Opaque cursors: the last upload id of a page, wrapped so clients cannot lean on its form."""
from __future__ import annotations

import base64
import json
import re
from typing import Optional

from ..errors import BadRequest

_ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def encode_cursor(last_id: str) -> str:
    """Wrap the last id of a page into a cursor string."""
    raw = json.dumps({"after": last_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: Optional[str]) -> Optional[str]:
    """The id a cursor points after; BadRequest when it was not made by encode_cursor."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        last_id = json.loads(raw)["after"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BadRequest("The cursor is not valid.", code="bad_cursor") from exc
    if not isinstance(last_id, str) or not _ULID.match(last_id):
        raise BadRequest("The cursor is not valid.", code="bad_cursor")
    return last_id
