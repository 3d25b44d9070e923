"""Photos: decode and validate with Pillow, read EXIF, and make the WebP thumbnail."""
from __future__ import annotations

import functools
import io
import math
import re
import struct
import unicodedata
import warnings
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

import pillow_heif
from PIL import Image, ImageDraw, ImageOps, ImageSequence, UnidentifiedImageError

from ..errors import Unprocessable
from ..models import PHOTO
from . import budget
from .sniff import FORMAT_NAMES, MediaInfo, Sniffed
from ..formats import HIDDEN, iso

THUMB_SIZE = 512
THUMB_MIME = "image/webp"
THUMB_EXT = "webp"
_STRIP_BYTES = 2 * 1024 * 1024  # rows converted for the thumbnail at a time

_PILLOW_FORMATS = {
    "image/jpeg": ("JPEG", "MPO"),  # Pillow's JPEG opener turns multi-picture JPEGs into MPO
    "image/png": ("PNG",),
    "image/webp": ("WEBP",),
    "image/gif": ("GIF",),
    "image/heic": ("HEIF",),
    "image/heif": ("HEIF",),
}
# Everything Pillow and pillow-heif raise on hostile or broken bytes.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError,
                  KeyError, struct.error, ZeroDivisionError, RuntimeError, MemoryError)
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_DATE_RE = re.compile(r"^\s*(\d{4})[:\-](\d{2})[:\-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_OFFSET_RE = re.compile(r"^\s*([+-])(\d{2}):?(\d{2})\s*$")


@functools.cache
def _register_heif() -> None:
    """Teach Pillow to open HEIC/HEIF, once per process."""
    pillow_heif.register_heif_opener()


def inspect_photo(path: str, sniffed: Sniffed, *, max_pixels: Optional[int] = None,
                  decode_budget: Optional[int] = None) -> MediaInfo:
    """Decode every frame of a photo and derive its metadata and thumbnail, within the decode budget."""
    _register_heif()
    limit = Image.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    spend = budget.DEFAULT_BUDGET if decode_budget is None else decode_budget
    formats = _PILLOW_FORMATS.get(sniffed.mime)
    if formats is None:
        raise Unprocessable(f"Momento cannot read {sniffed.mime} as a photo.")
    with warnings.catch_warnings():
        # A caller may allow more pixels than Pillow's default; then our own exact check decides
        # (Pillow's hard error at twice its default still applies: it reads a global).
        lenient = limit is not None and Image.MAX_IMAGE_PIXELS is not None and limit > Image.MAX_IMAGE_PIXELS
        warnings.simplefilter("ignore" if lenient else "error", Image.DecompressionBombWarning)
        try:
            if "WEBP" in formats:
                _check_webp(path, limit, spend)
            with Image.open(path, formats=list(formats)) as img:
                return _inspect_open(img, sniffed, formats, limit, spend)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_many_pixels() from None
        except _DECODE_ERRORS as exc:
            raise Unprocessable(f"This {FORMAT_NAMES[sniffed.ext]} file is damaged or incomplete "
                                f"and cannot be decoded ({_reason(exc, path)}).") from exc


def _check_webp(path: str, limit: Optional[int], spend: int) -> None:
    """Size up a WebP from its chunk headers: Pillow's opener allocates the canvas before we could."""
    with open(path, "rb") as f:
        header = budget.webp_header(f)
    if header is None:
        return  # Pillow will say what is wrong with it
    size, frames = header
    if limit is not None and size[0] * size[1] > limit:
        raise _too_many_pixels()
    budget.check("WEBP", size, "RGBA", frames, budget=spend, max_pixels=limit)


def _inspect_open(img: Image.Image, sniffed: Sniffed, formats: tuple[str, ...],
                  limit: Optional[int], spend: int) -> MediaInfo:
    """The work of inspect_photo on an image Pillow has identified."""
    if img.format not in formats:
        raise Unprocessable(f"This file looks like {FORMAT_NAMES[sniffed.ext]} but decodes as {img.format}.")
    width, height = img.size
    if limit is not None and width * height > limit:
        raise _too_many_pixels()
    if img.format == "JPEG":
        # A draft (DCT-scaled) decode still Huffman-decodes every scan, so truncation and broken
        # streams fail exactly as in a full decode, at a fraction of the time and memory.
        img.draft("RGB", _draft_size(img.size))
    frames = 1 if img.format == "JPEG" else budget.frame_count(img)
    budget.check(img.format, img.size, img.mode, frames, budget=spend, max_pixels=limit)
    thumbnail, frames, exif = _decode_all(img)
    orientation = _orientation(exif)
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    fields = _exif_fields(exif)
    return MediaInfo(
        kind=PHOTO, mime=sniffed.mime, ext=sniffed.ext, width=width, height=height,
        duration=None, thumbnail=thumbnail, thumb_mime=THUMB_MIME, thumb_ext=THUMB_EXT,
        extra={"format": img.format, "animated": frames > 1, "frames": frames}, **fields,
    )


def _decode_all(img: Image.Image) -> tuple[bytes, int, Image.Exif]:
    """Decode every frame; return the thumbnail of the first, the number of frames, the EXIF."""
    if img.format == "JPEG":
        img.load()
        return _thumbnail(img), 1, img.getexif()
    thumbnail, exif, frames = b"", Image.Exif(), 0
    for frame in ImageSequence.Iterator(img):
        frame.load()
        frames += 1
        if frames == 1:
            # Made now, so no copy of the first frame is held while the others decode.
            exif = img.getexif()
            thumbnail = _thumbnail(frame)
    return thumbnail, frames, exif


def _draft_size(size: tuple[int, int]) -> tuple[int, int]:
    """Smallest size at least the thumbnail's, with the photo's own aspect ratio."""
    scale = min(1.0, THUMB_SIZE / max(size))
    return max(1, math.ceil(size[0] * scale)), max(1, math.ceil(size[1] * scale))


def _too_many_pixels() -> Unprocessable:
    """The error for an image over the pixel limit."""
    return Unprocessable("This image has too many pixels for Momento to process safely.",
                         code="too_many_pixels")


def _reason(exc: Exception, path: str) -> str:
    """A short decoder message without server paths or object addresses."""
    if isinstance(exc, UnidentifiedImageError):
        return "no image could be found in it"
    text = str(exc).replace(repr(path), "").replace(path, "").split(" <", 1)[0].strip()
    return (text or type(exc).__name__)[:120]


def _thumbnail(img: Image.Image) -> bytes:
    """Upright RGB WebP at most THUMB_SIZE px on the long side."""
    scale = min(1.0, THUMB_SIZE / max(img.size))
    target = (max(1, round(img.size[0] * scale)), max(1, round(img.size[1] * scale)))
    rgb = _reduced_rgb(img, target)
    if target != rgb.size:
        rgb = rgb.resize(target, Image.Resampling.BICUBIC)
    rgb.info = dict(img.info)  # exif_transpose reads the orientation from here
    try:
        upright = ImageOps.exif_transpose(rgb)
    except _DECODE_ERRORS:
        upright = rgb  # unreadable EXIF: an unrotated thumbnail beats no upload
    return encode_webp(upright)


def _reduced_rgb(img: Image.Image, target: tuple[int, int]) -> Image.Image:
    """RGB at most twice the target size (Pillow's reducing gap of 2), converted a strip at a time.

    Converting the whole picture first would hold one or more extra full-size copies of it.
    """
    width, height = img.size
    fx, fy = max(1, int(width / target[0] / 2)), max(1, int(height / target[1] / 2))
    rows = max(fy, _STRIP_BYTES // (width * 4) // fy * fy)
    out = Image.new("RGB", (math.ceil(width / fx), math.ceil(height / fy)))
    for top in range(0, height, rows):
        strip = _to_rgb(img.crop((0, top, width, min(height, top + rows))))
        out.paste(strip.reduce((fx, fy)) if (fx, fy) != (1, 1) else strip, (0, top // fy))
    return out


def _to_rgb(img: Image.Image) -> Image.Image:
    """RGB pixels; transparency is laid over white, 16-bit grey scaled down to 8 bits."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        return img.convert("I").point(lambda v: v * (1 / 256)).convert("L").convert("RGB")
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img if img.mode == "RGB" else img.convert("RGB")


def encode_webp(img: Image.Image) -> bytes:
    """Encode a thumbnail as WebP, tuned for speed over the last byte."""
    out = io.BytesIO()
    img.save(out, "WEBP", quality=80, method=4)
    return out.getvalue()


@functools.cache
def placeholder_thumbnail(kind: str) -> bytes:
    """A neutral WebP used when no picture can be made (a play sign for videos)."""
    img = Image.new("RGB", (512, 288), (96, 99, 104))
    draw = ImageDraw.Draw(img)
    if kind == PHOTO:
        draw.ellipse((300, 70, 350, 120), fill=(200, 200, 200))
        draw.polygon([(150, 220), (250, 110), (350, 220)], fill=(170, 170, 170))
    else:
        draw.ellipse((206, 94, 306, 194), outline=(230, 230, 230), width=6)
        draw.polygon([(242, 116), (242, 172), (288, 144)], fill=(230, 230, 230))
    return encode_webp(img)


def _orientation(exif: Image.Exif) -> int:
    """EXIF orientation 1-8, or 1 when missing or nonsense."""
    try:
        value = int(exif.get(0x0112, 1))
    except (TypeError, ValueError):
        return 1
    return value if 1 <= value <= 8 else 1


def _ifd(exif: Image.Exif, tag: int) -> dict:
    """A sub-IFD, or {} when it cannot be read."""
    try:
        return dict(exif.get_ifd(tag))
    except _DECODE_ERRORS:
        return {}


def _exif_fields(exif: Image.Exif) -> dict[str, Any]:
    """taken_at, camera and GPS from EXIF; unreadable values become None."""
    sub = _ifd(exif, _EXIF_IFD)
    taken = _taken_at(sub.get(0x9003), sub.get(0x9011))
    if taken is None:
        taken = _taken_at(exif.get(0x0132), sub.get(0x9010))
    return {
        "taken_at": taken,
        "camera_make": clean_text(exif.get(0x010F)),
        "camera_model": clean_text(exif.get(0x0110)),
        "gps": _gps(_ifd(exif, _GPS_IFD)),
    }


def clean_text(value: Any) -> Optional[str]:
    """A printable metadata string (EXIF, a video's tags) without controls, bidi marks or edge whitespace."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    value = "".join(ch for ch in value if unicodedata.category(ch) not in HIDDEN)
    return value.strip()[:100] or None


def _taken_at(value: Any, offset: Any) -> Optional[str]:
    """EXIF 'YYYY:MM:DD HH:MM:SS' (+ optional offset) as ISO 8601 UTC, else None."""
    text = clean_text(value)
    match = _DATE_RE.match(text or "")
    if not match:
        return None
    try:
        moment = datetime(*(int(part) for part in match.groups()))
        off = _OFFSET_RE.match(clean_text(offset) or "")
        if off:
            delta = timedelta(hours=int(off[2]), minutes=int(off[3]))
            if delta <= timedelta(hours=14):
                moment -= delta if off[1] == "+" else -delta
    except (ValueError, OverflowError):
        return None
    return iso(moment.replace(tzinfo=timezone.utc))


def _number(value: Any) -> Optional[float]:
    """A finite float from an EXIF rational, or None."""
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _degrees(value: Any) -> Optional[float]:
    """Degrees from EXIF (deg, min, sec) rationals or a single number."""
    parts = value if isinstance(value, tuple) else (value,)
    numbers = [_number(part) for part in parts[:3]]
    if not numbers or any(n is None for n in numbers):
        return None
    return sum(n / 60 ** i for i, n in enumerate(numbers))


def _gps(gps: dict) -> Optional[dict[str, float]]:
    """{"lat", "lon"[, "alt"]} in signed decimal degrees from a GPS IFD, or None."""
    lat, lon = _degrees(gps.get(2)), _degrees(gps.get(4))
    if lat is None or lon is None:
        return None
    if (clean_text(gps.get(1)) or "N").upper().startswith("S"):
        lat = -lat
    if (clean_text(gps.get(3)) or "E").upper().startswith("W"):
        lon = -lon
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    place = {"lat": round(lat, 7), "lon": round(lon, 7)}
    alt = _number(gps.get(6))
    if alt is not None:
        below = gps.get(5) in (1, b"\x01", "\x01")
        place["alt"] = round(-alt if below else alt, 2)
    return place
