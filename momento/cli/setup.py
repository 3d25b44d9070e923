"""`flask momento init` and `flask momento migrate`: create, check and upgrade what the backend needs."""
from __future__ import annotations

from dataclasses import asdict

import click
from flask import current_app

from .. import migrate
from ..errors import MomentoError
from ..models import PostureCheck
from . import echo_json, exit_unless, fail, momento_cli, ops_backends, print_table


def _where() -> str:
    cfg = current_app.config
    return cfg["DATA_DIR"] if cfg["BACKEND"] == "local" else f"bucket {cfg['BUCKET']}, tables {cfg['TABLE_PREFIX']}*"


def posture(b) -> list[PostureCheck]:
    """Every setting init makes, compared with what is there: store, tables, migrations."""
    pending = [m.id for m, applied_at in migrate.status(b) if applied_at is None]
    return [*b.storage.check_posture(), *b.catalog.check_schema(),
            PostureCheck("migrations", "all applied", "pending: " + ", ".join(pending) if pending else "all applied",
                         not pending)]


def _report(checks: list[PostureCheck], as_json: bool) -> None:
    if as_json:
        echo_json({"backend": current_app.config["BACKEND"], "where": _where(),
                   "clean": all(c.ok for c in checks), "checks": [asdict(c) for c in checks]})
        return
    rows = [{"setting": c.setting, "expected": c.expected, "actual": c.actual,
             "": ("ok" if c.ok else "DIFFERS") + (f" ({c.note})" if c.note else "")} for c in checks]
    print_table(rows, ["setting", "expected", "actual", ""])
    bad = sum(not c.ok for c in checks)
    click.echo(f"\n{bad} setting(s) differ from what `flask momento init` makes." if bad else
               "\nEverything is as `flask momento init` makes it.")


@momento_cli.command("init")
@click.option("--check", is_flag=True, help="Change nothing: report every setting that differs (exit 1 if any).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def init_command(check: bool, as_json: bool):
    """Create the bucket or folder and the tables, with their protections (safe to run again)."""
    b = ops_backends()
    try:
        if check:
            checks = posture(b)
            _report(checks, as_json)
            exit_unless(all(c.ok for c in checks))
            return
        done = migrate.apply_pending(b, None if as_json else _announce)
        # Creating is idempotent; running it again also puts back protections changed by hand.
        b.storage.create()
        b.catalog.create_schema()
        getattr(b.storage, "repaired", []).clear()  # what this process's start set right is now init's doing
    except MomentoError as exc:
        fail(exc.message)
    if as_json:
        echo_json({"backend": current_app.config["BACKEND"], "where": _where(), "applied": [m.id for m in done]})
    else:
        click.echo(f"Momento is ready on the {current_app.config['BACKEND']} backend ({_where()}); "
                   f"{len(done)} migration(s) applied.")


def _announce(m: migrate.Migration) -> None:
    click.echo(f"applying {m.id}: {m.description}")


@momento_cli.command("migrate")
@click.option("--status", "show_status", is_flag=True, help="List applied and pending migrations; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def migrate_command(show_status: bool, as_json: bool):
    """Apply pending migrations from migrations/ in order (an interrupted run resumes where it stopped)."""
    b = ops_backends()
    if show_status:
        try:
            rows = [{"id": m.id, "description": m.description, "applied_at": at or "pending"}
                    for m, at in migrate.status(b)]
        except MomentoError as exc:
            fail(exc.message)
        if as_json:
            echo_json(rows)
        else:
            print_table(rows, ["id", "applied_at", "description"])
        return
    done: list[migrate.Migration] = []

    def announce(m: migrate.Migration) -> None:
        done.append(m)
        if not as_json:
            _announce(m)

    try:
        migrate.apply_pending(b, announce)
    except MomentoError as exc:
        fail(f"{done[-1].id if done else 'A migration'} failed: {exc.message} "
             f"({len(done) - 1 if done else 0} applied before it; run `flask momento migrate` again to resume).")
    if as_json:
        echo_json({"applied": [m.id for m in done]})
    else:
        click.echo(f"{len(done)} migration(s) applied." if done else "Nothing to apply: every migration is in place.")
