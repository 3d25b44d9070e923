"""`flask users quota EMAIL SIZE`: set or clear an account's storage quota."""
from __future__ import annotations

from dataclasses import replace

import click
from flask import current_app

from ..accounts import audit
from ..backends import catalog
from ..accounts.quota import UNLIMITED, effective_quota
from ..formats import human_bytes, parse_size
from . import fail, user_or_fail, users_cli


MAX_QUOTA = 10**18  # 1 EB: beyond it a number is a typing slip, not a quota


@users_cli.command("quota")
@click.argument("email")
@click.argument("size")
def set_quota(email: str, size: str):
    """Set the storage quota: a size (500MB, 20GB, 1.5TiB), `none` for unlimited, or `default` for the server's."""
    user = user_or_fail(email)
    if size.strip().lower() == "default":
        quota = None
    else:
        try:
            parsed = parse_size(size)
        except ValueError as exc:
            fail(f"{exc}.")
        if parsed is not None and parsed > MAX_QUOTA:
            fail(f"{size!r} is more than any quota can be (at most {human_bytes(MAX_QUOTA)}); use none for unlimited.")
        quota = UNLIMITED if parsed is None else parsed
    user = catalog().update_user(replace(user, quota=quota))
    limit = effective_quota(user, current_app.config["DEFAULT_QUOTA_BYTES"])
    words = "no limit" if limit is None else human_bytes(limit)
    audit.record_operator(catalog(), user, "quota_changed", quota=words if quota is not None else f"the default ({words})")
    use = catalog().usage(user.id)
    used = use["bytes"] + use["trash_bytes"]
    note = f" ({human_bytes(used)} used: over the quota, so new uploads are refused)" if limit is not None and used > limit else ""
    if limit is None:
        click.echo(f"{user.email} now has no storage quota{' (the default)' if quota is None else ''}.")
    else:
        click.echo(f"{user.email} now has {'the default quota: ' if quota is None else 'a quota of '}{words}{note}.")
