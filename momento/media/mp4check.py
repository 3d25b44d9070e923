"""Refusing MP4/MOV files whose sample tables cannot be true, before FFmpeg builds its index from them.

FFmpeg indexes every sample a file's tables list as it opens the file (about 70 bytes of memory each),
so a small file claiming millions of samples costs many times its size before any frame is decoded.
"""
from __future__ import annotations

import os
from contextlib import nullcontext
from typing import BinaryIO, Optional

import numpy as np

from ..errors import Unprocessable
from .mp4boxes import BoxError, Mp4Reader, Movie, Track, read_movie, sample_sizes

# Samples a second a track may have: 240 fps video (slow motion) and any other non-audio track;
# uncompressed audio in MOV lists one sample per audio frame, so up to a 384 kHz sample rate.
MAX_VIDEO_RATE = 240
MAX_AUDIO_RATE = 384_000
# The index FFmpeg builds is bounded by the file: any file may list 100k samples (about 7 MB of index),
# larger ones one sample per 64 bytes (an index about the file's size), never more than 3 million in all
# (60 fps video with sound for over 10 hours).
MIN_SAMPLES = 100_000
BYTES_PER_SAMPLE = 64
MAX_SAMPLES = 3_000_000
_KINDS = {"vide": "video", "soun": "sound"}


def check_mp4(path: str, label: str, fh: Optional[BinaryIO] = None) -> None:
    """Refuse (422) an MP4/MOV whose boxes or sample tables contradict each other or the file (read through
    fh when given)."""
    size = os.path.getsize(path)
    with open(path, "rb") if fh is None else nullcontext(fh) as fh:
        reader = Mp4Reader(fh, size)
        try:
            movie = read_movie(reader)
            if movie is not None:
                _check(reader, movie, size)
        except BoxError as exc:
            if exc.cut:
                raise Unprocessable(f"This {label} video is incomplete: the file ends early.") from None
            if exc.top:
                raise Unprocessable(f"This {label} video is damaged: {exc.reason}.") from None
            raise inconsistent(label, exc.reason) from None


def inconsistent(label: str, reason: str) -> Unprocessable:
    """The 422 for a video whose own description of itself cannot be true."""
    return Unprocessable(f"This {label} video contradicts itself ({reason}), so Momento will not open it: "
                         "the file is damaged or was made to overload video players.", code="inconsistent_video")


def sample_budget(size: int) -> int:
    """How many samples a file of `size` bytes may list."""
    return min(MAX_SAMPLES, max(MIN_SAMPLES, size // BYTES_PER_SAMPLE))


def _check(reader: Mp4Reader, movie: Movie, size: int) -> None:
    """The budget first (it bounds every table read after it), then rates, byte totals and chunk places."""
    listed = movie.fragment_samples + sum(_indexed(t) for t in movie.tracks)
    if listed > sample_budget(size):
        raise BoxError(f"its tables list {listed:,} samples, more than a file of {_size(size)} can hold")
    total = movie.fragment_bytes
    starts, ends = [], []
    for track in movie.tracks:
        if not track.sample_count:
            continue  # an empty track, or one whose samples are all in fragments
        _check_rate(reader, track)
        sizes = sample_sizes(reader, track)
        total += int(sizes.sum())
        if total > size:
            raise BoxError(f"its samples add up to more bytes than the file's {_size(size)}")
        first, last = _chunks(reader, track, sizes, size)
        starts.append(first)
        ends.append(last)
    if movie.fragment_bytes > size:
        raise BoxError(f"its fragments' samples add up to more bytes than the file's {_size(size)}")
    _check_overlaps(starts, ends)


def _indexed(track: Track) -> int:
    """What FFmpeg indexes for a track (samples, or chunks for uncompressed sound), or its longest table."""
    samples = track.sample_count
    if track.handler == "soun" and track.stts is not None and track.stts[0] == 1 and track.chunks:
        samples = track.chunks[0]  # one stts entry of delta 1: FFmpeg reads sound a chunk at a time
    return max(samples, *track.tables.values(), 0)


def _check_rate(reader: Mp4Reader, track: Track) -> None:
    """A track's samples must fit its duration at a possible frame (or sample) rate."""
    kind = _KINDS.get(track.handler, f"'{track.handler}'")
    if not track.timescale:
        raise BoxError(f"its {kind} track has no time scale")
    ticks = 0
    if track.stts is not None and track.stts[0]:
        runs = reader.array(track.stts[1], 2 * track.stts[0], ">u4").reshape(-1, 2)
        ticks = int((runs[:, 0] * runs[:, 1]).sum())
    seconds = max(track.duration, ticks) / track.timescale
    rate = MAX_AUDIO_RATE if track.handler == "soun" else MAX_VIDEO_RATE
    if track.sample_count > rate * seconds * 1.01 + 2:
        raise BoxError(f"its {kind} track lists {track.sample_count:,} samples in {seconds:.3g} seconds")


def _chunks(reader: Mp4Reader, track: Track, sizes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Where each non-empty chunk of a track starts and ends; every one must lie inside the file."""
    kind = _KINDS.get(track.handler, f"'{track.handler}'")
    if track.chunks is None or track.stsc is None or not track.stsc[0]:
        raise BoxError(f"its {kind} track has samples but does not say where they are")
    count, at = track.chunks
    offsets = reader.array(at, count, ">u4" if track.chunk_bytes == 4 else ">u8")
    runs = reader.array(track.stsc[1], 3 * track.stsc[0], ">u4").reshape(-1, 3)
    first, per_chunk = runs[:, 0], runs[:, 1]
    if first[0] < 1 or (np.diff(first) <= 0).any():
        raise BoxError(f"its {kind} track's sample-to-chunk table is out of order")
    spans = np.diff(np.minimum(np.append(first, count + 1), count + 1))
    samples = np.concatenate((np.zeros(min(int(first[0]) - 1, count), np.int64), np.repeat(per_chunk, spans)))
    total = np.concatenate(([0], np.cumsum(sizes)))
    after = np.cumsum(samples)  # stsc may list more samples than stsz has: FFmpeg stops at the last
    lengths = total[np.minimum(after, len(sizes))] - total[np.minimum(after - samples, len(sizes))]
    ends = offsets + lengths
    if count and (offsets.max() >= size or ends.max() > size):
        raise BoxError(f"its {kind} track has data past the end of the file")
    used = lengths > 0
    return offsets[used], ends[used]


def _check_overlaps(starts: list, ends: list) -> None:
    """No two chunks (of any track) may share bytes: one picture listed a thousand times is refused."""
    if not starts:
        return
    first, last = np.concatenate(starts), np.concatenate(ends)
    order = np.argsort(first, kind="stable")
    first, last = first[order], last[order]
    if len(first) > 1 and (first[1:] < np.maximum.accumulate(last)[:-1]).any():
        raise BoxError("several of its samples point at the same bytes")


def _size(size: int) -> str:
    """A byte count for a person."""
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"

