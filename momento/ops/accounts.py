"""Closing an account: blocked at once, everything it owns moved to the trash for purge to remove."""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Optional

from ..accounts import sign_out_everywhere
from ..formats import now_iso
from ..models import User

PAGE = 200


def close_account(catalog, user: User, *, on_upload: Optional[Callable[[int], None]] = None) -> int:
    """Disable and mark the account deleted, then trash each live upload; safe to run again after a stop."""
    if not user.deleted_at or not user.disabled:
        # First, so that nothing new arrives and no session or token works while the uploads move.
        user = catalog.update_user(replace(user, disabled=True, deleted_at=user.deleted_at or now_iso()))
    sign_out_everywhere(catalog, user)
    moved, cursor = 0, None
    while True:
        page = catalog.list_uploads(user.id, limit=PAGE, cursor=cursor)  # the cursor is an upload id: trashing
        for upload in page.items:                                          # what came before does not move it
            catalog.set_trashed(user.id, upload.id, now_iso())
            moved += 1
            if on_upload:
                on_upload(1)
        cursor = page.next_cursor
        if not cursor:
            return moved
