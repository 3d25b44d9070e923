"""Tags: normalising what people type, and deriving automatic tags from media metadata."""
from __future__ import annotations

import re
import unicodedata
from typing import Iterable

from ..errors import BadRequest

MAX_TAG_LENGTH = 64
MAX_TAGS = 50
# Automatic tags the index lists and walks dates by: a person's tag may not pose as one (a `month:2019-01` typed
# on a photo of 2024 would put that photo in 2019's count of the gallery's month index).
RESERVED = ("kind:", "month:")
_SPACE = re.compile(r"\s+")


def normalize_tag(raw: str) -> str:
    """One tag trimmed, lower-cased, inner whitespace collapsed; BadRequest when empty or too long."""
    if not isinstance(raw, str):
        raise BadRequest("Each tag must be text.", code="invalid_tag", fields=[("tags", "not_text")])
    tag = _SPACE.sub(" ", unicodedata.normalize("NFC", raw)).strip().lower()
    # Cs: lone surrogates (JSON "\ud800") are not text and cannot be stored as UTF-8
    tag = "".join(ch for ch in tag if unicodedata.category(ch) not in ("Cc", "Cf", "Cs"))
    if not tag:
        raise BadRequest("A tag cannot be empty.", code="invalid_tag", fields=[("tags", "empty")])
    if "," in tag:
        raise BadRequest("Tags cannot contain commas; commas separate tags.", code="invalid_tag",
                         fields=[("tags", "comma")])
    if len(tag) > MAX_TAG_LENGTH:
        raise BadRequest(f"Tags are at most {MAX_TAG_LENGTH} characters: {tag[:20]}…", code="invalid_tag",
                         fields=[("tags", "too_long")])
    return tag


def normalize_tags(raw: Iterable[str]) -> tuple[str, ...]:
    """Distinct normalised tags in the order given; BadRequest past the limit."""
    if isinstance(raw, (str, bytes)) or raw is None:
        raise BadRequest("Tags must be a list of strings.", code="invalid_tags", fields=[("tags", "not_a_list")])
    seen: dict[str, None] = {}
    for item in raw:
        tag = normalize_tag(item)
        if tag.startswith(RESERVED):
            raise BadRequest(f"Tags starting with {tag.split(':')[0]}: are Momento's own (the kind and the month an "
                             "upload was taken): choose another word.", code="reserved_tag", fields=[("tags", "reserved")])
        seen.setdefault(tag, None)
    if len(seen) > MAX_TAGS:
        raise BadRequest(f"An upload can have at most {MAX_TAGS} tags.", code="too_many_tags",
                         fields=[("tags", "too_many")])
    return tuple(seen)


def parse_tag_field(text: str | None) -> tuple[str, ...]:
    """Tags from a comma-separated form field; blank entries are skipped."""
    if not text:
        return ()
    return normalize_tags(part for part in text.split(",") if part.strip())


def _slug(value: str) -> str:
    """A metadata value as one tag word: a comma would split the tag when typed back, so it becomes a space."""
    return _SPACE.sub("-", value.replace(",", " ").strip().lower())[:48]


def resolution_class(width: int | None, height: int | None) -> str | None:
    """A resolution word from the long and short sides."""
    if not width or not height:
        return None
    short = min(width, height)
    if short >= 2160:
        return "res:4k"
    if short >= 1080:
        return "res:fullhd"
    if short >= 720:
        return "res:hd"
    return "res:sd"


def orientation(width: int | None, height: int | None) -> str | None:
    """landscape, portrait, square or panorama from the displayed size."""
    if not width or not height:
        return None
    ratio = width / height
    if ratio >= 2.0 or ratio <= 0.5:
        return "orientation:panorama"
    if 0.95 <= ratio <= 1.05:
        return "orientation:square"
    return "orientation:landscape" if ratio > 1 else "orientation:portrait"


def duration_class(seconds: float | None) -> str | None:
    """short (under 30 s), medium (under 5 min) or long."""
    if seconds is None:
        return None
    if seconds < 30:
        return "duration:short"
    return "duration:medium" if seconds < 300 else "duration:long"


def auto_tags(*, kind: str, ext: str, width, height, duration, taken_at: str | None, uploaded_at: str,
              camera_make: str | None, camera_model: str | None, gps, extra: dict) -> tuple[str, ...]:
    """The automatic tags Momento derives from an upload's metadata and pixels."""
    when = taken_at or uploaded_at
    tags = [f"year:{when[:4]}", f"month:{when[:7]}", f"kind:{kind}", f"format:{'jpeg' if ext == 'jpg' else ext}"]
    if camera_make:
        tags.append(f"camera:{_slug(camera_make)}")
    if camera_model:
        tags.append(f"model:{_slug(camera_model)}")
    if gps:
        tags.append("has:location")
    tags += [t for t in (orientation(width, height), resolution_class(width, height)) if t]
    if extra.get("animated"):
        tags.append("animated")
    if kind == "video":
        if (d := duration_class(duration)):
            tags.append(d)
        if not extra.get("has_audio", True):
            tags.append("audio:none")
    return tuple(dict.fromkeys(tags))
