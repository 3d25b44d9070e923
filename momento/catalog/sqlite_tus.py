"""Resumable upload records in the embedded catalog: one row each, changed by compare-and-set on `rev`."""
from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from typing import Optional

from ..errors import Conflict
from ..models import TusUpload

TUS_SCHEMA = """
CREATE TABLE IF NOT EXISTS tus_uploads (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    rev INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tus_uploads_expiry ON tus_uploads (expires_at);
"""


class SqliteTus:
    """put/get/update/delete of tus records, and the expired ones for clean-up."""

    def put_tus(self, tus: TusUpload) -> TusUpload:
        """Record a new upload; Conflict when its id is taken."""
        try:
            with self._tx() as db:
                db.execute("INSERT INTO tus_uploads (id, user_id, expires_at, rev, doc) VALUES (?, ?, ?, ?, ?)",
                           (tus.id, tus.user_id, tus.expires_at, tus.rev, json.dumps(tus.to_dict())))
        except sqlite3.IntegrityError as exc:
            raise Conflict("A resumable upload with this id exists.", code="tus_exists") from exc
        return tus

    def get_tus(self, user_id: str, tus_id: str) -> Optional[TusUpload]:
        """The user's upload with this id, or None (also for another user's)."""
        rows = self._read("SELECT doc FROM tus_uploads WHERE id = ? AND user_id = ?", (tus_id, user_id))
        return TusUpload.from_dict(json.loads(rows[0]["doc"])) if rows else None

    def update_tus(self, tus: TusUpload) -> Optional[TusUpload]:
        """Store a changed record unless another writer changed it since it was read (its rev moved on);
        the stored record (rev + 1), or None when lost."""
        stored = replace(tus, rev=tus.rev + 1)
        with self._tx() as db:
            cur = db.execute("UPDATE tus_uploads SET rev = ?, doc = ? WHERE id = ? AND rev = ?",
                             (stored.rev, json.dumps(stored.to_dict()), tus.id, tus.rev))
        return stored if cur.rowcount == 1 else None

    def delete_tus(self, tus: TusUpload) -> None:
        """Forget the upload; a missing one is fine."""
        with self._tx() as db:
            db.execute("DELETE FROM tus_uploads WHERE id = ?", (tus.id,))

    def expired_tus(self, now: str, limit: int = 100) -> list[TusUpload]:
        """Uploads whose expiry is at or before now, oldest expiry first."""
        rows = self._read("SELECT doc FROM tus_uploads WHERE expires_at <= ? ORDER BY expires_at, id LIMIT ?",
                          (now, limit))
        return [TusUpload.from_dict(json.loads(r["doc"])) for r in rows]
