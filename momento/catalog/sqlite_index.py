"""The embedded catalog's search index: one row per (user, term, upload), dates, and counters."""
from __future__ import annotations

import json
import sqlite3
from typing import Optional

from ..models import IndexEntry, Upload
from .cursor import decode_date_cursor, encode_date_cursor
from .indexing import index_delta, usage_from_counts
from .records import upload_from_dict

INDEX_SCHEMA = """
CREATE TABLE IF NOT EXISTS terms (
    user_id TEXT NOT NULL,
    term TEXT NOT NULL,
    upload_id TEXT NOT NULL,
    date TEXT NOT NULL,
    kind TEXT NOT NULL,
    PRIMARY KEY (user_id, term, upload_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS terms_upload ON terms (user_id, upload_id);
CREATE TABLE IF NOT EXISTS dates (
    user_id TEXT NOT NULL,
    date TEXT NOT NULL,
    upload_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    PRIMARY KEY (user_id, date, upload_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dates_upload ON dates (user_id, upload_id);
CREATE TABLE IF NOT EXISTS counters (
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (user_id, name)
) WITHOUT ROWID;
"""


class SqliteIndex:
    """Index upkeep inside the catalog's own transactions, and the key reads the search needs."""

    def _reindex(self, db: sqlite3.Connection, old: Optional[Upload], new: Optional[Upload]) -> None:
        """Move the index and counters from `old` to `new` (the caller holds a write transaction)."""
        delta = index_delta(old, new)
        ref = new or old
        if delta.remove:
            db.executemany("DELETE FROM terms WHERE user_id = ? AND term = ? AND upload_id = ?",
                           [(ref.user_id, t, ref.id) for t in delta.remove])
        if delta.add:
            db.executemany("INSERT OR REPLACE INTO terms (user_id, term, upload_id, date, kind) VALUES (?, ?, ?, ?, ?)",
                           [(ref.user_id, t, ref.id, new.sort_date, new.kind) for t in delta.add])
        if delta.date_remove:
            db.execute("DELETE FROM dates WHERE user_id = ? AND upload_id = ?", (ref.user_id, ref.id))
        if delta.date_add:
            db.execute("INSERT OR REPLACE INTO dates (user_id, date, upload_id, kind) VALUES (?, ?, ?, ?)",
                       (ref.user_id, delta.date_add, ref.id, new.kind))
        db.executemany(
            "INSERT INTO counters (user_id, name, n) VALUES (?, ?, ?) "
            "ON CONFLICT (user_id, name) DO UPDATE SET n = n + excluded.n",
            [(ref.user_id, name, n) for name, n in delta.counts.items()],
        )

    # reads by key, for momento.search
    def _counters(self, user_id: str, low: str, high: str) -> dict[str, int]:
        rows = self._read("SELECT name, n FROM counters WHERE user_id = ? AND name >= ? AND name < ? AND n > 0",
                          (user_id, low, high))
        return {r["name"]: r["n"] for r in rows}

    def term_counts(self, user_id: str) -> dict[str, int]:
        """Every counter of the user (terms and usage), for admin checks."""
        return self._counters(user_id, "", "\U0010ffff")

    def tag_counts(self, user_id: str) -> dict[str, int]:
        """Every tag term of the user's live uploads, with counts."""
        return self._counters(user_id, "t:", "t;")

    def word_counts(self, user_id: str, prefix: str) -> dict[str, int]:
        """Filename-word terms starting with the prefix (a range read on the counters' key)."""
        return self._counters(user_id, f"f:{prefix}", f"f:{prefix}\U0010ffff")

    def usage(self, user_id: str) -> dict[str, int]:
        """Counts and bytes of a user's uploads, from the counters."""
        counts = self._counters(user_id, "@", "A") | self._counters(user_id, "t:kind:", "t:kind;")
        return usage_from_counts(counts)

    def term_entries(self, user_id: str, term: str, before: Optional[str], limit: int, *,
                     oldest_first: bool = False) -> list[IndexEntry]:
        """Entries of one term, newest first below `before` (or oldest first above it)."""
        sign, way, edge = (">", "ASC", " ") if oldest_first else ("<", "DESC", "~")
        rows = self._read(
            f"SELECT upload_id, date, kind FROM terms WHERE user_id = ? AND term = ? AND upload_id {sign} ? "
            f"ORDER BY upload_id {way} LIMIT ?", (user_id, term, before or edge, limit))
        return [IndexEntry(r["upload_id"], r["date"], r["kind"]) for r in rows]

    def term_members(self, user_id: str, term: str, upload_ids: list[str]) -> set[str]:
        """Which of these uploads carry the term."""
        if not upload_ids:
            return set()
        marks = ",".join("?" * len(upload_ids))
        rows = self._read(f"SELECT upload_id FROM terms WHERE user_id = ? AND term = ? AND upload_id IN ({marks})",
                          (user_id, term, *upload_ids))
        return {r["upload_id"] for r in rows}

    def date_entries(self, user_id: str, start: str, end: str) -> list[IndexEntry]:
        """Live uploads dated within [start, end]."""
        rows = self._read("SELECT upload_id, date, kind FROM dates WHERE user_id = ? AND date BETWEEN ? AND ?",
                          (user_id, start, end))
        return [IndexEntry(r["upload_id"], r["date"], r["kind"]) for r in rows]

    def dated_page(self, user_id: str, *, cursor: Optional[str] = None, limit: int = 50, kind: Optional[str] = None,
                   oldest_first: bool = False) -> tuple[list[IndexEntry], Optional[str]]:
        """Live uploads by date, newest first (ties: higher id first), past the cursor, and the next page's
        cursor (None at the end); `oldest_first` reads the other way. One read along the primary key."""
        place = decode_date_cursor(cursor)
        sign, way = (">", "ASC") if oldest_first else ("<", "DESC")
        sql, args = "SELECT upload_id, date, kind FROM dates WHERE user_id = ?", [user_id]
        if place:
            sql += f" AND (date, upload_id) {sign} (?, ?)"
            args += place
        if kind:
            sql += " AND kind = ?"
            args.append(kind)
        rows = self._read(sql + f" ORDER BY date {way}, upload_id {way} LIMIT ?", (*args, limit + 1))
        entries = [IndexEntry(r["upload_id"], r["date"], r["kind"]) for r in rows]
        more, entries = len(entries) > limit, entries[:limit]
        return entries, encode_date_cursor(entries[-1].date, entries[-1].upload_id) if more and entries else None

    def get_uploads(self, user_id: str, upload_ids: list[str]) -> list[Upload]:
        """These uploads, in any order."""
        if not upload_ids:
            return []
        marks = ",".join("?" * len(upload_ids))
        rows = self._read(f"SELECT doc FROM uploads WHERE user_id = ? AND id IN ({marks})", (user_id, *upload_ids))
        return [upload_from_dict(json.loads(r["doc"])) for r in rows]
