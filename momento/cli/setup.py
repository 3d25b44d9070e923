"""`flask momento init` and `flask momento migrate`: create and upgrade what the backend needs."""
from __future__ import annotations

import json

import click
from flask import current_app

from .. import migrate
from ..backends import backends
from ..errors import MomentoError
from . import fail, momento_cli, print_table


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
