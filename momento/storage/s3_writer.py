"""Writing one object to S3 as its bytes arrive: multipart parts uploaded while the next part fills."""
from __future__ import annotations

import base64
from typing import Any, Optional

import crc32c
from botocore.exceptions import BotoCoreError, ClientError

from ..errors import BackendError
from ..models import ObjectInfo
from .parts import PartSender
from .s3_errors import failed
from .s3_stream import MAX_PUT, StreamedPut

MiB = 1024 * 1024
# The multipart upload is begun with this algorithm, each part carries its checksum and the completion lists them:
# S3 checks every part and keeps a checksum of checksums (COMPOSITE), with no second pass over the whole object.
# CRC32C, computed here in hardware (SSE4.2 / ARMv8 CRC: several times faster than zlib's CRC32 in software).
CHECKSUM = "CRC32C"


class S3Writer:
    """An object being written: small ones go in one PUT at commit, larger ones as a multipart upload, or, when
    the object's length was announced by expect(), as one PUT sent while the bytes arrive.

    Memory stays at `in_flight` parts, the one filling among them, whatever the object's size: a part starts to
    fill only once fewer than `in_flight` are out, so the receiver waits on S3 with no third part in hand. A
    streamed PUT holds at most one part's worth of bytes waiting to be sent.
    """

    local_path: Optional[str] = None  # nothing is kept on this disk

    def __init__(self, storage: Any, key: str, content_type: str, *, part_size: int, in_flight: int):
        self.storage, self.key, self.content_type = storage, key, content_type
        self.part_size = max(part_size, 5 * MiB)  # S3's smallest part (but for the last)
        self.in_flight = in_flight
        self._buffer = bytearray()
        self._filled = 0  # bytes of _buffer in use (a reused buffer is a whole part long)
        self._spare: list[bytearray] = []  # buffers of parts already sent, filled again rather than allocated
        self._upload_id: Optional[str] = None
        self._parts = PartSender(self._upload_part, in_flight, executor=storage.executor)
        self.size = 0
        self._put: Optional[StreamedPut] = None  # the streamed PUT, once expect() began one
        self._overflow = bytearray()  # bytes past the announced length (the announcement fell short)

    def expect(self, size: int) -> None:
        """The object will most likely be `size` bytes: past one part (and within S3's largest PUT) it goes up as
        one PUT of that length, sent while the bytes arrive. Should it turn out shorter or longer, commit()
        makes it right with a copy inside S3. Ignored once parts have gone, or when already past `size`."""
        if (self._put is not None or self._upload_id is not None or not self.part_size < size <= MAX_PUT
                or self.size > size):
            return
        self._put = StreamedPut(self.storage.streaming_writes(), self.storage.bucket, self.key, self.content_type, size,
                                limit=self.part_size, extra=self.storage._encryption_args())
        held, self._buffer, self._filled = bytes(self._buffer), bytearray(), 0
        if held:
            self._put.write(held)

    def write(self, data: bytes) -> None:
        """Add bytes; each full part is handed to the pool, and the next one starts once a slot is free.

        The buffer fills to exactly one part and is handed over as it is, so a part is never copied.
        """
        self.size += len(data)
        if self._put is not None:
            self._stream(data)
            return
        view = memoryview(data)
        while len(view):
            if not self._filled and self._upload_id is not None:
                self._parts.reserve()  # the part about to fill counts among those in flight
                # a sent part's buffer, else a new one: a whole part at once, no growing (the first part grows,
                # as a small file never needs a whole part)
                self._buffer = self._spare.pop() if self._spare else bytearray(self.part_size)
            n = min(len(view), self.part_size - self._filled)
            if self._upload_id is None:
                self._buffer += view[:n]
            else:
                self._buffer[self._filled:self._filled + n] = view[:n]
            self._filled += n
            view = view[n:]
            if self._filled == self.part_size:
                part, self._buffer, self._filled = self._buffer, bytearray(), 0
                self._send(part)

    def _stream(self, data: bytes) -> None:
        """Bytes for the streamed PUT, kept aside past its announced length."""
        room = self._put.length - self._put.sent
        if len(data) > room:
            self._overflow += data[room:]
            if len(self._overflow) > self.part_size:
                raise ValueError("The object is far longer than announced.")
            data = data[:room]
        if data:
            self._put.write(bytes(data) if not isinstance(data, bytes) else data)

    def _send(self, part: bytes | bytearray) -> None:
        """Hand a full part to the sender (begun as a multipart upload on the first), waiting for a free slot."""
        if self._upload_id is None:
            answer = self._call(self.storage.writes.create_multipart_upload, Bucket=self.storage.bucket, Key=self.key,
                                ContentType=self.content_type, ChecksumAlgorithm=CHECKSUM,
                                **self.storage._encryption_args())
            self._upload_id = answer["UploadId"]
        self._parts.submit(part)

    def _upload_part(self, number: int, part: bytes | bytearray) -> dict:
        crc = part_checksum(part)
        answer = self._call(self.storage.writes.upload_part, Bucket=self.storage.bucket, Key=self.key,
                            UploadId=self._upload_id, PartNumber=number, Body=part, **checksum_args(crc))
        if len(part) == self.part_size:  # sent and answered: nothing reads it any more
            self._spare.append(part)
        return {"ETag": answer["ETag"], "crc": crc}

    def commit(self) -> ObjectInfo:
        """Finish the object; it becomes visible only now."""
        if self._put is not None:
            return self._finish_put()
        if self._upload_id is None:
            return self.storage.put_bytes(self.key, bytes(self._buffer), self.content_type)
        if self._filled:
            del self._buffer[self._filled:]  # the last part: only what it holds
            part, self._buffer, self._filled = self._buffer, bytearray(), 0
            self._send(part)
        parts = [listed_part(n, answer["ETag"], answer["crc"]) for n, answer in enumerate(self._parts.results(), 1)]
        answer = self._call(self.storage.writes.complete_multipart_upload, Bucket=self.storage.bucket, Key=self.key,
                            UploadId=self._upload_id, MultipartUpload={"Parts": parts})
        self._upload_id = None
        self._spare.clear()
        # What S3 answered is all there is to know: no read-back, so a write-only key is enough.
        return ObjectInfo(key=self.key, size=self.size, content_type=self.content_type,
                          etag=(answer.get("ETag") or "").strip('"'))

    def _finish_put(self) -> ObjectInfo:
        """End the streamed PUT (padded to its announced length when the object is shorter): S3 stores it now.
        Then cut or extend the stored object to the bytes written."""
        put = self._put
        while put.sent < put.length:  # the announcement was too long: what pads it is cut off below
            put.write(bytes(min(put.length - put.sent, self.part_size)))
        answer = put.finish()
        self._put = None  # landed: from here on a failure removes the object itself
        if self.size != put.length:
            try:
                answer = self._reshape(put.length)
            except BaseException:
                self._remove()
                raise
        return ObjectInfo(key=self.key, size=self.size, content_type=self.content_type,
                          etag=(answer.get("ETag") or "").strip('"'))

    def _reshape(self, stored: int) -> dict:
        """Make the object at key its first self.size bytes: the `stored` ones sent (cut), or those followed by
        the overflow (extended). A copy inside S3 when a part of it is allowed (5 MiB) and the key may read what
        it copies; else the bytes come back through this server (a write-only key, MOMENTO_UPLOADER_*)."""
        kept = min(stored, self.size)
        if self.size >= 5 * MiB:
            copied = self._copy_within(kept)
            if copied is not None:
                return copied
        return self._rewrite(kept)

    def _copy_within(self, kept: int) -> Optional[dict]:
        """The first `kept` bytes copied inside S3 as part 1, the overflow sent as part 2; None when the key may
        not read what it would copy."""
        storage = self.storage
        ref = storage.begin_parts(self.key, self.content_type)
        try:
            first = storage.copy_part(self.key, ref, 1, self.key, 0, kept - 1)
            if first is not None:
                parts = [(1, first)] + ([(2, storage.put_part(self.key, ref, 2, bytes(self._overflow)))]
                                        if self._overflow else [])
                return {"ETag": storage.complete_parts(self.key, ref, parts).etag}
        except BaseException:
            _quietly_abort(storage, self.key, ref)
            raise
        _quietly_abort(storage, self.key, ref)
        return None

    def _rewrite(self, kept: int) -> dict:
        """Write the object again from its first `kept` bytes, read back, and the overflow (memory: its parts)."""
        writer = S3Writer(self.storage, self.key, self.content_type, part_size=self.part_size,
                          in_flight=self.in_flight)
        stream = self.storage.open(self.key, 0, kept - 1)
        try:
            for chunk in stream:
                writer.write(chunk)
            if self._overflow:
                writer.write(bytes(self._overflow))
            return {"ETag": writer.commit().etag}
        except BaseException:
            writer.abort()
            raise
        finally:
            stream.close()

    def _remove(self) -> None:
        try:
            self.storage.delete(self.key)
        except BackendError:
            pass  # verify --repair removes an object without its record

    def flush(self) -> None:
        """Nothing to do: S3's bytes are not read back before commit (the pipeline keeps its own copy)."""

    def abort(self) -> None:
        """Drop what was sent; safe to call after a failure or twice."""
        if self._put is not None:
            put, self._put = self._put, None
            if put.cancel():  # not expected (its last byte goes at commit), but then the object is removed
                self._remove()
        self._overflow = bytearray()
        self._parts.cancel()
        if self._upload_id is not None:
            try:
                self.storage.writes.abort_multipart_upload(Bucket=self.storage.bucket, Key=self.key,
                                                           UploadId=self._upload_id)
            except (BotoCoreError, ClientError):
                pass  # the bucket's lifecycle rule aborts it after 7 days
            self._upload_id = None
        self._buffer, self._filled = bytearray(), 0
        self._spare.clear()

    @staticmethod
    def _call(method, **kwargs) -> dict:
        try:
            return method(**kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise failed("store the object", exc) from exc


def _quietly_abort(storage: Any, key: str, ref: str) -> None:
    try:
        storage.abort_parts(key, ref)
    except BackendError:
        pass  # the bucket's lifecycle rule aborts it after 7 days


def part_checksum(data: bytes | bytearray) -> str:
    """The part's CRC32C as S3 writes it (base64 of the four big-endian bytes)."""
    return base64.b64encode(crc32c.crc32c(data).to_bytes(4, "big")).decode()


def checksum_args(crc: str) -> dict:
    """UploadPart's arguments for a part whose CRC32C is `crc` (given, boto3 computes none of its own)."""
    return {"ChecksumAlgorithm": CHECKSUM, "ChecksumCRC32C": crc}


def listed_part(number: int, etag: str, crc: Optional[str], algorithm: Optional[str] = CHECKSUM) -> dict:
    """A part as CompleteMultipartUpload lists it: its number, ETag and its checksum by `algorithm` (if any)."""
    return {"PartNumber": number, "ETag": etag, **({f"Checksum{algorithm}": crc} if crc and algorithm else {})}
