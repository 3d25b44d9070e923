"""The one rule for object keys: a key names an object under the store's root and can never climb out of it."""
from __future__ import annotations

from ..errors import BadRequest


def check_key(key: str) -> str:
    """The key itself, or BadRequest when it could climb out of its folder (absolute, `..`, backslash, NUL)."""
    if not key or key.startswith("/") or ".." in key.split("/") or "\\" in key or "\x00" in key:
        raise BadRequest("Invalid object key.", code="bad_key")
    return key
