"""Abuse limits: failed sign-ins per account and per address, uploads per user per minute, bytes per user per day.

Every counter lives in Flask-Limiter's storage (MOMENTO_RATELIMIT_STORAGE_URI), so servers that share a
storage share the counts. Sign-in limits are route decorators (web/auth.py); the upload limits are
functions the receive path calls. With RATELIMIT_ENABLED off (the default under TESTING), nothing counts.
"""
from __future__ import annotations

import math
import time
from typing import Optional

from flask import current_app, request
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, RateLimitItemPerDay, parse_many

from .errors import RateLimited, TooLarge
from .extensions import limiter
from .models import User
from .quota import human_bytes

# settings holding a Flask-Limiter rate string ("10 per 15 minutes"; "none" turns the limit off)
RATE_SETTINGS = ("LOGIN_LIMIT", "LOGIN_ADDRESS_LIMIT", "UPLOAD_LIMIT")


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


# uploads

def check_upload_rate(user: User) -> None:
    """Count one upload for the user; RateLimited (429, rate_limited) when over MOMENTO_UPLOAD_LIMIT."""
    if not enabled():
        return
    for item in _items("UPLOAD_LIMIT"):
        if not limiter.limiter.hit(item, "uploads", user.id):
            wait = _retry_after(item, "uploads", user.id)
            raise RateLimited(f"You are uploading faster than the {item} this server allows. "
                              f"Try again in {in_words(wait)}.", retry_after=wait)


def reserve_upload_bytes(user: User, n: int) -> int:
    """Take n bytes from the user's daily allowance and return how many were taken (0 when not counted).

    RateLimited (429, daily_limit_exceeded) when they do not fit today; TooLarge (413) when n is more than
    a whole day's allowance. Give back what an upload did not keep with release_upload_bytes().
    """
    item = _daily_bytes()
    if item is None or not enabled() or n <= 0:
        return 0
    if n > item.amount:
        raise TooLarge(f"This upload is larger than the {human_bytes(item.amount)} you may upload in a day.",
                       code="over_daily_limit")
    if limiter.limiter.hit(item, "upload-bytes", user.id, cost=n):
        return n
    _give_back(item, n, "upload-bytes", user.id)  # a refused reservation must not use up the allowance
    wait = _retry_after(item, "upload-bytes", user.id)
    left = limiter.limiter.get_window_stats(item, "upload-bytes", user.id).remaining
    raise RateLimited(f"You may upload {human_bytes(item.amount)} a day; {human_bytes(left)} is left today, "
                      f"less than this upload. Try again in {in_words(wait)}.", retry_after=wait,
                      code="daily_limit_exceeded")


def release_upload_bytes(user: User, n: int) -> None:
    """Give back bytes reserved for an upload that was refused, failed or turned out smaller."""
    item = _daily_bytes()
    if item is None or not enabled() or n <= 0:
        return
    _give_back(item, n, "upload-bytes", user.id)


def charge_upload_bytes(user: User, n: int) -> None:
    """Count bytes already taken in that no reservation covered (a body sent without a length); never refuses.

    The allowance may go over by this upload; the next reservation is refused until the window reopens.
    """
    item = _daily_bytes()
    if item is None or not enabled() or n <= 0:
        return
    limiter.limiter.hit(item, "upload-bytes", user.id, cost=n)


def _daily_bytes() -> Optional[RateLimitItem]:
    amount = current_app.config.get("UPLOAD_BYTES_PER_DAY_BYTES")
    return RateLimitItemPerDay(amount) if amount else None


def _items(setting: str) -> list[RateLimitItem]:
    text = current_app.config.get(setting) or ""
    return parse_many(text) if text else []


def _give_back(item: RateLimitItem, n: int, *identifiers: str) -> None:
    storage = limiter.limiter.storage
    storage.incr(item.key_for(*identifiers), item.get_expiry(), amount=-n)


def _retry_after(item: RateLimitItem, *identifiers: str) -> int:
    reset = limiter.limiter.get_window_stats(item, *identifiers).reset_time
    return max(1, math.ceil(reset - time.time()))


def in_words(seconds: int) -> str:
    """45 -> '45 seconds', 840 -> '14 minutes', 7300 -> '2 hours'."""
    seconds = max(1, int(seconds))
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size * (2 if unit == "hour" else 1):
            n = math.ceil(seconds / size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"
