"""Writing one object to S3 as its bytes arrive: multipart parts uploaded while the next part fills."""
from __future__ import annotations

import base64
from typing import Any, Optional

import crc32c
from botocore.exceptions import BotoCoreError, ClientError

from ..models import ObjectInfo
from .parts import PartSender
from .s3_errors import failed

MiB = 1024 * 1024
# The multipart upload is begun with this algorithm, each part carries its checksum and the completion lists them:
# S3 checks every part and keeps a checksum of checksums (COMPOSITE), with no second pass over the whole object.
# CRC32C, computed here in hardware (SSE4.2 / ARMv8 CRC: several times faster than zlib's CRC32 in software).
CHECKSUM = "CRC32C"


class S3Writer:
    """An object being written: small ones go in one PUT at commit, larger ones as a multipart upload.

    Memory stays at `in_flight` parts, the one filling among them, whatever the object's size: a part starts to
    fill only once fewer than `in_flight` are out, so the receiver waits on S3 with no third part in hand.
    """

    local_path: Optional[str] = None  # nothing is kept on this disk

    def __init__(self, storage: Any, key: str, content_type: str, *, part_size: int, in_flight: int):
        self.storage, self.key, self.content_type = storage, key, content_type
        self.part_size = max(part_size, 5 * MiB)  # S3's smallest part (but for the last)
        self._buffer = bytearray()
        self._filled = 0  # bytes of _buffer in use (a reused buffer is a whole part long)
        self._spare: list[bytearray] = []  # buffers of parts already sent, filled again rather than allocated
        self._upload_id: Optional[str] = None
        self._parts = PartSender(self._upload_part, in_flight, executor=storage.executor)
        self.size = 0

    def write(self, data: bytes) -> None:
        """Add bytes; each full part is handed to the pool, and the next one starts once a slot is free.

        The buffer fills to exactly one part and is handed over as it is, so a part is never copied.
        """
        self.size += len(data)
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

    def flush(self) -> None:
        """Nothing to do: S3's bytes are not read back before commit (the pipeline keeps its own copy)."""

    def abort(self) -> None:
        """Drop what was sent; safe to call after a failure or twice."""
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


def part_checksum(data: bytes | bytearray) -> str:
    """The part's CRC32C as S3 writes it (base64 of the four big-endian bytes)."""
    return base64.b64encode(crc32c.crc32c(data).to_bytes(4, "big")).decode()


def checksum_args(crc: str) -> dict:
    """UploadPart's arguments for a part whose CRC32C is `crc` (given, boto3 computes none of its own)."""
    return {"ChecksumAlgorithm": CHECKSUM, "ChecksumCRC32C": crc}


def listed_part(number: int, etag: str, crc: Optional[str], algorithm: Optional[str] = CHECKSUM) -> dict:
    """A part as CompleteMultipartUpload lists it: its number, ETag and its checksum by `algorithm` (if any)."""
    return {"PartNumber": number, "ETag": etag, **({f"Checksum{algorithm}": crc} if crc and algorithm else {})}
