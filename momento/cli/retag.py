"""`flask momento retag`: recompute automatic tags for every upload, or one user's."""
from __future__ import annotations

import json

import click
from flask import current_app

from ..backends import backends
from ..errors import MomentoError
from ..uploads.retag import retag_upload, uploads_to_retag
from . import fail, momento_cli, user_or_fail


@momento_cli.command("retag")
@click.option("--user", "email", help="Only this account's uploads.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def retag_command(email: str | None, as_json: bool):
    """Recompute automatic tags (safe to interrupt and run again)."""
    b = backends()
    user = user_or_fail(email) if email else None
    taggers = current_app.config["CONTENT_TAGGERS"]
    seen = changed = 0
    try:
        uploads = list(uploads_to_retag(b.catalog, user))
        with click.progressbar(uploads, label="Retagging", hidden=as_json, show_pos=True) as bar:
            for upload in bar:
                seen += 1
                changed += retag_upload(b.storage, b.catalog, upload, taggers)
    except MomentoError as exc:
        fail(f"{exc.message} ({seen} uploads checked before the error; run the command again to go on).")
    summary = {"uploads": seen, "changed": changed}
    click.echo(json.dumps(summary) if as_json else f"{seen} uploads checked, {changed} with new automatic tags.")
