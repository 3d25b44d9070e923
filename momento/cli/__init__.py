"""Operators' commands: `flask momento ...` and `flask users ...`, thin layers over the same functions as the routes."""
from __future__ import annotations

import json
from dataclasses import replace


import click
from flask import current_app
from flask.cli import AppGroup

from .. import accounts, migrate
from ..backends import backends, catalog
from ..errors import MomentoError
from ..web.templating import human_size

momento_cli = AppGroup("momento", help="Set up and look after Momento's storage.")
users_cli = AppGroup("users", help="Manage accounts.")


def fail(message: str) -> None:
    """Print an error for a person and exit non-zero."""
    raise click.ClickException(message)


def _user_or_fail(email: str):
    user = catalog().get_user_by_email(email.strip().lower())
    if user is None:
        fail(f"No account with the email {email}.")
    return user


def print_table(rows: list[dict], columns: list[str]) -> None:
    """A plain aligned table."""
    widths = {c: max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns}
    click.echo("  ".join(c.ljust(widths[c]) for c in columns))
    click.echo("  ".join("-" * widths[c] for c in columns))
    for r in rows:
        click.echo("  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns))


@momento_cli.command("init")
def init_command():
    """Create the bucket or folder and the tables (safe to run again)."""
    try:
        done = migrate.apply_pending(backends(), lambda m: click.echo(f"applying {m.id}: {m.description}"))
        # Schema creation is idempotent; running it again also repairs settings changed by hand.
        backends().storage.create()
        backends().catalog.create_schema()
    except MomentoError as exc:
        fail(exc.message)
    cfg = current_app.config
    where = cfg["DATA_DIR"] if cfg["BACKEND"] == "local" else f"bucket {cfg['BUCKET']}, tables {cfg['TABLE_PREFIX']}*"
    click.echo(f"Momento is ready on the {cfg['BACKEND']} backend ({where}); {len(done)} migration(s) applied.")


@momento_cli.command("migrate")
@click.option("--status", "show_status", is_flag=True, help="List applied and pending migrations; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def migrate_command(show_status: bool, as_json: bool):
    """Apply pending migrations from migrations/ in order."""
    try:
        if show_status:
            rows = [{"id": m.id, "description": m.description, "applied_at": at or "pending"}
                    for m, at in migrate.status(backends())]
            if as_json:
                click.echo(json.dumps(rows, indent=2))
            else:
                print_table(rows, ["id", "applied_at", "description"])
            return
        done = migrate.apply_pending(backends(), lambda m: click.echo(f"applying {m.id}: {m.description}"))
    except MomentoError as exc:
        fail(exc.message)
    click.echo(f"{len(done)} migration(s) applied." if done else "Nothing to apply: every migration is in place.")


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
    user = _user_or_fail(email)
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
    user = _user_or_fail(email)
    if user.disabled:
        fail(f"{user.email} is disabled; enable it first.")
    click.echo(accounts.issue_token(catalog(), user))


def init_app(app) -> None:
    """Add the command groups to `flask`."""
    app.cli.add_command(momento_cli)
    app.cli.add_command(users_cli)



