"""The upload pipeline: validate -> derive -> store -> record, undoing stored objects on failure."""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from typing import BinaryIO, Optional

from ulid import ULID

from .accounts import now_iso
from .errors import BadRequest, DuplicateUpload, TooLarge
from .media import MediaInfo, inspect, placeholder_thumbnail
from .media.filenames import clean_filename
from .media.sniff import SNIFF_BYTES, Sniffed, sniff
from .media.tags import auto_tags
from .media.taggers import content_tags, image_from_thumbnail
from .models import PHOTO, Upload, User

log = logging.getLogger(__name__)
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Size and pixel limits that apply to one upload, and the content taggers that look at it."""

    max_photo_bytes: int
    max_video_bytes: int
    max_pixels: Optional[int] = None
    taggers: tuple = ()

    @classmethod
    def from_config(cls, config) -> "Limits":
        """The limits and taggers set in the app's configuration."""
        return cls(config["MAX_PHOTO_BYTES"], config["MAX_VIDEO_BYTES"], config.get("MAX_PIXELS"),
                   tuple(config.get("CONTENT_TAGGERS") or ()))

    def for_kind(self, kind: str) -> int:
        """The byte limit of a kind."""
        return self.max_photo_bytes if kind == PHOTO else self.max_video_bytes


@dataclass(frozen=True)
class IngestResult:
    """The stored (or already present) upload, and whether it was a duplicate."""

    upload: Upload
    duplicate: bool = False


def _too_large(sniffed: Sniffed, limit: int) -> TooLarge:
    return TooLarge(f"This {sniffed.kind} is larger than the {_human(limit)} limit for {sniffed.kind}s.",
                    code="file_too_large")


def _human(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}".replace(".0 ", " ")
        n /= 1024
    return str(n)


def ingest(storage, catalog, user: User, stream: BinaryIO, *, filename: Optional[str], tags: tuple[str, ...],
           limits: Limits) -> IngestResult:
    """Take one file from a stream: sniff the first bytes, spool while hashing, then ingest_file()."""
    head = stream.read(SNIFF_BYTES)
    if not head:
        raise BadRequest("The file is empty.", code="empty_file")
    sniffed = sniff(head)
    limit = limits.for_kind(sniffed.kind)
    fd, path = tempfile.mkstemp(prefix="ingest-", dir=_scratch(storage))
    try:
        digest = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as out:
            chunk = head
            while chunk:
                size += len(chunk)
                if size > limit:
                    raise _too_large(sniffed, limit)
                digest.update(chunk)
                out.write(chunk)
                chunk = stream.read(CHUNK)
        return _ingest_spooled(storage, catalog, user, path, sniffed, digest.hexdigest(), size,
                               filename=filename, tags=tags, limits=limits)
    finally:
        _unlink(path)


def ingest_file(storage, catalog, user: User, path: str, *, filename: Optional[str], tags: tuple[str, ...],
                limits: Limits) -> IngestResult:
    """Take one file already on local disk (a spooled request part or an imported file)."""
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
        if not head:
            raise BadRequest("The file is empty.", code="empty_file")
        sniffed = sniff(head)
        limit = limits.for_kind(sniffed.kind)
        size = os.fstat(f.fileno()).st_size
        if size > limit:
            raise _too_large(sniffed, limit)
        digest = hashlib.sha256(head)
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return _ingest_spooled(storage, catalog, user, path, sniffed, digest.hexdigest(), size,
                           filename=filename, tags=tags, limits=limits)


def _ingest_spooled(storage, catalog, user, path, sniffed, sha256, size, *, filename, tags, limits) -> IngestResult:
    existing = catalog.find_by_sha256(user.id, sha256)
    if existing is not None:
        return IngestResult(_revive(catalog, existing), duplicate=True)
    info = inspect(path, sniffed, max_pixels=limits.max_pixels)
    upload = build_upload(user, info, sha256=sha256, size=size, filename=filename, tags=tags, taggers=limits.taggers)
    return store(storage, catalog, upload, path, info)


def _revive(catalog, existing: Upload) -> Upload:
    # Sending the same bytes again is a clear wish to have them: bring a trashed copy back.
    if existing.trashed:
        return catalog.set_trashed(existing.user_id, existing.id, None)
    return existing


def build_upload(user: User, info: MediaInfo, *, sha256: str, size: int, filename: Optional[str],
                 tags: tuple[str, ...], taggers=()) -> Upload:
    """The catalog record of a new upload (not yet stored), with its automatic tags."""
    upload = Upload(
        user_id=user.id, id=str(ULID()), filename=clean_filename(filename, fallback=f"upload.{info.ext}"),
        kind=info.kind, ext=info.ext, mime=info.mime, size=size, sha256=sha256, tags=tuple(tags),
        width=info.width, height=info.height, duration=info.duration, taken_at=info.taken_at,
        uploaded_at=now_iso(), camera_make=info.camera_make, camera_model=info.camera_model, gps=info.gps,
        extra=dict(info.extra), thumb_mime=info.thumb_mime, thumb_ext=info.thumb_ext,
    )
    return upload.evolve(auto_tags=derive_auto_tags(upload, info.thumbnail, taggers))


def derive_auto_tags(upload: Upload, thumbnail: Optional[bytes], taggers=()) -> tuple[str, ...]:
    """Metadata tags from the record, then what the content taggers see in the thumbnail."""
    found = auto_tags(kind=upload.kind, ext=upload.ext, width=upload.width, height=upload.height,
                      duration=upload.duration, taken_at=upload.taken_at, uploaded_at=upload.uploaded_at,
                      camera_make=upload.camera_make, camera_model=upload.camera_model, gps=upload.gps,
                      extra=upload.extra)
    if thumbnail and taggers and thumbnail != placeholder_thumbnail(upload.kind):
        found += content_tags(image_from_thumbnail(thumbnail), taggers)
    return tuple(dict.fromkeys(found))


def store(storage, catalog, upload: Upload, path: str, info: MediaInfo) -> IngestResult:
    """Write the original and the thumbnail, then the record; remove the objects if any step fails."""
    written: list[str] = []
    try:
        with open(path, "rb") as f:
            written.append(upload.original_key)
            storage.put(upload.original_key, f, upload.mime)
        written.append(upload.thumb_key)
        storage.put_bytes(upload.thumb_key, info.thumbnail, info.thumb_mime)
        catalog.put_upload(upload)
    except DuplicateUpload as dup:
        # The same bytes arrived twice at once; the other request won.
        _discard(storage, written)
        existing = catalog.get_upload(upload.user_id, dup.existing_id)
        if existing is None:
            raise
        return IngestResult(_revive(catalog, existing), duplicate=True)
    except BaseException:
        _discard(storage, written)
        raise
    return IngestResult(upload)


def _discard(storage, keys: list[str]) -> None:
    """Delete objects written for a failed upload; a failure here is logged for verify to find."""
    for key in reversed(keys):
        try:
            storage.delete(key)
        except Exception:  # noqa: BLE001 - the original error matters more; verify reports the orphan
            log.exception("could not remove %s after a failed upload", key)


def _scratch(storage) -> str:
    scratch = getattr(storage, "scratch_dir", None)
    return scratch() if scratch else tempfile.gettempdir()


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
