"""Decode budgets: what decoding a photo will cost in memory, known from its header, and refusing too much."""
from __future__ import annotations

import struct
from typing import BinaryIO, Optional

from PIL import Image

from ..errors import TooLarge

MiB = 1024 * 1024
# The default ceiling on the memory one photo's decode may hold (MOMENTO_DECODE_BUDGET_BYTES). With the
# costs below it keeps the peak growth of any accepted photo under 256 MiB; a 40 MP PNG and a 64 MP
# JPEG fit, a 12 MP WebP and a 24 MP HEIC too.
DEFAULT_BUDGET = 192 * MiB
# An animation may decode this many times the still-image pixel limit over all its frames: enough for
# long GIFs, but a thousand-frame 8K "animation" is refused before it eats the CPU.
ANIMATION_PIXELS = 10

# Bytes the decoder holds at once per pixel of the canvas, beyond Pillow's own pixel storage, measured
# with Pillow 13 and pillow-heif 1.8 (peak RSS growth of inspect_photo over pixels):
# - libwebp's animation decoder keeps two RGBA canvases and hands Pillow a third copy as bytes;
# - libheif holds the YUV planes and its interleaved RGB output while Pillow copies them;
# - from the second GIF or APNG frame on, Pillow keeps the previous canvas in RGB(A) and converts
#   each new frame to RGB(A) over the whole canvas before pasting it.
_DECODER_OVERHEAD = {"WEBP": 12, "HEIF": 5}
_ANIMATED_BYTES_PER_PIXEL = {"GIF": 9, "PNG": 12, "WEBP": 16}
# Pillow stores these modes in one or two bytes a pixel; everything else takes four (RGB is RGBX).
_MODE_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}


def mode_bytes(mode: str) -> int:
    """Bytes per pixel of Pillow's in-memory storage of `mode`."""
    return _MODE_BYTES.get(mode, 4)


def decode_cost(fmt: str, size: tuple[int, int], mode: str, frames: int) -> int:
    """Bytes held at once while decoding an image of this format, canvas size, mode and frame count."""
    pixels = size[0] * size[1]
    if frames > 1 and fmt in _ANIMATED_BYTES_PER_PIXEL:
        return pixels * _ANIMATED_BYTES_PER_PIXEL[fmt]
    return pixels * (mode_bytes(mode) + _DECODER_OVERHEAD.get(fmt, 0))


def check(fmt: str, size: tuple[int, int], mode: str, frames: int, *, budget: Optional[int],
          max_pixels: Optional[int]) -> None:
    """Refuse, before any pixel is decoded, an image whose decode would cost more than the budget."""
    width, height = size
    if max_pixels is not None and frames > 1 and width * height * frames > max_pixels * ANIMATION_PIXELS:
        limit = max_pixels * ANIMATION_PIXELS / 1e6
        raise TooLarge(f"This animation has {frames} frames of {width}x{height} pixels, too many to process "
                       f"(the limit is {limit:.0f} megapixels over all frames). Shorten it or make it smaller "
                       f"and upload it again.", code="image_too_large")
    cost = decode_cost(fmt, size, mode, frames)
    if budget is not None and cost > budget:
        per_pixel = cost / (width * height)
        kind = "animation" if frames > 1 else "image"
        raise TooLarge(f"This {kind} is {width}x{height} pixels, too large to process (the limit for this "
                       f"kind of {kind} is {budget / per_pixel / 1e6:.0f} megapixels). Make it smaller and "
                       f"upload it again.", code="image_too_large")


def webp_header(f: BinaryIO) -> Optional[tuple[tuple[int, int], int]]:
    """The canvas size and frame count of a WebP file from its chunk headers, or None if they make no sense.

    Pillow's WebP opener allocates the canvas as it opens the file, so this is read first.
    """
    head = f.read(30)
    if len(head) < 30 or head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        return None
    kind = head[12:16]
    if kind == b"VP8X":
        size = (int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1)
    elif kind == b"VP8L" and head[20] == 0x2F:
        bits = int.from_bytes(head[21:25], "little")
        size = ((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    elif kind == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", head[26:30])
        size = (width & 0x3FFF, height & 0x3FFF)
    else:
        return None
    return size, _webp_frames(f) if kind == b"VP8X" else 1


def _webp_frames(f: BinaryIO) -> int:
    """The number of ANMF chunks, walking the chunk headers only (1 for a still image)."""
    frames, offset = 0, 12
    while True:
        f.seek(offset)
        header = f.read(8)
        if len(header) < 8:
            return max(1, frames)
        length = struct.unpack("<I", header[4:])[0]
        frames += header[:4] == b"ANMF"
        offset += 8 + length + (length & 1)


def frame_count(img: Image.Image) -> int:
    """Frames an opened image declares (GIF: its blocks are walked without decoding; APNG: acTL)."""
    return max(1, int(getattr(img, "n_frames", 1) or 1))
