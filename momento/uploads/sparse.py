"""Sparse local copies of MP4/MOV files for decoding: the index boxes and the opening media bytes at their real
offsets, holes elsewhere, and a reader that fetches a hole's bytes from the store if a decoder reaches one.

Decoding a video needs its index (moov, or the fragments' moof) and the frames up to the poster, about a second
in: a few MiB of a file that may be gigabytes. Writing only those to this disk saves the write of every byte
(and its page-cache writeback) on a path bound by CPU and disk. Correctness never rests on the guess: every read
that touches bytes not kept goes to `fill`, which fetches them (a ranged GET of the stored object).
"""
from __future__ import annotations

import io
import os
import struct
import tempfile
from bisect import bisect_right
from typing import Callable, Optional

MiB = 1024 * 1024
# Top-level boxes decoders and the sample-table check read whole: the index, fragments' index, metadata.
INDEX_BOXES = frozenset({"ftyp", "styp", "moov", "moof", "sidx", "mfra", "meta", "uuid", "udta", "pdin"})
# Bytes of media (mdat and any other box) kept from the start, across all such boxes: the first second of
# a 4K phone video is 6-12 MiB; a poster further in is fetched.
MEDIA_WINDOW = 16 * MiB
# A hole is fetched in blocks of at least this much (fewer, larger ranged GETs for sequential decoding).
FILL_BLOCK = 2 * MiB


class Ranges:
    """Sorted, disjoint [start, end) byte ranges."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []

    def add(self, start: int, end: int) -> None:
        """Mark [start, end) as present, merging with neighbours."""
        if end <= start:
            return
        i = bisect_right(self.ends, start - 1)  # first range that ends at or after start
        j = bisect_right(self.starts, end)  # ranges before j start at or before end
        if i < j:
            start, end = min(start, self.starts[i]), max(end, self.ends[j - 1])
        self.starts[i:j], self.ends[i:j] = [start], [end]

    def missing(self, start: int, end: int) -> list[tuple[int, int]]:
        """The parts of [start, end) not present."""
        gaps, pos = [], start
        i = bisect_right(self.ends, start)
        while pos < end and i < len(self.starts):
            if self.starts[i] > pos:
                gaps.append((pos, min(end, self.starts[i])))
            pos = max(pos, self.ends[i])
            i += 1
        if pos < end:
            gaps.append((pos, end))
        return gaps

    @property
    def total(self) -> int:
        """Bytes present."""
        return sum(e - s for s, e in zip(self.starts, self.ends))


class SparseFile:
    """A temporary file of a known (or growing) size holding only some of its bytes, at their offsets."""

    def __init__(self, folder: str):
        self._file = tempfile.NamedTemporaryFile(dir=folder, prefix="decode-")  # noqa: SIM115 - closed by close()
        self.name, self.fd = self._file.name, self._file.fileno()
        self.kept = Ranges()
        self.size = 0
        self.fetched = 0  # bytes fetched into holes after the fact

    def write_at(self, offset: int, data) -> None:
        """Keep `data` at `offset`."""
        view = memoryview(data)
        done = 0
        while done < len(view):
            done += os.pwrite(self.fd, view[done:], offset + done)
        self.kept.add(offset, offset + len(view))

    def set_size(self, size: int) -> None:
        """The file's full length (holes read as zeros until filled)."""
        self.size = size
        os.ftruncate(self.fd, size)

    def reader(self, fill: Callable[[int, int], bytes]) -> "HoleFillingReader":
        """A file object over the copy that fetches missing bytes through fill(start, end_exclusive)."""
        return HoleFillingReader(self, fill)

    def fill(self, start: int, end: int, fetch: Callable[[int, int], bytes]) -> None:
        """Make [start, end) present, fetching each gap (widened to FILL_BLOCK) through fetch."""
        for gap_start, gap_end in self.kept.missing(start, end):
            gap_end = min(self.size, max(gap_end, gap_start + FILL_BLOCK))
            for s, e in self.kept.missing(gap_start, gap_end):
                data = fetch(s, e)
                if len(data) != e - s:
                    raise OSError(f"the store returned {len(data)} bytes for a range of {e - s}")
                self.write_at(s, data)
                self.fetched += len(data)

    def close(self) -> None:
        """Delete the copy."""
        self._file.close()


class HoleFillingReader(io.RawIOBase):
    """Reads a SparseFile as if it were whole: a read that touches a hole fetches it first."""

    def __init__(self, sparse: SparseFile, fetch: Callable[[int, int], bytes]):
        super().__init__()
        self.sparse, self.fetch, self.pos = sparse, fetch, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move the position (as a regular file does)."""
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.sparse.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, buffer) -> int:
        """Fill buffer from the current position, fetching holes first."""
        end = min(self.sparse.size, self.pos + len(buffer))
        if end <= self.pos:
            return 0
        self.sparse.fill(self.pos, end, self.fetch)
        n = os.preadv(self.sparse.fd, [memoryview(buffer)[:end - self.pos]], self.pos)
        self.pos += n
        return n


class Mp4Keeper:
    """Fed an MP4/MOV's bytes in order, writes to a SparseFile only what decoding is likely to need.

    Every top-level box header is kept (the box walk reads them), index boxes whole, and the first
    MEDIA_WINDOW bytes of everything else. A header that makes no sense stops the guessing: from there
    everything is kept, so the checker sees the real bytes and refuses the file.
    """

    def __init__(self, sparse: SparseFile, window: Optional[int] = None):
        self.sparse, self.budget = sparse, MEDIA_WINDOW if window is None else window
        self.pos = 0
        self._box_end: Optional[int] = 0  # where the current top-level box ends; None: to the end of the file
        self._keep_box = False
        self._head: Optional[bytearray] = bytearray()  # a header being gathered, None inside a box
        self._lost = False  # the boxes stopped making sense: keep everything

    def feed(self, data: bytes) -> None:
        """The next bytes of the file."""
        view = memoryview(data)
        while len(view):
            if self._lost:
                self._keep(view)
                return
            if self._head is not None:
                view = self._gather_header(view)
                continue
            end = len(view) if self._box_end is None else min(len(view), self._box_end - self.pos)
            body, view = view[:end], view[end:]
            if self._keep_box:
                self._keep(body)
            else:
                take = min(len(body), self.budget)
                self.budget -= take
                self._keep(body[:take])
                self.pos += len(body) - take
            if self.pos == self._box_end:
                self._head = bytearray()

    def _keep(self, data) -> None:
        if len(data):
            self.sparse.write_at(self.pos, data)
            self.pos += len(data)

    def _gather_header(self, view: memoryview) -> memoryview:
        """Take a header's bytes (8, or 16 for a 64-bit size); once whole, set where its box ends."""
        head = self._head
        take = view[:(8 if len(head) < 8 else 16) - len(head)]
        self._keep(take)
        head += take
        view = view[len(take):]
        if len(head) < 8:
            return view
        size, kind = struct.unpack(">I4s", head[:8])
        if size == 1:
            if len(head) < 16:
                return view
            size = int.from_bytes(head[8:16], "big")
        start, header = self.pos - len(head), len(head)
        self._head = None
        self._keep_box = kind.decode("latin-1") in INDEX_BOXES
        if size == 0:  # to the end of the file
            self._box_end = None
        elif size < header:
            self._lost = True
        else:
            self._box_end = start + size
            if self.pos == self._box_end:  # an empty box: the next header follows
                self._head = bytearray()
        return view

    def finish(self) -> None:
        """All bytes are in: the copy takes the file's full size."""
        self.sparse.set_size(self.pos)
