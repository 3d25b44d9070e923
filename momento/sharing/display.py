"""Display copies of shared photos: at most 2048 px, upright, JPEG without EXIF or location.

Made with Pillow on the first visit that asks for one and kept beside the thumbnail
(`user-<id>/thumbs/<uploadId>.display.jpg`), so a visitor never receives the owner's original metadata.
"""
from __future__ import annotations

import io
import os
import shutil
import tempfile

from PIL import Image, ImageOps

from ..errors import ObjectMissing, Unprocessable
from ..media.images import _register_heif
from ..models import Upload

DISPLAY_SIZE = 2048
DISPLAY_MIME = "image/jpeg"
DISPLAY_SUFFIX = ".display.jpg"


def display_key(upload: Upload) -> str:
    """Where a photo's display copy is kept (named beside the others in Upload, so purge and verify know it)."""
    return upload.display_key


def ensure_display(storage, upload: Upload) -> str:
    """The key of the photo's display copy, made now when there is none yet."""
    key = display_key(upload)
    try:
        storage.stat(key)
        return key
    except ObjectMissing:
        pass
    storage.put_bytes(key, render_display(storage, upload), DISPLAY_MIME, durable=False)
    return key


def render_display(storage, upload: Upload) -> bytes:
    """Decode the original (a local copy when the store is remote) and encode its display copy."""
    path = storage.local_path(upload.original_key)
    if path is not None:
        return display_bytes(path)
    fd, temp = tempfile.mkstemp(dir=storage.scratch_dir(), suffix=".display")
    try:
        stream = storage.open(upload.original_key)
        try:
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(_Reader(stream), out, 1024 * 1024)
        finally:
            stream.close()
        return display_bytes(temp)
    finally:
        os.unlink(temp)


def display_bytes(path: str) -> bytes:
    """A JPEG of the picture (its first frame), upright, at most DISPLAY_SIZE px, and nothing else: no EXIF,
    no GPS, no comments, no colour-profile quirks beyond sRGB-like RGB."""
    _register_heif()
    try:
        with Image.open(path) as img:
            if img.format == "JPEG":
                img.draft("RGB", (DISPLAY_SIZE, DISPLAY_SIZE))
            img.seek(0)
            upright = ImageOps.exif_transpose(img)
            upright.thumbnail((DISPLAY_SIZE, DISPLAY_SIZE), Image.Resampling.LANCZOS)
            rgb = _rgb(upright)
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise Unprocessable("This photo cannot be shown.", code="display_failed") from exc
    out = io.BytesIO()
    # A new image carries no info of its own: Pillow writes only what save() is given.
    clean = Image.new("RGB", rgb.size)
    clean.paste(rgb)
    clean.save(out, "JPEG", quality=85, optimize=True, progressive=True)
    return out.getvalue()


def _rgb(img: Image.Image) -> Image.Image:
    """RGB pixels, transparency laid over white."""
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img if img.mode == "RGB" else img.convert("RGB")


class _Reader:
    """A file-like read() over an object stream's chunks."""

    def __init__(self, stream):
        self._chunks = iter(stream)
        self._left = b""

    def read(self, n: int = -1) -> bytes:
        """Up to n bytes (every byte left when n < 0)."""
        while n < 0 or len(self._left) < n:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._left += chunk
        data, self._left = (self._left, b"") if n < 0 else (self._left[:n], self._left[n:])
        return data
