"""Admission: whether and how much a user may upload, decided once for every front door (form, tus, import).

An upload claims its bytes before they are accepted, and keeps claiming as they arrive when no length was
declared: from the storage quota (a reservation held atomically in the catalog, so parallel requests on any
number of servers can never together pass it) and from the daily allowance (counted in the shared rate-limit
storage on the bytes actually received). settle() turns the claim into what the upload kept: the quota
reservation is dropped once the record counts the bytes, and allowance not used is given back.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Optional

from limits import RateLimitItem, RateLimitItemPerDay, parse_many

from ..catalog import Catalog
from ..errors import Forbidden, RateLimited, TooLarge
from ..formats import human_bytes, in_words, iso
from ..models import User
from ..accounts.quota import effective_quota

GROW = 8 * 1024 * 1024  # a body of unknown length claims this much more at a time (one catalog write each)
FORM_HOLD = timedelta(hours=6)  # a form upload's reservation outlives any upload its server is still taking


@dataclass(frozen=True)
class Budgets:
    """The rules admission applies: the quota of accounts without their own, and for requests the limiter's
    storage with the uploads-per-minute and bytes-per-day limits (no limiter: the command line counts none)."""

    default_quota: Optional[int] = None
    limiter: object = None  # a `limits` strategy (Flask-Limiter's), shared by every server using the same storage
    rate: tuple[RateLimitItem, ...] = ()
    daily_bytes: Optional[RateLimitItem] = None

    @classmethod
    def from_config(cls, config, limiter=None) -> "Budgets":
        """The app's budgets; `limiter` is None when limits are switched off."""
        rate = tuple(parse_many(config["UPLOAD_LIMIT"])) if limiter is not None and config.get("UPLOAD_LIMIT") else ()
        amount = config.get("UPLOAD_BYTES_PER_DAY_BYTES")
        daily = RateLimitItemPerDay(amount) if limiter is not None and amount else None
        return cls(config.get("DEFAULT_QUOTA_BYTES"), limiter, rate, daily)


class Admission:
    """One upload's claim on its user's quota and daily allowance, grown with need() and ended with settle()."""

    def __init__(self, catalog: Catalog, user: User, budgets: Budgets, *, reservation_id: str, hold_for: timedelta = FORM_HOLD,
                 quota: bool = True, allowance: bool = True):
        self.catalog, self.user, self.budgets = catalog, user, budgets
        self.reservation_id, self.hold_for = reservation_id, hold_for
        self.quota = effective_quota(user, budgets.default_quota) if quota else None
        self.daily = budgets.daily_bytes if allowance else None
        self.held = 0  # quota bytes reserved in the catalog
        self.counted = 0  # daily-allowance bytes taken

    def need(self, total: int) -> None:
        """The upload has (or declares) `total` bytes: claim what is missing, in steps when it grows as it arrives.

        TooLarge (413 quota_exceeded / over_daily_limit) or RateLimited (429 daily_limit_exceeded) when it does not fit.
        """
        if self.quota is not None and total > self.held:
            self._reserve(total)
        if self.daily is not None and total > self.counted:
            self._count(total)

    def _reserve(self, total: int) -> None:
        now = datetime.now(timezone.utc)
        for more in dict.fromkeys((max(total - self.held, min(GROW, self.held or GROW)), total - self.held)):
            hold = self.catalog.reserve_bytes(self.user.id, self.reservation_id, more, quota=self.quota,
                                              expires_at=iso(now + self.hold_for), now=iso(now))
            if hold.granted:
                self.held += more
                return
        left = max(0, self.quota - hold.taken)
        message = (f"This upload does not fit in your storage quota of {human_bytes(self.quota)}: "
                   + (f"{human_bytes(left)} left." if left else "none of it is left."))
        if hold.reserved:
            message += f" Uploads in progress hold {human_bytes(hold.reserved)} of it."
        if hold.trash:
            message += f" Your trash holds {human_bytes(hold.trash)}, which counts until it is emptied."
        raise TooLarge(message, code="quota_exceeded")

    def _count(self, total: int) -> None:
        item, limiter = self.daily, self.budgets.limiter
        if total > item.amount:
            raise TooLarge(f"This upload is larger than the {human_bytes(item.amount)} you may upload in a day.",
                           code="over_daily_limit")
        more = total - self.counted
        step = max(more, min(GROW, item.amount - total))  # a little ahead, so a long body costs few counter writes
        for cost in dict.fromkeys((step, more)):
            if limiter.hit(item, "upload-bytes", self.user.id, cost=cost):
                self.counted += cost
                return
            _give_back(limiter, item, cost, self.user.id)  # a refused claim must not use up the allowance
        wait = _retry_after(limiter, item, self.user.id)
        left = max(0, limiter.get_window_stats(item, "upload-bytes", self.user.id).remaining)
        raise RateLimited(f"You may upload {human_bytes(item.amount)} a day; {human_bytes(left)} is left today, "
                          f"less than this upload. Try again in {in_words(wait)}.", retry_after=wait,
                          code="daily_limit_exceeded")

    def settle(self, kept: int) -> None:
        """The upload is over and kept `kept` bytes (0 when refused or a duplicate): drop the quota reservation
        (a recorded upload now counts in the usage) and give back the allowance it did not use."""
        self.release()
        if self.daily is not None and self.counted > kept:
            _give_back(self.budgets.limiter, self.daily, self.counted - kept, self.user.id)
            self.counted = kept

    def release(self) -> None:
        """Drop the quota reservation (safe to repeat)."""
        if self.held:
            self.catalog.release_bytes(self.user.id, self.reservation_id)
            self.held = 0


def admit(catalog: Catalog, user: User, budgets: Budgets, *, declared: int = 0, reservation_id: str,
          hold_for: timedelta = FORM_HOLD, quota: bool = True, allowance: bool = True,
          count_upload: bool = True) -> Admission:
    """The one way in: the account may upload, the upload rate holds, and `declared` bytes are claimed."""
    if user.disabled or user.deleted_at:
        raise Forbidden("This account may not upload.", code="account_disabled")
    if count_upload:
        check_upload_rate(user, budgets)
    admission = Admission(catalog, user, budgets, reservation_id=reservation_id, hold_for=hold_for, quota=quota,
                          allowance=allowance)
    admission.need(declared)
    return admission


def check_upload_rate(user: User, budgets: Budgets) -> None:
    """Count one upload for the user; RateLimited (429, rate_limited) when over MOMENTO_UPLOAD_LIMIT."""
    for item in budgets.rate:
        if not budgets.limiter.hit(item, "uploads", user.id):
            wait = _retry_after(budgets.limiter, item, user.id, "uploads")
            raise RateLimited(f"You are uploading faster than the {item} this server allows. "
                              f"Try again in {in_words(wait)}.", retry_after=wait)


def _give_back(limiter, item: RateLimitItem, n: int, user_id: str) -> None:
    limiter.storage.incr(item.key_for("upload-bytes", user_id), item.get_expiry(), amount=-n)


def _retry_after(limiter, item: RateLimitItem, user_id: str, name: str = "upload-bytes") -> int:
    reset = limiter.get_window_stats(item, name, user_id).reset_time
    return max(1, math.ceil(reset - time.time()))
