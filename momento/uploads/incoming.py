"""A file arriving in pieces (a form body, a tus upload's object, an imported file): sniffed, hashed, streamed."""
from __future__ import annotations

import hashlib
import tempfile
from contextlib import contextmanager
from typing import BinaryIO, Callable, Iterable, Iterator, Optional

from ulid import ULID

from ..errors import BadRequest, TooLarge
from ..formats import human_bytes_binary
from ..media.sniff import SNIFF_BYTES, Sniffed, sniff
from ..models import User, media_key
from ..storage import Storage
from .commit import Arrived, IngestResult, Limits, commit
from .sparse import Mp4Keeper, SparseFile

CHUNK = 1024 * 1024
SPARSE_EXTS = ("mp4", "mov")  # formats read by box walks and indexes; WebM and photos are copied whole
# Told (kind, bytes) of every read back from the store to decode a file it already holds. The metrics sit on a
# floor above this one, so they register here and the bytes are counted where they are read.
READ_BACK_HOOKS: list[Callable[[Optional[str], int], None]] = []


def too_large(kind: str, limit: int) -> TooLarge:
    """The refusal of a file over its kind's size limit (one message for every front door)."""
    return TooLarge(f"This {kind} is larger than the {human_bytes_binary(limit)} limit for {kind}s.",
                    code="file_too_large")


def sniff_head(head: bytes, size: int, limits: Limits) -> Sniffed:
    """What the first bytes say the file is; 415 for non-media, 413 when `size` is over its kind's limit."""
    if not head:
        raise BadRequest("The file is empty.", code="empty_file")
    found = sniff(head[:SNIFF_BYTES])
    if size > limits.for_kind(found.kind):
        raise too_large(found.kind, limits.for_kind(found.kind))
    return found


class IncomingUpload:
    """One file arriving in pieces: sniffed from its first bytes, hashed and written to the store as it comes.

    Non-media is refused as soon as the first bytes are in; a size over the kind's limit as soon as it is
    passed. The store keeps nothing visible until finish() has decoded the file: a refused or cut-off
    upload leaves nothing behind. Decoders read a local copy: the store's own temporary file for the local
    backend; for S3 a temporary file on this disk (deleted at the end of the request): the whole file for
    photos and WebM, for MP4/MOV a sparse copy of the index and opening media (sparse.py). Should decoding
    reach bytes not kept, the original is published early and the bytes fetched from it (a crash then
    leaves an object without a record, which `verify --repair` removes, as for a finished tus upload).
    """

    def __init__(self, storage: Storage, catalog, user: User, *, filename: Optional[str], limits: Limits,
                 on_size: Optional[Callable[[int], None]] = None):
        self.storage, self.catalog, self.user = storage, catalog, user
        self.filename, self.limits = filename, limits
        self.on_size = on_size  # told the size so far; raises to stop the upload (quota, daily allowance)
        self.upload_id = str(ULID())
        self.sniffed: Optional[Sniffed] = None
        self.size = 0
        self._head = bytearray()
        self._digest = hashlib.sha256()
        self._writer = None
        self._copy = None  # the local copy when the store keeps none on this disk
        self._keeper: Optional[Mp4Keeper] = None  # what of an MP4/MOV goes into a sparse copy
        self._published = False
        self._expected: Optional[int] = None

    def expect(self, size: int) -> None:
        """The file will most likely be `size` bytes long (the form's length says so); the store may use it."""
        self._expected = size
        if self._writer is not None:
            self._writer.expect(size)

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
        self.sniffed = sniff_head(bytes(self._head[:SNIFF_BYTES]), 0, self.limits)
        key = media_key(self.user.id, self.sniffed.kind, self.upload_id, self.sniffed.ext)
        self._writer = self.storage.writer(key, self.sniffed.mime)
        if self._expected is not None:
            self._writer.expect(self._expected)
        if self._writer.local_path is None and self.sniffed.ext in SPARSE_EXTS:
            self._copy = SparseFile(self.storage.scratch_dir())
            self._keeper = Mp4Keeper(self._copy)
        elif self._writer.local_path is None:
            self._copy = tempfile.NamedTemporaryFile(dir=self.storage.scratch_dir(), prefix="decode-")
        head, self._head = bytes(self._head), bytearray()
        self._write(head)

    def _write(self, data: bytes) -> None:
        self.size += len(data)
        limit = self.limits.for_kind(self.sniffed.kind)
        if self.size > limit:
            raise too_large(self.sniffed.kind, limit)
        if self.on_size is not None:
            self.on_size(self.size)
        self._digest.update(data)
        self._writer.write(data)
        if self._keeper is not None:
            self._keeper.feed(data)
        elif self._copy is not None:
            self._copy.write(data)

    def finish(self, tags: tuple[str, ...]) -> IngestResult:
        """All bytes are in: the commit step decodes, then publishes and records, or discards everything."""
        if self.sniffed is None:
            self._start()
        arrived = Arrived(user=self.user, upload_id=self.upload_id, sniffed=self.sniffed, path=self._local_path(),
                          size=self.size, sha256=self._digest.hexdigest(), filename=self.filename, tags=tags,
                          publish=self._publish, discard=self._discard, open_file=self._opener())
        try:
            return commit(self.storage, self.catalog, arrived, self.limits)
        finally:
            self._close_copy()

    def _opener(self) -> Optional[Callable[[], BinaryIO]]:
        """How decoders open a sparse copy (None: they read the path)."""
        if self._keeper is None:
            return None
        self._keeper.finish()
        return lambda: self._copy.reader(self._fetch)

    def _fetch(self, start: int, end: int) -> bytes:
        """Bytes the sparse copy lacks, from the original: published first (an object being written cannot be
        read)."""
        self._publish()
        return read_range(self.storage, self._writer.key, start, end, kind=self.sniffed.kind)

    @property
    def fetched(self) -> int:
        """Bytes fetched back from the store to decode (0 when the local copy held all that was needed)."""
        return getattr(self._copy, "fetched", 0)

    def _local_path(self) -> str:
        if self._keeper is not None:
            return self._copy.name
        if self._copy is not None:
            self._copy.flush()
            return self._copy.name
        self._writer.flush()
        return self._writer.local_path

    def _publish(self) -> None:
        if self._published:
            return
        self._writer.commit()
        self._published = True

    def _discard(self) -> None:
        if self._published:  # the record failed after the original became visible
            self.storage.delete(self._writer.key)
        else:
            self._writer.abort()

    def _close_copy(self) -> None:
        if self._copy is not None:
            self._copy.close()
            self._copy = None

    def abort(self) -> None:
        """Throw away what arrived; nothing of it stays in the store or on this disk."""
        if self._writer is not None:
            self._writer.abort()
        self._close_copy()


def ingest_chunks(storage: Storage, catalog, user: User, chunks: Iterable[bytes], *, filename: Optional[str],
                  tags: tuple[str, ...], limits: Limits, on_size: Optional[Callable[[int], None]] = None,
                  expected: Optional[int] = None) -> IngestResult:
    """Run one file, given as an iterable of byte strings, through the pipeline (`expected`: its likely size)."""
    incoming = IncomingUpload(storage, catalog, user, filename=filename, limits=limits, on_size=on_size)
    if expected:
        incoming.expect(expected)
    try:
        for chunk in chunks:
            incoming.feed(chunk)
        return incoming.finish(tags)
    except BaseException:
        incoming.abort()
        raise


def ingest(storage: Storage, catalog, user: User, stream: BinaryIO, *, filename: Optional[str],
           tags: tuple[str, ...], limits: Limits, on_size: Optional[Callable[[int], None]] = None,
           expected: Optional[int] = None) -> IngestResult:
    """Run one file read from a binary stream through the pipeline (`expected`: its likely size, when known)."""
    return ingest_chunks(storage, catalog, user, iter(lambda: stream.read(CHUNK), b""), filename=filename,
                         tags=tags, limits=limits, on_size=on_size, expected=expected)


def ingest_stored(storage: Storage, catalog, user: User, key: str, sniffed: Sniffed, *, size: int,
                  sha256: Optional[str], filename: Optional[str], tags: tuple[str, ...], limits: Limits,
                  upload_id: str) -> IngestResult:
    """A file the store already holds at `key` (a finished resumable upload): decode a local copy, derive, record.

    The object is removed again when the file is refused, turns out to be a duplicate, or cannot be recorded.
    Without `sha256` it is computed from the copy.
    """
    def discard() -> None:
        storage.delete(key)

    committing = False  # from here on commit() discards the object itself when it fails
    try:
        with local_copy(storage, key, hashed=sha256 is None, size=size, sniffed=sniffed) as (path, digest, opener):
            arrived = Arrived(user=user, upload_id=upload_id, sniffed=sniffed, path=path, size=size,
                              sha256=sha256 or digest, filename=filename, tags=tags, publish=lambda: None,
                              discard=discard, open_file=opener)
            committing = True
            return commit(storage, catalog, arrived, limits)
    except BaseException:
        if not committing:
            _quietly(discard)
        raise


@contextmanager
def local_copy(storage: Storage, key: str, *, hashed: bool, size: Optional[int] = None,
               sniffed: Optional[Sniffed] = None) -> Iterator[tuple[str, Optional[str], Optional[Callable]]]:
    """The object's bytes on this disk, their sha256 if asked, and an opener when the copy is sparse.

    Locally the object's own file; from S3, an MP4/MOV whose digest is known is read back only where the
    decoders read (its index and opening frames, by ranged GETs into a sparse file); anything else is copied
    whole into a temporary file. Every byte read from the store is reported to READ_BACK_HOOKS.
    """
    digest = hashlib.sha256() if hashed else None
    kind = sniffed.kind if sniffed is not None else None
    path = storage.local_path(key)
    if path is not None:
        if digest is not None:
            with open(path, "rb") as f:
                while chunk := f.read(CHUNK):
                    digest.update(chunk)
        yield path, digest.hexdigest() if digest else None, None
        return
    if not hashed and size and sniffed is not None and sniffed.ext in SPARSE_EXTS:
        sparse = SparseFile(storage.scratch_dir())
        try:
            sparse.set_size(size)
            yield sparse.name, None, lambda: sparse.reader(
                lambda start, end: read_range(storage, key, start, end, kind=kind))
        finally:
            sparse.close()
        return
    with tempfile.NamedTemporaryFile(dir=storage.scratch_dir(), prefix="decode-") as copy:
        stream, copied = storage.open(key), 0
        try:
            for chunk in stream:
                copy.write(chunk)
                copied += len(chunk)
                if digest is not None:
                    digest.update(chunk)
        finally:
            stream.close()
            report_read_back(kind, copied)  # also what was read before a failure
        copy.flush()
        yield copy.name, digest.hexdigest() if digest else None, None


def read_range(storage: Storage, key: str, start: int, end: int, *, kind: Optional[str] = None) -> bytes:
    """The bytes [start, end) of a stored object, reported as read back for decoding a `kind` file."""
    stream = storage.open(key, start, end - 1)
    try:
        data = b"".join(stream)
    finally:
        stream.close()
    report_read_back(kind, len(data))
    return data


def report_read_back(kind: Optional[str], nbytes: int) -> None:
    """Tell READ_BACK_HOOKS of `nbytes` read back from the store to decode a `kind` file."""
    if nbytes > 0:
        for hook in READ_BACK_HOOKS:
            hook(kind, nbytes)


def _quietly(action: Callable[[], None]) -> None:
    try:
        action()
    except Exception:  # noqa: BLE001 - verify finds what could not be removed
        pass
