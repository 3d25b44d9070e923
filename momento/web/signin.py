"""The web side of sign-in: server sessions behind the cookie, the two-factor pending step, safe `next`."""
from __future__ import annotations

import time
from datetime import timedelta
from typing import Optional
from urllib.parse import urlsplit

from flask import current_app, g, request, session, url_for
from flask_login import UserMixin, login_user, logout_user
from flask_wtf.csrf import generate_csrf

from ..accounts import sessions
from ..backends import catalog
from ..models import SignInSession, User

SID = "sid"  # the Flask session key holding the server session's random id
PENDING = "pending_2fa"  # the first step's result while the second step is asked for
PENDING_SECONDS = 300


class SessionUser(UserMixin):
    """flask-login's view of a Momento account."""

    def __init__(self, user: User):
        self.user = user
        self.id = user.id

    @property
    def is_active(self) -> bool:
        return not self.user.disabled


def _lifetimes() -> dict[str, timedelta]:
    cfg = current_app.config
    return {"idle": timedelta(hours=cfg["SESSION_IDLE_HOURS"]), "remembered": timedelta(days=cfg["REMEMBER_DAYS"])}


def load_user(user_id: str) -> Optional[SessionUser]:
    """flask-login's user loader: the account only while its server session lives (signed out means out)."""
    user = catalog().get_user(user_id)
    if user is None or user.disabled or user.deleted_at:
        return None
    record = sessions.resume(catalog(), session.get(SID), user, **_lifetimes())
    if record is None:
        return None
    g.signin_session = record
    return SessionUser(user)


def current_session() -> Optional[SignInSession]:
    """The server session of this request's cookie, once the user was loaded."""
    return g.get("signin_session")


def start_session(user: User, remember: bool) -> None:
    """Sign in: a new server session and cookie contents (nothing of the old cookie carries over), a new CSRF token."""
    end_session()
    lifetime = _lifetimes()["remembered" if remember else "idle"]
    session_id, record = sessions.start(catalog(), user, remember=remember, lifetime=lifetime,
                                        user_agent=request.user_agent.string, address=request.remote_addr or "")
    session[SID] = session_id
    session.permanent = remember  # the cookie outlives the browser only when asked to
    login_user(SessionUser(user), remember=False)  # never flask-login's remember cookie: the server decides
    g.signin_session = record
    g.pop("csrf_token", None)
    generate_csrf()


def end_session() -> None:
    """Sign out here: the server session ends, so a copy of the cookie is worthless too."""
    record = current_session()
    if record is not None:
        sessions.end(catalog(), record.user_id, record.id)
    elif session.get(SID):
        found = catalog().get_session(sessions.session_hash(session[SID]))
        if found is not None:
            sessions.end(catalog(), found.user_id, found.id)
    logout_user()
    session.clear()
    g.pop("signin_session", None)
    g.pop("csrf_token", None)


def begin_second_step(user: User, remember: bool, next_url: str) -> None:
    """Remember, for a few minutes, that the password was right; the second step finishes the sign-in."""
    end_session()
    session[PENDING] = {"uid": user.id, "remember": bool(remember), "at": int(time.time()), "next": next_url}


def pending_user() -> Optional[tuple[User, dict]]:
    """The account waiting for its second step, while the first step is fresh; else None."""
    pending = session.get(PENDING)
    if not isinstance(pending, dict) or time.time() - pending.get("at", 0) > PENDING_SECONDS:
        session.pop(PENDING, None)
        return None
    user = catalog().get_user(pending.get("uid", ""))
    return (user, pending) if user and not user.disabled and not user.deleted_at else None


def safe_next(target) -> str:
    """`next` as the browser would read it, allowed only when it is a path of this site; else the gallery."""
    fallback = url_for("pages.gallery")
    if not isinstance(target, str) or not target or len(target) > 2000:
        return fallback
    # Browsers drop tabs and newlines inside URLs ("/\t/evil.example" becomes "//evil.example") and read a
    # backslash as a slash: refuse them all rather than guess.
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target) or "\\" in target:
        return fallback
    if not target.startswith("/") or target.startswith("//"):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return fallback
    return target
