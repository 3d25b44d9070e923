"""Multipart objects on S3 driven part by part, across requests and servers (resumable uploads).

Unlike S3Writer, which sends the parts of one request, these calls keep no state in the process: the
upload id and the parts' ETags are the caller's to keep (in the catalog), so any server can add the next part.
"""
from __future__ import annotations

from typing import Optional, Sequence

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import BackendError, ObjectMissing
from ..models import ObjectInfo
from .s3_errors import error_code as _code
from .s3_writer import CHECKSUM, checksum_args, listed_part, part_checksum

GONE = {"NoSuchUpload", "404", "NotFound"}
DENIED = {"AccessDenied", "403"}


class S3Parts:
    """begin/put/complete/abort for S3Storage, each one S3 call."""

    def begin_parts(self, key: str, content_type: str) -> str:
        """CreateMultipartUpload at key (encrypted like every object), begun as a CRC32C one: "CRC32C <upload id>"."""
        answer = self._parts_call("start the object", self.writes.create_multipart_upload, Bucket=self.bucket,
                                  Key=key, ContentType=content_type, ChecksumAlgorithm=CHECKSUM,
                                  **self._encryption_args())
        return f"{CHECKSUM} {answer['UploadId']}"

    def put_part(self, key: str, upload_ref: str, number: int, data: bytes) -> str:
        """UploadPart `number` (1-based; at least 5 MiB unless it is the last); its ETag, and the part's checksum
        after a space when the upload was begun with one (both are listed at completion). Uploads begun by an
        earlier version as CRC32 ones (boto3 computes that checksum) or with none complete as they were begun."""
        checksum, upload_id = _ref(upload_ref)
        if checksum == CHECKSUM:
            crc: Optional[str] = part_checksum(data)
            extra = checksum_args(crc)
        else:
            crc, extra = None, ({"ChecksumAlgorithm": checksum} if checksum else {})
        answer = self._parts_call("store a part", self.writes.upload_part, Bucket=self.bucket, Key=key,
                                  UploadId=upload_id, PartNumber=number, Body=data, **extra)
        if checksum and crc is None:
            crc = answer.get(f"Checksum{checksum}")
        return f"{answer['ETag']} {crc}" if crc else answer["ETag"]

    def copy_part(self, key: str, upload_ref: str, number: int, source: str, first: int, last: int) -> Optional[str]:
        """UploadPartCopy of the bytes first..last of the object at `source` as part `number`: its token for
        complete_parts, as put_part gives; None when this key may not read the source (a write-only key)."""
        checksum, upload_id = _ref(upload_ref)
        try:
            answer = self.writes.upload_part_copy(Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number,
                                                  CopySource={"Bucket": self.bucket, "Key": source},
                                                  CopySourceRange=f"bytes={first}-{last}")
        except ClientError as exc:
            if _code(exc) in DENIED:
                return None
            raise _parts_error("copy a part", exc) from exc
        except BotoCoreError as exc:
            raise _parts_error("copy a part", exc) from exc
        result = answer["CopyPartResult"]
        crc = result.get(f"Checksum{checksum}") if checksum else None
        return f"{result['ETag']} {crc}" if crc else result["ETag"]

    def complete_parts(self, key: str, upload_ref: str, parts: Sequence[tuple[int, str]]) -> ObjectInfo:
        """CompleteMultipartUpload with these (number, ETag) pairs; S3 refuses a part whose ETag (or checksum)
        differs."""
        checksum, upload_id = _ref(upload_ref)
        listed = []
        for number, token in parts:
            etag, _, crc = token.partition(" ")  # "<ETag> <checksum>" from put_part, or a bare ETag
            listed.append(listed_part(number, etag, crc or None, checksum))
        self._parts_call("finish the object", self.writes.complete_multipart_upload, Bucket=self.bucket, Key=key,
                         UploadId=upload_id, MultipartUpload={"Parts": listed})
        # The size is the sum of the parts, which only the caller knows: one read (the reader's key when split).
        return self.stat(key)

    def abort_parts(self, key: str, upload_ref: str) -> None:
        """AbortMultipartUpload; an upload already gone is fine."""
        try:
            self._parts_call("drop the parts", self.writes.abort_multipart_upload, Bucket=self.bucket, Key=key,
                             UploadId=_ref(upload_ref)[1])
        except ObjectMissing:
            pass

    def local_path(self, key: str) -> Optional[str]:
        """None: the bytes are in the bucket, not on this disk."""
        return None

    @staticmethod
    def _parts_call(what: str, method, **kwargs) -> dict:
        """One client call; NoSuchUpload becomes ObjectMissing, other errors BackendError."""
        try:
            return method(**kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise _parts_error(what, exc) from exc


def _parts_error(what: str, exc: Exception) -> Exception:
    """ObjectMissing for an upload that is gone, else the BackendError naming what failed and S3's code."""
    if isinstance(exc, ClientError):
        if _code(exc) in GONE:
            return ObjectMissing("The parts of this object are gone.")
        return BackendError(f"The object store failed to {what} ({_code(exc)}).", backend="s3", operation="parts")
    return BackendError(f"The object store failed to {what} ({type(exc).__name__}).", backend="s3",
                        operation="parts")


def _ref(upload_ref: str) -> tuple[Optional[str], str]:
    """(checksum algorithm or None, upload id) of a reference begin_parts gave (a bare id: begun without one)."""
    checksum, _, upload_id = upload_ref.rpartition(" ")
    return checksum or None, upload_id
