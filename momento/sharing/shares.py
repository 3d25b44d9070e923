"""Share links: who may see what through a token, for how long, behind which password.

A token is 192 random bits (secrets.token_urlsafe(24)); only its sha256 is stored and looked up. A share
holds either a list of uploads or a saved search, whose current results it shows (a later match appears, a
trashed upload never does). Every item a visitor asks for is checked against its share here.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from ulid import ULID

from ..catalog.cursor import decode_cursor, encode_cursor
from ..errors import BadRequest, Gone, NotFound
from ..formats import is_ulid, iso, now_iso, plain_label
from ..models import Page, Share, Upload
from .searches import matches, owned_search, run_query, saved_query

UPLOADS, SEARCH = "uploads", "search"
DEFAULT_DAYS, MAX_DAYS = 7, 365
MAX_UPLOADS = 500
TITLE_MAX = 200
TOKEN_MAX = 100  # longer than any token made here: refused before any lookup
_hasher = PasswordHasher()


def token_hash(token: str) -> str:
    """What the catalog keeps of a link's token: its sha256 (the token is random, so no KDF is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _days(value: Any) -> int:
    """expires_in_days, checked (7 when absent)."""
    if value is None:
        return DEFAULT_DAYS
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DAYS:
        raise BadRequest(f"A link lasts a whole number of days from 1 to {MAX_DAYS} (expires_in_days).", code="invalid_expiry",
                         fields=[("expires_in_days", "invalid")])
    return value


def _title(value: Any) -> str:
    """A share's title, trimmed (empty when absent)."""
    if value is None:
        return ""
    label = plain_label(value) if isinstance(value, str) else None
    if label is None or len(label) > TITLE_MAX:
        raise BadRequest(f"A link's title is at most {TITLE_MAX} characters (title).", code="invalid_title",
                         fields=[("title", "invalid")])
    return label


def _password(value: Any) -> Optional[str]:
    """The argon2 hash of a share's password, or None for no password."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 1024:
        raise BadRequest("A link's password is text of at most 1024 characters (password).", code="invalid_password",
                         fields=[("password", "invalid")])
    return _hasher.hash(value)


def owned_uploads(catalog, user_id: str, ids: Any) -> tuple[str, ...]:
    """The ids, each a live upload of this user, newest first; 404 for any other."""
    if not isinstance(ids, list) or not ids or len(ids) > MAX_UPLOADS:
        raise BadRequest(f"Choose 1 to {MAX_UPLOADS} photos and videos to share (uploads: a list of upload ids).", code="invalid_uploads",
                         fields=[("uploads", "invalid")])
    wanted = list(dict.fromkeys(ids))
    if not all(is_ulid(i) for i in wanted):
        raise NotFound("No upload with that id.")
    found = {u.id for u in catalog.get_uploads(user_id, wanted) if not u.trashed}
    if len(found) != len(wanted):
        raise NotFound("No upload with that id.")
    return tuple(sorted(wanted, reverse=True))


def create_share(catalog, user_id: str, body: Any, *, now: Optional[datetime] = None) -> tuple[Share, str]:
    """A new share from the API's fields, stored, and its token (shown once: only the hash is kept)."""
    if not isinstance(body, dict) or (("uploads" in body) == ("search" in body)):
        raise BadRequest('Send JSON {"uploads": [ids]} or {"search": "<saved search id>"}.', code="invalid_body")
    now = now or datetime.now(timezone.utc)
    upload_ids, search_id, kind = (), None, UPLOADS
    if "search" in body:
        search_id, kind = owned_search(catalog, user_id, body["search"]).id, SEARCH
    else:
        upload_ids = owned_uploads(catalog, user_id, body["uploads"])
    allow = body.get("allow_download", False)
    if not isinstance(allow, bool):
        raise BadRequest("Whether visitors may download the originals is true or false (allow_download).", code="invalid_body", fields=[("allow_download", "invalid")])
    token = secrets.token_urlsafe(24)
    share = Share(user_id=user_id, id=str(ULID()), token_hash=token_hash(token), kind=kind, created_at=iso(now),
                  expires_at=iso(now + timedelta(days=_days(body.get("expires_in_days")))),
                  title=_title(body.get("title")), upload_ids=upload_ids, search_id=search_id,
                  password_hash=_password(body.get("password")), allow_download=allow)
    return catalog.put_share(share), token


def owned_share(catalog, user_id: str, share_id: Any) -> Share:
    """The user's share with this id; 404 for anything else, whoever owns it."""
    share = catalog.get_share(user_id, share_id) if is_ulid(share_id) else None
    if share is None:
        raise NotFound("No share with that id.", code="share_not_found")
    return share


def open_share(catalog, token: str) -> Share:
    """The share a visitor's token names: 404 when unknown or revoked, 410 when it has expired."""
    share = catalog.share_by_hash(token_hash(token)) if token and len(token) <= TOKEN_MAX else None
    if share is None:
        raise NotFound("This link does not exist, or its owner stopped sharing it.", code="share_not_found")
    if share.expires_at <= now_iso():
        raise Gone("This link has expired. Ask the person who shared it for a new one.", code="share_expired")
    return share


def password_ok(share: Share, password: Any) -> bool:
    """Whether the password opens this share (always, when it has none)."""
    if share.password_hash is None:
        return True
    try:
        return _hasher.verify(share.password_hash, password if isinstance(password, str) else "")
    except (VerificationError, InvalidHashError):
        return False


def share_title(catalog, share: Share) -> str:
    """What the shared page is called: its title, else the saved search's name, else a plain phrase."""
    if share.title:
        return share.title
    if share.kind == SEARCH:
        saved = catalog.get_saved_search(share.user_id, share.search_id)
        if saved is not None:
            return saved.name
    return "Shared photos and videos"


def share_items(catalog, share: Share, *, limit: int, cursor: Optional[str]) -> Page:
    """A page of what the share shows now, newest first: live uploads only."""
    if share.kind == SEARCH:
        saved = catalog.get_saved_search(share.user_id, share.search_id)
        if saved is None:  # the owner deleted the search: the link shows nothing
            return Page(())
        return run_query(catalog, share.user_id, saved_query(saved), limit=limit, cursor=cursor)
    before = decode_cursor(cursor)
    ids = [i for i in share.upload_ids if before is None or i < before]
    items: list[Upload] = []
    while ids and len(items) <= limit:
        batch, ids = ids[:limit + 1 - len(items)], ids[limit + 1 - len(items):]
        found = {u.id: u for u in catalog.get_uploads(share.user_id, batch)}
        items += [found[i] for i in batch if i in found and not found[i].trashed]
    more, items = len(items) > limit, items[:limit]
    return Page(tuple(items), encode_cursor(items[-1].id) if more and items else None)


def shared_upload(catalog, share: Share, upload_id: str) -> Upload:
    """An upload the share shows now (the owner's, live, and in its list or matching its search); 404 else."""
    upload = catalog.get_upload(share.user_id, upload_id) if is_ulid(upload_id) else None
    if upload is None or upload.trashed or upload.purge_started_at:
        raise NotFound("No such item in this share.")
    if share.kind == UPLOADS and upload.id in share.upload_ids:
        return upload
    if share.kind == SEARCH:
        saved = catalog.get_saved_search(share.user_id, share.search_id)
        if saved is not None and matches(saved_query(saved), upload):
            return upload
    raise NotFound("No such item in this share.")


def share_json(share: Share, token: Optional[str] = None) -> dict[str, Any]:
    """A share as its owner sees it; `url` only when the token is at hand (at creation: it is never stored)."""
    return {"id": share.id, "url": f"/s/{token}" if token else None, "title": share.title, "kind": share.kind,
            "expires_at": share.expires_at, "allow_download": share.allow_download,
            "has_password": share.password_hash is not None, "created_at": share.created_at, "views": share.views,
            "uploads": list(share.upload_ids) if share.kind == UPLOADS else None, "search": share.search_id}
