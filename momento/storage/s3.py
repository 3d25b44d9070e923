"""Objects in an S3 bucket through boto3, with the same keys and contract as LocalStorage."""
from __future__ import annotations

import json
import math
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO, Iterator, Optional

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ..aws import CLIENT_CONFIG, CLIENT_ERRORS, LazyClient, role_session
from ..config import role_configured
from ..errors import ObjectMissing, RangeNotSatisfiable
from ..models import ObjectInfo, PostureCheck
from .s3_delivery import SIGNING_CONFIG, S3Delivery
from .keys import check_key
from .s3_errors import error_code as _code, failed as _failed
from .s3_parts import S3Parts
from .s3_posture import bucket_posture
from .s3_stream import checksum_over_tls_only
from .s3_writer import S3Writer

MiB = 1024 * 1024
CHUNK = 256 * 1024
MISSING_KEY = {"404", "NoSuchKey", "NotFound"}
ABORT_RULE_ID = "momento-abort-incomplete-multipart"
TAILS_RULE_ID = "momento-expire-resumable-tails"
TAILS_PREFIX = "tus/"
# What moto (and some S3-compatible stores) answer for a call they do not implement.
NOT_IMPLEMENTED = {"NotImplemented", "NotImplementedError", "501"}
MISSING_BUCKET = {"404", "NoSuchBucket", "NotFound"}


def _etag(value: Optional[str]) -> str:
    # S3 quotes its ETags; LocalStorage does not, and the web layer adds the quotes.
    return (value or "").strip('"')


class S3Stream:
    """A GET response body (or a byte range of it), read in chunks."""

    def __init__(self, body: Any, info: ObjectInfo, start: int, end: int):
        self.info, self.start, self.end = info, start, end
        self._body = body

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._body.iter_chunks(CHUNK)
        except (BotoCoreError, ClientError) as exc:
            raise _failed("read the object", exc) from exc

    def close(self) -> None:
        self._body.close()


# Object writes carry a checksum that S3 verifies (CRC32; CRC32C for multipart parts), and their payload is not
# hashed again for the request's signature: what boto3 does by itself over https, applied over plain http (a local
# endpoint) too, where it would otherwise hash every part's bytes once more with sha256.
WRITE_CONFIG = CLIENT_CONFIG.merge(Config(s3={"payload_signing_enabled": False}))


class S3Storage(S3Parts, S3Delivery):
    """Keys to bytes in one bucket; boto3 clients created lazily.

    Object writes go through `writes` and object reads through `reads`: the uploader's and the reader's
    credentials when the deployment splits them (MOMENTO_UPLOADER_* / MOMENTO_READER_*), else the same
    client as everything else (listing, deleting, bucket set-up).
    """

    def __init__(self, bucket: str, *, kms_key_id: Optional[str] = None, session: Any = None,
                 write_session: Any = None, read_session: Any = None, part_size: int = 8 * MiB,
                 in_flight: int = 2, tail_days: int = 7):
        self.bucket = bucket
        self.tail_days = tail_days  # resumable upload tails under tus/ expire after this (the lifecycle rule)
        self.kms_key_id = kms_key_id
        self._clients = LazyClient("s3", session, WRITE_CONFIG)  # one client unless the writes have keys of their own
        self._writes = LazyClient("s3", write_session, WRITE_CONFIG) if write_session is not None else self._clients
        self._reads = LazyClient("s3", read_session) if read_session is not None else self._clients
        # presigned URLs: the reader's key, always SigV4 (the only signature KMS-encrypted objects accept)
        self._signs = LazyClient("s3", read_session if read_session is not None else session, SIGNING_CONFIG)
        self._executor: Optional[ThreadPoolExecutor] = None
        self._lock = threading.Lock()
        self.part_size, self.in_flight = part_size, in_flight
        self._streaming_ready = False  # streaming_writes() has set up its client

    @classmethod
    def from_app(cls, app, session: Any = None) -> "S3Storage":
        """A store on the app's bucket: through session's credentials when given (operators' commands), else
        the default ones, with the object writes and reads split between the uploader and reader when set."""
        cfg = app.config
        split = {}
        if session is None and role_configured(cfg, "UPLOADER"):
            split = {"write_session": role_session(cfg, "UPLOADER"), "read_session": role_session(cfg, "READER")}
        # a tail lives as long as its resumable upload may resume, and a day more
        tail_days = max(7, math.ceil(int(cfg.get("TUS_EXPIRY_HOURS", 24)) / 24) + 1)
        return cls(cfg["BUCKET"], kms_key_id=cfg.get("KMS_KEY_ID"), session=session, **split,
                   part_size=int(cfg.get("S3_PART_SIZE", 5 * MiB)), in_flight=int(cfg.get("S3_PARTS_IN_FLIGHT", 2)),
                   tail_days=tail_days)

    @staticmethod
    def _client_of(holder: LazyClient) -> Any:
        try:
            return holder.get()
        except CLIENT_ERRORS as exc:
            raise _failed("start", exc) from exc

    @property
    def client(self) -> Any:
        """The client for the bucket itself, listing and deleting; the endpoint comes from boto3's own settings."""
        return self._client_of(self._clients)

    @property
    def writes(self) -> Any:
        """The client that puts objects and their parts."""
        return self._client_of(self._writes)

    def streaming_writes(self) -> Any:
        """The writes client, ready for PUTs whose body is sent while it arrives (s3_stream.py); set up once."""
        client = self.writes
        if not self._streaming_ready:
            client.meta.events.register("before-call.s3.PutObject", checksum_over_tls_only,
                                        unique_id="momento-streamed-put-checksum")
            self._streaming_ready = True
        return client

    @property
    def reads(self) -> Any:
        """The client that gets and heads objects."""
        return self._client_of(self._reads)

    def _encryption_args(self) -> dict[str, str]:
        if self.kms_key_id:
            return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.kms_key_id}
        return {"ServerSideEncryption": "AES256"}

    def put(self, key: str, stream: BinaryIO, content_type: str, *, durable: bool = True) -> ObjectInfo:
        """Upload the stream through a writer (multipart past part_size); errors of the stream itself propagate.
        S3 stores durably before it answers, so `durable` changes nothing."""
        writer = self.writer(key, content_type)
        try:
            while chunk := stream.read(CHUNK * 4):
                writer.write(chunk)
            return writer.commit()
        except BaseException:
            writer.abort()
            raise

    @property
    def executor(self) -> ThreadPoolExecutor:
        """Threads that send multipart parts, shared by every writer of this store."""
        if self._executor is None:
            with self._lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="s3-parts")
        return self._executor

    def writer(self, key: str, content_type: str, *, durable: bool = True) -> S3Writer:
        """Write an object as its bytes arrive (multipart, parts sent while the next fills)."""
        return S3Writer(self, check_key(key), content_type, part_size=self.part_size, in_flight=self.in_flight)

    def put_bytes(self, key: str, data: bytes, content_type: str, *, durable: bool = True) -> ObjectInfo:
        """Store a small value in one request (durable whatever `durable` says)."""
        try:
            answer = self.writes.put_object(Bucket=self.bucket, Key=check_key(key), Body=data,
                                            ContentType=content_type, **self._encryption_args())
        except (BotoCoreError, ClientError) as exc:
            raise _failed("store the object", exc) from exc
        return ObjectInfo(key=key, size=len(data), content_type=content_type, etag=_etag(answer.get("ETag")))

    def stat(self, key: str) -> ObjectInfo:
        """Size, type and ETag of key; ObjectMissing when absent."""
        try:
            head = self.reads.head_object(Bucket=self.bucket, Key=check_key(key))
        except ClientError as exc:
            if _code(exc) in MISSING_KEY:
                raise ObjectMissing("The stored file is missing.") from exc
            raise _failed("read the object", exc) from exc
        except BotoCoreError as exc:
            raise _failed("read the object", exc) from exc
        return ObjectInfo(key=key, size=head["ContentLength"], content_type=head.get("ContentType", ""),
                          etag=_etag(head.get("ETag")), modified=head["LastModified"].timestamp())

    def open(self, key: str, start: Optional[int] = None, end: Optional[int] = None) -> S3Stream:
        """Open key, or the inclusive range start..end of it (end clamped to the last byte)."""
        args = {"Bucket": self.bucket, "Key": check_key(key)}
        first = start or 0
        if first or end is not None:  # "bytes=0-" would be a 416 on an empty object
            if end is not None and end < first:
                raise RangeNotSatisfiable("The range is empty.", size=self.stat(key).size)
            args["Range"] = f"bytes={first}-{'' if end is None else end}"
        try:
            answer = self.reads.get_object(**args)
        except ClientError as exc:
            if _code(exc) in MISSING_KEY:
                raise ObjectMissing("The stored file is missing.") from exc
            if _code(exc) == "InvalidRange":
                raise RangeNotSatisfiable("The range starts past the end.", size=self.stat(key).size) from exc
            raise _failed("read the object", exc) from exc
        except BotoCoreError as exc:
            raise _failed("read the object", exc) from exc
        if answer.get("ContentRange"):  # "bytes 990-999/1000" on a 206
            span, _, total = answer["ContentRange"].removeprefix("bytes ").partition("/")
            begin, last, size = *(int(n) for n in span.split("-")), int(total)
        else:  # the whole object
            size = answer["ContentLength"]
            begin, last = 0, size - 1
        info = ObjectInfo(key=key, size=size, content_type=answer.get("ContentType", ""),
                          etag=_etag(answer.get("ETag")), modified=answer["LastModified"].timestamp())
        return S3Stream(answer["Body"], info, begin, last)

    def delete(self, key: str) -> None:
        """Remove key; S3 answers 204 for a missing key too."""
        try:
            self.client.delete_object(Bucket=self.bucket, Key=check_key(key))
        except (BotoCoreError, ClientError) as exc:
            raise _failed("delete the object", exc) from exc

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object under prefix, in key order; content_type is "" (listings do not carry it)."""
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                for obj in page.get("Contents", ()):
                    yield ObjectInfo(key=obj["Key"], size=obj["Size"], content_type="",
                                     etag=_etag(obj.get("ETag")), modified=obj["LastModified"].timestamp())
        except (BotoCoreError, ClientError) as exc:
            raise _failed("list objects", exc) from exc

    def check(self) -> None:
        """Raise BackendError unless the bucket answers."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise _failed("reach the bucket", exc) from exc

    def scratch_dir(self) -> str:
        """A folder for temporary files (the system's)."""
        return tempfile.gettempdir()

    # creation
    def create(self) -> None:
        """Create the bucket and (re)apply its protections; safe to call again."""
        client = self.client
        what = "create the bucket"
        try:
            self._create_bucket(client)
            for what, call, kwargs in self._settings(client):
                self._apply(call, kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise _failed(f"set up the bucket ({what})", exc) from exc

    def _create_bucket(self, client: Any) -> None:
        try:
            client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if _code(exc) not in MISSING_BUCKET:
                raise  # 403: the name belongs to someone else
        region = client.meta.region_name or "us-east-1"
        args: dict[str, Any] = {"Bucket": self.bucket}
        if region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            client.create_bucket(**args)
        except ClientError as exc:
            if _code(exc) != "BucketAlreadyOwnedByYou":
                raise

    def _apply(self, call: Any, kwargs: dict[str, Any]) -> None:
        # moto 5.2.5 implements every call made here (the tests read each setting back). S3
        # stand-ins that lack one answer 501 NotImplemented, and only that is tolerated; moto itself
        # answers an unimplemented action with a plain 500, which stays an error so that it shows.
        try:
            call(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if _code(exc) not in NOT_IMPLEMENTED and status != 501:
                raise

    def _settings(self, client: Any) -> list[tuple[str, Any, dict[str, Any]]]:
        """(what, client method, arguments) for each protection the bucket gets."""
        arn = f"arn:{client.meta.partition}:s3:::{self.bucket}"
        if self.kms_key_id:
            default = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": self.kms_key_id}
        else:
            default = {"SSEAlgorithm": "AES256"}
        policy = {
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [arn, f"{arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }],
        }
        settings = [
            ("block public access", client.put_public_access_block, {"PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True, "IgnorePublicAcls": True,
                "BlockPublicPolicy": True, "RestrictPublicBuckets": True}}),
            ("set ownership", client.put_bucket_ownership_controls, {"OwnershipControls": {
                "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}}),
            ("set encryption", client.put_bucket_encryption, {"ServerSideEncryptionConfiguration": {
                "Rules": [{"ApplyServerSideEncryptionByDefault": default,
                           "BucketKeyEnabled": bool(self.kms_key_id)}]}}),
            # init owns the bucket's lifecycle: this replaces any rules added by hand.
            ("set the lifecycle", client.put_bucket_lifecycle_configuration, {"LifecycleConfiguration": {
                "Rules": [{"ID": ABORT_RULE_ID, "Status": "Enabled", "Filter": {"Prefix": ""},
                           "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}},
                          # the web role may not delete objects: its finished uploads' tails go this way
                          {"ID": TAILS_RULE_ID, "Status": "Enabled", "Filter": {"Prefix": TAILS_PREFIX},
                           "Expiration": {"Days": self.tail_days}}]}}),
        ]
        # Over plain http (a moto server, a local S3 stand-in) the policy would deny Momento itself:
        # moto evaluates aws:SecureTransport. Real S3 endpoints are https, where it always applies.
        if not client.meta.endpoint_url.startswith("http://"):
            settings.append(("set the policy", client.put_bucket_policy, {"Policy": json.dumps(policy)}))
        return settings

    # posture: what create() applies, read back
    def check_posture(self) -> list[PostureCheck]:
        """Each protection create() applies, compared with the bucket as it is; changes nothing."""
        client = self.client
        try:
            try:
                client.head_bucket(Bucket=self.bucket)
            except ClientError as exc:
                if _code(exc) in MISSING_BUCKET:
                    return [PostureCheck("bucket", f"{self.bucket} exists", "missing", False)]
                raise
            return bucket_posture(client, self.bucket, {what: kwargs for what, _, kwargs in self._settings(client)})
        except (BotoCoreError, ClientError) as exc:
            raise _failed("read the bucket settings", exc) from exc
