"""How Momento writes values for people and for storage: times, sizes and ids, each in one place."""
from __future__ import annotations

import math
import re
import unicodedata
from datetime import datetime, timezone
from decimal import Decimal
from typing import Optional

ISO = "%Y-%m-%dT%H:%M:%SZ"  # every stored time: UTC, to the second
ULID_PATTERN = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
          "t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$")
_NONE = ("none", "unlimited", "off")


# Cc: controls (NUL, newlines); Cf: bidi overrides and zero-width marks; Cs: lone surrogates (not UTF-8);
# Zl/Zp: line breaks. None of them belongs in a name people give a thing.
HIDDEN = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def plain_label(text: str) -> str:
    """A name someone typed (a token's, a saved search's, a share's title): NFC, one line, without control or
    invisible characters, runs of spaces made one."""
    text = "".join(ch for ch in unicodedata.normalize("NFC", text) if unicodedata.category(ch) not in HIDDEN)
    return " ".join(text.split())


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
    return int(Decimal(match.group(1)) * _UNITS[match.group(2)])  # exact: no float rounding of large sizes




def iso(moment: datetime) -> str:
    """A time as Momento stores it (UTC, ISO 8601 with a Z)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime(ISO)


def now_iso() -> str:
    """The current UTC time as Momento stores it."""
    return iso(datetime.now(timezone.utc))


def parse_iso(text: str) -> datetime:
    """The inverse of iso()."""
    return datetime.strptime(text, ISO).replace(tzinfo=timezone.utc)


def is_ulid(text: object) -> bool:
    """Whether text looks like a ULID (every upload, job and resumable upload id is one)."""
    return isinstance(text, str) and bool(ULID_PATTERN.match(text))


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


def human_bytes_binary(n: int) -> str:
    """52428800 -> '50 MiB' (binary units, as size limits are set)."""
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} bytes" if unit == "bytes" else f"{size:.1f}".replace(".0", "") + f" {unit}"
        size /= 1024
    return f"{n} bytes"


def in_words(seconds: int) -> str:
    """45 -> '45 seconds', 840 -> '14 minutes', 7300 -> '2 hours'."""
    seconds = max(1, int(seconds))
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size * (2 if unit == "hour" else 1):
            n = math.ceil(seconds / size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"
