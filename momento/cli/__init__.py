"""Operators' commands: `flask momento ...` and `flask users ...`, thin layers over the same functions as the routes.

Each module in this package adds its commands to the two groups below; init_app imports them all.
"""
from __future__ import annotations

import importlib
import pkgutil

import click
from flask.cli import AppGroup

from ..backends import catalog

momento_cli = AppGroup("momento", help="Set up and look after Momento's storage.")
users_cli = AppGroup("users", help="Manage accounts.")


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


def init_app(app) -> None:
    """Load every command module of this package and add the groups to `flask`."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    app.cli.add_command(momento_cli)
    app.cli.add_command(users_cli)
