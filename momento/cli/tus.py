"""`flask momento tus-cleanup`: abort resumable uploads left unfinished past their expiry."""
from __future__ import annotations

import click
from flask import current_app

from ..errors import MomentoError
from ..uploads.tus import ResumableUploads
from . import echo_json, fail, momento_cli, ops_backends


@momento_cli.command("tus-cleanup")
@click.option("--json", "as_json", is_flag=True, help="Print {\"removed\": N} instead of a sentence.")
def tus_cleanup_command(as_json: bool):
    """Abort resumable uploads past their expiry: their parts, their tail objects and their records.

    Run it from cron (hourly is plenty); the bucket's lifecycle rule is the last resort on aws.
    """
    b = ops_backends()
    try:
        removed = ResumableUploads.from_config(b.storage, b.catalog, current_app.config).cleanup_expired()
    except MomentoError as exc:
        fail(f"{exc.message} What was removed stays removed: run tus-cleanup again.")
    if as_json:
        echo_json({"removed": removed})
    else:
        click.echo(f"Removed {removed} expired resumable upload{'s' if removed != 1 else ''}.")
