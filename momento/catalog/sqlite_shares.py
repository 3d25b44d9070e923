"""Saved searches and share links in the embedded catalog: rows keyed (user id, ULID); shares by token hash."""
from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, replace
from typing import Optional

from ..errors import Conflict, NotFound
from ..models import SavedSearch, Share

SHARES_SCHEMA = """
CREATE TABLE IF NOT EXISTS saved_searches (
    user_id TEXT NOT NULL,
    id TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (user_id, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS shares (
    hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    id TEXT NOT NULL,
    views INTEGER NOT NULL DEFAULT 0,
    doc TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS shares_user ON shares (user_id, id);
"""


def share_doc(share: Share) -> str:
    """A share as stored (views live in their own column, counted in place)."""
    doc = asdict(share)
    doc["upload_ids"] = list(share.upload_ids)
    doc.pop("views")
    return json.dumps(doc)


def share_from(row: sqlite3.Row) -> Share:
    """A Share from its row."""
    doc = json.loads(row["doc"])
    return Share(**doc | {"upload_ids": tuple(doc.get("upload_ids") or ()), "views": int(row["views"])})


class SqliteShares:
    """Saved searches and shares: every read by primary key or by the (user id, id) index."""

    # saved searches
    def put_saved_search(self, saved: SavedSearch) -> SavedSearch:
        """Store a new saved search, or replace the user's one with this id."""
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO saved_searches (user_id, id, doc) VALUES (?, ?, ?)",
                       (saved.user_id, saved.id, json.dumps(asdict(saved))))
        return saved

    def get_saved_search(self, user_id: str, search_id: str) -> Optional[SavedSearch]:
        """The user's saved search with this id, or None."""
        rows = self._read("SELECT doc FROM saved_searches WHERE user_id = ? AND id = ?", (user_id, search_id))
        return SavedSearch(**json.loads(rows[0]["doc"])) if rows else None

    def list_saved_searches(self, user_id: str) -> list[SavedSearch]:
        """The user's saved searches, newest first."""
        rows = self._read("SELECT doc FROM saved_searches WHERE user_id = ? ORDER BY id DESC", (user_id,))
        return [SavedSearch(**json.loads(r["doc"])) for r in rows]

    def delete_saved_search(self, user_id: str, search_id: str) -> None:
        """Forget a saved search; a missing one is fine."""
        with self._tx() as db:
            db.execute("DELETE FROM saved_searches WHERE user_id = ? AND id = ?", (user_id, search_id))

    # shares
    def put_share(self, share: Share) -> Share:
        """Store a new share; Conflict when its token hash or id is taken."""
        try:
            with self._tx() as db:
                db.execute("INSERT INTO shares (hash, user_id, id, views, doc) VALUES (?, ?, ?, 0, ?)",
                           (share.token_hash, share.user_id, share.id, share_doc(share)))
        except sqlite3.IntegrityError as exc:
            raise Conflict("This share exists already.", code="share_exists") from exc
        return replace(share, views=0)

    def share_by_hash(self, token_hash: str) -> Optional[Share]:
        """The share whose token has this sha256, or None."""
        rows = self._read("SELECT doc, views FROM shares WHERE hash = ?", (token_hash,))
        return share_from(rows[0]) if rows else None

    def get_share(self, user_id: str, share_id: str) -> Optional[Share]:
        """The user's share with this id, or None."""
        rows = self._read("SELECT doc, views FROM shares WHERE user_id = ? AND id = ?", (user_id, share_id))
        return share_from(rows[0]) if rows else None

    def list_shares(self, user_id: str) -> list[Share]:
        """The user's shares, newest first."""
        rows = self._read("SELECT doc, views FROM shares WHERE user_id = ? ORDER BY id DESC", (user_id,))
        return [share_from(r) for r in rows]

    def delete_share(self, user_id: str, share_id: str) -> None:
        """Remove a share for good (its link stops at once); NotFound when the user has none with this id."""
        with self._tx() as db:
            gone = db.execute("DELETE FROM shares WHERE user_id = ? AND id = ?", (user_id, share_id)).rowcount
        if not gone:
            raise NotFound("No share with that id.")

    def count_share_view(self, token_hash: str) -> None:
        """Add one to a share's views (in place, so concurrent views all count)."""
        with self._tx() as db:
            db.execute("UPDATE shares SET views = views + 1 WHERE hash = ?", (token_hash,))
