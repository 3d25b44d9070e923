"""What an API token may do: the scope each route needs, and the routes only a signed-in session may use.

A route says so with a decorator (`@requires_scope("share")`, `@session_only`); every other route gets the
scope of its method and path from scope_for(). The check itself runs once, in web/auth.py's request hook.
"""
from __future__ import annotations

from typing import Callable, Optional

SESSION_ONLY = "session"  # marker: no token, whatever its scopes
ANY_TOKEN = "any"  # marker: every valid token (a token ending itself)


def requires_scope(scope: str) -> Callable:
    """Mark a view as needing this token scope (read, upload, write or share)."""
    def mark(view):
        view.momento_scope = scope
        return view
    return mark


def session_only(view):
    """Mark a view as one for the signed-in browser only: tokens get 403 (tokens, sessions, password, two-factor)."""
    view.momento_scope = SESSION_ONLY
    return view


def any_token(view):
    """Mark a view that any valid token may call, whatever its scopes."""
    view.momento_scope = ANY_TOKEN
    return view


def scope_for(view, method: str, path: str) -> Optional[str]:
    """The scope a token needs for this request: the view's own mark, else the rule for its path and method."""
    marked = getattr(view, "momento_scope", None)
    if marked:
        return marked
    if path.startswith("/account"):
        return SESSION_ONLY  # the account page's forms: password, sessions, two-factor, passkeys
    if path.startswith(("/api/v1/shares", "/shares")):
        return "share"
    if path.startswith("/api/v1/tus"):
        return "upload"
    if method == "POST" and path.rstrip("/") == "/api/v1/uploads":
        return "upload"
    if method in ("GET", "HEAD", "OPTIONS"):
        return "read"
    return "write"  # PATCH, DELETE, restore, saved searches and every other change
