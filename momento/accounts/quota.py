"""Storage quotas: the limit that applies to an account (its own, the server's default, or none).

Admission (momento/uploads/admission.py) reserves an upload's bytes against it before they are accepted.

A user's `quota` is None when the account follows the server default (MOMENTO_DEFAULT_QUOTA), a number of
bytes, or UNLIMITED. Trashed uploads count: they keep their bytes in the store until they are purged, and
not counting them would let an account grow without bound by trashing, uploading more and restoring.
"""
from __future__ import annotations

from typing import Optional

from ..models import User

UNLIMITED = -1  # stored in User.quota: no quota for this account, whatever the default

def effective_quota(user: User, default: Optional[int]) -> Optional[int]:
    """The account's limit in bytes, or None for no limit: its own quota, else the server default."""
    if user.quota is None:
        return default
    return None if user.quota == UNLIMITED else user.quota
