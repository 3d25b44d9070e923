"""Decide what an upload is from its first bytes, and the values that describe media."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import magic

from ..errors import Unsupported
from ..models import PHOTO, VIDEO

SNIFF_BYTES = 8192

# libmagic's answer -> (kind, mime we record, extension). HEIF-family and Matroska answers are
# settled by the brands/doctype in the head instead (see _heif and _webm).
_SIMPLE = {
    "image/jpeg": (PHOTO, "image/jpeg", "jpg"),
    "image/png": (PHOTO, "image/png", "png"),
    "image/webp": (PHOTO, "image/webp", "webp"),
    "image/gif": (PHOTO, "image/gif", "gif"),
    "video/mp4": (VIDEO, "video/mp4", "mp4"),
    "video/quicktime": (VIDEO, "video/quicktime", "mov"),
}
# What people call each accepted format, for messages.
FORMAT_NAMES = {"jpg": "JPEG", "png": "PNG", "webp": "WebP", "gif": "GIF", "heic": "HEIC",
                "heif": "HEIF", "mp4": "MP4", "mov": "QuickTime", "webm": "WebM"}
_HEIF_MIMES = {"image/heic", "image/heif", "image/avif", "image/heic-sequence", "image/heif-sequence"}
_MATROSKA_MIMES = {"video/webm", "video/x-matroska"}
_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis"}
_HEIF_BRANDS = {b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}


@dataclass(frozen=True)
class Sniffed:
    """What the first bytes say a file is."""

    kind: str
    mime: str
    ext: str


@dataclass(frozen=True)
class MediaInfo:
    """Everything Momento derives from one photo or video (re-exported by momento.media)."""

    kind: str
    mime: str
    ext: str
    width: Optional[int]
    height: Optional[int]
    duration: Optional[float]
    taken_at: Optional[str]
    camera_make: Optional[str]
    camera_model: Optional[str]
    gps: Optional[dict[str, float]]
    thumbnail: bytes
    thumb_mime: str
    thumb_ext: str
    extra: dict[str, Any] = field(default_factory=dict)


def sniff(head: bytes) -> Sniffed:
    """Classify the first bytes of a file, or raise Unsupported naming what was found."""
    detected = magic.from_buffer(head, mime=True) if head else "application/x-empty"
    if detected in _SIMPLE:
        return Sniffed(*_SIMPLE[detected])
    if detected in _HEIF_MIMES:
        found = _heif(head)
        if found:
            return found
    if detected in _MATROSKA_MIMES and _ebml_doctype(head) == "webm":
        return Sniffed(VIDEO, "video/webm", "webm")
    raise Unsupported(_refusal(detected, head))


def _refusal(detected: str, head: bytes) -> str:
    """A sentence a person can read about a refused file."""
    if detected in _HEIF_MIMES and (_ftyp_brands(head) or [b""])[0] in _AVIF_BRANDS:
        detected = "image/avif (AVIF)"
    elif detected in _MATROSKA_MIMES:
        detected = f"{detected} (Matroska that is not WebM)"
    return f"This file is {detected}, not a photo or video Momento accepts."


def _ftyp_brands(head: bytes) -> list[bytes]:
    """Major brand then compatible brands of an ISO-BMFF `ftyp` box, or []."""
    if len(head) < 16 or head[4:8] != b"ftyp":
        return []
    size = min(int.from_bytes(head[0:4], "big"), len(head))
    if size < 16:
        return []
    # The minor version (bytes 12-16) is not a brand, so skip it.
    return [head[8:12]] + [head[i:i + 4] for i in range(16, size - 3, 4)]


def _heif(head: bytes) -> Optional[Sniffed]:
    """HEIC/HEIF from the ftyp brands; AVIF (same box family, other codec) gives None."""
    major, *compatible = _ftyp_brands(head) or [b""]
    if major in _HEIC_BRANDS:
        return Sniffed(PHOTO, "image/heic", "heic")
    # A generic `mif1` file is HEIF only if its compatible brands name an HEVC image and no
    # AVIF one; libheif would otherwise need an AV1 decoder Momento does not ship.
    rest = set(compatible)
    if major in _HEIF_BRANDS and rest & _HEIC_BRANDS and not rest & _AVIF_BRANDS:
        return Sniffed(PHOTO, "image/heif", "heif")
    return None


def _vint(data: bytes, pos: int, *, keep_marker: bool) -> tuple[int, int]:
    """An EBML variable-length integer at `pos`: (value, next position)."""
    first = data[pos]
    length = 1
    while length <= 8 and not first & (0x80 >> (length - 1)):
        length += 1
    if length > 8 or pos + length > len(data):
        raise ValueError("bad EBML integer")
    value = first if keep_marker else first & (0xFF >> length)
    for b in data[pos + 1:pos + length]:
        value = (value << 8) | b
    return value, pos + length


def _ebml_doctype(head: bytes) -> Optional[str]:
    """The DocType string of an EBML header ("webm", "matroska"), or None."""
    try:
        ident, pos = _vint(head, 0, keep_marker=True)
        if ident != 0x1A45DFA3:
            return None
        size, pos = _vint(head, pos, keep_marker=False)
        end = min(pos + size, len(head))
        while pos < end:
            ident, pos = _vint(head, pos, keep_marker=True)
            size, pos = _vint(head, pos, keep_marker=False)
            if ident == 0x4282:
                return head[pos:pos + size].rstrip(b"\0").decode("ascii")
            pos += size
    except (ValueError, IndexError, UnicodeDecodeError):
        return None
    return None


def webm_segment_end(head: bytes) -> Optional[int]:
    """Where a WebM's Segment says the file ends, or None when it does not say (live recordings)."""
    try:
        ident, pos = _vint(head, 0, keep_marker=True)
        size, pos = _vint(head, pos, keep_marker=False)
        ident, seg = _vint(head, pos + size, keep_marker=True)
        if ident != 0x18538067:
            return None
        size, data = _vint(head, seg, keep_marker=False)
    except (ValueError, IndexError):
        return None
    # An all-ones size means "unknown", which MediaRecorder writes while it streams.
    return None if size == (1 << (7 * (data - seg))) - 1 else data + size
