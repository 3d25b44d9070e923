"""Recomputing automatic tags for stored uploads (after a tagger changes or for uploads made before one)."""
from __future__ import annotations

from typing import Iterator, Optional

from ..errors import ObjectMissing
from ..models import Upload, User
from .commit import derive_auto_tags


def retag_upload(storage, catalog, upload: Upload, taggers) -> bool:
    """Recompute one upload's automatic tags from its record and stored thumbnail; True when they changed."""
    try:
        stream = storage.open(upload.thumb_key)
        try:
            thumbnail = b"".join(stream)
        finally:
            stream.close()
    except ObjectMissing:
        thumbnail = None  # metadata tags still apply; verify --repair rebuilds the thumbnail
    tags = derive_auto_tags(upload, thumbnail, taggers)
    if tags == upload.auto_tags:
        return False
    catalog.set_auto_tags(upload.user_id, upload.id, tags)
    return True


def uploads_to_retag(catalog, user: Optional[User] = None) -> Iterator[Upload]:
    """Every upload of one user or of all users; each is handled on its own, so a re-run resumes safely."""
    for owner in [user] if user else catalog.iter_users():
        yield from catalog.iter_all_uploads(owner.id)
