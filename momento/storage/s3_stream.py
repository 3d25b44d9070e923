"""One S3 PutObject whose body is sent while it arrives: for an object whose length is known before its bytes.

A form upload's length is known from its request's Content-Length as soon as the file's part begins. Sending it as
a single PUT spares S3 the parts and their joining (CompleteMultipartUpload). The request's thread hands the bytes
over through a bounded pipe to a thread of the put's own, which botocore reads like a file; the last byte waits
for the commit, so the object appears only then, as a multipart upload's does at its completion.
"""
from __future__ import annotations

import io
import threading
from collections import deque
from typing import Any, Optional
from urllib.parse import urlparse

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import BackendError
from .s3_errors import failed

MAX_PUT = 5 * 1024 ** 3  # S3's largest single PUT


class PipeCancelled(Exception):
    """The writer gave up: the PUT stops mid-body, and S3 keeps nothing of it."""


class BytePipe:
    """Byte strings handed from one thread (write) to another (read), with at most `limit` bytes waiting.

    read() gives what was written, in order, at most `size` bytes at a time, then b"" once `length` bytes were
    read (the request is then whole, and its answer need not wait for the writer) or close() was called.
    The reader may seek back to the start as long as it has read nothing (botocore does so before it retries a
    request that S3 refused before its body was sent); past that, a retry cannot resend the body and fails.
    """

    def __init__(self, limit: int, length: int):
        self.limit, self.length = limit, length
        self._chunks: deque[bytes] = deque()
        self._waiting = 0  # bytes written, not yet read
        self._read = 0
        self._closed = False
        self._cancelled = False
        self._reader_gone = False
        self._cond = threading.Condition()

    def write(self, data: bytes) -> None:
        """Queue data, waiting while `limit` bytes already wait; PipeCancelled once the reader is gone (the PUT
        ended early, with an error of its own)."""
        with self._cond:
            while self._waiting >= self.limit and not self._reader_gone:
                self._cond.wait()
            if self._reader_gone:
                raise PipeCancelled("The object store stopped reading.")
            self._chunks.append(data)
            self._waiting += len(data)
            self._cond.notify_all()

    def close(self) -> None:
        """No more bytes: read() answers b"" once the waiting ones are read."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def cancel(self) -> None:
        """Make the reader's next read() fail, so the PUT stops short."""
        with self._cond:
            self._cancelled = True
            self._chunks.clear()
            self._waiting = 0
            self._cond.notify_all()

    def reader_gone(self) -> None:
        """The reader will read no more (its PUT has ended): writes fail rather than wait."""
        with self._cond:
            self._reader_gone = True
            self._cond.notify_all()

    # the file-like side, for botocore
    def read(self, size: int = -1) -> bytes:
        with self._cond:
            if self._read >= self.length:
                return b""
            while not self._chunks and not self._closed and not self._cancelled:
                self._cond.wait()
            if self._cancelled:
                raise PipeCancelled("The upload was abandoned.")
            if not self._chunks:
                return b""
            chunk = self._chunks.popleft()
            if 0 <= size < len(chunk):
                chunk, rest = chunk[:size], chunk[size:]
                self._chunks.appendleft(rest)
            self._waiting -= len(chunk)
            self._read += len(chunk)
            self._cond.notify_all()
            return chunk

    def readable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if offset == 0 and whence == io.SEEK_SET and self._read == 0 and not self._cancelled:
            return 0
        raise io.UnsupportedOperation("The bytes already sent cannot be sent again.")


def checksum_over_tls_only(params: dict, **_: Any) -> None:
    """A streamed PutObject's CRC32: botocore sends it as a trailer over https, as S3 requires for a body whose
    bytes are not known beforehand. Over plain http (a local S3 stand-in) botocore would hash the body before
    sending it, which a pipe cannot do, so it goes without: moto, for one, decodes trailer-encoded bodies in
    time that grows with the square of their size."""
    if not isinstance(params.get("body"), BytePipe) or urlparse(params.get("url", "")).scheme == "https":
        return
    checksum = params.get("context", {}).get("checksum", {})
    checksum.pop("request_algorithm", None)
    checksum.pop("request_algorithm_header", None)


class StreamedPut:
    """PutObject of `length` bytes, sent while write() hands them over; finish() waits for S3's answer. The client
    has checksum_over_tls_only registered (S3Storage.streaming_writes)."""

    def __init__(self, client: Any, bucket: str, key: str, content_type: str, length: int, *, limit: int,
                 extra: Optional[dict] = None):
        self.length, self.sent = length, 0  # sent: handed over, the held-back last byte included
        self._last = b""
        self.pipe = BytePipe(limit, length)
        self._args = {"Bucket": bucket, "Key": key, "ContentType": content_type, "ContentLength": length,
                      **(extra or {})}
        self._client = client
        self._answer: Optional[dict] = None
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, name="s3-put", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._answer = self._client.put_object(Body=self.pipe, **self._args)
        except BaseException as exc:  # noqa: BLE001 - reported to the writer's thread
            self._error = exc
        finally:
            self.pipe.reader_gone()

    def write(self, data: bytes) -> None:
        """Send the next bytes (never past `length`); a failed PUT is raised here as a BackendError.

        The object's last byte is held back until finish(): S3 stores nothing before its body is whole, so the
        object stays invisible until then, and cancel() leaves nothing (a key that may not delete included)."""
        if self.sent + len(data) > self.length:
            raise ValueError("More bytes than the object's announced length.")
        self.sent += len(data)
        if self.sent == self.length and data:
            data, self._last = data[:-1], data[-1:]
        if data:
            self._hand_over(data)

    def _hand_over(self, data: bytes) -> None:
        try:
            self.pipe.write(data)
        except PipeCancelled:
            self._thread.join()
            raise self._failure() from None

    def finish(self) -> dict:
        """All `length` bytes are written: S3's answer to the PUT (the object is stored now), or its BackendError."""
        if self._last:
            self._hand_over(self._last)
            self._last = b""
        self.pipe.close()
        self._thread.join()
        if self._answer is None:
            raise self._failure()
        return self._answer

    def cancel(self) -> bool:
        """Stop the PUT short of its last byte; True only if it had landed all the same (after finish())."""
        self.pipe.cancel()
        self._thread.join()
        return self._answer is not None

    def _failure(self) -> BackendError:
        exc = self._error
        if isinstance(exc, (BotoCoreError, ClientError)):
            return failed("store the object", exc)
        return BackendError(f"The object store failed to store the object ({type(exc).__name__}).", backend="s3",
                            operation="store")
