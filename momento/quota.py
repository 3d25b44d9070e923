"""Storage quotas: sizes people write ("500MB", "20GB", "none") and the limit that applies to an account.

Admission (momento/uploads/admission.py) reserves an upload's bytes against it before they are accepted.

A user's `quota` is None when the account follows the server default (MOMENTO_DEFAULT_QUOTA), a number of
bytes, or UNLIMITED. Trashed uploads count: they keep their bytes in the store until they are purged, and
not counting them would let an account grow without bound by trashing, uploading more and restoring.
"""
from __future__ import annotations

import re
from typing import Optional

from .formats import human_bytes  # noqa: F401 - sizes as people read them, for the commands
from .models import User

UNLIMITED = -1  # stored in User.quota: no quota for this account, whatever the default

_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
          "t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$")
_NONE = ("none", "unlimited", "off")


def parse_size(text) -> Optional[int]:
    """'500MB' -> 500000000, '1.5GiB' -> bytes, '1024' -> 1024, 'none' -> None; ValueError otherwise."""
    if text is None:
        return None
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a size")
    if isinstance(text, int):
        if text < 0:
            raise ValueError("a size cannot be negative")
        return text
    raw = str(text).strip().lower()
    if raw in _NONE:
        return None
    match = _SIZE.match(raw)
    if not match or match.group(2) not in _UNITS:
        raise ValueError(f"{text!r} is not a size like 500MB, 20GB or none")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def effective_quota(user: User, default: Optional[int]) -> Optional[int]:
    """The account's limit in bytes, or None for no limit: its own quota, else the server default."""
    if user.quota is None:
        return default
    return None if user.quota == UNLIMITED else user.quota


def user_quota(user: User) -> Optional[int]:
    """The account's limit in bytes under the current app's default (MOMENTO_DEFAULT_QUOTA), or None for no limit."""
    from flask import current_app

    return effective_quota(user, current_app.config["DEFAULT_QUOTA_BYTES"])
