"""What an upload contributes to the search index and the usage counters, and how a change alters it."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Optional

from ..models import Upload

MAX_NAME_WORDS = 8  # with 50 user tags and the automatic ones, a new upload stays within one transaction
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
BYTES, TRASH_BYTES, TRASH_COUNT = "@bytes", "@trash_bytes", "@trash_count"


def filename_words(filename: str) -> list[str]:
    """Lower-case words of a filename, for `q` to match: 'IMG_0001 Beach.jpg' -> img, 0001, beach, jpg."""
    text = unicodedata.normalize("NFKC", filename or "").lower()
    return list(dict.fromkeys(w[:64] for w in _WORD.findall(text)))[:MAX_NAME_WORDS]


def upload_terms(upload: Upload) -> set[str]:
    """The index terms of a live upload: `t:<tag>` for user and automatic tags (`kind:` and `month:`
    always, since listings and date ranges walk them), `f:<word>` for its filename."""
    if upload.trashed:
        return set()
    tags = {f"t:{t}" for t in (*upload.tags, *upload.auto_tags)} | {f"t:kind:{upload.kind}",
                                                                   f"t:month:{upload.sort_date[:7]}"}
    return tags | {f"f:{w}" for w in filename_words(upload.filename)}


@dataclass(frozen=True)
class IndexDelta:
    """The index rows to remove and add, and the counters to move, for one upload's change."""

    remove: frozenset[str] = frozenset()
    add: frozenset[str] = frozenset()
    counts: dict[str, int] = field(default_factory=dict)
    date_remove: Optional[str] = None
    date_add: Optional[str] = None

    @property
    def size(self) -> int:
        """How many index rows the change writes."""
        return len(self.remove) + len(self.add) + (self.date_remove is not None) + (self.date_add is not None)


def index_delta(old: Optional[Upload], new: Optional[Upload]) -> IndexDelta:
    """From `old` (None: absent) to `new` (None: deleted); trashed uploads have no index rows."""
    before = upload_terms(old) if old else set()
    after = upload_terms(new) if new else set()
    counts: dict[str, int] = {}
    for term in before - after:
        counts[term] = counts.get(term, 0) - 1
    for term in after - before:
        counts[term] = counts.get(term, 0) + 1
    for upload, sign in ((old, -1), (new, +1)):
        if upload is None:
            continue
        if upload.trashed:
            counts[TRASH_BYTES] = counts.get(TRASH_BYTES, 0) + sign * upload.size
            counts[TRASH_COUNT] = counts.get(TRASH_COUNT, 0) + sign
        else:
            counts[BYTES] = counts.get(BYTES, 0) + sign * upload.size
    counts = {k: v for k, v in counts.items() if v}
    old_date = old.sort_date if old and not old.trashed else None
    new_date = new.sort_date if new and not new.trashed else None
    moved = old_date != new_date
    return IndexDelta(frozenset(before - after), frozenset(after - before), counts,
                      old_date if moved else None, new_date if moved else None)


def usage_from_counts(counts: dict[str, int]) -> dict[str, int]:
    """The usage summary from the counters."""
    return {"photos": counts.get("t:kind:photo", 0), "videos": counts.get("t:kind:video", 0),
            "bytes": counts.get(BYTES, 0), "trash_count": counts.get(TRASH_COUNT, 0),
            "trash_bytes": counts.get(TRASH_BYTES, 0)}
