"""Quota reservations in the embedded catalog: bytes held for uploads in progress, checked in one transaction."""
from __future__ import annotations

from typing import Optional

from ..models import QuotaHold
from .indexing import BYTES, TRASH_BYTES

QUOTA_SCHEMA = """
CREATE TABLE IF NOT EXISTS reservations (
    user_id TEXT NOT NULL,
    id TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    expires_at TEXT NOT NULL,
    PRIMARY KEY (user_id, id)
) WITHOUT ROWID;
"""


class SqliteQuota:
    """reserve_bytes / release_bytes: SQLite's write lock makes check-and-hold one step."""

    def reserve_bytes(self, user_id: str, reservation_id: str, n: int, *, quota: Optional[int], expires_at: str,
                      now: str) -> QuotaHold:
        """Hold n more bytes under reservation_id if usage, trash and every live reservation still fit the quota."""
        with self._tx() as db:
            db.execute("DELETE FROM reservations WHERE user_id = ? AND expires_at <= ?", (user_id, now))
            counts = dict(db.execute("SELECT name, n FROM counters WHERE user_id = ? AND name IN (?, ?)",
                                     (user_id, BYTES, TRASH_BYTES)).fetchall())
            reserved = db.execute("SELECT COALESCE(SUM(bytes), 0) FROM reservations WHERE user_id = ?",
                                  (user_id,)).fetchone()[0]
            hold = QuotaHold(False, counts.get(BYTES, 0), counts.get(TRASH_BYTES, 0), reserved)
            if quota is not None and hold.taken + n > quota:
                return hold
            db.execute("INSERT INTO reservations (user_id, id, bytes, expires_at) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT (user_id, id) DO UPDATE SET bytes = bytes + excluded.bytes, "
                       "expires_at = excluded.expires_at", (user_id, reservation_id, n, expires_at))
        return QuotaHold(True, hold.used, hold.trash, reserved + n)

    def release_bytes(self, user_id: str, reservation_id: str) -> None:
        """Give the reservation's bytes back; releasing one that is gone is fine."""
        with self._tx() as db:
            db.execute("DELETE FROM reservations WHERE user_id = ? AND id = ?", (user_id, reservation_id))
