"""Operators' commands: `flask momento ...` and `flask users ...`, thin layers over the same functions as the routes.

Each module in this package adds its commands to the two groups below; init_app imports them all.
"""
from __future__ import annotations

import importlib
import json
import pkgutil
import sys

import click
from flask import current_app
from flask.cli import AppGroup

from ..backends import catalog

momento_cli = AppGroup("momento", help="Set up and look after Momento's storage.")
users_cli = AppGroup("users", help="Manage accounts.")


class Amount(click.FloatRange):
    """A number from min to max: click's FloatRange, which lets nan and inf through, without them."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if number != number or number in (float("inf"), float("-inf")):
            self.fail(f"{value!r} is not a number from {self.min:g} to {self.max:g}.", param, ctx)
        return number


def fail(message: str) -> None:
    """Print an error for a person and exit non-zero."""
    raise click.ClickException(message)


def user_or_fail(email: str):
    """The account with this email, or exit with a clear message."""
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


def exit_unless(ok: bool) -> None:
    """Exit with status 1 unless ok (after the command printed its report)."""
    if not ok:
        click.get_current_context().exit(1)


def ops_backends():
    """The backends operators' commands work with: the admin role's when MOMENTO_ADMIN_* is set (aws)."""
    from ..errors import MomentoError
    from ..ops.admin import admin_backends

    try:
        return admin_backends(current_app)
    except MomentoError as exc:
        fail(exc.message)


def echo_json(data) -> None:
    """Print JSON for scripts (only this goes to stdout; progress bars go to stderr)."""
    click.echo(json.dumps(data, indent=2))


def progressbar(length: int | None, label: str, hidden: bool = False, **options):
    """A progress bar on stderr, so that --json output stays clean."""
    return click.progressbar(length=length, label=label, hidden=hidden, file=sys.stderr, **options)


def init_app(app) -> None:
    """Load every command module of this package and add the groups to `flask`."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    app.cli.add_command(momento_cli)
    app.cli.add_command(users_cli)
