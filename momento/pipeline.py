"""The upload pipeline: sniff -> stream to the store while hashing -> decode -> derive -> commit -> record."""
from __future__ import annotations

import hashlib
import logging
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterable, Iterator, Optional

from ulid import ULID

from .accounts import now_iso
from .errors import BadRequest, Conflict, DuplicateUpload, TooLarge
from .media import MediaInfo, inspect, placeholder_thumbnail
from .media.filenames import clean_filename
from .media.renditions import needs_rendition
from .media.sniff import SNIFF_BYTES, Sniffed, sniff
from .media.tags import auto_tags
from .media.taggers import content_tags, image_from_thumbnail
from .models import PHOTO, VIDEO, Upload, User
from .worker import PENDING, enqueue_rendition

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


class IncomingUpload:
    """One file arriving in pieces: sniffed from its first bytes, hashed and written to the store as it comes.

    Non-media is refused as soon as the first bytes are in; a size over the kind's limit as soon as it is
    passed. The store keeps nothing visible until finish() has decoded the file: a refused or cut-off
    upload leaves nothing behind. Decoders read a local copy: the store's own temporary file for the local
    backend, a temporary copy on this disk (deleted at the end of the request) for S3.
    """

    def __init__(self, storage, catalog, user: User, *, filename: Optional[str], limits: Limits,
                 on_size: Optional[Callable[[int], None]] = None):
        self.storage, self.catalog, self.user = storage, catalog, user
        self.filename, self.limits = filename, limits
        self.on_size = on_size  # told the size so far; raises to stop the upload (the quota)
        self.upload_id = str(ULID())
        self.sniffed: Optional[Sniffed] = None
        self.size = 0
        self._head = bytearray()
        self._digest = hashlib.sha256()
        self._writer = None
        self._copy = None  # the local copy when the store keeps none on this disk

    def feed(self, data: bytes) -> None:
        """Take the next bytes of the file."""
        if not data:
            return
        if self.sniffed is None:
            self._head += data
            if len(self._head) >= SNIFF_BYTES:
                self._start()
            return
        self._write(data)

    @property
    def room(self) -> int:
        """How many more bytes it may take before its kind's limit; 0 until its type is known."""
        return 0 if self.sniffed is None else max(0, self.limits.for_kind(self.sniffed.kind) - self.size)

    def _start(self) -> None:
        if not self._head:
            raise BadRequest("The file is empty.", code="empty_file")
        self.sniffed = sniff(bytes(self._head[:SNIFF_BYTES]))
        folder = "photos" if self.sniffed.kind == PHOTO else "videos"
        key = f"user-{self.user.id}/{folder}/{self.upload_id}.{self.sniffed.ext}"
        self._writer = self.storage.writer(key, self.sniffed.mime)
        if self._writer.local_path is None:
            self._copy = tempfile.NamedTemporaryFile(dir=_scratch(self.storage), prefix="decode-")
        head, self._head = bytes(self._head), bytearray()
        self._write(head)

    def _write(self, data: bytes) -> None:
        self.size += len(data)
        limit = self.limits.for_kind(self.sniffed.kind)
        if self.size > limit:
            raise _too_large(self.sniffed, limit)
        if self.on_size is not None:
            self.on_size(self.size)
        self._digest.update(data)
        self._writer.write(data)
        if self._copy is not None:
            self._copy.write(data)

    def finish(self, tags: tuple[str, ...]) -> IngestResult:
        """All bytes are in: check for a duplicate, decode, then commit the object, thumbnail and record."""
        if self.sniffed is None:
            self._start()
        sha256 = self._digest.hexdigest()
        existing = self.catalog.find_by_sha256(self.user.id, sha256)
        if existing is not None:
            self.abort()
            return IngestResult(_revive(self.catalog, existing), duplicate=True)
        path = self._local_path()
        info = inspect(path, self.sniffed, max_pixels=self.limits.max_pixels)
        upload = build_upload(self.user, info, sha256=sha256, size=self.size, filename=self.filename, tags=tags,
                              taggers=self.limits.taggers, upload_id=self.upload_id)
        written: list[str] = []
        try:
            written.append(upload.original_key)
            self._writer.commit()
            self._close_copy()
            written.append(upload.thumb_key)
            self.storage.put_bytes(upload.thumb_key, info.thumbnail, info.thumb_mime, durable=False)
            self.catalog.put_upload(upload)
        except DuplicateUpload as dup:
            # The same bytes arrived twice at once; the other request won.
            _discard(self.storage, written)
            existing = self.catalog.get_upload(upload.user_id, dup.existing_id)
            if existing is None:
                raise
            return IngestResult(_revive(self.catalog, existing), duplicate=True)
        except BaseException:
            _discard(self.storage, written)
            raise
        _queue_rendition(self.catalog, upload)
        return IngestResult(upload)

    def _local_path(self) -> str:
        if self._copy is not None:
            self._copy.flush()
            return self._copy.name
        self._writer.flush()
        return self._writer.local_path

    def _close_copy(self) -> None:
        if self._copy is not None:
            self._copy.close()
            self._copy = None

    def abort(self) -> None:
        """Throw away what arrived; nothing of it stays in the store or on this disk."""
        if self._writer is not None:
            self._writer.abort()
        self._close_copy()


def ingest_chunks(storage, catalog, user: User, chunks: Iterable[bytes], *, filename: Optional[str],
                  tags: tuple[str, ...], limits: Limits) -> IngestResult:
    """Run one file, given as an iterable of byte strings, through the pipeline."""
    incoming = IncomingUpload(storage, catalog, user, filename=filename, limits=limits)
    try:
        for chunk in chunks:
            incoming.feed(chunk)
        return incoming.finish(tags)
    except BaseException:
        incoming.abort()
        raise


def ingest(storage, catalog, user: User, stream: BinaryIO, *, filename: Optional[str], tags: tuple[str, ...],
           limits: Limits) -> IngestResult:
    """Run one file read from a binary stream through the pipeline."""
    return ingest_chunks(storage, catalog, user, iter(lambda: stream.read(CHUNK), b""), filename=filename,
                         tags=tags, limits=limits)


def ingest_file(storage, catalog, user: User, path: str, *, filename: Optional[str], tags: tuple[str, ...],
                limits: Limits) -> IngestResult:
    """Run one file on local disk (an imported file) through the pipeline."""
    with open(path, "rb") as f:
        return ingest(storage, catalog, user, f, filename=filename, tags=tags, limits=limits)


def find_duplicate(catalog, user_id: str, sha256: str) -> Optional[Upload]:
    """The user's upload with these bytes, back from the trash if it was there; None when there is none."""
    existing = catalog.find_by_sha256(user_id, sha256)
    return None if existing is None else _revive(catalog, existing)


def ingest_stored(storage, catalog, user: User, key: str, sniffed: Sniffed, *, size: int, sha256: Optional[str],
                  filename: Optional[str], tags: tuple[str, ...], limits: Limits, upload_id: str) -> IngestResult:
    """A file the store already holds at `key` (a finished resumable upload): decode a local copy, derive, record.

    The object is removed again when the file is refused, turns out to be a duplicate, or cannot be recorded.
    Without `sha256` it is computed from the copy.
    """
    try:
        with _local_copy(storage, key, hashed=sha256 is None) as (path, digest):
            sha256 = sha256 or digest
            existing = catalog.find_by_sha256(user.id, sha256)
            info = None if existing is not None else inspect(path, sniffed, max_pixels=limits.max_pixels)
    except BaseException:
        _discard(storage, [key])
        raise
    if existing is not None:
        again = existing.id == upload_id  # recorded by an attempt that died before it could answer
        if not again:
            _discard(storage, [key])
        return IngestResult(_revive(catalog, existing), duplicate=not again)
    upload = build_upload(user, info, sha256=sha256, size=size, filename=filename, tags=tags,
                          taggers=limits.taggers, upload_id=upload_id)
    written = [key, upload.thumb_key]
    try:
        storage.put_bytes(upload.thumb_key, info.thumbnail, info.thumb_mime, durable=False)
        catalog.put_upload(upload)
    except DuplicateUpload as dup:  # the same bytes finished twice at once; the other one won
        _discard(storage, written)
        existing = catalog.get_upload(upload.user_id, dup.existing_id)
        if existing is None:
            raise
        return IngestResult(_revive(catalog, existing), duplicate=True)
    except BaseException:
        _discard(storage, written)
        raise
    _queue_rendition(catalog, upload)
    return IngestResult(upload)


@contextmanager
def _local_copy(storage, key: str, *, hashed: bool) -> Iterator[tuple[str, Optional[str]]]:
    """The object's bytes on this disk (its own file locally, a temporary copy from S3), and their sha256 if asked."""
    digest = hashlib.sha256() if hashed else None
    path = storage.local_path(key)
    if path is not None:
        if digest is not None:
            with open(path, "rb") as f:
                while chunk := f.read(CHUNK):
                    digest.update(chunk)
        yield path, digest.hexdigest() if digest else None
        return
    with tempfile.NamedTemporaryFile(dir=_scratch(storage), prefix="decode-") as copy:
        stream = storage.open(key)
        try:
            for chunk in stream:
                copy.write(chunk)
                if digest is not None:
                    digest.update(chunk)
        finally:
            stream.close()
        copy.flush()
        yield copy.name, digest.hexdigest() if digest else None


def _revive(catalog, existing: Upload) -> Upload:
    # Sending the same bytes again is a clear wish to have them: bring a trashed copy back.
    if existing.purge_started_at:
        raise Conflict("This file is being deleted for good from your trash right now; send it again in a minute.",
                       code="being_deleted")
    if existing.trashed:
        return restore_from_trash(catalog, existing)
    return existing


def restore_from_trash(catalog, upload: Upload) -> Upload:
    """Bring an upload back; a video whose rendition was still to be made gets its job again (the worker
    drops the jobs of trashed uploads)."""
    restored = catalog.set_trashed(upload.user_id, upload.id, None)
    if restored.kind == VIDEO:
        _queue_rendition(catalog, restored)
    return restored


def build_upload(user: User, info: MediaInfo, *, sha256: str, size: int, filename: Optional[str],
                 tags: tuple[str, ...], taggers=(), upload_id: Optional[str] = None) -> Upload:
    """The catalog record of a new upload (not yet stored), with its automatic tags."""
    upload = Upload(
        user_id=user.id, id=upload_id or str(ULID()), filename=clean_filename(filename, fallback=f"upload.{info.ext}"),
        kind=info.kind, ext=info.ext, mime=info.mime, size=size, sha256=sha256, tags=tuple(tags),
        width=info.width, height=info.height, duration=info.duration, taken_at=info.taken_at,
        uploaded_at=now_iso(), camera_make=info.camera_make, camera_model=info.camera_model, gps=info.gps,
        extra=dict(info.extra), thumb_mime=info.thumb_mime, thumb_ext=info.thumb_ext, rendition=_rendition(info),
    )
    return upload.evolve(auto_tags=derive_auto_tags(upload, info.thumbnail, taggers))


def _rendition(info: MediaInfo) -> str:
    """'pending' for a video that browsers other than Safari may not play as it is, else 'none'."""
    extra = info.extra
    needed = info.kind == VIDEO and needs_rendition(extra.get("container"), extra.get("video_codec"),
                                                    extra.get("audio_codec"), extra.get("pix_fmt"))
    return PENDING if needed else "none"


def _queue_rendition(catalog, upload: Upload) -> None:
    """Queue a pending rendition; the upload stands even if this write fails (`work --requeue` finds it)."""
    if upload.rendition != PENDING:
        return
    try:
        enqueue_rendition(catalog, upload)
    except Exception:  # noqa: BLE001 - the user's bytes and record are safe; only the rendition waits
        log.exception("could not queue the rendition of %s; run `flask momento work --requeue`", upload.id)


def derive_auto_tags(upload: Upload, thumbnail: Optional[bytes], taggers=()) -> tuple[str, ...]:
    """Metadata tags from the record, then what the content taggers see in the thumbnail."""
    found = auto_tags(kind=upload.kind, ext=upload.ext, width=upload.width, height=upload.height,
                      duration=upload.duration, taken_at=upload.taken_at, uploaded_at=upload.uploaded_at,
                      camera_make=upload.camera_make, camera_model=upload.camera_model, gps=upload.gps,
                      extra=upload.extra)
    if thumbnail and taggers and thumbnail != placeholder_thumbnail(upload.kind):
        found += content_tags(image_from_thumbnail(thumbnail), taggers)
    return tuple(dict.fromkeys(found))


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
