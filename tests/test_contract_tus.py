"""The tus record store, the same on both catalogs: ownership, compare-and-set, deletion, expiry listing;
and the part calls, the same on both stores."""
from __future__ import annotations

import pytest

from momento.errors import BackendError, Conflict, ObjectMissing
from momento.uploads.tus_record import TusUpload
from tests.backends import backends

MiB = 1024 * 1024


def record(i: int, **kw) -> TusUpload:
    values = dict(id=f"01J{i:023d}", user_id="u1", length=100, part_size=5 * MiB, upload_id=f"01K{i:023d}",
                  created_at="2026-11-22T00:00:00Z", expires_at=f"2026-11-23T{i:02d}:00:00Z")
    return TusUpload(**values | kw)


@backends
def test_put_get_and_ownership(backends_pair):
    _, catalog = backends_pair
    mine = catalog.put_tus(record(1, filename="a.mp4", tags=("x", "y")))
    assert catalog.get_tus("u1", mine.id) == mine
    assert catalog.get_tus("u2", mine.id) is None  # another user's id is nothing to them
    assert catalog.get_tus("u1", record(2).id) is None
    with pytest.raises(Conflict):
        catalog.put_tus(record(1))


@backends
def test_update_is_a_compare_and_set(backends_pair):
    _, catalog = backends_pair
    first = catalog.put_tus(record(1))
    moved = catalog.update_tus(first.evolve(offset=40, etags=("e1",), tail_key="tus/x/tail-40",
                                            error={"status": 415, "code": "c", "message": "m"}))
    assert moved.rev == first.rev + 1 and moved.offset == 40
    assert catalog.get_tus("u1", first.id) == moved
    # Two PATCHes read the record at the same revision: only one of them wins.
    assert catalog.update_tus(first.evolve(offset=50)) is None
    assert catalog.get_tus("u1", first.id).offset == 40
    assert catalog.update_tus(moved.evolve(offset=60)).offset == 60


@backends
def test_delete_and_expiry(backends_pair):
    _, catalog = backends_pair
    for i in (3, 1, 2):
        catalog.put_tus(record(i))
    assert [r.id for r in catalog.expired_tus("2026-11-23T02:00:00Z")] == [record(1).id, record(2).id]
    assert [r.id for r in catalog.expired_tus("2026-11-23T05:00:00Z", limit=1)] == [record(1).id]
    catalog.delete_tus(record(1))
    catalog.delete_tus(record(1))  # again: fine
    assert catalog.get_tus("u1", record(1).id) is None
    assert [r.id for r in catalog.expired_tus("2026-11-24T00:00:00Z")] == [record(2).id, record(3).id]


@backends
def test_parts_join_in_order(backends_pair):
    storage, _ = backends_pair
    key = "user-u1/videos/01J00000000000000000000001.mp4"
    ref = storage.begin_parts(key, "video/mp4")
    first, second = b"a" * (5 * MiB), b"b" * (5 * MiB)
    e1 = storage.put_part(key, ref, 1, b"x" * (5 * MiB))
    e1 = storage.put_part(key, ref, 1, first)  # a part sent again replaces the first one
    e2 = storage.put_part(key, ref, 2, second)
    e3 = storage.put_part(key, ref, 3, b"end")
    with pytest.raises(ObjectMissing):
        storage.stat(key)  # invisible until completed
    info = storage.complete_parts(key, ref, [(1, e1), (2, e2), (3, e3)])
    assert info.size == 10 * MiB + 3 and info.content_type == "video/mp4"
    stream = storage.open(key)
    try:
        assert b"".join(stream) == first + second + b"end"
    finally:
        stream.close()
    path = storage.local_path(key)
    assert path is None or open(path, "rb").read(3) == b"aaa"


@backends
def test_aborted_parts_leave_nothing(backends_pair):
    storage, _ = backends_pair
    key = "user-u1/videos/01J00000000000000000000002.mp4"
    ref = storage.begin_parts(key, "video/mp4")
    storage.put_part(key, ref, 1, b"z" * 1000)
    storage.abort_parts(key, ref)
    storage.abort_parts(key, ref)  # again: fine
    assert list(storage.list("user-u1/")) == []
    with pytest.raises((ObjectMissing, BackendError)):  # S3 says NoSuchUpload; moto answers a plain 500
        storage.complete_parts(key, ref, [(1, "0" * 16)])


@pytest.mark.aws
def test_s3_parts_complete_with_their_checksums(moto_server):
    """A resumable upload on S3 is begun as a CRC32C one: each part's checksum is kept beside its ETag and listed
    at completion, so the object keeps a checksum of its parts' checksums. Uploads begun by an earlier version
    (as CRC32 ones, or without a checksum) still complete as they were begun."""
    import base64
    import uuid
    import zlib

    import crc32c

    from tests.backends import build_storage

    def b64(value: int) -> str:
        return base64.b64encode(value.to_bytes(4, "big")).decode()

    storage = build_storage({"BACKEND": "aws", "BUCKET": f"momento-test-{uuid.uuid4().hex[:8]}"})
    key = "user-u1/videos/01J00000000000000000000003.mp4"
    first, second = b"a" * (5 * MiB), b"tail"
    ref = storage.begin_parts(key, "video/mp4")
    assert ref.startswith("CRC32C ")
    tokens = [storage.put_part(key, ref, 1, first), storage.put_part(key, ref, 2, second)]
    assert [t.split(" ")[1] for t in tokens] == [b64(crc32c.crc32c(first)), b64(crc32c.crc32c(second))]
    storage.complete_parts(key, ref, list(enumerate(tokens, 1)))
    answer = storage.client.get_object(Bucket=storage.bucket, Key=key, ChecksumMode="ENABLED")
    assert answer["Body"].read() == first + second
    crcs = b"".join(crc32c.crc32c(p).to_bytes(4, "big") for p in (first, second))
    assert answer["ChecksumType"] == "COMPOSITE"
    assert answer["ChecksumCRC32C"] == f"{b64(crc32c.crc32c(crcs))}-2"

    began_crc32 = "user-u1/videos/01J00000000000000000000005.mp4"
    upload_id = storage.client.create_multipart_upload(Bucket=storage.bucket, Key=began_crc32,
                                                       ChecksumAlgorithm="CRC32")["UploadId"]
    old_ref = f"CRC32 {upload_id}"
    tokens = [storage.put_part(began_crc32, old_ref, 1, first), storage.put_part(began_crc32, old_ref, 2, second)]
    assert [t.split(" ")[1] for t in tokens] == [b64(zlib.crc32(first)), b64(zlib.crc32(second))]
    assert storage.complete_parts(began_crc32, old_ref, list(enumerate(tokens, 1))).size == len(first + second)
    answer = storage.client.get_object(Bucket=storage.bucket, Key=began_crc32, ChecksumMode="ENABLED")
    answer["Body"].close()
    crcs = b"".join(zlib.crc32(p).to_bytes(4, "big") for p in (first, second))
    assert answer["ChecksumCRC32"] == f"{b64(zlib.crc32(crcs))}-2"

    older = "user-u1/videos/01J00000000000000000000004.mp4"
    bare = storage.client.create_multipart_upload(Bucket=storage.bucket, Key=older)["UploadId"]
    token = storage.put_part(older, bare, 1, second)
    assert " " not in token
    assert storage.complete_parts(older, bare, [(1, token)]).size == len(second)
    storage.abort_parts(older, bare)  # gone already: fine
