"""What the catalog keeps of a resumable (tus) upload between requests: the record, its settings, its hash state."""
from __future__ import annotations

import base64
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime, timedelta, timezone
from importlib.metadata import version
from typing import Any, Optional

from rehashes import PySha256

from ..formats import iso, parse_iso
from ..media.sniff import Sniffed
from ..models import media_key

RECEIVING, COMPLETING, STORED, REFUSED = "receiving", "completing", "stored", "refused"
TAIL_PREFIX = "tus/"  # tail objects: `tus/<tus id>/tail-<offset>`
MiB = 1024 * 1024
# The state of a sha256 is only read back by the version of rehashes that wrote it.
_HASH_FORMAT = f"rehashes-{version('rehashes')}-sha256"


@dataclass(frozen=True)
class TusUpload:
    """One resumable upload as the catalog keeps it; `rev` grows with every change (compare-and-set)."""

    id: str
    user_id: str
    length: int
    part_size: int
    upload_id: str  # the id the stored Upload gets
    created_at: str
    expires_at: str  # fixed at creation
    filename: Optional[str] = None
    tags: tuple[str, ...] = ()
    offset: int = 0
    state: str = RECEIVING  # or COMPLETING (shown as receiving), STORED, REFUSED
    kind: Optional[str] = None  # kind, mime and ext once the first bytes are sniffed
    mime: Optional[str] = None
    ext: Optional[str] = None
    parts_ref: Optional[str] = None  # the store's multipart reference
    etags: tuple[str, ...] = ()  # of parts 1..n, part i holding bytes (i-1)*part_size .. i*part_size-1
    tail_key: Optional[str] = None  # the bytes from the last full part to offset
    hash_state: Optional[str] = None  # sha256 of bytes 0..offset, resumable; None: hashed at completion
    result_id: Optional[str] = None  # the Upload, once stored (an existing one for a duplicate)
    duplicate: bool = False
    error: Optional[dict] = None  # status, code and message, once refused
    patching_since: Optional[str] = None  # a PATCH is taking bytes (HEAD waits a moment for it to record them)
    completing_since: Optional[str] = None
    reserved: bool = False  # its length is held against the owner's quota until it is stored, ended or expired
    rev: int = 0

    @property
    def key(self) -> Optional[str]:
        """The final object key, once the kind is known."""
        if self.kind is None:
            return None
        return media_key(self.user_id, self.kind, self.upload_id, self.ext)

    @property
    def sniffed(self) -> Optional[Sniffed]:
        """What the first bytes said the file is."""
        return Sniffed(self.kind, self.mime, self.ext) if self.kind else None

    @property
    def tail_prefix(self) -> str:
        """Where this upload's tail objects are."""
        return f"{TAIL_PREFIX}{self.id}/"

    def evolve(self, **changes: Any) -> "TusUpload":
        """A copy with some fields changed."""
        return replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain values for the catalog."""
        return asdict(self) | {"tags": list(self.tags), "etags": list(self.etags)}

    @classmethod
    def from_dict(cls, doc: dict) -> "TusUpload":
        """Back from the catalog (unknown keys are ignored)."""
        values = {f.name: doc[f.name] for f in fields(cls) if f.name in doc}
        return cls(**values | {"tags": tuple(doc.get("tags") or ()), "etags": tuple(doc.get("etags") or ())})


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
