"""Momento's values: frozen dataclasses that carry no I/O."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Optional

PHOTO = "photo"
VIDEO = "video"
KINDS = (PHOTO, VIDEO)


def media_key(user_id: str, kind: str, upload_id: str, ext: str) -> str:
    """The object key of an upload's original bytes: the one place it is built."""
    return f"user-{user_id}/{'photos' if kind == PHOTO else 'videos'}/{upload_id}.{ext}"


@dataclass(frozen=True)
class User:
    """An account; `id` is opaque and never the email."""

    id: str
    email: str
    password_hash: str
    created_at: str
    is_admin: bool = False
    disabled: bool = False
    quota: Optional[int] = None
    deleted_at: Optional[str] = None  # set by `flask users delete`: the account is closed for good
    totp_secret: Optional[str] = None  # base32; two-factor is on when set
    totp_pending: Optional[str] = None  # a secret shown at setup, waiting for its first code
    totp_last_step: int = 0  # the last 30 s step a code was accepted for (a code works once)
    recovery_codes: tuple[str, ...] = ()  # sha256 of each unused recovery code
    signed_out_at: Optional[str] = None  # sessions and tokens made before this never work again


# Written only by the two-factor steps (and the catalog's one-use checks), never by a whole-account update made
# from a copy read earlier: a recovery code used meanwhile would otherwise come back.
LEGACY_EMPTIED = "1970-01-01T00:00:00Z"  # the trash date an earlier version gave an emptied upload
TWO_FACTOR_FIELDS = ("totp_secret", "totp_pending", "totp_last_step", "recovery_codes")


@dataclass(frozen=True)
class Upload:
    """One stored photo or video and what Momento derived from it."""

    user_id: str
    id: str
    kind: str
    filename: str
    mime: str
    ext: str
    size: int
    sha256: str
    uploaded_at: str
    width: Optional[int] = None
    height: Optional[int] = None
    duration: Optional[float] = None
    taken_at: Optional[str] = None
    camera_make: Optional[str] = None
    camera_model: Optional[str] = None
    gps: Optional[dict[str, float]] = None
    tags: tuple[str, ...] = ()
    auto_tags: tuple[str, ...] = ()
    thumb_mime: str = "image/webp"
    thumb_ext: str = "webp"
    trashed_at: Optional[str] = None
    emptied_at: Optional[str] = None  # when its owner emptied the trash: the next purge deletes it, whatever its age
    rendition: str = "none"
    rendition_error: Optional[str] = None  # why a failed rendition failed, in a sentence for its owner
    extra: dict[str, Any] = field(default_factory=dict)
    # set when purge starts deleting the objects: from then on the upload cannot change or come back
    purge_started_at: Optional[str] = None

    @property
    def original_key(self) -> str:
        """Object key of the user's bytes."""
        return media_key(self.user_id, self.kind, self.id, self.ext)

    @property
    def thumb_key(self) -> str:
        """Object key of the thumbnail or poster."""
        return f"user-{self.user_id}/thumbs/{self.id}.{self.thumb_ext}"

    @property
    def playback_key(self) -> str:
        """Object key of the browser-friendly video rendition (a derived object: beside the thumbnails)."""
        return f"user-{self.user_id}/thumbs/{self.id}.playback.mp4"

    @property
    def legacy_playback_key(self) -> str:
        """Where versions before migration 0011 kept the rendition."""
        return f"user-{self.user_id}/videos/{self.id}.playback.mp4"

    @property
    def display_key(self) -> str:
        """Object key of a photo's display copy for share links (at most 2048 px, no metadata; made on demand)."""
        return f"user-{self.user_id}/thumbs/{self.id}.display.jpg"

    @property
    def object_keys(self) -> tuple[str, ...]:
        """Every key this upload may own in the object store."""
        keys = (self.original_key, self.thumb_key)
        return keys + ((self.playback_key,) if self.kind == VIDEO else (self.display_key,))

    @property
    def trashed(self) -> bool:
        """Whether the upload is in the trash."""
        return self.trashed_at is not None

    @property
    def emptied(self) -> bool:
        """Whether its owner emptied the trash with it in (an earlier version marked that as trashed in 1970)."""
        return self.trashed and (self.emptied_at is not None or self.trashed_at == LEGACY_EMPTIED)

    def purgeable(self, trashed_before: str) -> bool:
        """Whether a purge of what was trashed at or before `trashed_before` deletes it (an emptied one always)."""
        return self.emptied or (self.trashed and self.trashed_at <= trashed_before)

    @property
    def sort_date(self) -> str:
        """The date searches use: capture time, else upload time."""
        return self.taken_at or self.uploaded_at

    def evolve(self, **changes: Any) -> "Upload":
        """A copy with some fields changed."""
        return replace(self, **changes)


@dataclass(frozen=True)
class Page:
    """A slice of a newest-first listing and the cursor to the next one."""

    items: tuple[Any, ...]
    next_cursor: Optional[str] = None


@dataclass(frozen=True)
class ObjectInfo:
    """What the object store knows of one object."""

    key: str
    size: int
    content_type: str
    etag: str
    modified: Optional[float] = None


@dataclass(frozen=True)
class Job:
    """A unit of background work in a durable queue (video renditions, purges)."""

    queue: str
    id: str
    user_id: str
    upload_id: str
    created_at: str
    not_before: str
    attempts: int = 0
    lease_until: Optional[str] = None
    error: Optional[str] = None


@dataclass(frozen=True)
class AuditEvent:
    """Something done to or by an account: who, what, when and from where (see momento/audit.py)."""

    user_id: str
    id: str  # a ULID: events sort by time
    at: str
    action: str
    actor: str = "user"  # "user" (the account itself) or "operator" (an admin command)
    ip: Optional[str] = None
    user_agent: Optional[str] = None
    details: dict[str, Any] = field(default_factory=dict)


SCOPES = ("read", "upload", "write", "share")


@dataclass(frozen=True)
class SignInSession:
    """A signed-in browser, kept on the server; the cookie carries a random id whose sha256 is `id`."""

    id: str
    user_id: str
    created_at: str
    last_seen_at: str
    expires_at: str
    user_agent: str = ""
    address: str = ""
    remember: bool = False


@dataclass(frozen=True)
class ApiToken:
    """An API token (only the sha256 of its secret is kept), its name, scopes and lifetime."""

    hash: str
    id: str
    user_id: str
    created_at: str
    name: str = ""
    scopes: tuple[str, ...] = SCOPES
    expires_at: Optional[str] = None
    last_used_at: Optional[str] = None


@dataclass(frozen=True)
class Passkey:
    """A WebAuthn credential of an account (id and public key base64url, as the browser sends them)."""

    id: str
    user_id: str
    public_key: str
    sign_count: int
    created_at: str
    name: str = "Passkey"
    last_used_at: Optional[str] = None
    transports: tuple[str, ...] = ()


@dataclass(frozen=True)
class PostureCheck:
    """One setting of a bucket, folder or table as `init` would make it, and what is there now."""

    setting: str
    expected: str
    actual: str
    ok: bool
    note: str = ""


@dataclass(frozen=True)
class QuotaHold:
    """The answer to a quota reservation: whether it was granted, and the user's bytes as they stood."""

    granted: bool
    used: int  # live uploads
    trash: int  # trashed uploads, which keep their bytes until purged
    reserved: int  # held by uploads in progress (this one included when granted)

    @property
    def taken(self) -> int:
        """Every byte that counts against the quota."""
        return self.used + self.trash + self.reserved


@dataclass(frozen=True)
class QueueStatus:
    """How a job queue stands: due (waiting to run), running (leased), failed for good since a time, and when
    the oldest due job became due (None when nothing is due)."""

    queue: str
    due: int
    running: int
    failed: int
    oldest_due: Optional[str] = None


RECEIVING, COMPLETING, STORED, REFUSED = "receiving", "completing", "stored", "refused"  # a tus upload's states
TAIL_PREFIX = "tus/"  # a tus upload's tail objects: `tus/<tus id>/tail-<offset>-<patch>`


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
class IndexEntry:
    """One (term, upload) pair as the search index stores it."""

    upload_id: str
    date: str
    kind: str


@dataclass(frozen=True)
class SavedSearch:
    """A search kept under a name; `query` holds the fields the search takes (tag, any_tag, not_tag, kind,
    from, to, q), as the API reads and writes them."""

    user_id: str
    id: str  # a ULID
    name: str
    query: dict[str, Any]
    created_at: str


@dataclass(frozen=True)
class Share:
    """A link to some uploads, or to a saved search's current results; only the token's sha256 is kept."""

    user_id: str
    id: str  # a ULID
    token_hash: str
    kind: str  # "uploads" or "search"
    created_at: str
    expires_at: str
    title: str = ""
    upload_ids: tuple[str, ...] = ()
    search_id: Optional[str] = None
    password_hash: Optional[str] = None
    allow_download: bool = False
    views: int = 0
