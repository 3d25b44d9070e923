"""The embedded catalog: SQLite in WAL mode, one connection per thread."""
from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import replace
from typing import Iterator, Optional

from ..errors import BackendError, DuplicateUpload, EmailTaken, NotFound
from ..models import TWO_FACTOR_FIELDS, Job, Page, PostureCheck, Upload, User
from .cursor import decode_cursor, encode_cursor
from .records import upload_from_dict, upload_to_dict, user_from_dict, user_to_dict
from .sqlite_audit import AUDIT_SCHEMA, SqliteAudit
from .sqlite_index import INDEX_SCHEMA, SqliteIndex
from .sqlite_jobs import JOBS_SCHEMA, SqliteJobs
from .sqlite_quota import QUOTA_SCHEMA, SqliteQuota
from .sqlite_shares import SHARES_SCHEMA, SqliteShares
from .sqlite_sessions import SESSIONS_SCHEMA, SqliteSessions
from .sqlite_status import FAILURES_SCHEMA, SqliteQueueStatus
from .sqlite_tus import TUS_SCHEMA, SqliteTus

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    id TEXT,
    doc TEXT
);
CREATE INDEX IF NOT EXISTS tokens_user ON tokens (user_id);
CREATE TABLE IF NOT EXISTS uploads (
    user_id TEXT NOT NULL,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    trashed_at TEXT,
    doc TEXT NOT NULL,
    PRIMARY KEY (user_id, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS uploads_sha ON uploads (user_id, sha256);
CREATE TABLE IF NOT EXISTS migrations (
    id TEXT PRIMARY KEY,
    applied_at TEXT NOT NULL
);
"""
ALL_SCHEMAS = (SCHEMA + INDEX_SCHEMA + JOBS_SCHEMA + AUDIT_SCHEMA + TUS_SCHEMA + FAILURES_SCHEMA + QUOTA_SCHEMA
               + SHARES_SCHEMA + SESSIONS_SCHEMA)


class SqliteCatalog(SqliteIndex, SqliteJobs, SqliteAudit, SqliteTus, SqliteQuota, SqliteQueueStatus, SqliteShares,
                    SqliteSessions):
    """Users, tokens and uploads in one SQLite file."""

    def __init__(self, path: str):
        self.path = path
        self._local = threading.local()

    @classmethod
    def from_app(cls, app) -> "SqliteCatalog":
        """A catalog in the app's data folder."""
        return cls(os.path.join(app.config["DATA_DIR"], "momento.sqlite3"))

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL: each commit fsyncs the WAL, so a record acknowledged to a client survives a power cut
            # (NORMAL may lose the last commits); one small fsync per write transaction.
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; SQLite errors become BackendError."""
        db = self.db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._commit(db)
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            raise BackendError(f"The catalog failed: {exc}", backend="sqlite", operation="write") from exc

    def _commit(self, db: sqlite3.Connection) -> None:
        """End a write transaction: durable once this returns (the one place every write commits)."""
        db.execute("COMMIT")

    def _read(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        try:
            return self.db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise BackendError(f"The catalog failed: {exc}", backend="sqlite", operation="read") from exc

    # schema and migrations
    def create_schema(self) -> None:
        """Create tables and indexes; safe to call again."""
        try:
            self._add_job_due()
            self.db.executescript(ALL_SCHEMAS)
        except sqlite3.Error as exc:
            raise BackendError(f"The catalog failed: {exc}", backend="sqlite", operation="create_schema") from exc

    def applied_migrations(self) -> dict[str, str]:
        """Ids of the applied migrations and when each was applied."""
        self.db.execute("CREATE TABLE IF NOT EXISTS migrations (id TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        return {r["id"]: r["applied_at"] for r in self._read("SELECT id, applied_at FROM migrations")}

    def record_migration(self, migration_id: str, applied_at: str) -> None:
        """Remember that a migration ran."""
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO migrations (id, applied_at) VALUES (?, ?)", (migration_id, applied_at))

    def check(self) -> None:
        """Raise BackendError unless the database answers."""
        self._read("SELECT 1 FROM uploads LIMIT 1")

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # users
    def create_user(self, user: User) -> User:
        """Add an account; EmailTaken when the email is in use."""
        try:
            with self._tx() as db:
                db.execute(
                    "INSERT INTO users (id, email, doc) VALUES (?, ?, ?)",
                    (user.id, user.email, json.dumps(user_to_dict(user))),
                )
        except sqlite3.IntegrityError as exc:
            raise EmailTaken() from exc
        return user

    def get_user(self, user_id: str) -> Optional[User]:
        """The account with this id, or None."""
        rows = self._read("SELECT doc FROM users WHERE id = ?", (user_id,))
        return user_from_dict(json.loads(rows[0]["doc"])) if rows else None

    def get_user_by_email(self, email: str) -> Optional[User]:
        """The account with this email, or None."""
        rows = self._read("SELECT doc FROM users WHERE email = ?", (email.lower(),))
        return user_from_dict(json.loads(rows[0]["doc"])) if rows else None

    def update_user(self, user: User) -> User:
        """Store changed account fields (not the email, nor the two-factor ones: set_two_factor writes those)."""
        with self._tx() as db:
            row = db.execute("SELECT email, doc FROM users WHERE id = ?", (user.id,)).fetchone()
            if row is None:
                raise NotFound("No such account.")
            user = replace(user, email=row["email"])  # the email is not changed here
            stored = user_from_dict(json.loads(row["doc"]))  # two-factor as stored, whatever the caller's copy says
            user = replace(user, **{name: getattr(stored, name) for name in TWO_FACTOR_FIELDS})
            db.execute("UPDATE users SET doc = ? WHERE id = ?", (json.dumps(user_to_dict(user)), user.id))
        return user

    def iter_users(self) -> Iterator[User]:
        """Every account, by email."""
        for row in self._read("SELECT doc FROM users ORDER BY email"):
            yield user_from_dict(json.loads(row["doc"]))

    # uploads
    def put_upload(self, upload: Upload, job: Optional[Job] = None) -> Upload:
        """Record a new upload, and queue `job` with it (both or neither); DuplicateUpload when the user has its
        bytes already."""
        try:
            with self._tx() as db:
                db.execute(
                    "INSERT INTO uploads (user_id, id, kind, sha256, size, trashed_at, doc) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (upload.user_id, upload.id, upload.kind, upload.sha256, upload.size, upload.trashed_at,
                     json.dumps(upload_to_dict(upload))),
                )
                self._reindex(db, None, upload)
                if job is not None:
                    self._insert_job(db, job)
        except sqlite3.IntegrityError as exc:
            existing = self.find_by_sha256(upload.user_id, upload.sha256)
            if existing is None:
                raise BackendError(f"The catalog refused the upload: {exc}",
                                   backend="sqlite", operation="put_upload") from exc
            raise DuplicateUpload(existing.id) from exc
        return upload

    def get_upload(self, user_id: str, upload_id: str) -> Optional[Upload]:
        """The user's upload with this id, or None."""
        rows = self._read("SELECT doc FROM uploads WHERE user_id = ? AND id = ?", (user_id, upload_id))
        return upload_from_dict(json.loads(rows[0]["doc"])) if rows else None

    def find_by_sha256(self, user_id: str, sha256: str) -> Optional[Upload]:
        """The user's upload with these bytes, or None."""
        rows = self._read("SELECT doc FROM uploads WHERE user_id = ? AND sha256 = ?", (user_id, sha256))
        return upload_from_dict(json.loads(rows[0]["doc"])) if rows else None

    def list_uploads(self, user_id: str, *, kind: Optional[str] = None, trashed: bool = False,
                     limit: int = 50, cursor: Optional[str] = None) -> Page:
        """The user's uploads, newest first, a page at a time."""
        after = decode_cursor(cursor)
        sql = "SELECT doc FROM uploads WHERE user_id = ? AND trashed_at IS " + ("NOT NULL" if trashed else "NULL")
        args: list = [user_id]
        if kind:
            sql += " AND kind = ?"
            args.append(kind)
        if after:
            sql += " AND id < ?"
            args.append(after)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(limit + 1)
        items = [upload_from_dict(json.loads(r["doc"])) for r in self._read(sql, tuple(args))]
        more = len(items) > limit
        items = items[:limit]
        return Page(tuple(items), encode_cursor(items[-1].id) if more and items else None)

    def _update(self, user_id: str, upload_id: str, **changes) -> Upload:
        with self._tx() as db:
            row = db.execute("SELECT doc FROM uploads WHERE user_id = ? AND id = ?", (user_id, upload_id)).fetchone()
            if row is None:
                raise NotFound("No such upload.")
            old = upload_from_dict(json.loads(row["doc"]))
            if old.purge_started_at:  # purge is deleting its objects: it must not come back or change
                raise NotFound("No such upload.")
            upload = old.evolve(**changes)
            db.execute(
                "UPDATE uploads SET trashed_at = ?, doc = ? WHERE user_id = ? AND id = ?",
                (upload.trashed_at, json.dumps(upload_to_dict(upload)), user_id, upload_id),
            )
            self._reindex(db, old, upload)
        return upload

    def set_tags(self, user_id: str, upload_id: str, tags: tuple[str, ...]) -> Upload:
        """Replace an upload's user tags (and its index entries, in the same transaction)."""
        return self._update(user_id, upload_id, tags=tuple(tags))

    def set_auto_tags(self, user_id: str, upload_id: str, auto_tags: tuple[str, ...]) -> Upload:
        """Replace an upload's automatic tags (retag)."""
        return self._update(user_id, upload_id, auto_tags=tuple(auto_tags))

    def set_trashed(self, user_id: str, upload_id: str, trashed_at: Optional[str], *,
                    emptied_at: Optional[str] = None) -> Upload:
        """Move an upload to the trash (out of every index) or back, emptied or not."""
        return self._update(user_id, upload_id, trashed_at=trashed_at, emptied_at=emptied_at)

    def set_rendition(self, user_id: str, upload_id: str, state: str, error: Optional[str] = None) -> Upload:
        """Record a video's rendition state (and why it failed)."""
        return self._update(user_id, upload_id, rendition=state, rendition_error=error)

    def begin_purge(self, user_id: str, upload_id: str, trashed_before: str, started_at: str) -> Optional[Upload]:
        """Freeze an upload trashed at or before trashed_before for purging; None when it is not eligible."""
        with self._tx() as db:
            row = db.execute("SELECT doc FROM uploads WHERE user_id = ? AND id = ?", (user_id, upload_id)).fetchone()
            upload = upload_from_dict(json.loads(row["doc"])) if row else None
            if upload is None or upload.purge_started_at:
                return upload
            if not upload.purgeable(trashed_before):
                return None
            upload = upload.evolve(purge_started_at=started_at)
            db.execute("UPDATE uploads SET doc = ? WHERE user_id = ? AND id = ?",
                       (json.dumps(upload_to_dict(upload)), user_id, upload_id))
        return upload

    def check_schema(self) -> list[PostureCheck]:
        """Whether every table init creates is there; changes nothing."""
        wanted = sorted(set(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", ALL_SCHEMAS)))
        found = {r["name"] for r in self._read("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = [t for t in wanted if t not in found]
        return [PostureCheck(f"database {os.path.basename(self.path)}", "tables " + ", ".join(wanted),
                             "missing " + ", ".join(missing) if missing else "all present", not missing)]

    def rebuild_index(self, user_id: str) -> int:
        """Rebuild a user's index rows and counters from the upload records (migrations, repair)."""
        uploads = list(self.iter_all_uploads(user_id))
        with self._tx() as db:
            for table in ("terms", "dates", "counters"):
                db.execute(f"DELETE FROM {table} WHERE user_id = ?", (user_id,))
            for upload in uploads:
                self._reindex(db, None, upload)
        return len(uploads)

    def delete_upload(self, user_id: str, upload_id: str) -> None:
        """Remove the record and its index entries for good."""
        with self._tx() as db:
            row = db.execute("SELECT doc FROM uploads WHERE user_id = ? AND id = ?", (user_id, upload_id)).fetchone()
            if row is not None:
                self._reindex(db, upload_from_dict(json.loads(row["doc"])), None)
            db.execute("DELETE FROM uploads WHERE user_id = ? AND id = ?", (user_id, upload_id))

    def iter_all_uploads(self, user_id: str) -> Iterator[Upload]:
        """Every upload of a user, live or trashed, newest first (batch commands only)."""
        after = "~"
        while True:
            rows = self._read("SELECT doc FROM uploads WHERE user_id = ? AND id < ? ORDER BY id DESC LIMIT 500",
                              (user_id, after))
            for r in rows:
                yield upload_from_dict(json.loads(r["doc"]))
            if len(rows) < 500:
                return
            after = json.loads(rows[-1]["doc"])["id"]
