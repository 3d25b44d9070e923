"""Abuse limits: the Flask-Limiter binding, and failed sign-ins per account and per address.

Every counter lives in Flask-Limiter's storage (MOMENTO_RATELIMIT_STORAGE_URI), so servers that share a
storage share the counts. Sign-in limits are route decorators (web/auth.py); the upload limits (uploads per
minute, bytes per day) are admission's (momento/uploads/admission.py), which gets the storage from
upload_limiter(). With RATELIMIT_ENABLED off (the default under TESTING), nothing counts.
"""
from __future__ import annotations

import math
import time

from flask import current_app, request
from flask_limiter.util import get_remote_address
from limits import parse_many

from .extensions import limiter
from .formats import in_words

# settings holding a Flask-Limiter rate string ("10 per 15 minutes"; "none" turns the limit off)
RATE_SETTINGS = ("LOGIN_LIMIT", "LOGIN_ADDRESS_LIMIT", "UPLOAD_LIMIT", "SHARE_LIMIT", "SHARE_PASSWORD_LIMIT",
                 "SHARE_PASSWORD_ADDRESS_LIMIT")


def init_app(app) -> None:
    """Bind the limiter to the app (it does nothing when RATELIMIT_ENABLED is off)."""
    # The limiter object is shared by every app in the process: give it this app's choice explicitly.
    limiter.enabled = bool(app.config["RATELIMIT_ENABLED"])
    limiter.init_app(app)


def rate_string(value) -> str:
    """A setting as Flask-Limiter reads it: '' when off; ValueError when it cannot be parsed."""
    text = "" if value is None else str(value).strip()
    if text.lower() in ("", "none", "off", "0"):
        return ""
    parse_many(text)  # raises ValueError for what Flask-Limiter would refuse at the first request
    return text


def enabled() -> bool:
    """Whether limits count in the current app."""
    return bool(current_app.config.get("RATELIMIT_ENABLED"))


# sign-in (used by the decorators in web/auth.py)

def login_limit() -> str:
    """Failed sign-ins allowed per account (page and token API together)."""
    return current_app.config["LOGIN_LIMIT"]


def login_address_limit() -> str:
    """Failed sign-ins allowed per client address."""
    return current_app.config["LOGIN_ADDRESS_LIMIT"]


def signin_email() -> str:
    """The account a sign-in names, from the form or the JSON body ('' when none: that limit is skipped)."""
    email = request.form.get("email") if request.form else None
    if email is None:
        body = request.get_json(silent=True)
        email = body.get("email") if isinstance(body, dict) else None
    return email.strip().lower()[:254] if isinstance(email, str) else ""


def signin_address() -> str:
    """The client's address (its real one when ProxyFix is on)."""
    return get_remote_address()


def failed_sign_in(response) -> bool:
    """Only refused credentials count towards a lock-out."""
    return response.status_code == 401


def current_retry_after() -> int:
    """Seconds until the limit this request broke lets requests through again."""
    current = limiter.current_limit
    return max(1, math.ceil(current.window.reset_time - time.time())) if current else 60


def lockout_message() -> str:
    """What a person reads when sign-in is paused, with how long it stays paused."""
    current = limiter.current_limit
    whose = "from your network" if current and "sign-in-address" in current.key else "for this account"
    return (f"Too many failed sign-in attempts {whose}. For your security, sign-in is paused: "
            f"try again in {in_words(current_retry_after())}.")


def upload_limiter():
    """The limiter's strategy that admission counts uploads with, or None when limits are off in this app."""
    return limiter.limiter if enabled() else None
