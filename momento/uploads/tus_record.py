"""A resumable (tus) upload between requests: its settings and its hash state (the record itself is a model)."""
from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from importlib.metadata import version
from typing import Optional

from rehashes import PySha256

from ..models import COMPLETING, RECEIVING, REFUSED, STORED, TAIL_PREFIX, TusUpload  # noqa: F401 - the record's home

MiB = 1024 * 1024
# The state of a sha256 is only read back by the version of rehashes that wrote it.
_HASH_FORMAT = f"rehashes-{version('rehashes')}-sha256"


@dataclass(frozen=True)
class TusSettings:
    """MOMENTO_TUS_*: part size, parts one PATCH sends at once, and how long an unfinished upload is kept."""

    part_size: int = 8 * MiB
    in_flight: int = 2
    expiry: timedelta = timedelta(hours=24)

    @classmethod
    def from_config(cls, config) -> "TusSettings":
        """The app's settings."""
        return cls(int(config["TUS_PART_SIZE"]), int(config["TUS_PARTS_IN_FLIGHT"]),
                   timedelta(hours=float(config["TUS_EXPIRY_HOURS"])))


def now() -> datetime:
    """The current time (tests move it to expire uploads)."""
    return datetime.now(timezone.utc)


def new_hash_state() -> str:
    """The state of a sha256 that has seen nothing yet."""
    return save_hash(PySha256())


def save_hash(hasher: Optional[PySha256]) -> Optional[str]:
    """A hasher's state as text for the record."""
    return f"{_HASH_FORMAT}:{base64.b64encode(hasher.serialize()).decode()}" if hasher else None


def load_hash(state: Optional[str]) -> Optional[PySha256]:
    """The hasher back, or None when there is none or another version of rehashes wrote it."""
    fmt, _, data = (state or "").partition(":")
    return PySha256.deserialize(base64.b64decode(data)) if fmt == _HASH_FORMAT else None
