"""Part memory: an upload holds at most its parts in flight, the one filling among them (S3Writer for form uploads
and imports, PartSender.reserve under it and under a tus PATCH)."""
from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from momento.storage.parts import PartSender
from momento.storage.s3_writer import S3Writer

MiB = 1024 * 1024


class SlowStore:
    """Stands in for S3Storage: each part takes a while to send, and what the writer holds meanwhile is watched."""

    bucket = "b"

    def __init__(self) -> None:
        self.executor = ThreadPoolExecutor(8)
        self.writes = self
        self.writer: S3Writer | None = None
        self.lock = threading.Lock()
        self.sending = 0
        self.sent = 0  # bytes of the parts sent
        self.most_held = 0  # bytes written to the writer and not yet sent, at the worst moment seen
        self.parts: dict[int, bytes] = {}
        self.buffers: set[int] = set()  # the distinct objects whole parts were sent from

    def _encryption_args(self) -> dict:
        return {}

    def create_multipart_upload(self, **_) -> dict:
        return {"UploadId": "u"}

    def upload_part(self, PartNumber: int, Body, **_) -> dict:
        with self.lock:
            self.sending += 1
        try:
            for _ in range(5):  # while this part is out, look at what the writer holds
                time.sleep(0.01)
                with self.lock:
                    self.most_held = max(self.most_held, self.writer.size - self.sent)
            self.parts[PartNumber] = bytes(Body)
            if len(Body) == 5 * MiB:
                self.buffers.add(id(Body))
            return {"ETag": f'"{PartNumber}"'}
        finally:
            with self.lock:
                self.sending -= 1
                self.sent += len(Body)

    def complete_multipart_upload(self, MultipartUpload, **_) -> dict:
        assert [p["PartNumber"] for p in MultipartUpload["Parts"]] == sorted(self.parts)
        return {"ETag": '"whole"'}


@pytest.mark.parametrize("in_flight", [1, 2, 3])
def test_an_upload_holds_at_most_its_parts_in_flight(in_flight):
    store = SlowStore()
    writer = S3Writer(store, "user-u/videos/x.mp4", "video/mp4", part_size=5 * MiB, in_flight=in_flight)
    store.writer = writer
    data = os.urandom(23 * MiB)
    for start in range(0, len(data), MiB):  # as a body arrives: 1 MiB at a time, faster than parts are sent
        writer.write(data[start:start + MiB])
    writer.commit()
    assert b"".join(store.parts[n] for n in sorted(store.parts)) == data
    assert len(store.parts) == 5
    # the writer counts a write's bytes as it takes them: the 1 MiB being handed over is the caller's
    assert store.most_held <= in_flight * 5 * MiB + MiB
    assert store.most_held > (in_flight - 1) * 5 * MiB  # and it does use them
    assert len(store.buffers) <= in_flight  # a sent part's buffer is filled again, not a new one made


def test_a_part_starts_filling_only_once_a_slot_is_free():
    release = threading.Event()
    sender = PartSender(lambda n, data: release.wait(5) and n, 2)
    sender.reserve()  # part 1 fills on a slot of its own...
    sender.submit(b"one")  # ...and goes out on it
    sender.reserve()
    sender.submit(b"two")  # both slots are out now
    filling = threading.Thread(target=sender.reserve)  # so part 3 may not start to fill
    filling.start()
    time.sleep(0.2)
    assert filling.is_alive()
    release.set()  # the parts are answered: a slot is free again
    filling.join(5)
    assert not filling.is_alive()
    sender.submit(b"three")
    assert sender.results() == [1, 2, 3]
