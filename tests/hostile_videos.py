"""Hostile MP4/MOV/WebM files: real clips from tests/corpus.py whose boxes are rewritten to claim what cannot be true.

Every maker returns the bytes of one file; MAKERS lists them by name for tests and benchmarks.
"""
from __future__ import annotations

import functools
import os
import struct
import tempfile
from typing import Callable

import av

from tests import corpus

HUGE = 5_000_000  # samples claimed by the index bombs
_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}
Chain = list[tuple[bytes, int, int]]  # (type, start, size) from the outermost box down


@functools.cache
def _base(kind: str = "mp4") -> bytes:
    """A small real clip (H.264, no sound) whose moov follows mdat, so moov may grow or shrink."""
    data = corpus.mp4(seconds=2, audio=False) if kind == "mp4" else corpus.mov(audio=False, rotation=0)
    assert data.find(b"moov") > data.find(b"mdat") > 0
    return data


def _children(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(type, start, size) of the boxes between start and end."""
    found, pos = [], start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        found.append((kind, pos, size))
        pos += size
    return found


def _chain(data: bytes, path: str, track: int = 0) -> Chain:
    """The boxes down to e.g. 'moov/trak/mdia/minf/stbl/stsz' (the track-th trak)."""
    chain: Chain = []
    start, end = 0, len(data)
    for name in path.encode().split(b"/"):
        matches = [c for c in _children(data, start, end) if c[0] == name]
        box = matches[track if name == b"trak" else 0]
        chain.append(box)
        start, end = box[1] + 8, box[1] + box[2]
    return chain


def _put(data: bytes, chain: Chain, payload: bytes) -> bytes:
    """The file with the last box of chain given a new payload, its ancestors' sizes adjusted."""
    kind, start, size = chain[-1]
    delta = 8 + len(payload) - size
    out = bytearray(data[:start] + struct.pack(">I4s", 8 + len(payload), kind) + payload + data[start + size:])
    for _, above, above_size in chain[:-1]:
        out[above:above + 4] = struct.pack(">I", above_size + delta)
    return bytes(out)


def _payload(data: bytes, chain: Chain) -> bytes:
    """The bytes inside the last box of chain."""
    _, start, size = chain[-1]
    return data[start + 8:start + size]


def _stbl(name: str) -> str:
    """The path of a sample-table box."""
    return f"moov/trak/mdia/minf/stbl/{name}"


def _set(data: bytes, name: str, payload: bytes, track: int = 0) -> bytes:
    """One sample-table box of a track replaced."""
    return _put(data, _chain(data, _stbl(name), track), payload)


def _full(*fields: int, fmt: str = "I") -> bytes:
    """A full box payload: version 0, no flags, then the fields."""
    return struct.pack(f">I{len(fields)}{fmt}", 0, *fields)


def _sizes(data: bytes, track: int = 0) -> list[int]:
    """A track's sample sizes from its stsz table."""
    body = _payload(data, _chain(data, _stbl("stsz"), track))
    constant, count = struct.unpack(">II", body[4:12])
    return [constant] * count if constant else list(struct.unpack(f">{count}I", body[12:12 + 4 * count]))


def _offsets(data: bytes, track: int = 0) -> list[int]:
    """A track's chunk offsets from its stco table."""
    body = _payload(data, _chain(data, _stbl("stco"), track))
    count = struct.unpack(">I", body[4:8])[0]
    return list(struct.unpack(f">{count}I", body[8:8 + 4 * count]))


# --- the makers --------------------------------------------------------------------------------------

def stsz_truncated_table() -> bytes:
    """stsz claims 5 million samples of their own sizes, but its table still holds the clip's 20 entries."""
    data = _base()
    chain = _chain(data, _stbl("stsz"))
    body = bytearray(_payload(data, chain))
    body[4:12] = struct.pack(">II", 0, HUGE)
    return _put(data, chain, bytes(body))


def stsz_constant_huge() -> bytes:
    """stsz says 5 million samples of one constant size (no table: the box is only 20 bytes)."""
    data = _base()
    return _set(data, "stsz", _full(16, HUGE))


def chunk_offsets_past_end() -> bytes:
    """Every chunk offset points past the end of the file."""
    data = _base()
    offsets = [o + len(data) for o in _offsets(data)]
    return _set(data, "stco", _full(len(offsets), *offsets))


def sizes_over_file() -> bytes:
    """Sample sizes whose sum is far more than the file (each sample claims a quarter of it)."""
    data = _base()
    count = len(_sizes(data))
    return _set(data, "stsz", _full(0, count, *([len(data) // 4] * count)))


def impossible_frame_rate() -> bytes:
    """20 frames in a track whose mdhd and stts say it lasts one tick of its time scale."""
    data = _base()
    chain = _chain(data, "moov/trak/mdia/mdhd")
    body = bytearray(_payload(data, chain))
    body[16:20] = struct.pack(">I", 1)  # version 0: flags, created, modified, timescale, duration
    data = _put(data, chain, bytes(body))
    count = len(_sizes(data))
    return _set(data, "stts", _full(1, count, 0))


def same_picture_mov(frames: int = 3000) -> bytes:
    """A MOV whose thousands of frames all point at the bytes of its first picture (a replay bomb)."""
    data = _base("mov")
    first, offset = _sizes(data)[0], _offsets(data)[0]
    data = _set(data, "stsz", _full(0, frames, *([first] * frames)))
    data = _set(data, "stco", _full(frames, *([offset] * frames)))
    data = _set(data, "stsc", _full(1, 1, 1, 1))
    data = _set(data, "stss", _full(frames, *range(1, frames + 1)))
    return _set(data, "stts", _full(1, frames, 1024))  # 10 frames a second at the clip's time scale


def overlapping_chunks() -> bytes:
    """A MOV whose every frame is a chunk at the first frame's place: the sizes add up to less than the file,
    but the bytes are shared."""
    data = _base("mov")
    count, offset = len(_sizes(data)), _offsets(data)[0]
    data = _set(data, "stsc", _full(1, 1, 1, 1))
    return _set(data, "stco", _full(count, *([offset] * count)))


def many_boxes(count: int = 20_000) -> bytes:
    """A moov holding tens of thousands of empty 'free' boxes beside its tracks."""
    data = _base()
    moov = _chain(data, "moov")
    return _put(data, moov, _payload(data, moov) + struct.pack(">I4s", 8, b"free") * count)


def many_samples(samples: int = HUGE, total: int = 20 * 2**20) -> bytes:
    """A `total`-byte MP4 whose video track claims `samples` tiny samples, every table agreeing with the others.

    The sizes fit in the file, the chunks do not overlap, and 240 samples a second over a long enough
    duration is a possible frame rate: only a bound on the index FFmpeg builds refuses it.
    """
    data = _base()
    moov = _chain(data, "moov")[0]
    head = data[:_chain(data, "mdat")[0][1]]
    room = total - len(head) - moov[2] - 16
    size = max(1, room // samples)
    chunks = 64
    per_chunk = -(-samples // chunks)
    mdat_start = len(head) + 16
    offsets = [mdat_start + i * per_chunk * size for i in range(chunks)]
    tail = data[moov[1]:]
    tail = _set(tail, "stsz", _full(size, samples))
    tail = _set(tail, "stsc", _full(1, 1, per_chunk, 1))
    tail = _set(tail, "stco", _full(chunks, *offsets))
    tail = _set(tail, "stts", _full(1, samples, 1))
    tail = _set(tail, "stss", _full(1, 1))
    mdhd = _chain(tail, "moov/trak/mdia/mdhd")
    body = bytearray(_payload(tail, mdhd))
    body[12:20] = struct.pack(">II", 240, samples)  # 240 ticks a second: one sample per tick
    tail = _put(tail, mdhd, bytes(body))
    mdat = struct.pack(">I4sQ", 1, b"mdat", 16 + room) + bytes(room)
    return head + mdat + tail


def webm_huge_duration(seconds: float = 2) -> bytes:
    """A WebM whose Segment Info declares a duration of ten years (a float in an EBML element)."""
    data = corpus.webm(seconds=seconds, audio=False)
    at = data.find(b"\x44\x89")  # the Duration element: ID 0x4489, then a size and a float
    assert at > 0
    size_byte = data[at + 2]
    length = size_byte & 0x7F if size_byte & 0x80 else None
    assert length in (4, 8)
    value = 10 * 365 * 86400 * 1000.0  # Info's TimecodeScale is 1 ms by default
    packed = struct.pack(">f" if length == 4 else ">d", value)
    return data[:at + 3] + packed + data[at + 3 + length:]


def video_with_metadata(metadata: dict[str, str], fmt: str = "mov") -> bytes:
    """A short clip whose container carries these tags (with movflags=use_metadata_tags for Apple's keys)."""
    fd, path = tempfile.mkstemp()
    os.close(fd)
    try:
        with av.open(path, "w", format=fmt, options={"movflags": "use_metadata_tags"}) as out:
            out.metadata.update(metadata)
            video = corpus._video_stream(out, "h264", (160, 120), 0)
            corpus._pictures(out, video, (160, 120), 0, 1.0)
        with open(path, "rb") as fh:
            return fh.read()
    finally:
        os.unlink(path)


MAKERS: dict[str, Callable[[], bytes]] = {
    "mp4_stsz_truncated_table": stsz_truncated_table,
    "mp4_stsz_constant_huge": stsz_constant_huge,
    "mp4_chunk_offsets_past_end": chunk_offsets_past_end,
    "mp4_sizes_over_file": sizes_over_file,
    "mp4_impossible_frame_rate": impossible_frame_rate,
    "mov_same_picture": same_picture_mov,
    "mov_overlapping_chunks": overlapping_chunks,
    "mp4_many_boxes": many_boxes,
    "mp4_many_samples_20mb": many_samples,
    "webm_huge_duration": webm_huge_duration,
}


def filename(name: str) -> str:
    """An upload filename for a maker's file."""
    return f"{name}.{name.split('_', 1)[0]}"

