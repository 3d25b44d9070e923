"""`flask users ...`: accounts from the command line."""
from __future__ import annotations

import json
from dataclasses import replace

import click

from .. import accounts
from ..backends import catalog
from ..errors import MomentoError
from ..web.templating import human_size
from . import fail, print_table, user_or_fail, users_cli


@users_cli.command("create")
@click.argument("email")
@click.option("--admin", is_flag=True, help="Give the account operator rights.")
@click.option("--password", help="The password (asked for, hidden, when not given).")
def create_user(email: str, admin: bool, password: str | None):
    """Create an account."""
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = accounts.register(catalog(), email, password, is_admin=admin)
    except MomentoError as exc:
        fail(exc.message)
    click.echo(f"Created {user.email} (id {user.id}){' as an admin' if admin else ''}.")


@users_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_users(as_json: bool):
    """List accounts with their counts and bytes."""
    rows = []
    for user in catalog().iter_users():
        use = catalog().usage(user.id)
        rows.append({"email": user.email, "id": user.id, "admin": user.is_admin, "disabled": user.disabled,
                     "photos": use["photos"], "videos": use["videos"], "bytes": use["bytes"],
                     "trash_bytes": use["trash_bytes"], "created_at": user.created_at})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        r["size"] = human_size(r["bytes"])
        r["status"] = "disabled" if r["disabled"] else ("admin" if r["admin"] else "active")
    print_table(rows, ["email", "id", "status", "photos", "videos", "size", "created_at"])


def _set_disabled(email: str, disabled: bool) -> None:
    user = user_or_fail(email)
    catalog().update_user(replace(user, disabled=disabled))
    click.echo(f"{user.email} is now {'disabled' if disabled else 'enabled'}.")


@users_cli.command("disable")
@click.argument("email")
def disable_user(email: str):
    """Block sign-in (sessions and tokens stop working at once)."""
    _set_disabled(email, True)


@users_cli.command("enable")
@click.argument("email")
def enable_user(email: str):
    """Allow sign-in again."""
    _set_disabled(email, False)


@users_cli.command("token")
@click.argument("email")
def user_token(email: str):
    """Print a new API token for the account (shown once; only its hash is kept)."""
    user = user_or_fail(email)
    if user.disabled:
        fail(f"{user.email} is disabled; enable it first.")
    click.echo(accounts.issue_token(catalog(), user))
