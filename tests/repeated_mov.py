"""A small QuickTime movie whose thousands of frames all point at the same stored picture (a rendition bomb)."""
from __future__ import annotations

import os
import struct
import tempfile
from typing import Union

import av
from PIL import Image

CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}
Box = tuple[bytes, Union[bytes, list]]


def _parse(data: bytes) -> list[Box]:
    """The boxes in data, containers opened (64-bit sizes are not needed for these small files)."""
    boxes, pos = [], 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + size]
        boxes.append((kind, _parse(body) if kind in CONTAINERS else body))
        pos += size
    return boxes


def _write(boxes: list[Box]) -> bytes:
    """Boxes back to bytes, sizes recomputed."""
    out = b""
    for kind, body in boxes:
        payload = _write(body) if isinstance(body, list) else body
        out += struct.pack(">I4s", 8 + len(payload), kind) + payload
    return out


def _full(version_flags: bytes, *fields: int, fmt: str) -> bytes:
    """A full box's body: version and flags, then big-endian fields."""
    return version_flags + struct.pack(">" + fmt, *fields)


def _set_duration(body: bytes, offset32: int, offset64: int, duration: int) -> bytes:
    """Replace the duration field of an mvhd/tkhd/mdhd body (version 0 or 1)."""
    if body[0] == 1:
        return body[:offset64] + struct.pack(">Q", duration) + body[offset64 + 8:]
    return body[:offset32] + struct.pack(">I", duration) + body[offset32 + 4:]


def _timescale(body: bytes, offset32: int, offset64: int) -> int:
    """The timescale field of an mvhd/mdhd body (version 0 or 1)."""
    at = offset64 if body[0] == 1 else offset32
    return struct.unpack(">I", body[at:at + 4])[0]


def _one_picture(size: tuple[int, int]) -> bytes:
    """A one-frame H.264 QuickTime movie with its index first, of a noisy picture (a sizeable keyframe)."""
    fd, path = tempfile.mkstemp(suffix=".mov")
    os.close(fd)
    try:
        with av.open(path, "w", format="mov", options={"movflags": "+faststart"}) as out:
            video = out.add_stream("libx264", rate=30, options={"preset": "ultrafast", "crf": "18"})
            video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
            noise = Image.effect_noise(size, 64).convert("RGB")
            frame = av.VideoFrame.from_image(noise)
            frame.pts = 0
            out.mux(video.encode(frame))
            out.mux(video.encode())
        with open(path, "rb") as fh:
            return fh.read()
    finally:
        os.unlink(path)


def mov_repeating_one_picture(frames: int = 5000, size: tuple[int, int] = (640, 480), fps: int = 30) -> bytes:
    """A movie of `frames` samples at `fps`, every one stored at the same offset (the file holds one picture)."""
    boxes = _parse(_one_picture(size))
    moov = next(body for kind, body in boxes if kind == b"moov")
    old_moov = len(_write([(b"moov", moov)]))
    trak = next(body for kind, body in moov if kind == b"trak")
    mdia = next(body for kind, body in trak if kind == b"mdia")
    mdhd_i = next(i for i, (kind, _) in enumerate(mdia) if kind == b"mdhd")
    media_scale = _timescale(mdia[mdhd_i][1], 12, 20)
    delta = media_scale // fps
    mdia[mdhd_i] = (b"mdhd", _set_duration(mdia[mdhd_i][1], 16, 24, frames * delta))
    mvhd_i = next(i for i, (kind, _) in enumerate(moov) if kind == b"mvhd")
    movie_scale = _timescale(moov[mvhd_i][1], 12, 20)
    movie_duration = frames * delta * movie_scale // media_scale
    moov[mvhd_i] = (b"mvhd", _set_duration(moov[mvhd_i][1], 16, 24, movie_duration))
    trak[:] = [(k, b) for k, b in trak if k != b"edts"]  # an edit list would cut the movie to one frame
    tkhd_i = next(i for i, (kind, _) in enumerate(trak) if kind == b"tkhd")
    trak[tkhd_i] = (b"tkhd", _set_duration(trak[tkhd_i][1], 20, 28, movie_duration))
    minf = next(body for kind, body in mdia if kind == b"minf")
    stbl = next(body for kind, body in minf if kind == b"stbl")
    old = dict(stbl)
    sample_size = struct.unpack(">I", old[b"stsz"][4:8])[0] or struct.unpack(">I", old[b"stsz"][12:16])[0]
    first_offset = struct.unpack(">I", old[b"stco"][8:12])[0]

    def table(offset: int) -> list[Box]:
        """The sample table: every sample the same size, one per chunk, every chunk at `offset`."""
        return [(b"stsd", old[b"stsd"]),
                (b"stts", _full(bytes(4), 1, frames, delta, fmt="III")),
                (b"stsc", _full(bytes(4), 1, 1, 1, 1, fmt="IIII")),
                (b"stsz", _full(bytes(4), sample_size, frames, fmt="II")),
                (b"stco", _full(bytes(4), frames, *([offset] * frames), fmt="I" * (frames + 1)))]
    stbl[:] = table(first_offset)
    grown = len(_write([(b"moov", moov)])) - old_moov
    stbl[:] = table(first_offset + grown)  # the picture moved down by what the index grew
    return _write(boxes)
