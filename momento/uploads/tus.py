"""Resumable uploads (tus 1.0): state in the catalog and bytes in the store, so any server takes the next PATCH.

A tus upload becomes one multipart object, begun once its first 8 KiB are sniffed (the final key is known
then). Part n always holds bytes (n-1)*P .. n*P-1 of the file, so two PATCHes racing at one offset write the
same bytes to the same parts, and a compare-and-set on the catalog record decides which one counts. The bytes
past the last full part wait in a small tail object `tus/<id>/tail-<offset>-<patch>` and go in front of the next
PATCH's bytes. The sha256 of the file travels from PATCH to PATCH as a serialized hasher (rehashes). On the
last byte the object is finished and goes through the commit step like any upload (incoming.ingest_stored).

The record and its settings are in tus_record.py, one PATCH's bytes in tus_patch.py.
"""
from __future__ import annotations

import logging
import secrets
import threading
import time
from datetime import datetime, timedelta
from typing import Any, Callable, Optional

from ulid import ULID

from . import tus_record as clock  # clock.now(), which tests move on
from ..catalog import Catalog
from ..errors import BackendError, BadRequest, Conflict, MomentoError, NotFound, TooLarge
from ..formats import is_ulid, iso, parse_iso
from ..media.sniff import Sniffed
from ..models import Upload, User
from ..storage import Storage
from .admission import Budgets, admit
from .commit import Limits, find_duplicate
from .incoming import ingest_stored
from .tus_patch import PatchBody, Refusal, moved_on, sniff_record
from .tus_record import (COMPLETING, RECEIVING, REFUSED, STORED, MiB, TusSettings, TusUpload, load_hash,
                         new_hash_state, save_hash)

log = logging.getLogger(__name__)

MAX_PARTS = 2000  # keeps a record's ETag list small: parts grow past TUS_PART_SIZE for huge files
STALE_COMPLETION = timedelta(minutes=15)  # a completion this old died with its server: it may be run again
BUSY_PATCH = timedelta(minutes=1)  # HEAD waits for a PATCH started this recently
# Told when a PATCH of this process lets go of its upload: a HEAD waiting for it answers at once rather than at
# its next read of the record (which stays the way to learn of a PATCH on another server).
PATCH_SETTLED = threading.Condition()


class RecordedError(MomentoError):
    """The error that refused an upload, answered again to later requests."""

    def __init__(self, doc: dict):
        super().__init__(doc["message"], code=doc["code"])
        self.status = int(doc["status"])


def _round_up(n: int, unit: int) -> int:
    """n rounded up to a multiple of unit."""
    return -(-n // unit) * unit


class ResumableUploads:
    """The tus uploads of one store and catalog: create, receive a PATCH, terminate, clean up."""

    def __init__(self, storage: Storage, catalog: Catalog, limits: Limits, settings: TusSettings = TusSettings(),
                 budgets: Budgets = Budgets(), on_settled: Optional[Callable[[TusUpload], None]] = None):
        self.storage, self.catalog, self.limits, self.settings = storage, catalog, limits, settings
        self.budgets = budgets
        self.on_settled = on_settled  # told of each upload that ends stored or refused (the metrics count them)

    @classmethod
    def from_config(cls, storage: Storage, catalog: Catalog, config, budgets: Budgets = Budgets(),
                    on_settled: Optional[Callable[[TusUpload], None]] = None) -> "ResumableUploads":
        """With the app's limits and MOMENTO_TUS_* settings."""
        return cls(storage, catalog, Limits.from_config(config), TusSettings.from_config(config), budgets, on_settled)

    @property
    def max_size(self) -> int:
        """The largest file of any kind: the kind is not known before the first bytes."""
        return self.limits.largest

    def create(self, user: User, *, length: int, filename: Optional[str], tags: tuple[str, ...],
               now: Optional[datetime] = None) -> TusUpload:
        """Record a new upload of `length` bytes, refused (413) at once when no kind may be that large."""
        if length <= 0:
            raise BadRequest("The file is empty.", code="empty_file")
        if length > self.max_size:
            raise TooLarge(f"This file is larger than the {self.max_size / MiB:.0f} MiB this server accepts.",
                           code="file_too_large")
        now = now or clock.now()
        tus_id = str(ULID())
        # The whole length is reserved against the quota now, held until the upload is stored, ended or expired.
        admission = admit(self.catalog, user, self.budgets, declared=length, reservation_id=tus_id,
                          hold_for=self.settings.expiry, allowance=False)
        part = max(self.settings.part_size, _round_up(_round_up(length, MAX_PARTS) // MAX_PARTS, MiB))
        record = TusUpload(id=tus_id, user_id=user.id, length=length, part_size=part, upload_id=str(ULID()),
                           created_at=iso(now), expires_at=iso(now + self.settings.expiry), filename=filename,
                           tags=tuple(tags), hash_state=new_hash_state(), reserved=admission.held > 0)
        try:
            return self.catalog.put_tus(record)
        except BaseException:
            admission.release()
            raise

    def find(self, user: User, tus_id: str, now: Optional[datetime] = None) -> TusUpload:
        """The user's upload; NotFound for anyone else's, and for an expired one (removed on the way)."""
        record = self.catalog.get_tus(user.id, tus_id) if is_ulid(tus_id) else None
        if record is None:
            raise NotFound("No resumable upload with that id.")
        if record.expires_at <= iso(now or clock.now()):
            self.discard(record)
            raise NotFound("This upload expired and was removed; send the file again.", code="upload_expired")
        return record

    def receive(self, user: User, tus_id: str, *, offset: int, read: Callable[[int], bytes],
                content_length: Optional[int] = None, checksum: Optional[tuple[str, bytes]] = None,
                on_stored: Callable[[Upload], Any] = lambda upload: None, now: Optional[datetime] = None) -> TusUpload:
        """One PATCH: bytes from `offset` on, read until the body ends or is cut (what arrived then counts,
        unless a checksum was sent); the last byte finishes the upload, and on_stored hears of a new Upload."""
        now = now or clock.now()
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
            return self._complete(user, record, None, now, on_stored)
        # The daily allowance counts the bytes this PATCH brings, declared or not.
        allowance = admit(self.catalog, user, self.budgets, declared=content_length or 0, reservation_id=record.id,
                          quota=False, count_upload=False)
        kept = 0
        try:
            record = self._save(record.evolve(patching_since=iso(now)))  # this PATCH now owns the upload
            if record is None:
                raise moved_on()
            stretch = PatchBody(self.storage, self.catalog, record, self._tail(record), limits=self.limits,
                                in_flight=self.settings.in_flight, checksum=checksum, on_size=allowance.need)
            try:
                cut = stretch.pull(read)
                stretch.verify(cut)
                record = self._commit(stretch)
                kept = stretch.received
            except Refusal as refusal:
                stretch.abandon()
                self._refuse(stretch.record, refusal.error)
                raise refusal.error from None
            except BaseException:
                stretch.abandon()
                self._quietly(self._save, record.evolve(patching_since=None))
                raise
            finally:
                stretch.close()
        finally:
            allowance.settle(kept)
        if record.offset == record.length:
            return self._complete(user, record, stretch.rest(), now, on_stored)
        return record

    def position(self, user: User, tus_id: str, wait: float = 1.0) -> TusUpload:
        """For HEAD: the upload once no PATCH is half-way through it, waiting up to `wait` seconds, so that a
        client asking right after its connection dropped hears of the bytes the server was still taking in."""
        record = self.find(user, tus_id)
        deadline, pause = time.monotonic() + wait, 0.01
        while record.patching_since and time.monotonic() < deadline and \
                parse_iso(record.patching_since) > clock.now() - BUSY_PATCH:
            with PATCH_SETTLED:  # woken as soon as a PATCH in this process lets go; others are read again
                PATCH_SETTLED.wait(min(pause, max(0.0, deadline - time.monotonic())))
            pause *= 2  # a few reads at most, soon after the drop, where the answer usually is
            record = self.find(user, tus_id)
        return record

    def terminate(self, user: User, tus_id: str) -> None:
        """tus termination: the upload and every byte of it go (a stored Upload stays)."""
        self.discard(self.find(user, tus_id))

    def discard(self, record: TusUpload) -> None:
        """Remove the parts, the tails, the quota reservation and the record."""
        self._drop_bytes(record)
        self._release(record)
        self.catalog.delete_tus(record)

    def cleanup_expired(self, now: Optional[datetime] = None, batch: int = 100) -> int:
        """Discard every upload past its expiry; how many."""
        stamp, count = iso(now or clock.now()), 0
        while True:
            expired = self.catalog.expired_tus(stamp, limit=batch)
            for record in expired:
                self.discard(record)
            count += len(expired)
            if len(expired) < batch:
                return count

    # one PATCH's bytes
    def _tail(self, record: TusUpload) -> bytes:
        """The bytes past the last full part, from the tail object; 404 (and the upload dropped) if it is lost."""
        if not record.tail_key:
            return b""
        try:
            stream = self.storage.open(record.tail_key)
        except MomentoError as exc:
            if exc.status != 404:
                raise
            current = self.catalog.get_tus(record.user_id, record.id)
            if current is not None and current.rev != record.rev:
                raise moved_on() from None
            self.discard(record)
            raise NotFound("The stored bytes of this upload are gone; send the file again.",
                           code="upload_lost") from None
        try:
            return b"".join(stream)
        finally:
            stream.close()

    def _commit(self, stretch: PatchBody) -> TusUpload:
        """Record what the PATCH brought (new tail first, then the compare-and-set); 409 when another won."""
        record, etags = stretch.record, stretch.etags()
        if not stretch.received:
            return self._save(record.evolve(patching_since=None)) or record
        offset = record.offset + stretch.received
        rest = stretch.rest()
        # a key of this PATCH's own: one that lost the compare-and-set below removes its tail without touching
        # the winner's, even when both ended at the same offset
        tail_key = f"{record.tail_prefix}tail-{offset}-{secrets.token_hex(4)}" if rest else None
        if tail_key:
            self.storage.put_bytes(tail_key, rest, "application/octet-stream")
        stored = self._save(record.evolve(offset=offset, etags=etags, tail_key=tail_key,
                                          hash_state=save_hash(stretch.hasher), patching_since=None))
        if stored is None:
            if tail_key:
                self._quietly(self.storage.delete, tail_key)
            raise moved_on()
        if record.tail_key and record.tail_key != tail_key:
            self._quietly(self.storage.delete, record.tail_key)
        return stored

    # the last byte
    def _complete(self, user: User, record: TusUpload, final: Optional[bytes], now: datetime,
                  on_stored: Callable[[Upload], Any]) -> TusUpload:
        """All bytes are in: claim the finish, skip a duplicate, join the object, then the pipeline's steps."""
        record = self._save(record.evolve(state=COMPLETING, completing_since=iso(now)))
        if record is None:
            raise Conflict("Another request is finishing this upload.", code="upload_busy")
        try:
            hasher = load_hash(record.hash_state)
            sha256 = hasher.finalize() if hasher is not None else None
            existing = find_duplicate(self.catalog, user.id, sha256, record.tags) if sha256 else None
            if existing is not None:  # (or this very upload, recorded by a finish that died before settling)
                self._drop_bytes(record)
                return self._settle(record, STORED, result_id=existing.id, duplicate=existing.id != record.upload_id)
            final = self._tail(record) if final is None else final
            if record.kind is None:  # a file shorter than the sniff window
                record = sniff_record(record, final, self.limits)
            self._assemble(record, final)
        except Refusal as refusal:
            self._refuse(record, refusal.error)
            raise refusal.error from None
        except BaseException:
            self._quietly(self._save, record.evolve(state=RECEIVING, completing_since=None))
            raise
        try:
            result = ingest_stored(self.storage, self.catalog, user, record.key, Sniffed(record.kind, record.mime, record.ext),
                                   size=record.length,
                                   sha256=sha256, filename=record.filename, tags=record.tags, limits=self.limits,
                                   upload_id=record.upload_id)
        except BaseException as exc:  # the pipeline removed the object; the bytes cannot be sent again
            self._refuse(record, exc if isinstance(exc, MomentoError) else
                         BackendError("The file could not be stored; send it again."))
            raise
        self._drop_bytes(record)
        if not result.duplicate:
            on_stored(result.upload)
        return self._settle(record, STORED, result_id=result.upload.id, duplicate=result.duplicate)

    def _assemble(self, record: TusUpload, final: bytes) -> None:
        """The object at its key: the parts and the last piece joined, or the whole small file in one put."""
        if record.parts_ref is None:
            self.storage.put_bytes(record.key, final, record.mime)
            return
        etags = record.etags
        try:
            if final:
                etags += (self.storage.put_part(record.key, record.parts_ref, len(etags) + 1, final),)
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
        settled = record.evolve(state=state, completing_since=None, patching_since=None, parts_ref=None, etags=(),
                                tail_key=None, hash_state=None, **changes)
        saved = self._save(settled)
        if self.on_settled is not None:
            self.on_settled(settled)
        if saved is None:
            log.warning("resumable upload %s changed while it was being finished", record.id)
        self._release(record)  # stored: the upload's record counts the bytes now; refused: nothing of it stays
        return saved or settled

    def _release(self, record: TusUpload) -> None:
        """Give back the quota its length held (the expiry of the reservation does it too, if this fails)."""
        if record.reserved:
            self._quietly(self.catalog.release_bytes, record.user_id, record.id)

    def _save(self, record: TusUpload) -> Optional[TusUpload]:
        """Compare-and-set the record; None when another request changed it first. A record saved with no PATCH
        on it wakes the HEADs of this process waiting for one to end."""
        saved = self.catalog.update_tus(record)
        if record.patching_since is None:
            with PATCH_SETTLED:
                PATCH_SETTLED.notify_all()
        return saved

    def _drop_bytes(self, record: TusUpload) -> None:
        """Abort the parts and delete the tails; a store that refuses (a web role that may not delete) logs."""
        if record.parts_ref and record.key:
            self._quietly(self.storage.abort_parts, record.key, record.parts_ref)
        try:
            tails = [obj.key for obj in self.storage.list(record.tail_prefix)]
        except MomentoError as exc:
            log.warning("could not list the tails of resumable upload %s: %s", record.id, exc.message)
            return
        for key in tails:
            self._quietly(self.storage.delete, key)

    @staticmethod
    def _quietly(action: Callable, *args: Any) -> Any:
        """Run a clean-up step; a failure is logged, not raised."""
        try:
            return action(*args)
        except MomentoError as exc:  # the lifecycle rule, tus-cleanup or verify finish the job
            log.warning("resumable upload clean-up: %s failed: %s", getattr(action, "__name__", action), exc.message)
            return None
