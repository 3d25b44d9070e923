"""Resumable uploads (tus 1.0): state in the catalog and bytes in the store, so any server takes the next PATCH.

A tus upload becomes one multipart object, begun once its first 8 KiB are sniffed (the final key is known
then). Part n always holds bytes (n-1)*P .. n*P-1 of the file, so two PATCHes racing at one offset write the
same bytes to the same parts, and a compare-and-set on the catalog record decides which one counts. The bytes
past the last full part wait in a small tail object `tus/<id>/tail-<offset>` and go in front of the next
PATCH's bytes. The sha256 of the file travels from PATCH to PATCH as a serialized hasher (rehashes). On the
last byte the object is finished and goes through the pipeline like any upload (pipeline.ingest_stored).
"""
from __future__ import annotations

import base64
import hashlib
import logging
import re
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime, timedelta, timezone
from importlib.metadata import version
from typing import Any, Callable, Optional

from rehashes import PySha256
from ulid import ULID

from .errors import BackendError, BadRequest, Conflict, MomentoError, NotFound, TooLarge
from .media.sniff import SNIFF_BYTES, Sniffed, sniff
from .models import PHOTO, User
from .pipeline import Limits, find_duplicate, ingest_stored

log = logging.getLogger(__name__)

RECEIVING, COMPLETING, STORED, REFUSED = "receiving", "completing", "stored", "refused"
TAIL_PREFIX = "tus/"  # tail objects: `tus/<tus id>/tail-<offset>`
CHECKSUMS = ("md5", "sha1", "sha256")
MiB = 1024 * 1024
MAX_PARTS = 2000  # keeps the ETag list of a record small; parts grow past TUS_PART_SIZE for huge files
READ = MiB
STALE_COMPLETION = timedelta(minutes=15)  # a completion this old died with its server: it may be run again
_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
_HASH_FORMAT = f"rehashes-{version('rehashes')}-sha256"


class ChecksumMismatch(MomentoError):
    """The PATCH body does not match its Upload-Checksum (tus's own status code)."""

    status = 460
    code = "checksum_mismatch"


class RecordedError(MomentoError):
    """The error that refused an upload, answered again to later requests."""

    def __init__(self, doc: dict):
        super().__init__(doc["message"], code=doc["code"])
        self.status = int(doc["status"])


class BodyCut(Exception):
    """The client went away before the end of the body (raised by the body reader the route passes in)."""


class _Refusal(Exception):
    """The file itself is refused (type, size for its kind, decoding): the upload ends with this error."""

    def __init__(self, error: MomentoError):
        super().__init__(error.message)
        self.error = error


@dataclass(frozen=True)
class TusUpload:
    """One resumable upload as the catalog keeps it; `rev` grows with every change (compare-and-set)."""

    id: str
    user_id: str
    length: int
    part_size: int
    upload_id: str  # the id the stored Upload gets
    created_at: str
    expires_at: str
    filename: Optional[str] = None
    tags: tuple[str, ...] = ()
    offset: int = 0
    state: str = RECEIVING
    kind: Optional[str] = None  # kind, mime and ext once the first bytes are sniffed
    mime: Optional[str] = None
    ext: Optional[str] = None
    parts_ref: Optional[str] = None  # the store's multipart reference
    etags: tuple[str, ...] = ()  # of parts 1..n, each covering part_size bytes
    tail_key: Optional[str] = None  # bytes from the last full part to offset
    hash_state: Optional[str] = None  # sha256 of bytes 0..offset, resumable; None: hash at completion
    result_id: Optional[str] = None  # the Upload, once stored (an existing one for a duplicate)
    duplicate: bool = False
    error: Optional[dict] = None  # status, code and message, once refused
    completing_since: Optional[str] = None
    rev: int = 0

    @property
    def key(self) -> Optional[str]:
        """The final object key, once the kind is known."""
        if self.kind is None:
            return None
        return f"user-{self.user_id}/{'photos' if self.kind == PHOTO else 'videos'}/{self.upload_id}.{self.ext}"

    @property
    def sniffed(self) -> Optional[Sniffed]:
        """What the first bytes said the file is."""
        return Sniffed(self.kind, self.mime, self.ext) if self.kind else None

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
    """MOMENTO_TUS_*: part size, parts sent at once per PATCH, and how long an unfinished upload is kept."""

    part_size: int = 8 * MiB
    in_flight: int = 2
    expiry: timedelta = timedelta(hours=24)

    @classmethod
    def from_config(cls, config) -> "TusSettings":
        """The app's settings."""
        return cls(int(config["TUS_PART_SIZE"]), int(config["TUS_PARTS_IN_FLIGHT"]),
                   timedelta(hours=float(config["TUS_EXPIRY_HOURS"])))


def iso(when: datetime) -> str:
    """A UTC time as the catalog stores it."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    """The inverse of iso()."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def _round_up(n: int, unit: int) -> int:
    return -(-n // unit) * unit


def _save_hash(hasher: Optional[PySha256]) -> Optional[str]:
    return f"{_HASH_FORMAT}:{base64.b64encode(hasher.serialize()).decode()}" if hasher else None


def _load_hash(state: Optional[str]) -> Optional[PySha256]:
    # A state written by another version of rehashes cannot be trusted: the completion hashes the file instead.
    fmt, _, data = (state or "").partition(":")
    return PySha256.deserialize(base64.b64decode(data)) if fmt == _HASH_FORMAT else None


class ResumableUploads:
    """The tus uploads of one store and catalog: create, receive a PATCH, terminate, clean up."""

    def __init__(self, storage, catalog, limits: Limits, settings: TusSettings = TusSettings()):
        self.storage, self.catalog, self.limits, self.settings = storage, catalog, limits, settings

    @classmethod
    def from_config(cls, storage, catalog, config) -> "ResumableUploads":
        """With the app's limits and MOMENTO_TUS_* settings."""
        return cls(storage, catalog, Limits.from_config(config), TusSettings.from_config(config))

    @property
    def max_size(self) -> int:
        """The largest file of any kind: the kind is not known before the first bytes."""
        return max(self.limits.max_photo_bytes, self.limits.max_video_bytes)

    def create(self, user: User, *, length: int, filename: Optional[str], tags: tuple[str, ...],
               now: Optional[datetime] = None) -> TusUpload:
        """Record a new upload of `length` bytes, refused (413) at once when no kind may be that large."""
        if length <= 0:
            raise BadRequest("The file is empty.", code="empty_file")
        if length > self.max_size:
            raise TooLarge(f"This file is larger than the {self.max_size / MiB:.0f} MiB this server accepts.",
                           code="file_too_large")
        now = now or datetime.now(timezone.utc)
        part = max(self.settings.part_size, _round_up(_round_up(length, MAX_PARTS) // MAX_PARTS, MiB))
        record = TusUpload(id=str(ULID()), user_id=user.id, length=length, part_size=part, upload_id=str(ULID()),
                           created_at=iso(now), expires_at=iso(now + self.settings.expiry), filename=filename,
                           tags=tuple(tags), hash_state=_save_hash(PySha256()))
        return self.catalog.put_tus(record)

    def find(self, user: User, tus_id: str, now: Optional[datetime] = None) -> TusUpload:
        """The user's upload; NotFound for anyone else's, and for an expired one (removed on the way)."""
        record = self.catalog.get_tus(user.id, tus_id) if _ID.match(tus_id or "") else None
        if record is None:
            raise NotFound("No resumable upload with that id.")
        if record.expires_at <= iso(now or datetime.now(timezone.utc)):
            self.discard(record)
            raise NotFound("This upload expired and was removed; send the file again.", code="upload_expired")
        return record

    def receive(self, user: User, tus_id: str, *, offset: int, read: Callable[[int], bytes],
                content_length: Optional[int] = None, checksum: Optional[tuple[str, bytes]] = None,
                now: Optional[datetime] = None) -> TusUpload:
        """One PATCH: bytes from `offset` on, read until the body ends or is cut (what arrived then counts,
        unless a checksum was sent); the last byte finishes the upload."""
        now = now or datetime.now(timezone.utc)
        record = self.find(user, tus_id, now)
        if record.state == REFUSED:
            raise RecordedError(record.error)
        if offset != record.offset:
            raise Conflict(f"The upload is at byte {record.offset}, not {offset}.", code="offset_mismatch")
        if record.state == STORED:
            return record  # the finishing PATCH again, after its answer was lost
        if record.state == COMPLETING and parse_iso(record.completing_since) > now - STALE_COMPLETION:
            raise Conflict("Another request is finishing this upload.", code="upload_busy")
        if content_length is not None and offset + content_length > record.length:
            raise TooLarge("The body goes past the Upload-Length given at creation.", code="beyond_length")
        if record.offset == record.length:  # a finish that failed or died: this PATCH runs it again
            return self._complete(user, record, None, now)
        stretch = _Stretch(self, record, self._tail(record), checksum)
        try:
            cut = stretch.pull(read)
            stretch.verify(cut)
            record = self._commit(stretch) if stretch.received else record
        except _Refusal as refusal:
            stretch.abandon()
            self._refuse(stretch.record, refusal.error)
            raise refusal.error from None
        except BaseException:
            stretch.abandon()
            raise
        finally:
            stretch.close()
        if record.offset == record.length:
            return self._complete(user, record, bytes(stretch.buffer), now)
        return record

    def terminate(self, user: User, tus_id: str) -> None:
        """tus termination: the upload and every byte of it go (a stored Upload stays)."""
        self.discard(self.find(user, tus_id))

    def discard(self, record: TusUpload) -> None:
        """Remove the parts, the tails and the record."""
        self._drop_bytes(record)
        self.catalog.delete_tus(record)

    def cleanup_expired(self, now: Optional[datetime] = None, batch: int = 100) -> int:
        """Discard every upload past its expiry; how many."""
        stamp, count = iso(now or datetime.now(timezone.utc)), 0
        while True:
            expired = self.catalog.expired_tus(stamp, limit=batch)
            for record in expired:
                self.discard(record)
            count += len(expired)
            if len(expired) < batch:
                return count

    # one PATCH's bytes
    def _tail(self, record: TusUpload) -> bytes:
        if not record.tail_key:
            return b""
        try:
            stream = self.storage.open(record.tail_key)
        except MomentoError as exc:
            if exc.status != 404:
                raise
            current = self.catalog.get_tus(record.user_id, record.id)
            if current is not None and current.rev != record.rev:
                raise Conflict("Another request moved this upload on; ask for its offset again.",
                               code="offset_mismatch") from None
            self.discard(record)
            raise NotFound("The stored bytes of this upload are gone; send the file again.",
                           code="upload_lost") from None
        try:
            return b"".join(stream)
        finally:
            stream.close()

    def sniffed(self, record: TusUpload, head: bytes) -> TusUpload:
        """The record with its kind, from the first bytes; _Refusal for non-media or a file over its kind's limit."""
        try:
            if not head:
                raise BadRequest("The file is empty.", code="empty_file")
            found = sniff(head[:SNIFF_BYTES])
            limit = self.limits.for_kind(found.kind)
            if record.length > limit:
                raise TooLarge(f"This {found.kind} is larger than the {limit / MiB:.0f} MiB limit for "
                               f"{found.kind}s.", code="file_too_large")
        except MomentoError as exc:
            raise _Refusal(exc) from exc
        return record.evolve(kind=found.kind, mime=found.mime, ext=found.ext)

    def _commit(self, stretch: "_Stretch") -> TusUpload:
        record, etags = stretch.record, stretch.etags()
        offset = record.offset + stretch.received
        tail_key = f"{TAIL_PREFIX}{record.id}/tail-{offset}" if stretch.buffer else None
        if tail_key:
            self.storage.put_bytes(tail_key, bytes(stretch.buffer), "application/octet-stream")
        stored = self.catalog.update_tus(record.evolve(offset=offset, etags=etags, tail_key=tail_key,
                                                       hash_state=_save_hash(stretch.hasher)))
        if stored is None:
            raise Conflict("Another request moved this upload on; ask for its offset again.", code="offset_mismatch")
        if record.tail_key and record.tail_key != tail_key:
            self._quietly(self.storage.delete, record.tail_key)
        return stored

    # the last byte
    def _complete(self, user: User, record: TusUpload, final: Optional[bytes], now: datetime) -> TusUpload:
        record = self._save(record.evolve(state=COMPLETING, completing_since=iso(now)))
        if record is None:
            raise Conflict("Another request is finishing this upload.", code="upload_busy")
        try:
            final = self._tail(record) if final is None else final
            if record.kind is None:  # a file shorter than the sniff window
                record = self.sniffed(record, final)
            hasher = _load_hash(record.hash_state)
            sha256 = hasher.finalize() if hasher is not None else None
            existing = find_duplicate(self.catalog, user.id, sha256) if sha256 else None
            if existing is not None:
                self._drop_bytes(record)
                return self._settle(record, STORED, result_id=existing.id, duplicate=True)
            self._assemble(record, final)
        except _Refusal as refusal:
            self._refuse(record, refusal.error)
            raise refusal.error from None
        except BaseException:
            self._quietly(self._save, record.evolve(state=RECEIVING, completing_since=None))
            raise
        try:
            result = ingest_stored(self.storage, self.catalog, user, record.key, record.sniffed, size=record.length,
                                   sha256=sha256, filename=record.filename, tags=record.tags, limits=self.limits,
                                   upload_id=record.upload_id)
        except BaseException as exc:  # the pipeline removed the object; the bytes cannot be sent again
            self._refuse(record, exc if isinstance(exc, MomentoError) else
                         BackendError("The file could not be stored; send it again."))
            raise
        self._drop_bytes(record)
        return self._settle(record, STORED, result_id=result.upload.id, duplicate=result.duplicate)

    def _assemble(self, record: TusUpload, final: bytes) -> None:
        """The object at its key: the parts and the last piece joined, or the whole small file in one put."""
        if record.parts_ref is None:
            self.storage.put_bytes(record.key, final, record.mime)
            return
        etags = record.etags
        if final:
            etags += (self.storage.put_part(record.key, record.parts_ref, len(etags) + 1, final),)
        try:
            self.storage.complete_parts(record.key, record.parts_ref, list(enumerate(etags, 1)))
        except MomentoError as exc:
            if exc.status != 404:
                raise
            self.storage.stat(record.key)  # finished by an attempt that died before recording it

    def _refuse(self, record: TusUpload, error: MomentoError) -> None:
        """Keep the error for GET and later PATCHes; nothing of the file stays."""
        self._drop_bytes(record)
        self._settle(record, REFUSED, error={"status": error.status, "code": error.code, "message": error.message})

    def _settle(self, record: TusUpload, state: str, **changes: Any) -> TusUpload:
        """The final state, with the parts' bookkeeping dropped."""
        settled = record.evolve(state=state, completing_since=None, parts_ref=None, etags=(), tail_key=None,
                                hash_state=None, **changes)
        saved = self._save(settled)
        if saved is None:
            log.warning("resumable upload %s changed while it was being finished", record.id)
        return saved or settled

    def _save(self, record: TusUpload) -> Optional[TusUpload]:
        return self.catalog.update_tus(record)

    def _drop_bytes(self, record: TusUpload) -> None:
        """Abort the parts and delete the tails; a store that refuses (a web role that may not delete) logs."""
        if record.parts_ref and record.key:
            self._quietly(self.storage.abort_parts, record.key, record.parts_ref)
        try:
            tails = [obj.key for obj in self.storage.list(f"{TAIL_PREFIX}{record.id}/")]
        except MomentoError as exc:
            log.warning("could not list the tails of resumable upload %s: %s", record.id, exc.message)
            return
        for key in tails:
            self._quietly(self.storage.delete, key)

    @staticmethod
    def _quietly(action: Callable, *args: Any) -> Any:
        try:
            return action(*args)
        except MomentoError as exc:  # the lifecycle rule, tus-cleanup or verify finish the job
            log.warning("resumable upload clean-up: %s failed: %s", getattr(action, "__name__", action), exc.message)
            return None


class _Stretch:
    """One PATCH's bytes behind the stored tail: hashed, cut into the upload's fixed parts, sent as they fill."""

    def __init__(self, uploads: ResumableUploads, record: TusUpload, tail: bytes,
                 checksum: Optional[tuple[str, bytes]]):
        self.uploads, self.storage, self.record = uploads, uploads.storage, record
        self.buffer = bytearray(tail)
        self.received = 0
        self.hasher = _load_hash(record.hash_state)
        self.checksum = checksum
        self.check = hashlib.new(checksum[0]) if checksum else None
        self.began = False  # this PATCH started the multipart object (not yet in the catalog)
        self._pool: Optional[ThreadPoolExecutor] = None
        self._slots = threading.BoundedSemaphore(uploads.settings.in_flight)
        self._sent: list[Future] = []

    def pull(self, read: Callable[[int], bytes]) -> bool:
        """Take the body to its end; True when it was cut before."""
        while True:
            try:
                chunk = read(READ)
            except BodyCut:
                return True
            if not chunk:
                return False
            self.take(chunk)

    def take(self, chunk: bytes) -> None:
        """The next bytes of the body."""
        self.received += len(chunk)
        if self.record.offset + self.received > self.record.length:
            raise TooLarge("The body goes past the Upload-Length given at creation.", code="beyond_length")
        if self.hasher is not None:
            self.hasher.update(chunk)
        if self.check is not None:
            self.check.update(chunk)
        self.buffer += chunk
        if self.record.kind is None and len(self.buffer) >= SNIFF_BYTES:
            self.record = self.uploads.sniffed(self.record, bytes(self.buffer[:SNIFF_BYTES]))
            self.record = self.record.evolve(parts_ref=self.storage.begin_parts(self.record.key, self.record.mime))
            self.began = True
        size = self.record.part_size
        while self.record.parts_ref and len(self.buffer) >= size:
            part = bytes(memoryview(self.buffer)[:size])
            del self.buffer[:size]
            self._send(part)

    def verify(self, cut: bool) -> None:
        """With Upload-Checksum, the whole body must have arrived and match; else none of it counts."""
        if self.checksum is None:
            return
        if cut:
            raise BadRequest("The body was cut off, so its checksum cannot be checked.", code="incomplete_body")
        if self.check.digest() != self.checksum[1]:
            raise ChecksumMismatch("The body does not match its Upload-Checksum; none of it was kept.")

    def _send(self, part: bytes) -> None:
        # A newer request that moved the upload on makes this one stop before it sends more.
        current = self.uploads.catalog.get_tus(self.record.user_id, self.record.id)
        if current is None or current.rev != self.record.rev:
            raise Conflict("Another request moved this upload on; ask for its offset again.", code="offset_mismatch")
        self._slots.acquire()
        self._raise_failed()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.uploads.settings.in_flight, thread_name_prefix="tus-parts")
        number = len(self.record.etags) + len(self._sent) + 1
        future = self._pool.submit(self.storage.put_part, self.record.key, self.record.parts_ref, number, part)
        future.add_done_callback(lambda _: self._slots.release())
        self._sent.append(future)

    def _raise_failed(self) -> None:
        for future in self._sent:
            if future.done() and future.exception() is not None:
                self._slots.release()
                raise future.exception()

    def etags(self) -> tuple[str, ...]:
        """The ETags of every full part so far, once this PATCH's parts are all in."""
        return self.record.etags + tuple(future.result() for future in self._sent)

    def abandon(self) -> None:
        """Nothing of this PATCH counts: wait for its parts, and drop a multipart object it began."""
        for future in self._sent:
            future.cancel()
        for future in self._sent:
            try:
                future.result()
            except BaseException:  # noqa: BLE001 - these parts are thrown away anyway
                pass
        if self.began:
            ResumableUploads._quietly(self.storage.abort_parts, self.record.key, self.record.parts_ref)

    def close(self) -> None:
        """Let the part threads go."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
