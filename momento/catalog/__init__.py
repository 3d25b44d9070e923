"""The catalog: its interface (every read by key) and the factory that picks a backend.

sqlite*.py: the embedded backend, one SQLite file; dynamo*.py: DynamoDB, four tables. Each area is a mixin
of its own on both (index, jobs, tus, quota, status, audit, shares); indexing.py and records.py are shared."""
from __future__ import annotations

from typing import Any, Iterable, Iterator, Optional, Protocol

from ..models import (ApiToken, AuditEvent, Job, Page, Passkey, PostureCheck, QueueStatus, QuotaHold, SavedSearch,
                      Share, SignInSession, TusUpload, Upload, User)


class Catalog(Protocol):
    """Metadata, read by key: users, API tokens and uploads (keyed user id / upload id)."""

    # schema
    def create_schema(self) -> None:
        """Create tables and indexes; safe to call again."""

    def check(self) -> None:
        """Raise BackendError unless the catalog answers."""

    def applied_migrations(self) -> dict[str, str]:
        """Ids of the applied migrations and when each was applied."""

    def record_migration(self, migration_id: str, applied_at: str) -> None:
        """Remember that a migration ran."""

    # users
    def create_user(self, user: User) -> User:
        """Add an account; EmailTaken when the email is in use."""

    def get_user(self, user_id: str) -> Optional[User]:
        """The account with this id, or None."""

    def get_user_by_email(self, email: str) -> Optional[User]:
        """The account with this (lower-cased) email, or None."""

    def update_user(self, user: User) -> User:
        """Store changed account fields (not the email, nor the TWO_FACTOR_FIELDS: set_two_factor writes those)."""

    def iter_users(self) -> Iterator[User]:
        """Every account (admin commands only)."""

    # sign-in sessions (momento/accounts/sessions.py): by the sha256 of the cookie's random id
    def add_session(self, session: SignInSession) -> None:
        """Store a new sign-in session."""

    def get_session(self, session_hash: str) -> Optional[SignInSession]:
        """The session with this id hash (expired ones too: the caller judges), or None."""

    def touch_session(self, session: SignInSession) -> None:
        """Store a session's new last_seen_at and expires_at, if it still exists."""

    def list_sessions(self, user_id: str) -> list[SignInSession]:
        """The user's sessions, oldest first (by key: a Query, never a Scan)."""

    def delete_session(self, user_id: str, session_hash: str) -> bool:
        """End one of the user's sessions; whether it existed."""

    def delete_sessions(self, user_id: str, keep: Optional[str] = None) -> int:
        """End every session of the user but `keep`; how many ended."""

    # API tokens (momento/accounts/tokens.py): by the sha256 of the secret, listed per user
    def add_token(self, token: ApiToken) -> None:
        """Remember an API token by its hash; Conflict when the hash exists."""

    def get_token(self, token_hash: str) -> Optional[ApiToken]:
        """The token with this hash, or None."""

    def touch_token(self, token: ApiToken) -> None:
        """Store a token's new last_used_at, if it still exists."""

    def list_tokens(self, user_id: str) -> list[ApiToken]:
        """The user's tokens, oldest first (by key)."""

    def revoke_token(self, token_hash: str) -> None:
        """Forget a token; forgetting an unknown one is not an error."""

    def delete_token(self, user_id: str, token_id: str) -> bool:
        """Forget the user's token with this id; whether it existed."""

    def revoke_tokens(self, user_id: str) -> int:
        """Forget every token of the user; how many."""

    def upgrade_tokens(self) -> int:
        """Bring tokens made before names and scopes into today's layout (migration 0009); how many moved."""

    # passkeys (momento/accounts/passkeys.py): by credential id, listed per user
    def add_passkey(self, passkey: Passkey) -> None:
        """Store a new passkey; Conflict when its credential id is registered already."""

    def get_passkey(self, credential_id: str) -> Optional[Passkey]:
        """The passkey with this credential id, or None."""

    def update_passkey(self, passkey: Passkey) -> None:
        """Store a passkey's new name, counter or last use."""

    def list_passkeys(self, user_id: str) -> list[Passkey]:
        """The user's passkeys, oldest first (by key)."""

    def delete_passkey(self, user_id: str, credential_id: str) -> bool:
        """Remove one of the user's passkeys; whether it existed."""

    # two-factor (momento/accounts/twofactor.py)
    def consume_recovery_code(self, user_id: str, code_hash: str) -> bool:
        """Atomically remove one unused recovery code of the user; whether it was there (a code works once)."""

    def accept_totp_step(self, user_id: str, step: int) -> bool:
        """Atomically record that a code of this 30 s step was used unless one of it or a later step was."""

    def set_two_factor(self, user_id: str, changes: dict[str, Any], *,
                       expect: Optional[dict[str, Optional[str]]] = None) -> Optional[User]:
        """Write these TWO_FACTOR_FIELDS and nothing else, in one atomic step; with `expect` (totp_secret and
        totp_pending), only while each stored value is the one given (None: none). The account as it is now, or
        None when that condition failed; NotFound when there is no such account."""

    # uploads
    def put_upload(self, upload: Upload, job: Optional[Job] = None) -> Upload:
        """Record a new upload, and queue `job` in the same transaction (both or neither); DuplicateUpload when
        the user has its sha256 already."""

    def get_upload(self, user_id: str, upload_id: str) -> Optional[Upload]:
        """The user's upload with this id (trashed or not), or None."""

    def find_by_sha256(self, user_id: str, sha256: str) -> Optional[Upload]:
        """The user's upload with these bytes, or None."""

    def list_uploads(
        self,
        user_id: str,
        *,
        kind: Optional[str] = None,
        trashed: bool = False,
        limit: int = 50,
        cursor: Optional[str] = None,
    ) -> Page:
        """The user's uploads, newest first, live or trashed, a page at a time."""

    def set_tags(self, user_id: str, upload_id: str, tags: tuple[str, ...]) -> Upload:
        """Replace an upload's user tags; NotFound when absent."""

    def set_auto_tags(self, user_id: str, upload_id: str, auto_tags: tuple[str, ...]) -> Upload:
        """Replace an upload's automatic tags (retag), with its index entries; NotFound when absent."""

    def set_trashed(self, user_id: str, upload_id: str, trashed_at: Optional[str], *,
                    emptied_at: Optional[str] = None) -> Upload:
        """Move an upload to the trash (a time) or back (None), and mark it emptied (its owner emptied the trash:
        purged at the next run) or not; NotFound when absent."""

    def set_rendition(self, user_id: str, upload_id: str, state: str, error: Optional[str] = None) -> Upload:
        """Record a video's rendition state (none, pending, ready, failed) and, when failed, why (a sentence for
        its owner); NotFound when absent."""

    def delete_upload(self, user_id: str, upload_id: str) -> None:
        """Remove the record for good (purge only); a missing record is not an error."""

    # admin and batch work (commands, never request paths)
    def iter_all_uploads(self, user_id: str) -> Iterator[Upload]:
        """Every upload of a user, live or trashed, newest first, read a page at a time."""

    def begin_purge(self, user_id: str, upload_id: str, trashed_before: str, started_at: str) -> Optional[Upload]:
        """Freeze an upload trashed at or before trashed_before so it can neither change nor come back while
        purge deletes its objects; the frozen upload (also when frozen already), or None when not eligible."""

    def rebuild_index(self, user_id: str) -> int:
        """Rewrite a user's index entries and counters from the upload records; how many uploads were read."""

    def term_counts(self, user_id: str) -> dict[str, int]:
        """The user's index counters as stored (term counts and usage)."""

    def check_schema(self) -> list[PostureCheck]:
        """How the tables differ from what create_schema makes; changes nothing."""

    # durable job queues (renditions, purges)
    def put_job(self, job: Job) -> Job:
        """Add a job, or replace the one with the same queue and id."""

    def due_jobs(self, queue: str, now: str, limit: int = 50) -> list[Job]:
        """Jobs whose time has come and whose lease (if any) has run out, in turns across users: each user's
        oldest first, the user whose job was claimed least recently (or never) leading, then everyone's second
        job, and so on; so one user's backlog delays another user's job by one job, not the whole backlog.
        Read by key (never a Scan)."""

    def claim_job(self, job: Job, lease_until: str) -> Optional[Job]:
        """Take the job until lease_until unless another worker changed it first (None when lost); its user
        becomes the most recently served in the queue."""

    def finish_job(self, job: Job) -> None:
        """Remove a done job; removing a missing one is fine."""

    def upgrade_job_queues(self, queues: Iterable[str]) -> int:
        """Bring jobs an older version queued into the layout due_jobs reads (migrations); how many moved."""

    def usage(self, user_id: str) -> dict[str, int]:
        """Counts and bytes of a user's uploads: photos, videos, bytes, trash_count, trash_bytes."""

    # quota reservations (momento/uploads/admission.py)
    def reserve_bytes(self, user_id: str, reservation_id: str, n: int, *, quota: Optional[int], expires_at: str,
                      now: str) -> QuotaHold:
        """Atomically hold n more bytes under reservation_id (created or grown, its expiry moved to expires_at)
        if live uploads, trash and every unexpired reservation of the user plus n fit in quota (None: no limit);
        expired reservations are dropped on the way. The hold says whether it was granted."""

    def release_bytes(self, user_id: str, reservation_id: str) -> None:
        """Drop a reservation (its upload was recorded, refused or abandoned); a missing one is fine."""

    # audit trail (momento/audit.py)
    def add_audit_event(self, event: AuditEvent) -> None:
        """Store one event under its user and ULID."""

    def list_audit_events(self, user_id: str, limit: int = 50, cursor: Optional[str] = None) -> Page:
        """The user's events, newest first, a page at a time (by key: a Query, never a Scan)."""

    # resumable uploads (momento/resumable.py)
    def put_tus(self, tus: TusUpload) -> TusUpload:
        """Record a new tus upload; Conflict when its id is taken."""

    def get_tus(self, user_id: str, tus_id: str) -> Optional[TusUpload]:
        """The user's tus upload with this id, or None (for another user's too)."""

    def update_tus(self, tus: TusUpload) -> Optional[TusUpload]:
        """Compare-and-set: store tus with rev + 1 if the stored rev is still tus.rev; None when another writer won."""

    def delete_tus(self, tus: TusUpload) -> None:
        """Forget a tus upload; a missing one is fine."""

    def expired_tus(self, now: str, limit: int = 100) -> list[TusUpload]:
        """Tus uploads whose expiry is at or before now, oldest first (by key, never in bulk)."""

    # monitoring (momento/ops/queues.py)
    def queue_status(self, queue: str, now: str, failed_since: str) -> QueueStatus:
        """A queue's due and running jobs now, its oldest due one, and its failures since failed_since (by key)."""

    def record_job_failure(self, job: Job, at: str) -> None:
        """Remember that a job failed for good (kept a week, for queue_status)."""

    def tus_backlog(self, now: str) -> tuple[int, Optional[str]]:
        """How many tus uploads are past their expiry and not cleaned up yet, and the oldest expiry (by key)."""

    # saved searches and share links (momento/sharing/), read by key
    def put_saved_search(self, saved: SavedSearch) -> SavedSearch:
        """Store a new saved search, or replace the user's one with this id."""

    def get_saved_search(self, user_id: str, search_id: str) -> Optional[SavedSearch]:
        """The user's saved search with this id, or None (for another user's too)."""

    def list_saved_searches(self, user_id: str) -> list[SavedSearch]:
        """The user's saved searches, newest first."""

    def delete_saved_search(self, user_id: str, search_id: str) -> None:
        """Forget a saved search; a missing one is fine."""

    def put_share(self, share: Share) -> Share:
        """Store a new share (by its token's hash, and in its owner's list); Conflict when it exists."""

    def share_by_hash(self, token_hash: str) -> Optional[Share]:
        """The share whose token has this sha256, or None: one read by key."""

    def get_share(self, user_id: str, share_id: str) -> Optional[Share]:
        """The user's share with this id, or None (for another user's too)."""

    def list_shares(self, user_id: str) -> list[Share]:
        """The user's shares, newest first."""

    def delete_share(self, user_id: str, share_id: str) -> None:
        """Remove a share for good, so its link stops at once; NotFound when the user has none with this id."""

    def count_share_view(self, token_hash: str) -> None:
        """Add one to a share's view count; a share removed meanwhile stays removed."""


def make_catalog(app) -> Catalog:
    """The catalog backend chosen by MOMENTO_BACKEND."""
    if app.config["BACKEND"] == "aws":
        from .dynamodb import DynamoCatalog

        return DynamoCatalog.from_app(app)
    from .sqlite import SqliteCatalog

    return SqliteCatalog.from_app(app)
