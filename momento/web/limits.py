"""Abuse limits: the Flask-Limiter binding, and failed sign-ins per account and per address.

Every counter lives in Flask-Limiter's storage (MOMENTO_RATELIMIT_STORAGE_URI), so servers that share a
storage share the counts. Sign-in and sign-up attempts are counted by the views (web/auth.py) before the
password is checked, and a successful sign-in gives its count back; the upload limits (uploads per
minute, bytes per day) are admission's (momento/uploads/admission.py), which gets the storage from
upload_limiter(). With RATELIMIT_ENABLED off (the default under TESTING), nothing counts.
"""
from __future__ import annotations

import math
import time
from contextlib import contextmanager
from typing import Iterator

from flask import current_app
from flask_limiter.util import get_remote_address
from limits import parse_many

from ..errors import RateLimited
from ..extensions import limiter
from ..formats import in_words

def init_app(app) -> None:
    """Bind the limiter to the app (it does nothing when RATELIMIT_ENABLED is off)."""
    # The limiter object is shared by every app in the process: give it this app's choice explicitly.
    limiter.enabled = bool(app.config["RATELIMIT_ENABLED"])
    limiter.init_app(app)


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


def signin_address() -> str:
    """The client's address (its real one when ProxyFix is on)."""
    return get_remote_address()


def register_limit() -> str:
    """Accounts created per client address."""
    return current_app.config["REGISTER_LIMIT"]


class Attempt:
    """The counts one sign-in (or sign-up) attempt took; give_back() returns them when it succeeded."""

    def __init__(self, counted: list):
        self.counted = counted

    def give_back(self) -> None:
        """A successful attempt does not use up the budget."""
        for item, scope, key in self.counted:
            limiter.limiter.storage.incr(item.key_for(scope, key), item.get_expiry(), amount=-1)
        self.counted = []


def count_sign_in(email: str) -> Attempt:
    """Count a sign-in attempt against the account's and the address's budgets BEFORE the password is checked,
    so parallel attempts can never all slip in under the limit; RateLimited when a budget is spent."""
    return _count([(login_limit(), "sign-in-account", (email or "").strip().lower()[:254]),
                   (login_address_limit(), "sign-in-address", signin_address())], _lockout)


@contextmanager
def secret_check(email: str) -> Iterator[None]:
    """A password or code checked for someone already signed in (changing the password, turning two-factor off)
    spends the account's sign-in budget as a sign-in does, given back only when the check passed: a session
    alone is no way round the lock-out. RateLimited when the budget is spent."""
    attempt = count_sign_in(email)
    yield
    attempt.give_back()


def count_registration() -> Attempt:
    """Count an account creation against the address's budget; RateLimited when it is spent."""
    return _count([(register_limit(), "register-address", signin_address())],
                  lambda scope, wait: f"Too many new accounts from your network. Try again in {in_words(wait)}.")


def _count(budgets: list, message) -> Attempt:
    """Hit each budget (an atomic increment in the limiter's storage); the first one over raises RateLimited."""
    attempt = Attempt([])
    if not enabled():
        return attempt
    strategy = limiter.limiter
    for rate, scope, key in budgets:
        if not rate or not key:
            continue
        for item in parse_many(rate):
            if not strategy.hit(item, scope, key):
                reset = strategy.get_window_stats(item, scope, key).reset_time
                wait = max(1, math.ceil(reset - time.time()))
                attempt.give_back()  # the budgets already counted must not be spent by a refused attempt
                raise RateLimited(message(scope, wait), retry_after=wait)
            attempt.counted.append((item, scope, key))
    return attempt


def _lockout(scope: str, wait: int) -> str:
    """What a person reads when sign-in is paused, with how long it stays paused."""
    whose = "from your network" if scope == "sign-in-address" else "for this account"
    return (f"Too many failed sign-in attempts {whose}. For your security, sign-in is paused: "
            f"try again in {in_words(wait)}.")


def current_retry_after() -> int:
    """Seconds until the Flask-Limiter limit this request broke lets requests through again."""
    current = limiter.current_limit
    return max(1, math.ceil(current.window.reset_time - time.time())) if current else 60


def upload_limiter():
    """The limiter's strategy that admission counts uploads with, or None when limits are off in this app."""
    return limiter.limiter if enabled() else None
