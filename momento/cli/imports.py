"""`flask momento import`: a folder of photos and videos into one account, through the upload pipeline."""
from __future__ import annotations

import itertools
import os

import click
from flask import current_app

from ..errors import MomentoError
from ..media.tags import parse_tag_field
from ..ops.importer import FAILED, import_folder, walk
from ..uploads.admission import Budgets
from ..uploads.commit import Limits
from ..formats import human_bytes
from . import echo_json, exit_unless, fail, momento_cli, ops_backends, progressbar, user_or_fail


@momento_cli.command("import")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, readable=True))
@click.option("--user", "email", required=True, help="The account that receives the files.")
@click.option("--tags", default="", help="Comma-separated tags for every imported file.")
@click.option("--jobs", type=click.IntRange(1, 32), default=2, show_default=True, help="Files processed at once.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary and every file's result as JSON.")
def import_command(folder: str, email: str, tags: str, jobs: int, as_json: bool):
    """Import every photo and video under FOLDER, skipping duplicates and unsupported files (safe to re-run)."""
    user = user_or_fail(email)
    if user.disabled:
        fail(f"{user.email} is {'deleted' if user.deleted_at else 'disabled'}; nothing was imported.")
    try:
        tag_list = parse_tag_field(tags)
    except MomentoError as exc:
        fail(exc.message)
    b = ops_backends()
    files = walk(folder)
    with progressbar(sum(size for _, size in files), f"Importing {len(files)} files", hidden=as_json,
                     item_show_func=lambda name: name) as bar:
        counter = itertools.count(1)

        def advance(result) -> None:
            bar.update(result.size, f"{next(counter)}/{len(files)} files")

        report = import_folder(b.storage, b.catalog, user, os.path.abspath(folder), tags=tag_list,
                               limits=Limits.from_config(current_app.config),
                               budgets=Budgets.from_config(current_app.config), jobs=jobs, files=files,
                               on_file=advance)
    if as_json:
        echo_json(report.as_dict())
    else:
        summary = report.as_dict()
        click.echo(f"Imported {summary['imported']} file(s) ({human_bytes(summary['bytes_imported'])}), "
                   f"{summary['duplicates']} duplicate(s) skipped.")
        for reason, paths in summary["refused"].items():
            click.echo(f"Refused ({reason}): {len(paths)}")
            for path in paths:
                click.echo(f"  {path}")
        for r in summary["failed"]:
            click.echo(f"Could not import {r['path']}: {r['message']}")
        if summary["failed"]:
            click.echo("Run the same command again to retry them; what was imported is skipped.")
    exit_unless(report.count(FAILED) == 0)
