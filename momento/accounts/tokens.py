"""API tokens: named, scoped, optionally expiring; only the sha256 of a secret is stored."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Optional

from ..errors import BadRequest
from ..formats import iso, now_iso, parse_iso, plain_label
from ..models import SCOPES, ApiToken, User

PREFIX = "mo_"
TOUCH_SECONDS = 60  # last_used_at is written at most once a minute per token
MAX_DAYS = 365
NAME_MAX = 100


def token_hash(token: str) -> str:
    """What the catalog keeps of a token: its sha256 (tokens are random, so no KDF is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def parse_scopes(scopes: Optional[Iterable[Any]]) -> tuple[str, ...]:
    """The scopes asked for, in the usual order (all four when none were given); BadRequest for an unknown one."""
    if scopes is None:
        return SCOPES
    if isinstance(scopes, str) or not isinstance(scopes, (list, tuple)) or not scopes:
        raise BadRequest(f"Choose at least one of what a token may do: {', '.join(SCOPES)} (scopes).", code="invalid_scope")
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise BadRequest(f"Unknown scope {unknown[0]!r}: use {', '.join(SCOPES)}.", code="invalid_scope")
    return tuple(s for s in SCOPES if s in scopes)


def parse_days(days: Any) -> Optional[int]:
    """A token lifetime in days (1-365), or None for a token that does not expire; BadRequest otherwise."""
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise BadRequest(f"A token lasts a whole number of days from 1 to {MAX_DAYS} (expires_in_days).", code="invalid_expiry")
    return days


def parse_name(name: Any) -> str:
    """A token's name for people; BadRequest when it is not a short string."""
    if name is None:
        return "API token"
    label = plain_label(name) if isinstance(name, str) else ""
    if not label or len(label) > NAME_MAX:
        raise BadRequest(f"Give the token a name of 1 to {NAME_MAX} characters.", code="invalid_name")
    return label


def issue(catalog, user: User, *, name: Any = None, scopes: Any = None, expires_in_days: Any = None) -> tuple[str, ApiToken]:
    """A new token for the user (validated name, scopes and lifetime): its secret, shown once, and its record."""
    name, scopes, days = parse_name(name), parse_scopes(scopes), parse_days(expires_in_days)
    now = datetime.now(timezone.utc)
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(hash=token_hash(secret), id=secrets.token_hex(8), user_id=user.id, created_at=iso(now),
                     name=name, scopes=scopes, expires_at=iso(now + timedelta(days=days)) if days else None)
    catalog.add_token(token)
    return secret, token


def authenticate(catalog, secret: str) -> Optional[tuple[User, ApiToken]]:
    """The enabled account and the token for this secret, or None (unknown, expired, revoked, disabled)."""
    if not secret or len(secret) > 200:
        return None
    token = catalog.get_token(token_hash(secret))
    if token is None:
        return None
    now = now_iso()
    if token.expires_at and token.expires_at <= now:
        return None
    user = catalog.get_user(token.user_id)
    if user is None or user.disabled or user.deleted_at or (user.signed_out_at and token.created_at < user.signed_out_at):
        return None
    if not token.last_used_at or (parse_iso(now) - parse_iso(token.last_used_at)).total_seconds() >= TOUCH_SECONDS:
        token = replace(token, last_used_at=now)
        catalog.touch_token(token)
    return user, token


def revoke(catalog, secret: str) -> None:
    """Make the token stop working."""
    catalog.revoke_token(token_hash(secret))


def to_json(token: ApiToken) -> dict[str, Any]:
    """A token as the API lists it: never its secret or hash."""
    return {"id": token.id, "name": token.name, "scopes": list(token.scopes), "created_at": token.created_at,
            "last_used_at": token.last_used_at, "expires_at": token.expires_at}
