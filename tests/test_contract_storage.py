"""The storage contract, written once and run against LocalStorage and S3Storage (on moto)."""
from __future__ import annotations

import base64
import hashlib
import io
import os
import json
import random
import shutil
import subprocess
import sys
import threading
import time
import uuid
import zlib
from pathlib import Path

import pytest

from momento.errors import BackendError, BadRequest, ObjectMissing
from momento.storage.local import LocalStorage
from tests.backends import backends, build_storage

MiB = 1024 * 1024
ROOT = Path(__file__).resolve().parents[1]
PATTERN = random.Random(7).randbytes(MiB + 4099)  # no part size is a multiple of it: every part differs
DATA = PATTERN[:1000]


class StreamBroke(Exception):
    """What the source of an upload raises when it fails (a client gone, a size limit hit)."""


class GeneratedStream:
    """`size` bytes of a fixed pattern, made as they are read and never held whole; not seekable."""

    def __init__(self, size: int, fail_at: int | None = None):
        self.left, self.pos, self.fail_at = size, 0, fail_at
        self.sha256 = hashlib.sha256()
        self._view = memoryview(PATTERN)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, n: int = -1) -> bytes:
        n = self.left if n is None or n < 0 else min(n, self.left)
        if self.fail_at is not None and self.pos + n > self.fail_at:
            raise StreamBroke("the client went away")
        pieces, pos = [], self.pos
        while pos < self.pos + n:  # views of PATTERN, so join allocates the result only
            off = pos % len(PATTERN)
            take = min(len(PATTERN) - off, self.pos + n - pos)
            pieces.append(self._view[off:off + take])
            pos += take
        data = b"".join(pieces)
        self.pos, self.left = pos, self.left - n
        self.sha256.update(data)
        return data


@pytest.fixture
def storage(backend_config):
    """A created store for the test's backend."""
    return build_storage(backend_config)


def read_all(stream) -> bytes:
    try:
        return b"".join(stream)
    finally:
        stream.close()


@backends
def test_put_stat_and_open_whole(storage):
    info = storage.put("user-1/photos/a.jpg", io.BytesIO(DATA), "image/jpeg")
    assert (info.key, info.size, info.content_type) == ("user-1/photos/a.jpg", len(DATA), "image/jpeg")
    stat = storage.stat("user-1/photos/a.jpg")
    assert (stat.key, stat.size, stat.content_type, stat.etag) == (info.key, info.size, info.content_type, info.etag)
    stream = storage.open("user-1/photos/a.jpg")
    assert (stream.start, stream.end, stream.info.size, stream.info.content_type) == (0, 999, 1000, "image/jpeg")
    assert read_all(stream) == DATA


@backends
def test_put_bytes_matches_stat(storage):
    info = storage.put_bytes("user-1/thumbs/a.webp", b"thumb", "image/webp")
    stat = storage.stat("user-1/thumbs/a.webp")
    assert (info.key, info.size, info.content_type, info.etag) == (stat.key, 5, "image/webp", stat.etag)


@backends
@pytest.mark.parametrize(("start", "end", "expect"), [
    (0, 0, (0, 0)),  # first byte
    (100, 199, (100, 199)),  # middle
    (999, 999, (999, 999)),  # last byte
    (990, 5000, (990, 999)),  # end clamped to the last byte
    (500, None, (500, 999)),  # open-ended
    (None, 9, (0, 9)),  # from the start
], ids=["first", "middle", "last", "clamped", "open-ended", "head"])
def test_open_ranges(storage, start, end, expect):
    storage.put_bytes("k/range.bin", DATA, "application/octet-stream")
    stream = storage.open("k/range.bin", start, end)
    assert (stream.start, stream.end, stream.info.size) == (*expect, len(DATA))
    assert read_all(stream) == DATA[expect[0]:expect[1] + 1]


@backends
def test_empty_object(storage):
    storage.put_bytes("k/empty", b"", "text/plain")
    assert storage.stat("k/empty").size == 0
    assert read_all(storage.open("k/empty")) == b""
    assert read_all(storage.open("k/empty", 0)) == b""


@backends
def test_missing_key(storage):
    with pytest.raises(ObjectMissing):
        storage.open("k/nothing")
    with pytest.raises(ObjectMissing):
        storage.stat("k/nothing")


@backends
def test_content_type_kept(storage):
    storage.put("user-1/videos/v.mp4", io.BytesIO(b"not really"), "video/mp4")
    assert storage.stat("user-1/videos/v.mp4").content_type == "video/mp4"
    stream = storage.open("user-1/videos/v.mp4", 0, 3)
    assert stream.info.content_type == "video/mp4"
    stream.close()


@backends
def test_etag_follows_the_bytes(storage):
    first = storage.put_bytes("k/a", DATA, "text/plain").etag
    assert storage.put("k/b", io.BytesIO(DATA), "text/plain").etag == first
    assert storage.stat("k/a").etag == storage.stat("k/b").etag == first
    assert storage.put_bytes("k/c", DATA[:-1], "text/plain").etag != first
    assert first and '"' not in first


@backends
def test_delete_is_idempotent(storage):
    storage.put_bytes("k/gone", b"x", "text/plain")
    storage.delete("k/gone")
    with pytest.raises(ObjectMissing):
        storage.stat("k/gone")
    storage.delete("k/gone")
    storage.delete("k/never-was")


@backends
def test_list_by_prefix_in_key_order(storage):
    keys = ["user-a/photos/1.jpg", "user-a/thumbs/1.webp", "user-ab/photos/2.jpg", "user-b/photos/3.jpg",
            # '.' < '/' < '0': a folder's keys sort between its neighbours with those characters
            "p/a.txt", "p/a/b", "p/a0"]
    for key in keys:
        storage.put_bytes(key, key.encode(), "text/plain")
    assert [i.key for i in storage.list("user-a/")] == ["user-a/photos/1.jpg", "user-a/thumbs/1.webp"]
    assert [i.key for i in storage.list("p/")] == ["p/a.txt", "p/a/b", "p/a0"]
    listed = list(storage.list())
    assert [i.key for i in listed] == sorted(keys)
    assert [(i.size, i.etag) for i in listed] == [(len(k), storage.stat(k).etag) for k in sorted(keys)]
    assert list(storage.list("nobody/")) == []


@backends
@pytest.mark.parametrize("key", ["../x", "a/../../x", "/etc/passwd", "a\\..\\x", "a\x00b", ""])
def test_escaping_keys_refused(storage, key):
    for attempt in (lambda: storage.put_bytes(key, b"x", "text/plain"), lambda: storage.stat(key),
                    lambda: storage.open(key), lambda: storage.delete(key)):
        with pytest.raises(BadRequest):
            attempt()


@backends
def test_failing_stream_leaves_nothing(storage, backend_config):
    size = 12 * MiB if backend_config["BACKEND"] == "aws" else 3 * MiB
    if backend_config["BACKEND"] == "aws":
        storage = build_storage(backend_config, create=False, part_size=5 * MiB, in_flight=1)
    with pytest.raises(StreamBroke):
        storage.put("k/broken", GeneratedStream(size, fail_at=size - MiB), "application/octet-stream")
    assert list(storage.list("k/")) == []
    if backend_config["BACKEND"] == "aws":
        assert "Uploads" not in storage.client.list_multipart_uploads(Bucket=storage.bucket)
    else:
        assert list(Path(backend_config["DATA_DIR"], "tmp").iterdir()) == []


PEAK_SCRIPT = """
import json, sys, tracemalloc
from tests.backends import build_storage
from tests.test_contract_storage import GeneratedStream
config, size, options = json.loads(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
storage = build_storage(config, create=False, **options)
storage.put("warm/up", GeneratedStream(1000), "text/plain")  # clients, pools and imports before measuring
stream = GeneratedStream(size)
tracemalloc.start()
info = storage.put("big/object", stream, "application/octet-stream")
print(json.dumps({"peak": tracemalloc.get_traced_memory()[1], "size": info.size, "sha256": stream.sha256.hexdigest()}))
"""


@backends
def test_put_keeps_memory_bounded(storage, backend_config):
    # In a child process: the moto server lives in this one and would be measured too.
    # the writer holds the filling part and in_flight parts being sent; 5 MiB is S3's smallest part.
    size, options = 20 * MiB, {"part_size": 5 * MiB, "in_flight": 1}
    limit = 3 * options["part_size"] if backend_config["BACKEND"] == "aws" else 4 * MiB
    out = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, json.dumps(backend_config), str(size),
                          json.dumps(options)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["size"] == size
    assert result["peak"] < limit, f"peak {result['peak'] / MiB:.1f} MiB for a {size / MiB:.0f} MiB object"
    digest = hashlib.sha256()
    for chunk in storage.open("big/object"):
        digest.update(chunk)
    assert digest.hexdigest() == result["sha256"]
    storage.delete("big/object")


@backends
def test_check(storage, backend_config):
    storage.check()
    if backend_config["BACKEND"] == "aws":
        broken = build_storage({**backend_config, "BUCKET": backend_config["BUCKET"] + "-missing"}, create=False)
    else:
        # root passes os.access everywhere, so break the folder itself: a file where it should be
        objects = Path(backend_config["DATA_DIR"], "objects")
        shutil.rmtree(objects)
        objects.write_text("not a folder")
        broken = storage
        with pytest.raises(BackendError):
            storage.put_bytes("k/x", b"x", "text/plain")
    with pytest.raises(BackendError):
        broken.check()


# S3 specifics: bucket settings, encryption and the client

@pytest.mark.aws
def test_local_start_sweeps_only_stale_scratch(tmp_path):
    storage = LocalStorage(tmp_path)
    storage.create()
    old = time.time() - 2 * 3600
    stale_file, fresh_file = storage.tmp / "put-dead", storage.tmp / "put-live"
    stale_dir, busy_dir = storage.tmp / "rendition-dead", storage.tmp / "rendition-busy"
    for path in (stale_file, fresh_file):
        path.write_bytes(b"x")
    for folder in (stale_dir, busy_dir):
        folder.mkdir()
        (folder / "original.mov").write_bytes(b"x")
        os.utime(folder / "original.mov", (old, old))
    (busy_dir / "playback.mp4").write_bytes(b"being written")  # a long transcode still at work
    for path in (stale_file, stale_dir, busy_dir):
        os.utime(path, (old, old))
    storage.create()  # what every start does
    assert sorted(p.name for p in storage.tmp.iterdir()) == ["put-live", "rendition-busy"]
    assert storage.sweep_scratch(grace=0) == 2


def test_s3_create_is_idempotent_and_protects_the_bucket(moto_server):
    storage = build_storage({"BACKEND": "aws", "BUCKET": f"momento-test-{uuid.uuid4().hex[:8]}"})
    storage.create()
    client, bucket = storage.client, storage.bucket
    assert all(client.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
    assert client.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerEnforced"}]
    rule = client.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    lifecycle, tails = client.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert lifecycle["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    assert (tails["Filter"], tails["Expiration"]) == ({"Prefix": "tus/"}, {"Days": 7})
    storage.put_bytes("k/x", b"x", "text/plain")
    assert client.head_object(Bucket=bucket, Key="k/x")["ServerSideEncryption"] == "AES256"


@pytest.mark.aws
def test_s3_kms_key(moto_server):
    import boto3

    key_id = boto3.client("kms").create_key()["KeyMetadata"]["KeyId"]
    storage = build_storage({"BACKEND": "aws", "BUCKET": f"momento-test-{uuid.uuid4().hex[:8]}", "KMS_KEY_ID": key_id})
    storage.put("k/x", io.BytesIO(b"secret"), "text/plain")
    head = storage.client.head_object(Bucket=storage.bucket, Key="k/x")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert key_id in head["SSEKMSKeyId"]
    rule = storage.client.get_bucket_encryption(Bucket=storage.bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_id}


@pytest.mark.aws
def test_s3_one_client_per_instance(moto_server):
    from momento.storage.s3 import S3Storage

    storage, seen = S3Storage("momento-test-one-client"), []
    threads = [threading.Thread(target=lambda: seen.append(storage.client)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(c) for c in seen}) == 1
    assert storage.client.meta.endpoint_url == moto_server


@pytest.mark.aws
def test_s3_parts_are_checksummed_not_hashed_for_the_signature(moto_server):
    """Each part carries a CRC32C that S3 verifies (moto keeps it and boto3 checks it on reads); its bytes are not
    hashed again with sha256 to sign the request, over http as over https. The upload is begun as a CRC32C one and
    completed with every part's checksum listed, so the object keeps a checksum of its parts' checksums (no
    second pass over the whole object, which S3 would make for a full-object checksum)."""
    import crc32c

    storage = build_storage({"BACKEND": "aws", "BUCKET": f"momento-test-{uuid.uuid4().hex[:8]}"},
                            part_size=5 * MiB, in_flight=1)
    sent = []
    storage.writes.meta.events.register("before-send.s3.UploadPart", lambda request, **_: sent.append(request.headers))
    data = os.urandom(6 * MiB)
    storage.put("k/parts", io.BytesIO(data), "application/octet-stream")
    assert len(sent) == 2
    for headers, part in zip(sent, (data[:5 * MiB], data[5 * MiB:])):
        assert headers["x-amz-content-sha256"] in ("UNSIGNED-PAYLOAD", b"UNSIGNED-PAYLOAD")
        crc = headers.get("x-amz-checksum-crc32c")
        crc = crc.decode() if isinstance(crc, bytes) else crc
        assert crc == base64.b64encode(crc32c.crc32c(part).to_bytes(4, "big")).decode()
        assert not any(name.lower().startswith("x-amz-checksum-crc32") and name.lower() != "x-amz-checksum-crc32c"
                       for name in headers)  # no second checksum of boto3's own
    assert b"".join(storage.open("k/parts")) == data
    head = storage.client.get_object(Bucket=storage.bucket, Key="k/parts", ChecksumMode="ENABLED")
    head["Body"].close()
    assert head["ChecksumType"] == "COMPOSITE"
    parts = [crc32c.crc32c(data[:5 * MiB]), crc32c.crc32c(data[5 * MiB:])]
    composite = crc32c.crc32c(b"".join(p.to_bytes(4, "big") for p in parts)).to_bytes(4, "big")
    assert head["ChecksumCRC32C"] == f"{base64.b64encode(composite).decode()}-2"


def test_s3_policy_denies_plain_http_on_real_endpoints():
    import boto3

    from momento.storage.s3 import S3Storage

    storage = S3Storage("momento-uploads")
    client = boto3.session.Session().client(  # built, never called
        "s3", region_name="eu-west-1", endpoint_url="https://s3.eu-west-1.amazonaws.com",
        aws_access_key_id="x", aws_secret_access_key="x")
    settings = {what: kwargs for what, _, kwargs in storage._settings(client)}
    [statement] = json.loads(settings["set the policy"]["Policy"])["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statement["Resource"] == ["arn:aws:s3:::momento-uploads", "arn:aws:s3:::momento-uploads/*"]
    http = boto3.session.Session().client("s3", region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
                                          aws_access_key_id="x", aws_secret_access_key="x")
    assert "set the policy" not in {what for what, _, _ in storage._settings(http)}


def test_s3_errors_become_backend_errors(monkeypatch):
    from botocore.config import Config

    from momento import aws
    from momento.storage import s3

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setattr(aws, "CLIENT_CONFIG", Config(retries={"mode": "standard", "max_attempts": 1}))
    storage = s3.S3Storage("momento-test-unreachable")
    for attempt in (storage.check, lambda: storage.stat("k/x"), lambda: storage.put_bytes("k/x", b"x", "t/p"),
                    lambda: list(storage.list()), lambda: storage.delete("k/x")):
        with pytest.raises(BackendError):
            attempt()
