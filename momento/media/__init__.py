"""Pure media helpers: what a file is, whether it decodes, and what it says about itself."""
from __future__ import annotations

from typing import BinaryIO, Callable, Optional

from ..models import PHOTO
from .images import inspect_photo, placeholder_thumbnail
from .sniff import SNIFF_BYTES, MediaInfo, Sniffed, sniff
from .videos import inspect_video

__all__ = ["SNIFF_BYTES", "MediaInfo", "Sniffed", "inspect", "placeholder_thumbnail", "sniff"]


def inspect(path: str, sniffed: Sniffed, *, max_pixels: Optional[int] = None,
            decode_budget: Optional[int] = None, open_file: Optional[Callable[[], BinaryIO]] = None) -> MediaInfo:
    """Decode the file at `path` (or, for a video, what open_file() reads) as the sniffed type and derive its
    metadata and thumbnail."""
    if sniffed.kind == PHOTO:
        return inspect_photo(path, sniffed, max_pixels=max_pixels, decode_budget=decode_budget)
    return inspect_video(path, sniffed, max_pixels=max_pixels, open_file=open_file)
