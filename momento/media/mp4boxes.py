"""MP4/MOV boxes and sample tables read with seeks (never the media data), for checking before FFmpeg indexes them."""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator, Optional

import numpy as np

# Boxes inside any one container, and top-level boxes (a fragmented hour has a few thousand moof/mdat pairs).
MAX_CHILDREN = 10_000
MAX_TOP_BOXES = 100_000
MAX_TRACKS = 64
# No table is read whose entries outnumber this: the caller's sample budget is lower still.
MAX_ENTRIES = 8_000_000


class BoxError(ValueError):
    """The box structure contradicts itself; `cut` when the file simply ends too early."""

    def __init__(self, reason: str, *, cut: bool = False, top: bool = False):
        """`top`: the file's own top-level boxes are wrong (damaged, not merely inconsistent inside)."""
        super().__init__(reason)
        self.reason, self.cut, self.top = reason, cut, top or cut


@dataclass(frozen=True)
class Box:
    """One box: its type, where it starts, its header length and where it ends."""

    kind: str
    start: int
    header: int
    end: int

    @property
    def body(self) -> int:
        """Where the payload starts."""
        return self.start + self.header


@dataclass
class Track:
    """What one trak's boxes claim: handler, time, and where its sample tables are."""

    handler: str = ""
    timescale: int = 0
    duration: int = 0
    stts: Optional[tuple[int, int]] = None  # (entries, position) of each table
    stsc: Optional[tuple[int, int]] = None
    chunks: Optional[tuple[int, int]] = None
    chunk_bytes: int = 4  # 8 for co64
    sample_count: int = 0
    sample_size: int = 0  # one size for every sample, or 0: a table of sizes
    sizes_at: int = 0
    size_bits: int = 32  # stz2 packs sizes into 4, 8 or 16 bits
    tables: dict[str, int] = field(default_factory=dict)  # entries of every table seen


@dataclass
class Movie:
    """The tracks of moov, and the samples the fragments (moof/traf/trun) add, with their byte total."""

    tracks: list[Track] = field(default_factory=list)
    fragment_samples: int = 0
    fragment_bytes: int = 0


class Mp4Reader:
    """Box headers and tables read from an open file with seeks and small reads."""

    def __init__(self, fh: BinaryIO, size: int):
        """Read from fh, a file of `size` bytes."""
        self.fh, self.size = fh, size

    def read(self, pos: int, length: int) -> bytes:
        """Exactly `length` bytes at pos (the caller has checked they lie inside a box)."""
        self.fh.seek(pos)
        data = self.fh.read(length)
        if len(data) != length:
            raise BoxError("the file ends inside a box", cut=True)
        return data

    def boxes(self, start: int, end: int, *, top: bool = False) -> Iterator[Box]:
        """The boxes between start and end; a box running past `end` is an error."""
        pos, limit = start, MAX_TOP_BOXES if top else MAX_CHILDREN
        for _ in range(limit):
            if end - pos < 8:  # QuickTime ends some lists with a 4-byte zero; FFmpeg ignores such tails
                return
            head = self.read(pos, min(16, end - pos))
            size, kind = struct.unpack(">I4s", head[:8])
            header = 8
            if size == 1:
                if len(head) < 16:
                    raise BoxError("a box header is cut short", cut=top)
                size, header = int.from_bytes(head[8:16], "big"), 16
            elif size == 0:  # "to the end of the enclosing space"
                size = end - pos
            if size < header:
                raise BoxError(f"a '{_name(kind)}' box declares an impossible size of {size} bytes", top=top)
            if pos + size > end:
                where = "the end of the file" if top else "the box that holds it"
                raise BoxError(f"a '{_name(kind)}' box runs past {where}", cut=top)
            yield Box(_name(kind), pos, header, pos + size)
            pos += size
        raise BoxError(f"it has more than {limit} boxes in one place")

    def full_box(self, box: Box, fixed: int, entry_bytes: int) -> tuple[int, int]:
        """(entries, where they start) of a table whose count follows `fixed` bytes of version, flags and fields.

        The count must fit in the box: a table that claims more entries than its box holds is refused.
        """
        if box.end - box.body < fixed + 4:
            raise BoxError(f"the '{box.kind}' box is too short for its header")
        count = int.from_bytes(self.read(box.body + fixed, 4), "big")
        table = box.body + fixed + 4
        if count * entry_bytes > box.end - table:
            raise BoxError(f"the '{box.kind}' table claims {count} entries but its box holds "
                           f"{(box.end - table) // max(entry_bytes, 1)}")
        if count > MAX_ENTRIES:
            raise BoxError(f"the '{box.kind}' table has {count} entries")
        return count, table

    def array(self, pos: int, count: int, dtype: str) -> np.ndarray:
        """`count` big-endian numbers at pos, as int64."""
        width = np.dtype(dtype).itemsize
        return np.frombuffer(self.read(pos, count * width), dtype=dtype).astype(np.int64)


def read_movie(reader: Mp4Reader) -> Optional[Movie]:
    """The tracks and fragments of the file, or None when it has no moov (FFmpeg then refuses it)."""
    movie, seen_moov, defaults = Movie(), False, {}
    for box in reader.boxes(0, reader.size, top=True):
        if box.kind == "moov":
            if seen_moov:
                raise BoxError("it has two 'moov' boxes")
            seen_moov = True
            _read_moov(reader, box, movie, defaults)
        elif box.kind == "moof":
            _read_moof(reader, box, movie, defaults)
    return movie if seen_moov else None


def _read_moov(reader: Mp4Reader, moov: Box, movie: Movie, defaults: dict[int, int]) -> None:
    """Every trak's tables, and the default sample sizes fragments inherit (mvex/trex)."""
    for box in reader.boxes(moov.body, moov.end):
        if box.kind == "trak":
            if len(movie.tracks) >= MAX_TRACKS:
                raise BoxError(f"it has more than {MAX_TRACKS} tracks")
            track = Track()
            _read_track(reader, box, track)
            movie.tracks.append(track)
        elif box.kind == "mvex":
            for trex in reader.boxes(box.body, box.end):
                if trex.kind == "trex" and trex.end - trex.body >= 24:
                    track_id, _, _, size = struct.unpack(">IIII", reader.read(trex.body + 4, 16))
                    defaults[track_id] = size


def _read_track(reader: Mp4Reader, box: Box, track: Track, depth: int = 0) -> None:
    """The boxes of trak/mdia/minf/stbl that say how many samples there are and where."""
    for child in reader.boxes(box.body, box.end):
        if child.kind in ("mdia", "minf", "stbl") and depth < 3:
            _read_track(reader, child, track, depth + 1)
        elif child.kind == "mdhd":
            _read_mdhd(reader, child, track)
        elif child.kind == "hdlr" and child.end - child.body >= 12 and not track.handler:
            track.handler = _name(reader.read(child.body + 8, 4))
        elif child.kind in _TABLES:
            _read_table(reader, child, track)


def _read_mdhd(reader: Mp4Reader, box: Box, track: Track) -> None:
    """Time scale and duration (32-bit in version 0, 64-bit in version 1)."""
    version = reader.read(box.body, 1)[0]
    layout, length = (">II", 8) if version == 0 else (">IQ", 12)
    start = box.body + 4 + (8 if version == 0 else 16)
    if box.end - start < length:
        raise BoxError("the 'mdhd' box is too short")
    track.timescale, track.duration = struct.unpack(layout, reader.read(start, length))


# Sample tables FFmpeg sizes its arrays from: bytes before the entry count, and bytes per entry
# (stsz and stz2, whose entries depend on their header, are read by _read_sizes).
_TABLES = {"stts": (4, 8), "ctts": (4, 8), "stss": (4, 4), "stps": (4, 4), "stsc": (4, 12), "stco": (4, 4),
           "co64": (4, 8), "stsz": None, "stz2": None}


def _read_table(reader: Mp4Reader, box: Box, track: Track) -> None:
    """Count and position of one sample table, its count checked against its box."""
    if _TABLES[box.kind] is None:
        _read_sizes(reader, box, track)
        return
    fixed, entry = _TABLES[box.kind]
    count, table = reader.full_box(box, fixed, entry)
    track.tables[box.kind] = count
    if box.kind == "stts":
        track.stts = (count, table)
    elif box.kind == "stsc":
        track.stsc = (count, table)
    elif box.kind in ("stco", "co64"):
        track.chunks, track.chunk_bytes = (count, table), entry


def _read_sizes(reader: Mp4Reader, box: Box, track: Track) -> None:
    """stsz (one size for all, or 32-bit sizes) or stz2 (4, 8 or 16-bit sizes)."""
    if box.kind == "stsz":
        if box.end - box.body < 8:
            raise BoxError("the 'stsz' box is too short for its header")
        track.sample_size = int.from_bytes(reader.read(box.body + 4, 4), "big")
        entry = 0 if track.sample_size else 4
    else:
        track.size_bits = reader.read(box.body + 7, 1)[0] if box.end - box.body >= 8 else 0
        if track.size_bits not in (4, 8, 16):
            raise BoxError(f"the 'stz2' box has {track.size_bits}-bit sizes")
        entry = 1 if track.size_bits == 4 else track.size_bits // 8  # 4-bit pairs share a byte, checked below
    count, table = reader.full_box(box, 8, entry)
    if track.size_bits == 4 and (count + 1) // 2 > box.end - table:
        raise BoxError("the 'stz2' table is shorter than its count")
    track.sample_count, track.sizes_at = count, table
    track.tables[box.kind] = count


def sample_sizes(reader: Mp4Reader, track: Track) -> np.ndarray:
    """Every sample's size in bytes (the caller has bounded sample_count)."""
    count = track.sample_count
    if track.sample_size:
        return np.full(count, track.sample_size, dtype=np.int64)
    if track.size_bits == 4:
        packed = reader.array(track.sizes_at, (count + 1) // 2, "u1")
        return np.column_stack((packed >> 4, packed & 15)).ravel()[:count]
    return reader.array(track.sizes_at, count, {32: ">u4", 16: ">u2", 8: "u1"}[track.size_bits])


def _read_moof(reader: Mp4Reader, moof: Box, movie: Movie, defaults: dict[int, int]) -> None:
    """Add each trun's samples and bytes (per-sample sizes, tfhd's default or trex's) to the movie's totals."""
    for traf in reader.boxes(moof.body, moof.end):
        if traf.kind != "traf":
            continue
        default = 0
        for box in reader.boxes(traf.body, traf.end):
            if box.kind == "tfhd":
                default = _tfhd_default(reader, box, defaults)
            elif box.kind == "trun":
                count, size_sum = _read_trun(reader, box, default)
                movie.fragment_samples += count
                movie.fragment_bytes += size_sum


def _tfhd_default(reader: Mp4Reader, box: Box, defaults: dict[int, int]) -> int:
    """The default sample size a traf's tfhd sets, or the one trex set for its track."""
    if box.end - box.body < 8:
        raise BoxError("the 'tfhd' box is too short")
    flags = int.from_bytes(reader.read(box.body + 1, 3), "big")
    track_id = int.from_bytes(reader.read(box.body + 4, 4), "big")
    if not flags & 0x10:
        return defaults.get(track_id, 0)
    at = box.body + 8 + (8 if flags & 0x1 else 0) + (4 if flags & 0x2 else 0) + (4 if flags & 0x8 else 0)
    if at + 4 > box.end:
        raise BoxError("the 'tfhd' box is shorter than its flags say")
    return int.from_bytes(reader.read(at, 4), "big")


def _read_trun(reader: Mp4Reader, box: Box, default: int) -> tuple[int, int]:
    """(samples, their bytes) of one trun, its sample count checked against its box."""
    if box.end - box.body < 8:
        raise BoxError("the 'trun' box is too short")
    flags = int.from_bytes(reader.read(box.body + 1, 3), "big")
    fields = [bit for bit in (0x100, 0x200, 0x400, 0x800) if flags & bit]
    fixed = (4 if flags & 0x1 else 0) + (4 if flags & 0x4 else 0)
    count = int.from_bytes(reader.read(box.body + 4, 4), "big")
    table = box.body + 8 + fixed
    if table > box.end or count * 4 * len(fields) > box.end - table:
        raise BoxError(f"the 'trun' table claims {count} samples but its box holds fewer")
    if count > MAX_ENTRIES:
        raise BoxError(f"a 'trun' box claims {count} samples")
    if 0x200 not in fields:
        return count, count * default
    rows = reader.array(table, count * len(fields), ">u4").reshape(count, len(fields))
    return count, int(rows[:, fields.index(0x200)].sum())


def _name(kind: bytes) -> str:
    """A box type as text for messages: printable ASCII and ©, anything else shown as '?'."""
    return "".join(ch if " " <= ch <= "~" or ch == "©" else "?" for ch in kind.decode("latin-1"))
