"""The audit trail in the embedded catalog: one row per event, keyed (user id, event ULID)."""
from __future__ import annotations

import json
from dataclasses import asdict
from typing import Optional

from ..models import AuditEvent, Page
from .cursor import decode_cursor, encode_cursor

AUDIT_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    user_id TEXT NOT NULL,
    id TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (user_id, id)
) WITHOUT ROWID;
"""


class SqliteAudit:
    """add/list on the audit table, newest first by primary key."""

    def add_audit_event(self, event: AuditEvent) -> None:
        """Store one event."""
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO audit (user_id, id, doc) VALUES (?, ?, ?)",
                       (event.user_id, event.id, json.dumps(asdict(event))))

    def list_audit_events(self, user_id: str, limit: int = 50, cursor: Optional[str] = None) -> Page:
        """The user's events, newest first, a page at a time."""
        after = decode_cursor(cursor) or "~"
        rows = self._read("SELECT doc FROM audit WHERE user_id = ? AND id < ? ORDER BY id DESC LIMIT ?",
                          (user_id, after, limit + 1))
        items = [AuditEvent(**json.loads(r["doc"])) for r in rows]
        more, items = len(items) > limit, items[:limit]
        return Page(tuple(items), encode_cursor(items[-1].id) if more and items else None)
