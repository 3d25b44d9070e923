"""`flask users ...`: accounts from the command line."""
from __future__ import annotations

from dataclasses import replace

import click
from flask import current_app

from .. import accounts
from ..accounts import audit, sessions, twofactor
from ..accounts.quota import effective_quota
from ..errors import MomentoError
from ..ops.accounts import close_account
from ..formats import human_bytes
from . import echo_json, fail, ops_backends, print_table, progressbar, user_or_fail, users_cli


def _status(user) -> str:
    if user.deleted_at:
        return "deleted"
    if user.disabled:
        return "disabled"
    return "admin" if user.is_admin else "active"


@users_cli.command("create")
@click.argument("email")
@click.option("--admin", is_flag=True, help="Give the account operator rights.")
@click.option("--password", help="The password (asked for, hidden, when not given).")
def create_user(email: str, admin: bool, password: str | None):
    """Create an account."""
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = accounts.register(ops_backends().catalog, email, password, is_admin=admin)
    except MomentoError as exc:
        fail(exc.message)
    click.echo(f"Created {user.email} (id {user.id}){' as an admin' if admin else ''}.")


@users_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_users(as_json: bool):
    """List accounts with their counts and bytes."""
    catalog = ops_backends().catalog
    default = current_app.config["DEFAULT_QUOTA_BYTES"]
    rows = []
    try:
        for user in catalog.iter_users():
            use = catalog.usage(user.id)
            rows.append({"email": user.email, "id": user.id, "admin": user.is_admin, "disabled": user.disabled,
                         "deleted_at": user.deleted_at, "photos": use["photos"], "videos": use["videos"],
                         "bytes": use["bytes"], "trash_count": use["trash_count"], "trash_bytes": use["trash_bytes"],
                         "quota": effective_quota(user, default), "created_at": user.created_at,
                         "status": _status(user)})
    except MomentoError as exc:
        fail(exc.message)
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        r.update(size=human_bytes(r["bytes"]), trash=human_bytes(r["trash_bytes"]),
                 limit="unlimited" if r["quota"] is None else human_bytes(r["quota"]))
    print_table(rows, ["email", "id", "status", "photos", "videos", "size", "trash", "limit", "created_at"])


def _set_disabled(email: str, disabled: bool) -> None:
    user = user_or_fail(email)
    if user.deleted_at and not disabled:
        fail(f"{user.email} was deleted on {user.deleted_at}; a deleted account stays closed.")
    catalog = ops_backends().catalog
    catalog.update_user(replace(user, disabled=disabled))
    if disabled:  # for good: enabling the account again brings no old session or token back
        accounts.sign_out_everywhere(catalog, catalog.get_user(user.id))
    audit.record_operator(catalog, user, "account_disabled" if disabled else "account_enabled")
    click.echo(f"{user.email} is now {'disabled' if disabled else 'enabled'}.")


@users_cli.command("disable")
@click.argument("email")
def disable_user(email: str):
    """Block sign-in; every session and token ends for good (enable brings none back)."""
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
    if user.deleted_at:
        fail(f"{user.email} was deleted on {user.deleted_at}; a deleted account stays closed.")
    if user.disabled:
        fail(f"{user.email} is disabled; enable it first.")
    click.echo(accounts.issue_token(ops_backends().catalog, user))


@users_cli.command("delete")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def delete_user(email: str, yes: bool, as_json: bool):
    """Close the account and move everything it owns to the trash (`flask momento purge` removes it later)."""
    user = user_or_fail(email)
    catalog = ops_backends().catalog
    use = catalog.usage(user.id)
    live = use["photos"] + use["videos"]
    if not yes:
        click.confirm(f"Close {user.email} and move its {live} uploads to the trash?", abort=True)
    try:
        with progressbar(live, "Moving uploads to the trash", hidden=as_json, show_pos=True) as bar:
            moved = close_account(catalog, user, on_upload=bar.update)
    except MomentoError as exc:
        fail(f"{exc.message} The account is closed already; run the command again to trash the rest.")
    user = catalog.get_user(user.id)
    audit.record_operator(catalog, user, "account_deleted", trashed=moved)
    if as_json:
        echo_json({"email": user.email, "id": user.id, "deleted_at": user.deleted_at, "trashed": moved})
    else:
        click.echo(f"{user.email} is closed; {moved} upload(s) moved to the trash. "
                   "`flask momento purge` deletes them for good once they are old enough (--older-than).")


@users_cli.command("password")
@click.argument("email")
@click.option("--password", help="The new password (asked for, hidden, when not given).")
def set_password(email: str, password: str | None):
    """Set a new password; every session of the account ends."""
    user = user_or_fail(email)
    if password is None:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    catalog = ops_backends().catalog
    try:
        user = accounts.set_password(catalog, user, password)
    except MomentoError as exc:
        fail(exc.message)
    ended = sessions.end_all(catalog, user.id)
    audit.record_operator(catalog, user, "password_changed")
    click.echo(f"{user.email} has a new password; {ended} session(s) signed out.")


@users_cli.command("2fa-reset")
@click.argument("email")
def reset_two_factor(email: str):
    """Turn two-factor sign-in off for someone who lost their device."""
    user = user_or_fail(email)
    catalog = ops_backends().catalog
    if not user.totp_secret:
        click.echo(f"{user.email} does not use two-factor sign-in; nothing changed.")
        return
    twofactor.reset(catalog, user)
    audit.record_operator(catalog, user, "two_factor_off")
    click.echo(f"Two-factor sign-in is off for {user.email}; they sign in with the password alone until they turn it on again.")


@users_cli.command("signout")
@click.argument("email")
def sign_out(email: str):
    """End every session and revoke every API token of the account."""
    user = user_or_fail(email)
    catalog = ops_backends().catalog
    ended, revoked = accounts.sign_out_everywhere(catalog, user)
    audit.record_operator(catalog, user, "signed_out_everywhere", sessions=ended, tokens=revoked)
    click.echo(f"{user.email}: {ended} session(s) signed out, {revoked} token(s) revoked.")
