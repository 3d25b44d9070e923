"""Deterministic, small media files (good, broken and hostile) generated for tests and benchmarks."""
from __future__ import annotations

import functools
import io
import os
import random
import struct
import tempfile
import zipfile
import zlib
from typing import Any, Optional

import av
import pillow_heif
from PIL import Image, ImageChops

RED = (200, 30, 30)
BLUE = (20, 60, 220)  # bottom half of every still picture, so tests can tell which way is up
# Inverse of the turn EXIF orientation asks for: stored = upright.transpose(_UNDO[o]).
_UNDO = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
         4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
         6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_270}
VIDEO_FPS = 10


def _picture(width: int, height: int, color: tuple, mode: str = "RGB") -> Image.Image:
    """`color` on the top half and BLUE on the bottom half."""
    img = Image.new(mode, (width, height), BLUE + (255,) * (mode == "RGBA"))
    img.paste(color, (0, 0, width, height // 2))
    return img


def _save(img: Image.Image, fmt: str, **options: Any) -> bytes:
    """The bytes of `img` saved as `fmt`."""
    out = io.BytesIO()
    img.save(out, fmt, **options)
    return out.getvalue()


def _dms(value: float) -> tuple[float, float, float]:
    """Degrees, minutes, seconds of an absolute angle, as EXIF stores them."""
    value = abs(value)
    minutes = (value % 1) * 60
    return float(int(value)), float(int(minutes)), round((minutes % 1) * 60, 4)


def exif_bytes(*, exif_date: Optional[str] = None, offset: Optional[str] = None,
               make: Optional[str] = None, model: Optional[str] = None,
               gps: Optional[tuple] = None, orientation: Optional[int] = None) -> bytes:
    """An EXIF block; gps is (lat, lon) or (lat, lon, alt) in signed decimal degrees."""
    exif = Image.Exif()
    for tag, value in ((0x010F, make), (0x0110, model), (0x0112, orientation)):
        if value is not None:
            exif[tag] = value
    for tag, value in ((0x9003, exif_date), (0x9011, offset)):
        if value is not None:
            exif.get_ifd(0x8769)[tag] = value
    if gps is not None:
        place = exif.get_ifd(0x8825)
        place[1], place[2] = ("N" if gps[0] >= 0 else "S"), _dms(gps[0])
        place[3], place[4] = ("E" if gps[1] >= 0 else "W"), _dms(gps[1])
        if len(gps) > 2:
            place[5], place[6] = (b"\x01" if gps[2] < 0 else b"\x00"), abs(float(gps[2]))
    return exif.tobytes()


def _still(fmt: str, width: int, height: int, color: tuple[int, int, int], orientation: Optional[int],
           noise: bool = False, **exif: object) -> bytes:
    """A two-colour picture saved as `fmt`; width x height is how it should be seen."""
    img = _picture(width, height, color)
    if noise:  # sensor-like grain: defeats compression, for size-limit tests
        img = ImageChops.blend(img, Image.effect_noise((width, height), 40).convert("RGB"), 0.3)
    if orientation in _UNDO:
        img = img.transpose(_UNDO[orientation])
    options = {"quality": 90} if fmt in ("JPEG", "WEBP", "HEIF") else {}
    return _save(img, fmt, exif=exif_bytes(orientation=orientation, **exif), **options)


def jpeg(width: int = 64, height: int = 48, *, exif_date: Optional[str] = None,
         offset: Optional[str] = None, make: Optional[str] = None, model: Optional[str] = None,
         gps: Optional[tuple] = None, orientation: Optional[int] = None,
         color: tuple[int, int, int] = RED, noise: bool = False) -> bytes:
    """A JPEG whose upright view is width x height, `color` on top and blue below."""
    return _still("JPEG", width, height, color, orientation, noise, exif_date=exif_date,
                  offset=offset, make=make, model=model, gps=gps)


def png(width: int = 64, height: int = 48, *, color: tuple[int, int, int] = RED,
        orientation: Optional[int] = None, **exif: object) -> bytes:
    """A PNG (EXIF in an eXIf chunk when asked)."""
    return _still("PNG", width, height, color, orientation, **exif)


def webp(width: int = 64, height: int = 48, *, color: tuple[int, int, int] = RED,
         orientation: Optional[int] = None, **exif: object) -> bytes:
    """A lossy WebP."""
    return _still("WEBP", width, height, color, orientation, **exif)


def heic(width: int = 64, height: int = 48, *, color: tuple[int, int, int] = RED,
         orientation: Optional[int] = None, **exif: object) -> bytes:
    """An HEIC written by pillow-heif (x265); orientation becomes an HEIF rotation."""
    pillow_heif.register_heif_opener()
    return _still("HEIF", width, height, color, orientation, **exif)


def avif(width: int = 64, height: int = 48) -> bytes:
    """An AVIF, which Momento refuses."""
    return _save(_picture(width, height, RED), "AVIF", quality=60)


def png_rgba(width: int = 64, height: int = 48) -> bytes:
    """A PNG whose top half is fully transparent and bottom half opaque blue."""
    return _save(_picture(width, height, (0, 0, 0, 0), "RGBA"), "PNG")


def png16(width: int = 64, height: int = 48, level: int = 32768) -> bytes:
    """A 16-bit greyscale PNG at a mid-grey level (Pillow reads it as I;16)."""
    return _save(Image.new("I;16", (width, height), level), "PNG")


def gif_animated(frames: int = 3, width: int = 64, height: int = 48) -> bytes:
    """An animated GIF, each frame a different colour."""
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30)]
    images = [Image.new("RGB", (width, height), colours[i % 4]) for i in range(frames)]
    return _save(images[0], "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)


def mpo(width: int = 64, height: int = 48) -> bytes:
    """A two-picture MPO (stereo camera JPEG): libmagic calls it image/jpeg."""
    right = _picture(width, height, (30, 200, 30))
    return _save(_picture(width, height, RED), "MPO", save_all=True, append_images=[right])


@functools.cache
def large_jpeg(width: int = 6000, height: int = 4000) -> bytes:
    """A camera-sized JPEG (24 MP by default, a few MB) of gradients and sensor-like noise."""
    small = Image.merge("RGB", (Image.linear_gradient("L"), Image.radial_gradient("L"),
                                Image.linear_gradient("L").rotate(90)))
    base = small.resize((width, height), Image.Resampling.BILINEAR)
    noise = Image.effect_noise((width, height), 24).convert("RGB")
    exif = exif_bytes(exif_date="2023:07:14 09:30:00", make="Canon", model="EOS R6")
    return _save(ImageChops.blend(base, noise, 0.2), "JPEG", quality=88, exif=exif)


@functools.cache
def decompression_bomb_png(width: int = 30000, height: int = 30000) -> bytes:
    """A real, tiny 1-bit PNG of all-black rows declaring width x height pixels."""
    row = bytes(1 + (width + 7) // 8)  # filter byte 0, then packed zero bits
    packer = zlib.compressobj(9)
    per_chunk = max(1, 4_000_000 // len(row))  # feed zlib a few MB at a time, never all of it
    body = [packer.compress(row * min(per_chunk, height - done)) for done in range(0, height, per_chunk)]
    body.append(packer.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", b"".join(body)) + _chunk(b"IEND", b"")


def _chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk with its CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def poster_grey(t: float) -> int:
    """The grey level the top half of a corpus video shows at time t."""
    return min(255, round(40 + 80 * t))


_ENCODERS = {
    "h264": ("libx264", {"preset": "ultrafast"}),
    "hevc": ("libx265", {"preset": "ultrafast", "x265-params": "log-level=none"}),
    "vp9": ("libvpx-vp9", {"deadline": "realtime", "cpu-used": "8"}),
}


def _video(fmt: str, *, seconds: float, codec: Optional[str], faststart: bool = False, audio: bool = True,
           size: tuple[int, int] = (160, 120), rotation: int = 0, creation_time: Optional[str] = None,
           gps: Optional[str] = None, audio_codec: str = "aac", pix_fmt: str = "yuv420p") -> bytes:
    """Encode a small clip with PyAV (via a temp file: faststart rewrites the file in place)."""
    fd, path = tempfile.mkstemp()
    os.close(fd)
    try:
        with av.open(path, "w", format=fmt, options={"movflags": "+faststart"} if faststart else {}) as out:
            for key, value in (("creation_time", creation_time), ("location", gps)):
                if value:
                    out.metadata[key] = value
            # Every stream must exist before the first packet is muxed (that writes the header).
            video = _video_stream(out, codec, size, rotation, pix_fmt) if codec else None
            sound = out.add_stream(audio_codec, rate=48000) if audio else None
            if video is not None:
                _pictures(out, video, size, rotation, seconds)
            if sound is not None:
                _silence(out, sound, seconds)
        with open(path, "rb") as fh:
            return fh.read()
    finally:
        os.unlink(path)


def _video_stream(out: Any, codec: str, size: tuple[int, int], rotation: int, pix_fmt: str = "yuv420p") -> Any:
    """A video stream of VIDEO_FPS frames a second, rotated for display by `rotation` clockwise."""
    name, codec_options = _ENCODERS[codec]
    video = out.add_stream(name, rate=VIDEO_FPS, options=dict(codec_options))
    video.width, video.height, video.pix_fmt = size[0], size[1], pix_fmt
    if rotation:
        # PyAV counts counter-clockwise; the 'rotate' convention (and ours) is clockwise.
        video.set_display_rotation(-rotation)
    return video


def _pictures(out: Any, video: Any, size: tuple[int, int], rotation: int, seconds: float) -> None:
    """Encode frames whose upright view is grey on top (the grey tells the time) and blue below."""
    upright = size if rotation in (0, 180) else (size[1], size[0])
    # Undo the clockwise display rotation so the player's rotation brings the picture back upright.
    undo = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}
    for i in range(round(seconds * VIDEO_FPS)):
        img = _picture(*upright, (poster_grey(i / VIDEO_FPS),) * 3)
        frame = av.VideoFrame.from_image(img.transpose(undo[rotation]) if rotation else img)
        frame.pts = i
        out.mux(video.encode(frame))
    out.mux(video.encode())


def _silence(out: Any, sound: Any, seconds: float) -> None:
    """Encode `seconds` of silence into an audio stream."""
    samples = sound.codec_context.frame_size or 1024
    for start in range(0, round(48000 * seconds), samples):
        frame = av.AudioFrame(format=sound.format.name, layout=sound.layout.name, samples=samples)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.sample_rate, frame.pts = 48000, start
        out.mux(sound.encode(frame))
    out.mux(sound.encode())


def mp4(seconds: float = 2, *, codec: Optional[str] = "h264", faststart: bool = False, audio: bool = True,
        size: tuple[int, int] = (160, 120), rotation: int = 0, creation_time: Optional[str] = None,
        gps: Optional[str] = None, pix_fmt: str = "yuv420p") -> bytes:
    """An MP4 (codec "h264", "hevc", or None for sound only); without faststart moov follows mdat."""
    return _video("mp4", seconds=seconds, codec=codec, faststart=faststart, audio=audio, size=size,
                  rotation=rotation, creation_time=creation_time, gps=gps, pix_fmt=pix_fmt)


def mov(seconds: float = 2, *, codec: str = "h264", audio: bool = True, size: tuple[int, int] = (160, 120),
        rotation: int = 90, creation_time: Optional[str] = "2022-08-09T10:11:12.000000Z",
        gps: Optional[str] = "+48.8583+002.2945/") -> bytes:
    """A QuickTime movie shot 'in portrait': rotation is clockwise degrees, in a display matrix."""
    return _video("mov", seconds=seconds, codec=codec, audio=audio, size=size, rotation=rotation,
                  creation_time=creation_time, gps=gps)


def webm(seconds: float = 2, *, audio: bool = True, size: tuple[int, int] = (160, 120)) -> bytes:
    """A WebM with VP9 video and (optionally) Opus audio."""
    return _video("webm", seconds=seconds, codec="vp9", audio=audio, size=size, audio_codec="libopus")


def mkv(seconds: float = 1) -> bytes:
    """A plain Matroska file (DocType "matroska"), which Momento refuses."""
    return _video("matroska", seconds=seconds, codec="h264", audio=False)


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    """The first `keep` fraction of a file, as an interrupted upload leaves it."""
    return data[:int(len(data) * keep)]


def mp4_header_noise(size: int = 20000) -> bytes:
    """A genuine MP4 ftyp box followed by random bytes."""
    ftyp = struct.pack(">I4s4sI", 32, b"ftyp", b"isom", 512) + b"isomiso2avc1mp41"
    return ftyp + random.Random(6709).randbytes(size)


def text_as_jpg() -> bytes:
    """Plain text someone named photo.jpg."""
    return b"These are my holiday notes, not a photo.\nDay 1: beach.\n" * 4


def html() -> bytes:
    """An HTML page with a script."""
    return b"<!DOCTYPE html>\n<html><head><title>x</title></head><body><script>alert(1)</script></body></html>\n"


def shell_script() -> bytes:
    """A shell script."""
    return b"#!/bin/sh\nrm -rf --no-preserve-root /\necho done\n"


def pdf() -> bytes:
    """A minimal PDF."""
    return (b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n"
            b"<< /Type /Pages /Kids [] /Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")


def zip_file() -> bytes:
    """A zip archive holding a small text file."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("readme.txt", "hello")
    return out.getvalue()


def svg() -> bytes:
    """An SVG with a script (an XSS risk if ever served inline)."""
    return (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
            b'<script>alert(1)</script><rect width="10" height="10"/></svg>\n')


def polyglot_gif_js() -> bytes:
    """Starts like a GIF but is JavaScript ("GIF89a=..."); it has no image data to decode."""
    return b"GIF89a=1;alert(document.domain);//" + b"\x00" * 16


def jpeg_with_zip_appended() -> bytes:
    """A valid JPEG with a zip after its end marker.

    Accepted: the picture decodes completely, JPEG decoders stop at EOI, and Momento serves it
    with its sniffed image type (never as a zip), so the trailing bytes are inert.
    """
    return jpeg() + zip_file()


def odd_filenames() -> list[str]:
    """Names a hostile or careless client may send."""
    return ["../../etc/passwd.jpg", "a\u202egpj.exe", "con\x00trol\x07.jpg", "  .hidden.jpg",
            "x" * 1000 + ".jpg", "C:\\Users\\x\\photo.jpg", "\u2066zero\u200bwidth\u2069.png",
            "Cafe\u0301.jpg", "..."]
