"""The object store: its interface (Storage, ObjectWriter, ObjectStream) and the factory that picks a backend.

local.py (+ local_parts.py, local_sync.py, local_debris.py): a folder, written durably; s3.py (+ s3_writer.py,
s3_stream.py, s3_parts.py, s3_delivery.py, s3_posture.py, s3_errors.py): a bucket; keys.py: the one key-safety
check."""
from __future__ import annotations

from typing import BinaryIO, Iterator, Optional, Protocol, Sequence

from ..models import ObjectInfo, PostureCheck


class ObjectStream(Protocol):
    """An open object (or a byte range of it), read in chunks and then closed."""

    info: ObjectInfo
    start: int
    end: int  # inclusive

    def __iter__(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...


class ObjectWriter(Protocol):
    """An object written as its bytes arrive; invisible until commit()."""

    key: str
    size: int
    local_path: Optional[str]  # where the bytes can be read before commit, when they are on this disk

    def write(self, data: bytes) -> None: ...

    def expect(self, size: int) -> None:
        """The object will most likely be `size` bytes (a form's Content-Length tells); what is written decides.
        S3 then sends a large object as one PUT while it arrives."""

    def flush(self) -> None:
        """Make the bytes written so far readable at local_path (when there is one)."""

    def commit(self) -> ObjectInfo: ...

    def abort(self) -> None: ...


class Storage(Protocol):
    """Keys to bytes. Keys look like `user-<id>/photos/<uploadId>.<ext>`."""

    # durable (the default): the object survives a power cut once the call returns. durable=False is for what
    # can be made again (thumbnails, renditions): the local backend then skips its fsyncs; S3 is always durable.
    def put(self, key: str, stream: BinaryIO, content_type: str, *, durable: bool = True) -> ObjectInfo:
        """Store the stream's bytes under key (read in parts; memory stays bounded)."""

    def writer(self, key: str, content_type: str, *, durable: bool = True) -> ObjectWriter:
        """Start writing key as bytes arrive (parts on S3, a temporary file renamed into place locally)."""

    def put_bytes(self, key: str, data: bytes, content_type: str, *, durable: bool = True) -> ObjectInfo:
        """Store a small value under key."""

    def open(self, key: str, start: Optional[int] = None, end: Optional[int] = None) -> ObjectStream:
        """Open key for reading, optionally the inclusive byte range start..end."""

    def stat(self, key: str) -> ObjectInfo:
        """Size, type and ETag of key; ObjectMissing when absent."""

    def delete(self, key: str) -> None:
        """Remove key; removing a missing key is not an error."""

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object under prefix, in key order."""

    def check(self) -> None:
        """Raise BackendError unless the store answers."""

    def check_posture(self) -> list[PostureCheck]:
        """How the bucket or folder differs from what create() makes; changes nothing."""

    # objects written part by part across requests (resumable uploads): the caller keeps ref and ETags
    def begin_parts(self, key: str, content_type: str) -> str:
        """Start an object at key written in numbered parts; a reference for the calls below."""

    def put_part(self, key: str, upload_ref: str, number: int, data: bytes) -> str:
        """Store part `number` (1-based; 5 MiB at least, but for the last), durably; its ETag. Storing a number
        again replaces it."""

    def complete_parts(self, key: str, upload_ref: str, parts: Sequence[tuple[int, str]]) -> ObjectInfo:
        """Join the (number, ETag) parts, in order, into the object at key, which becomes visible only now."""

    def abort_parts(self, key: str, upload_ref: str) -> None:
        """Throw the parts away; safe to repeat."""

    def local_path(self, key: str) -> Optional[str]:
        """Where key's bytes can be read on this disk (the local backend), else None."""

    # delivery straight from the store (S3): a time-limited GET URL that needs no credentials
    def presigned_url(self, key: str, *, content_type: str, disposition: str, seconds: int) -> Optional[str]:
        """A URL that GETs key (ranges too) for `seconds`, answering with these Content-Type and
        Content-Disposition; None when the store cannot hand out such URLs (the local folder)."""

    def delivery_origin(self) -> Optional[str]:
        """The scheme://host[:port] that presigned URLs point at (for the pages' CSP); None without them."""

    def scratch_dir(self) -> str:
        """A folder on this disk for temporary files (decode copies, renditions), swept of what a crash left."""

    def create(self) -> None:
        """Make what the store needs (folders, or the bucket with its settings); safe to call again."""


def make_storage(app) -> Storage:
    """The storage backend chosen by MOMENTO_BACKEND."""
    if app.config["BACKEND"] == "aws":
        from .s3 import S3Storage

        return S3Storage.from_app(app)
    from .local import LocalStorage

    return LocalStorage.from_app(app)
