"""Counts, bytes and an estimated monthly AWS bill, per user and in total, from the upload records.

The estimate is a model, not a bill (docs/operations.md explains it): storage is what is stored now (S3
originals plus an assumed thumbnail size, DynamoDB records and index items); requests are those the uploads
of the last 30 days made, plus COST_VIEWS_PER_UPLOAD views of each stored upload.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta

from ..catalog.indexing import upload_terms
from ..catalog.records import upload_to_dict
from ..models import PHOTO, Upload
from ..sharing.display import DISPLAY_SUFFIX
from ..formats import iso

GiB = 1024 ** 3
MONTH = timedelta(days=30)
THUMB_BYTES = 40_000  # a 512 px WebP thumbnail or poster, typically 20-60 KB
PART_SIZE = 8 * 1024 * 1024  # uploads past this go to S3 in parts
ITEM_OVERHEAD = 100  # bytes DynamoDB adds to each item's own size
INDEX_ITEM_BYTES = 80  # a term or date entry: keys, date and kind


@dataclass
class Usage:
    """One user's (or everyone's) uploads by kind and state, and what they weigh."""

    photos: int = 0
    videos: int = 0
    trashed: int = 0
    bytes: int = 0
    trash_bytes: int = 0
    new_uploads: int = 0  # made in the last 30 days
    new_bytes: int = 0
    table_bytes: int = 0  # estimated DynamoDB storage of records and index items
    s3_puts: int = 0  # estimated requests of the last 30 days' uploads
    ddb_writes: int = 0
    display_copies: int = 0  # display copies made for share links (user-<id>/thumbs/<uploadId>.display.jpg)
    display_bytes: int = 0

    def add(self, other: "Usage") -> None:
        """Sum another usage into this one."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


def measure(uploads, now: datetime) -> Usage:
    """The usage of these uploads."""
    use = Usage()
    since = iso(now - MONTH)
    for upload in uploads:
        if upload.trashed:
            use.trashed += 1
            use.trash_bytes += upload.size
        elif upload.kind == PHOTO:
            use.photos += 1
            use.bytes += upload.size
        else:
            use.videos += 1
            use.bytes += upload.size
        record, entries = _table_items(upload)
        use.table_bytes += record + entries * (INDEX_ITEM_BYTES + ITEM_OVERHEAD)
        if upload.uploaded_at >= since:
            use.new_uploads += 1
            use.new_bytes += upload.size
            use.s3_puts += _puts(upload)
            # a transaction costs two write units per KB of each item: record, index items, counters
            use.ddb_writes += 2 * (math.ceil(record / 1024) + entries + 1)
    return use


def _table_items(upload: Upload) -> tuple[int, int]:
    """Bytes of the record item, and how many index items (terms, date, sha) it has."""
    record = len(json.dumps(upload_to_dict(upload))) + ITEM_OVERHEAD
    return record, len(upload_terms(upload)) + (0 if upload.trashed else 1) + 1


def _puts(upload: Upload) -> int:
    """PUT-class requests of storing one upload: the original (in parts when large), the thumbnail, a rendition."""
    original = 1 if upload.size <= PART_SIZE else math.ceil(upload.size / PART_SIZE) + 2
    return original + 1 + (upload.rendition != "none")


def monthly_cost(use: Usage, prices: dict) -> dict[str, float]:
    """Estimated USD a month, by line, and the total."""
    stored = use.photos + use.videos
    views = stored * prices["COST_VIEWS_PER_UPLOAD"]
    s3_gb = (use.bytes + use.trash_bytes + (stored + use.trashed) * THUMB_BYTES + use.display_bytes) / GiB
    lines = {
        "s3_storage": s3_gb * prices["PRICE_S3_GB_MONTH"],
        # each view is a HEAD and a GET; each new upload one HEAD after the write
        "s3_requests": use.s3_puts / 1000 * prices["PRICE_S3_PUT_PER_1000"]
        + (2 * views + use.new_uploads) / 1000 * prices["PRICE_S3_GET_PER_1000"],
        "dynamodb_storage": use.table_bytes / GiB * prices["PRICE_DYNAMODB_GB_MONTH"],
        # a view reads the session's account and the record; an upload reads the sha entry
        "dynamodb_requests": use.ddb_writes / 1e6 * prices["PRICE_DYNAMODB_WRITE_PER_MILLION"]
        + (2 * views + use.new_uploads) / 1e6 * prices["PRICE_DYNAMODB_READ_PER_MILLION"],
    }
    lines["total"] = sum(lines.values())
    return {k: round(v, 4) for k, v in lines.items()}


def count_display_copies(storage, user_id: str, use: Usage) -> None:
    """Add the user's display copies (made for share links) as they are in the store."""
    for info in storage.list(f"user-{user_id}/thumbs/"):
        if info.key.endswith(DISPLAY_SUFFIX):
            use.display_copies += 1
            use.display_bytes += info.size


def collect(catalog, prices: dict, now: datetime, storage=None) -> dict:
    """Per-user and total usage and cost; reads every record once (an admin command, never a request), and
    with a storage lists each user's thumbnails for the display copies."""
    users, total = [], Usage()
    for user in catalog.iter_users():
        use = measure(catalog.iter_all_uploads(user.id), now)
        if storage is not None:
            count_display_copies(storage, user.id, use)
        total.add(use)
        users.append({"email": user.email, "id": user.id, **asdict(use), "cost": monthly_cost(use, prices)})
    return {"users": users, "total": {**asdict(total), "cost": monthly_cost(total, prices)},
            "prices": dict(prices), "currency": "USD"}
