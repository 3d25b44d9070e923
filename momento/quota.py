"""Storage quotas: sizes people write ("500MB", "20GB", "none"), and the check made before bytes are stored.

A user's `quota` is None when the account follows the server default (MOMENTO_DEFAULT_QUOTA), a number of
bytes, or UNLIMITED. Trashed uploads count: they keep their bytes in the store until they are purged, and
not counting them would let an account grow without bound by trashing, uploading more and restoring.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from .errors import TooLarge
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


def human_bytes(n: int) -> str:
    """1234567 -> '1.2 MB' (decimal units, as the pages show sizes)."""
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            if unit == "bytes":
                return f"{int(size)} byte{'s' if int(size) != 1 else ''}"
            return f"{size:.1f}".rstrip("0").rstrip(".") + f" {unit}"
        size /= 1000
    return f"{n} bytes"


def effective_quota(user: User, default: Optional[int]) -> Optional[int]:
    """The account's limit in bytes, or None for no limit: its own quota, else the server default."""
    if user.quota is None:
        return default
    return None if user.quota == UNLIMITED else user.quota


@dataclass(frozen=True)
class QuotaGuard:
    """A user's remaining space, read once, to check a declared size and then the bytes as they arrive."""

    quota: Optional[int]  # None: no limit
    used: int
    trash: int

    @classmethod
    def for_user(cls, catalog, user: User, default: Optional[int]) -> "QuotaGuard":
        """Read the user's usage (one O(1) catalog read) unless the account has no limit."""
        quota = effective_quota(user, default)
        if quota is None:
            return cls(None, 0, 0)
        use = catalog.usage(user.id)
        return cls(quota, use["bytes"] + use["trash_bytes"], use["trash_bytes"])

    @property
    def remaining(self) -> Optional[int]:
        """Bytes still free, or None without a limit."""
        return None if self.quota is None else max(0, self.quota - self.used)

    def check(self, incoming_bytes: int) -> None:
        """TooLarge (413, quota_exceeded) unless `incoming_bytes` more fit; no I/O."""
        if self.quota is None or incoming_bytes <= self.remaining:
            return
        left = self.remaining
        message = (f"This upload does not fit in your storage quota of {human_bytes(self.quota)}: "
                   + (f"{human_bytes(left)} left." if left else "none of it is left."))
        if self.trash:
            message += f" Your trash holds {human_bytes(self.trash)}, which counts until it is emptied."
        raise TooLarge(message, code="quota_exceeded")


def default_quota() -> Optional[int]:
    """The current app's MOMENTO_DEFAULT_QUOTA in bytes (None: unlimited), parsed at start-up."""
    from flask import current_app

    return current_app.config["DEFAULT_QUOTA_BYTES"]


def user_quota(user: User) -> Optional[int]:
    """The account's limit in bytes under the current app's default, or None for no limit."""
    return effective_quota(user, default_quota())


def check_quota(catalog, user: User, incoming_bytes: int, *, default: Optional[int] | str = "app") -> QuotaGuard:
    """Raise TooLarge (413, quota_exceeded) unless `incoming_bytes` fit; the guard re-checks later sizes for free.

    `default` is the quota of accounts without their own; left out, it is the current app's setting.
    """
    guard = QuotaGuard.for_user(catalog, user, default_quota() if default == "app" else default)
    guard.check(incoming_bytes)
    return guard
