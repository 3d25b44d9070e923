"""The commit step every front door ends in: decode, derive, then publish and record, or discard everything.

The original becomes visible (published) only after its bytes decoded, and the record is written only after the
original and its thumbnail are stored: a crash at any point leaves either nothing visible or a complete upload
(`flask momento verify --repair` removes an object left without its record).
"""
from __future__ import annotations

import logging
import threading
from concurrent import futures
from dataclasses import dataclass
from typing import BinaryIO, Callable, Optional, TypeVar

from ulid import ULID

from ..formats import now_iso
from ..catalog import Catalog
from ..errors import Conflict, DuplicateUpload
from ..media import MediaInfo, inspect, placeholder_thumbnail
from ..media.filenames import clean_filename
from ..media.renditions import needs_rendition
from ..media.sniff import Sniffed
from ..media.tags import MAX_TAGS, auto_tags
from ..media.taggers import content_tags, image_from_thumbnail
from ..models import VIDEO, Upload, User
from ..storage import Storage
from ..jobs.queue import PENDING, enqueue_rendition, rendition_job

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Limits:
    """Size and pixel limits that apply to one upload, and the content taggers that look at it."""

    max_photo_bytes: int
    max_video_bytes: int
    max_pixels: Optional[int] = None
    taggers: tuple = ()
    decode_budget: Optional[int] = None  # bytes a photo's decode may hold; None: the default
    decodes_at_once: int = 2  # decodes one process runs at a time (the budget holds per decode)

    @classmethod
    def from_config(cls, config) -> "Limits":
        """The limits and taggers set in the app's configuration."""
        return cls(config["MAX_PHOTO_BYTES"], config["MAX_VIDEO_BYTES"], config.get("MAX_PIXELS"),
                   tuple(config.get("CONTENT_TAGGERS") or ()), config.get("DECODE_BUDGET_BYTES"),
                   int(config.get("DECODES_AT_ONCE") or 2))

    def for_kind(self, kind: str) -> int:
        """The byte limit of a kind."""
        return self.max_photo_bytes if kind == "photo" else self.max_video_bytes

    @property
    def largest(self) -> int:
        """The largest file of any kind (before its kind is known)."""
        return max(self.max_photo_bytes, self.max_video_bytes)


_SLOTS: dict[int, threading.BoundedSemaphore] = {}
_SLOTS_LOCK = threading.Lock()


def decode_slot(n: int) -> threading.BoundedSemaphore:
    """The process's decode slots: however many requests arrive at once, at most n decodes hold their budget
    together, so a server's memory stays within n decode budgets (the others wait their turn)."""
    with _SLOTS_LOCK:
        return _SLOTS.setdefault(max(1, n), threading.BoundedSemaphore(max(1, n)))


@dataclass(frozen=True)
class IngestResult:
    """The stored (or already present) upload, and whether it was a duplicate."""

    upload: Upload
    duplicate: bool = False


@dataclass(frozen=True)
class Arrived:
    """A whole file that arrived through a front door, readable at `path`, its original not yet visible."""

    user: User
    upload_id: str
    sniffed: Sniffed
    path: str  # the bytes on this disk, for the decoders
    size: int
    sha256: str
    filename: Optional[str]
    tags: tuple[str, ...]
    publish: Callable[[], None]  # makes the original visible at its key (already so for a finished tus object)
    discard: Callable[[], None]  # removes the original's bytes, visible or not
    open_file: Optional[Callable[[], BinaryIO]] = None  # opens the bytes when `path` holds only some (a sparse copy)


def commit(storage: Storage, catalog: Catalog, arrived: Arrived, limits: Limits) -> IngestResult:
    """Skip a duplicate, decode and derive, then publish the original, store the thumbnail and record the upload.

    Whatever fails, nothing of this upload stays: the original and thumbnail are discarded before the error leaves.
    """
    try:
        existing = catalog.find_by_sha256(arrived.user.id, arrived.sha256)
        if existing is not None and existing.id == arrived.upload_id:
            return IngestResult(revive(catalog, existing))  # recorded by an attempt that died before answering
        if existing is not None:
            arrived.discard()
            return IngestResult(revive(catalog, existing, arrived.tags), duplicate=True)
        with decode_slot(limits.decodes_at_once):
            info = inspect(arrived.path, arrived.sniffed, max_pixels=limits.max_pixels,
                           decode_budget=limits.decode_budget, open_file=arrived.open_file)
        upload = build_upload(arrived.user, info, sha256=arrived.sha256, size=arrived.size,
                              filename=arrived.filename, tags=arrived.tags, taggers=limits.taggers,
                              upload_id=arrived.upload_id)
    except BaseException:
        arrived.discard()
        raise
    try:
        # the thumbnail is stored while the original is published (made again by verify if it is lost)
        thumb = alongside(storage, lambda: storage.put_bytes(upload.thumb_key, info.thumbnail, info.thumb_mime,
                                                             durable=False))
        try:
            arrived.publish()
        finally:
            futures.wait([thumb])  # landed (or failed) before anything of this upload may be discarded
        thumb.result()
        # a pending rendition's job is written with the record: no upload is ever left pending without one
        catalog.put_upload(upload, rendition_job(upload) if upload.rendition == PENDING else None)
    except DuplicateUpload as dup:  # the same bytes arrived twice at once; the other request won
        _discard(storage, [upload.thumb_key], arrived.discard)
        existing = catalog.get_upload(upload.user_id, dup.existing_id)
        if existing is None:
            raise
        return IngestResult(revive(catalog, existing, arrived.tags), duplicate=True)
    except BaseException:
        _discard(storage, [upload.thumb_key], arrived.discard)
        raise
    return IngestResult(upload)


def alongside(storage: Storage, call: Callable[[], T]) -> "futures.Future[T]":
    """`call` run on the store's thread pool while this thread goes on; in place, already done, for a store without
    one (the local backend, whose calls take a millisecond)."""
    pool = getattr(storage, "executor", None)
    if pool is not None:
        return pool.submit(call)
    done: futures.Future = futures.Future()
    try:
        done.set_result(call())
    except Exception as exc:  # noqa: BLE001 - handed over as a pooled call's would be
        done.set_exception(exc)
    return done


def find_duplicate(catalog: Catalog, user_id: str, sha256: str, tags: tuple[str, ...] = ()) -> Optional[Upload]:
    """The user's upload with these bytes, back from the trash if it was there and with `tags` added; None when
    there is none."""
    existing = catalog.find_by_sha256(user_id, sha256)
    return None if existing is None else revive(catalog, existing, tags)


def revive(catalog: Catalog, existing: Upload, tags: tuple[str, ...] = ()) -> Upload:
    """An upload whose bytes were sent again: sending them is a clear wish to have them, so a trashed one comes back,
    and the tags they came with are added to its own (up to the limit of tags an upload has)."""
    if existing.purge_started_at:
        raise Conflict("This file is being deleted for good from your trash right now; send it again in a minute.",
                       code="being_deleted")
    if existing.trashed:
        existing = restore_from_trash(catalog, existing)
    added = tuple(dict.fromkeys(t for t in tags if t not in existing.tags))[:max(0, MAX_TAGS - len(existing.tags))]
    if added:
        existing = catalog.set_tags(existing.user_id, existing.id, existing.tags + added)
    return existing


def restore_from_trash(catalog: Catalog, upload: Upload) -> Upload:
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


def _queue_rendition(catalog: Catalog, upload: Upload) -> None:
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


def _discard(storage: Storage, keys: list[str], discard_original: Callable[[], None]) -> None:
    """Delete what a failed upload wrote; a failure here is logged for verify to find."""
    for action in [lambda key=key: storage.delete(key) for key in keys] + [discard_original]:
        try:
            action()
        except Exception:  # noqa: BLE001 - the original error matters more; verify reports the orphan
            log.exception("could not remove an object of a failed upload")
