"""Accounts: registration, passwords (argon2id), sign-in checks and signing out everywhere (this module);
sessions on the server (sessions.py), scoped API tokens (tokens.py), two-factor (twofactor.py), passkeys
(passkeys.py), the quota that applies to an account (quota.py) and the audit trail (audit.py). No Flask here:
routes pass the request's values in (momento/web/)."""
from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import replace
from typing import Optional

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ..errors import BadRequest, Unauthorized
from ..formats import now_iso  # noqa: F401 - accounts stamp their times with it
from ..models import User
from . import sessions, tokens
from .tokens import token_hash  # noqa: F401 - the one token hash, re-exported

_hasher = PasswordHasher()
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 8
# Verifying against a real hash when the email is unknown keeps sign-in time the same either way.
_DUMMY_HASH = _hasher.hash("momento-timing-guard")


def normalize_email(email: str) -> str:
    """Trimmed, lower-cased email; BadRequest when it does not look like one."""
    email = (email or "").strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise BadRequest("Enter a valid email address.", code="invalid_email", fields=[("email", "invalid")])
    return email


def check_password_strength(password: str, email: str = "") -> None:
    """BadRequest unless the password is long enough to be worth hashing, can be typed (no control characters),
    is not one character over and over, and is not the account's own email."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise BadRequest(f"Use a password of at least {MIN_PASSWORD} characters.", code="weak_password",
                         fields=[("password", "too_short")])
    if len(password) > 1024:
        raise BadRequest("That password is too long.", code="weak_password", fields=[("password", "too_long")])
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in password):
        raise BadRequest("A password cannot hold control characters (such as a newline or NUL).",
                         code="weak_password", fields=[("password", "control_characters")])
    if len(set(password)) == 1 or (email and password.strip().lower() == email.strip().lower()):
        raise BadRequest("That password is too easy to guess: not one character over and over, nor your email.",
                         code="weak_password", fields=[("password", "guessable")])


def new_user(email: str, password: str, *, is_admin: bool = False, quota: Optional[int] = None) -> User:
    """A User value with an opaque id and a hashed password (not yet stored)."""
    email = normalize_email(email)
    check_password_strength(password, email)
    return User(id=secrets.token_hex(10), email=email, password_hash=_hasher.hash(password),
                created_at=now_iso(), is_admin=is_admin, quota=quota)


def register(catalog, email: str, password: str, **kw) -> User:
    """Create and store an account; EmailTaken when it exists."""
    return catalog.create_user(new_user(email, password, **kw))


def authenticate(catalog, email: str, password: str) -> User:
    """The enabled account matching these credentials; Unauthorized otherwise."""
    email = email.strip().lower() if isinstance(email, str) else ""
    # Longer than any stored email: no lookup (DynamoDB would refuse a key that long with a 5xx-looking error).
    user = catalog.get_user_by_email(email) if 0 < len(email) <= 254 else None
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password if isinstance(password, str) else "")
    except (VerificationError, InvalidHashError):
        raise Unauthorized("Wrong email or password.", code="bad_credentials") from None
    if user is None:
        raise Unauthorized("Wrong email or password.", code="bad_credentials")
    if user.disabled:
        raise Unauthorized("This account is disabled.", code="account_disabled")
    if _hasher.check_needs_rehash(user.password_hash):
        user = catalog.update_user(_with_hash(user, password))
    return user


def set_password(catalog, user: User, password: str) -> User:
    """Store a new password for the account."""
    check_password_strength(password, user.email)
    return catalog.update_user(_with_hash(user, password))


def _with_hash(user: User, password: str) -> User:
    return replace(user, password_hash=_hasher.hash(password))


def change_password(catalog, user: User, current, new, *, keep_session: Optional[str] = None) -> User:
    """A new password once the current one checks out; every session but `keep_session` (a stored id) ends."""
    try:
        _hasher.verify(user.password_hash, current if isinstance(current, str) else "")
    except (VerificationError, InvalidHashError):
        raise Unauthorized("The current password is not right.", code="bad_credentials") from None
    user = set_password(catalog, user, new)
    sessions.end_all(catalog, user.id, keep=keep_session)
    return user


def sign_out_everywhere(catalog, user: User) -> tuple[int, int]:
    """End every session and revoke every token of the account, for good (also those the catalog cannot list);
    how many sessions and tokens were ended."""
    fresh = catalog.get_user(user.id) or user
    catalog.update_user(replace(fresh, signed_out_at=now_iso()))
    return sessions.end_all(catalog, user.id), catalog.revoke_tokens(user.id)


def issue_token(catalog, user: User, **options) -> str:
    """A new API token for the user (all scopes unless told); only its hash is stored."""
    return tokens.issue(catalog, user, **options)[0]


def user_for_token(catalog, token: str) -> Optional[User]:
    """The enabled account owning this token, or None."""
    found = tokens.authenticate(catalog, token)
    return found[0] if found else None


def revoke_token(catalog, token: str) -> None:
    """Make the token stop working."""
    tokens.revoke(catalog, token)
