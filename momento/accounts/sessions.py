"""Sign-in sessions kept on the server: the browser's cookie carries a random id, the catalog its sha256."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

from ..formats import iso, parse_iso
from ..models import SignInSession, User

TOUCH_SECONDS = 60  # last_seen_at (and the idle expiry) is written at most once a minute per session
USER_AGENT_MAX = 300


def session_hash(session_id: str) -> str:
    """What the catalog keeps of a session id."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def start(catalog, user: User, *, remember: bool, lifetime: timedelta, user_agent: str = "",
          address: str = "") -> tuple[str, SignInSession]:
    """A new session for the user: the id for the cookie (shown to nobody else) and its stored record."""
    now = datetime.now(timezone.utc)
    session_id = secrets.token_urlsafe(32)
    record = SignInSession(id=session_hash(session_id), user_id=user.id, created_at=iso(now), last_seen_at=iso(now),
                           expires_at=iso(now + lifetime), user_agent=(user_agent or "")[:USER_AGENT_MAX],
                           address=address or "", remember=remember)
    catalog.add_session(record)
    return session_id, record


def resume(catalog, session_id: Optional[str], user: User, *, idle: timedelta,
           remembered: timedelta) -> Optional[SignInSession]:
    """The live session this cookie id names for this user, its idle expiry moved on (at most once a minute);
    None when it was ended, expired or is someone else's."""
    if not isinstance(session_id, str) or not session_id or len(session_id) > 200:
        return None
    record = catalog.get_session(session_hash(session_id))
    now = datetime.now(timezone.utc)
    if record is None or record.user_id != user.id or parse_iso(record.expires_at) <= now:
        return None
    if user.signed_out_at and record.created_at < user.signed_out_at:  # signed out everywhere since
        return None
    if (now - parse_iso(record.last_seen_at)).total_seconds() >= TOUCH_SECONDS:
        lifetime = remembered if record.remember else idle
        record = replace(record, last_seen_at=iso(now), expires_at=iso(now + lifetime))
        catalog.touch_session(record)
    return record


def end(catalog, user_id: str, session_id_hash: str) -> bool:
    """Sign one session out (by its stored id); whether it existed."""
    return catalog.delete_session(user_id, session_id_hash)


def end_all(catalog, user_id: str, *, keep: Optional[str] = None) -> int:
    """Sign out every session of the account but `keep` (a stored id); how many ended."""
    return catalog.delete_sessions(user_id, keep)


def live(catalog, user_id: str) -> list[SignInSession]:
    """The account's unexpired sessions, most recently seen first."""
    now = iso(datetime.now(timezone.utc))
    return sorted((s for s in catalog.list_sessions(user_id) if s.expires_at > now),
                  key=lambda s: s.last_seen_at, reverse=True)


def device(user_agent: str) -> str:
    """A few words for a browser: 'Firefox on Linux', 'Safari on iPhone'."""
    ua = user_agent or ""
    browser = next((name for key, name in (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"),
                                           ("Chrome/", "Chrome"), ("Chromium/", "Chromium"), ("Safari/", "Safari"),
                                           ("curl/", "curl"), ("python", "A script")) if key in ua), None)
    system = next((name for key, name in (("iPhone", "iPhone"), ("iPad", "iPad"), ("Android", "Android"),
                                          ("Windows", "Windows"), ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"),
                                          ("Linux", "Linux")) if key in ua), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "Unknown browser"


def to_json(record: SignInSession, current_hash: Optional[str]) -> dict[str, Any]:
    """A session as the API lists it."""
    return {"id": record.id, "created_at": record.created_at, "last_seen_at": record.last_seen_at,
            "user_agent": record.user_agent, "address": record.address, "current": record.id == current_hash}
