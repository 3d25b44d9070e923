"""Crafted images whose decoded size dwarfs their file size, and large legitimate ones, for tests and benchmarks."""
from __future__ import annotations

import io
import struct
import zlib

from PIL import Image, ImageDraw

# One pixel of colour 0 in LZW with a minimum code size of 2: clear (4), 0, end (5), 3 bits each.
_GIF_ONE_PIXEL = bytes([2, 2, 0x44, 0x01, 0])


def gif_canvas(width: int, height: int, frames: int = 1) -> bytes:
    """A GIF whose logical screen is width x height while each frame paints a single pixel."""
    out = [b"GIF89a", struct.pack("<HHBBB", width, height, 0x80, 0, 0), b"\0\0\0\xff\xff\xff"]
    if frames > 1:
        out.append(b"!\xff\x0bNETSCAPE2.0\x03\x01\0\0\0")  # loop forever
    for i in range(frames):
        out.append(b"!\xf9\x04\x04\x0a\0\0\0")  # 100 ms, keep the frame in place
        out.append(b"," + struct.pack("<HHHHB", i % width, 0, 1, 1, 0) + _GIF_ONE_PIXEL)
    out.append(b";")
    return b"".join(out)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk with its CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def zero_png(width: int, height: int, color_type: int = 6) -> bytes:
    """A valid 8-bit PNG of all-zero rows (RGBA by default), compressed a few MB at a time."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color_type]
    row = bytes(1 + width * channels)
    packer = zlib.compressobj(9)
    per_step = max(1, 8_000_000 // len(row))
    body = [packer.compress(row * min(per_step, height - done)) for done in range(0, height, per_step)]
    body.append(packer.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", b"".join(body))
            + _png_chunk(b"IEND", b""))


def _riff_chunk(kind: bytes, data: bytes) -> bytes:
    """One RIFF chunk, padded to an even length."""
    return kind + struct.pack("<I", len(data)) + data + b"\0" * (len(data) & 1)


def webp_canvas(width: int, height: int, frames: int) -> bytes:
    """An animated WebP whose canvas is width x height while each frame is one lossless pixel."""
    pixel = io.BytesIO()
    Image.new("RGBA", (1, 1), (200, 30, 30, 255)).save(pixel, "WEBP", lossless=True)
    vp8l = pixel.getvalue()[12:]  # the VP8L chunk of a simple-format file
    vp8x = struct.pack("<B3x", 0x12) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    anim = struct.pack("<IH", 0xFFFFFFFF, 0)
    frame = (0).to_bytes(3, "little") * 2 + (0).to_bytes(3, "little") * 2 + (100).to_bytes(3, "little") + b"\0"
    body = (b"WEBP" + _riff_chunk(b"VP8X", vp8x) + _riff_chunk(b"ANIM", anim)
            + b"".join(_riff_chunk(b"ANMF", frame + vp8l) for _ in range(frames)))
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _screenshot(width: int, height: int, mode: str) -> Image.Image:
    """Flat panels, bars and text-like strokes: what a large screenshot or a photo of a wall looks like."""
    img = Image.new(mode, (width, height), (236, 239, 242, 255)[:len(mode)])
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, width, height // 12), fill=(40, 60, 120, 255)[:len(mode)])
    draw.rectangle((0, height // 2, width, height), fill=(20, 60, 220, 255)[:len(mode)])
    for y in range(height // 8, height // 2, max(1, height // 40)):
        draw.line((width // 10, y, width * 9 // 10, y), fill=(30, 30, 30, 255)[:len(mode)], width=3)
    return img


def large_png(width: int = 8000, height: int = 5000, mode: str = "RGB") -> bytes:
    """A 40 MP screenshot-like PNG (a few hundred KB)."""
    out = io.BytesIO()
    _screenshot(width, height, mode).save(out, "PNG", compress_level=6)
    return out.getvalue()


def large_jpeg(width: int = 9800, height: int = 6530) -> bytes:
    """A 64 MP JPEG of low-entropy content (about a megabyte)."""
    out = io.BytesIO()
    _screenshot(width, height, "RGB").save(out, "JPEG", quality=85)
    return out.getvalue()
