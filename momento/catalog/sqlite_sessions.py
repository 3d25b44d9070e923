"""Sign-in sessions, API tokens, passkeys and recovery codes in the embedded catalog, read by key."""
from __future__ import annotations

import json
import secrets
import sqlite3
from typing import Optional

from ..errors import Conflict, NotFound
from ..models import SCOPES, ApiToken, Passkey, SignInSession, User
from .records import record_from_dict, record_to_dict, two_factor_changes, user_from_dict, user_to_dict

# The tokens table predates ids and documents: upgrade_tokens() adds those columns to an older file.
SESSIONS_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_id);
CREATE TABLE IF NOT EXISTS passkeys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS passkeys_user ON passkeys (user_id);
"""


class SqliteSessions:
    """Sessions, tokens and passkeys: one row each, found by hash or id, listed per user by index."""

    # sessions
    def add_session(self, session: SignInSession) -> None:
        """Store a new sign-in session."""
        with self._tx() as db:
            db.execute("INSERT INTO sessions (hash, user_id, expires_at, doc) VALUES (?, ?, ?, ?)",
                       (session.id, session.user_id, session.expires_at, json.dumps(record_to_dict(session))))

    def get_session(self, session_hash: str) -> Optional[SignInSession]:
        """The session with this id hash (expired ones too: the caller judges), or None."""
        rows = self._read("SELECT doc FROM sessions WHERE hash = ?", (session_hash,))
        return record_from_dict(SignInSession, json.loads(rows[0]["doc"])) if rows else None

    def touch_session(self, session: SignInSession) -> None:
        """Store a session's new last_seen_at and expires_at, if it still exists."""
        with self._tx() as db:
            db.execute("UPDATE sessions SET expires_at = ?, doc = ? WHERE hash = ?",
                       (session.expires_at, json.dumps(record_to_dict(session)), session.id))

    def list_sessions(self, user_id: str) -> list[SignInSession]:
        """The user's sessions, expired ones included, oldest first."""
        rows = self._read("SELECT doc FROM sessions WHERE user_id = ?", (user_id,))
        return sorted((record_from_dict(SignInSession, json.loads(r["doc"])) for r in rows), key=lambda s: s.created_at)

    def delete_session(self, user_id: str, session_hash: str) -> bool:
        """End one of the user's sessions; whether it existed."""
        with self._tx() as db:
            return db.execute("DELETE FROM sessions WHERE hash = ? AND user_id = ?",
                              (session_hash, user_id)).rowcount > 0

    def delete_sessions(self, user_id: str, keep: Optional[str] = None) -> int:
        """End every session of the user but `keep`; how many ended."""
        with self._tx() as db:
            return db.execute("DELETE FROM sessions WHERE user_id = ? AND hash != ?", (user_id, keep or "")).rowcount

    # tokens
    def add_token(self, token: ApiToken) -> None:
        """Remember an API token by its hash."""
        try:
            with self._tx() as db:
                db.execute("INSERT INTO tokens (hash, user_id, created_at, id, doc) VALUES (?, ?, ?, ?, ?)",
                           (token.hash, token.user_id, token.created_at, token.id, json.dumps(record_to_dict(token))))
        except sqlite3.IntegrityError as exc:
            raise Conflict("This token exists already.", code="token_exists") from exc

    def get_token(self, token_hash: str) -> Optional[ApiToken]:
        """The token with this hash, or None."""
        rows = self._read("SELECT doc FROM tokens WHERE hash = ?", (token_hash,))
        return record_from_dict(ApiToken, json.loads(rows[0]["doc"])) if rows else None

    def touch_token(self, token: ApiToken) -> None:
        """Store a token's new last_used_at, if it still exists."""
        with self._tx() as db:
            db.execute("UPDATE tokens SET doc = ? WHERE hash = ?", (json.dumps(record_to_dict(token)), token.hash))

    def list_tokens(self, user_id: str) -> list[ApiToken]:
        """The user's tokens, oldest first."""
        rows = self._read("SELECT doc FROM tokens WHERE user_id = ? ORDER BY created_at, id", (user_id,))
        return [record_from_dict(ApiToken, json.loads(r["doc"])) for r in rows]

    def revoke_token(self, token_hash: str) -> None:
        """Forget a token; an unknown one is fine."""
        with self._tx() as db:
            db.execute("DELETE FROM tokens WHERE hash = ?", (token_hash,))

    def delete_token(self, user_id: str, token_id: str) -> bool:
        """Forget the user's token with this id; whether it existed."""
        with self._tx() as db:
            return db.execute("DELETE FROM tokens WHERE user_id = ? AND id = ?", (user_id, token_id)).rowcount > 0

    def revoke_tokens(self, user_id: str) -> int:
        """Forget every token of the user; how many."""
        with self._tx() as db:
            return db.execute("DELETE FROM tokens WHERE user_id = ?", (user_id,)).rowcount

    def upgrade_tokens(self) -> int:
        """Give tokens made before names and scopes an id and every scope (migration 0009); how many."""
        with self._tx() as db:
            columns = {r["name"] for r in db.execute("PRAGMA table_info(tokens)")}
            for column in ("id", "doc"):
                if column not in columns:
                    db.execute(f"ALTER TABLE tokens ADD COLUMN {column} TEXT")
            old = db.execute("SELECT hash, user_id, created_at FROM tokens WHERE doc IS NULL").fetchall()
            for row in old:
                token = ApiToken(hash=row["hash"], id=secrets.token_hex(8), user_id=row["user_id"],
                                 created_at=row["created_at"], name="Token made before names", scopes=SCOPES)
                db.execute("UPDATE tokens SET id = ?, doc = ? WHERE hash = ?",
                           (token.id, json.dumps(record_to_dict(token)), token.hash))
            db.execute("CREATE UNIQUE INDEX IF NOT EXISTS tokens_id ON tokens (user_id, id)")
        return len(old)

    # passkeys
    def add_passkey(self, passkey: Passkey) -> None:
        """Store a new passkey; Conflict when its credential id is registered already."""
        try:
            with self._tx() as db:
                db.execute("INSERT INTO passkeys (id, user_id, doc) VALUES (?, ?, ?)",
                           (passkey.id, passkey.user_id, json.dumps(record_to_dict(passkey))))
        except sqlite3.IntegrityError as exc:
            raise Conflict("This passkey is registered already.", code="passkey_exists") from exc

    def get_passkey(self, credential_id: str) -> Optional[Passkey]:
        """The passkey with this credential id, or None."""
        rows = self._read("SELECT doc FROM passkeys WHERE id = ?", (credential_id,))
        return record_from_dict(Passkey, json.loads(rows[0]["doc"])) if rows else None

    def update_passkey(self, passkey: Passkey) -> None:
        """Store a passkey's new name, counter or last use."""
        with self._tx() as db:
            db.execute("UPDATE passkeys SET doc = ? WHERE id = ? AND user_id = ?",
                       (json.dumps(record_to_dict(passkey)), passkey.id, passkey.user_id))

    def list_passkeys(self, user_id: str) -> list[Passkey]:
        """The user's passkeys, oldest first."""
        rows = self._read("SELECT doc FROM passkeys WHERE user_id = ?", (user_id,))
        return sorted((record_from_dict(Passkey, json.loads(r["doc"])) for r in rows), key=lambda p: p.created_at)

    def delete_passkey(self, user_id: str, credential_id: str) -> bool:
        """Remove one of the user's passkeys; whether it existed."""
        with self._tx() as db:
            return db.execute("DELETE FROM passkeys WHERE id = ? AND user_id = ?",
                              (credential_id, user_id)).rowcount > 0

    # recovery codes
    def consume_recovery_code(self, user_id: str, code_hash: str) -> bool:
        """Atomically remove one unused recovery code of the user; whether it was there."""
        with self._tx() as db:
            row = db.execute("SELECT doc FROM users WHERE id = ?", (user_id,)).fetchone()
            if row is None:
                return False
            user = user_from_dict(json.loads(row["doc"]))
            if code_hash not in user.recovery_codes:
                return False
            codes = tuple(c for c in user.recovery_codes if c != code_hash)
            doc = user_to_dict(user) | {"recovery_codes": list(codes)}
            db.execute("UPDATE users SET doc = ? WHERE id = ?", (json.dumps(doc), user_id))
            return True

    def set_two_factor(self, user_id: str, changes: dict, *,
                       expect: Optional[dict[str, Optional[str]]] = None) -> Optional[User]:
        """Write these two-factor fields and nothing else; with `expect`, only while each stored value is the one
        given (None: none). The account after, or None when that condition failed; NotFound when absent."""
        changes = two_factor_changes(changes)
        with self._tx() as db:
            row = db.execute("SELECT doc FROM users WHERE id = ?", (user_id,)).fetchone()
            if row is None:
                raise NotFound("No such account.")
            doc = json.loads(row["doc"])
            if any((doc.get(name) or None) != value for name, value in two_factor_changes(expect or {}).items()):
                return None
            doc |= changes
            db.execute("UPDATE users SET doc = ? WHERE id = ?", (json.dumps(doc), user_id))
        return user_from_dict(doc)

    def accept_totp_step(self, user_id: str, step: int) -> bool:
        """Atomically record that a code of this 30 s step was used, unless one of it or later was; whether it was new."""
        with self._tx() as db:
            row = db.execute("SELECT doc FROM users WHERE id = ?", (user_id,)).fetchone()
            if row is None:
                return False
            doc = json.loads(row["doc"])
            if int(doc.get("totp_last_step") or 0) >= step:
                return False
            doc["totp_last_step"] = step
            db.execute("UPDATE users SET doc = ? WHERE id = ?", (json.dumps(doc), user_id))
            return True
