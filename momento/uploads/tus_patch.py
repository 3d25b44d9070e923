"""The bytes of one tus PATCH: hashed, cut into the upload's fixed parts and sent to the store as they arrive."""
from __future__ import annotations

import hashlib
from typing import Callable, Optional

from ..catalog import Catalog
from ..errors import BadRequest, Conflict, MomentoError, TooLarge
from ..media.sniff import SNIFF_BYTES
from ..storage import Storage
from ..storage.parts import PartSender
from .commit import Limits
from .incoming import sniff_head
from .tus_record import MiB, TusUpload, load_hash

CHECKSUMS = ("md5", "sha1", "sha256")
READ = MiB


class BodyCut(Exception):
    """The client went away before the end of the body (raised by the body reader the route passes in)."""


class ChecksumMismatch(MomentoError):
    """The PATCH body does not match its Upload-Checksum (tus's own status code)."""

    status = 460
    code = "checksum_mismatch"


class Refusal(Exception):
    """The file itself is refused (its type, its size for its kind, its decoding): the upload ends with `error`."""

    def __init__(self, error: MomentoError):
        super().__init__(error.message)
        self.error = error


def moved_on() -> Conflict:
    """What a request that lost a race with another one on the same upload answers."""
    return Conflict("Another request moved this upload on; ask for its offset again.", code="offset_mismatch")


def sniff_record(record: TusUpload, head: bytes, limits: Limits) -> TusUpload:
    """The record with its kind, from the first bytes; Refusal for non-media or a file over its kind's limit."""
    try:
        found = sniff_head(head, record.length, limits)
    except MomentoError as exc:
        raise Refusal(exc) from exc
    return record.evolve(kind=found.kind, mime=found.mime, ext=found.ext)


class PatchBody:
    """One PATCH's bytes behind the stored tail, held as a list of pieces until a part is full.

    Memory stays at `in_flight` parts, the one filling among them (as for S3Writer). The multipart object is
    begun here once the first 8 KiB are in (then the kind, hence the key, is known). Nothing is recorded here:
    the caller commits the new offset, or calls abandon().
    """

    def __init__(self, storage: Storage, catalog: Catalog, record: TusUpload, tail: bytes, *, limits: Limits, in_flight: int,
                 checksum: Optional[tuple[str, bytes]] = None, on_size: Optional[Callable[[int], None]] = None):
        self.storage, self.catalog, self.record, self.limits = storage, catalog, record, limits
        self._pieces: list[bytes] = [tail] if tail else []
        self._held = len(tail)  # bytes past the last full part
        self.received = 0
        self.on_size = on_size  # told the bytes received so far; raises to stop the PATCH (the daily allowance)
        self.hasher = load_hash(record.hash_state)
        self.checksum = checksum
        self.check = hashlib.new(checksum[0]) if checksum else None
        self.began = False  # this PATCH began the multipart object (not yet in the catalog)
        self._parts = PartSender(self._put_part, in_flight, first_number=len(record.etags) + 1)

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
        if self.on_size is not None:
            self.on_size(self.received)
        if self.hasher is not None:
            self.hasher.update(chunk)
        if self.check is not None:
            self.check.update(chunk)
        if self.record.parts_ref:
            self._parts.reserve()  # the part these bytes fill counts among those in flight
        self._pieces.append(chunk)
        self._held += len(chunk)
        if self.record.kind is None and self._held >= SNIFF_BYTES:
            self.record = sniff_record(self.record, self.rest()[:SNIFF_BYTES], self.limits)
            self.record = self.record.evolve(parts_ref=self.storage.begin_parts(self.record.key, self.record.mime))
            self.began = True
        while self.record.parts_ref and self._held >= self.record.part_size:
            self._send(self._cut(self.record.part_size))

    def rest(self) -> bytes:
        """The bytes past the last full part: the next tail, or the last piece of the file."""
        if len(self._pieces) > 1:
            self._pieces = [b"".join(self._pieces)]
        return self._pieces[0] if self._pieces else b""

    def _cut(self, size: int) -> bytes:
        """The first `size` bytes held, copied once (only the piece that straddles the end is split)."""
        taken, need = [], size
        while need:
            piece = self._pieces[0]
            if len(piece) <= need:
                taken.append(self._pieces.pop(0))
                need -= len(piece)
            else:
                taken.append(piece[:need])
                self._pieces[0] = piece[need:]
                need = 0
        self._held -= size
        return b"".join(taken)

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
        current = self.catalog.get_tus(self.record.user_id, self.record.id)
        if current is None or current.rev != self.record.rev:
            raise moved_on()
        self._parts.submit(part)

    def _put_part(self, number: int, part: bytes) -> str:
        return self.storage.put_part(self.record.key, self.record.parts_ref, number, part)

    def etags(self) -> tuple[str, ...]:
        """The ETags of every full part so far, once this PATCH's parts are all in."""
        return self.record.etags + tuple(self._parts.results())

    def abandon(self) -> None:
        """Nothing of this PATCH counts: wait for its parts, and drop a multipart object it began."""
        self._parts.cancel()
        if self.began:
            try:
                self.storage.abort_parts(self.record.key, self.record.parts_ref)
            except MomentoError:  # the bucket's lifecycle rule aborts it in the end
                pass

    def close(self) -> None:
        """Let the part threads go."""
        self._parts.close()
