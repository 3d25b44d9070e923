"""Make a user's filename safe to keep as metadata and to show back to people."""
from __future__ import annotations

import os
import unicodedata
from typing import Optional

MAX_LENGTH = 200
# Longer "extensions" are just the tail of a long name, not worth preserving when cutting.
MAX_EXTENSION = 16
# Cc: controls (NUL, BEL, newlines); Cf: bidi overrides and zero-width marks that make
# "a\u202egpj.exe" display as "aexe.jpg"; Zl/Zp: line breaks; Cs: lone surrogates that
# cannot be stored as UTF-8.
_DROPPED = {"Cc", "Cf", "Zl", "Zp", "Cs"}


def clean_filename(name: Optional[str], fallback: str = "upload") -> str:
    """The last path part of `name` without control characters, NFC, at most 200 characters."""
    if not name:
        return fallback
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name)
    name = "".join(ch for ch in name if unicodedata.category(ch) not in _DROPPED)
    name = name.strip().lstrip(".").strip()
    if len(name) > MAX_LENGTH:
        stem, ext = os.path.splitext(name)
        if stem and len(ext) <= MAX_EXTENSION:
            name = stem[:MAX_LENGTH - len(ext)].rstrip() + ext
        else:
            name = name[:MAX_LENGTH].rstrip()
    return name or fallback
