"""`flask momento stats`, `verify` and `purge`: what is stored, whether store and catalog agree, emptying the trash."""
from __future__ import annotations

from datetime import datetime, timezone

import click
from flask import current_app

from ..config import PRICES
from ..errors import MomentoError
from ..ops import purge as purging
from ..ops.stats import collect
from ..ops.verify import verify
from ..formats import human_bytes
from . import Amount, echo_json, exit_unless, fail, momento_cli, ops_backends, print_table, progressbar


@momento_cli.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def stats_command(as_json: bool):
    """Uploads by kind, bytes, trash and an estimated monthly AWS cost, per user and in total."""
    prices = {name: current_app.config[name] for name in PRICES}
    try:
        b = ops_backends()
        stats = collect(b.catalog, prices, datetime.now(timezone.utc), storage=b.storage)
    except MomentoError as exc:
        fail(exc.message)
    if as_json:
        echo_json(stats)
        return
    rows = [_row(u["email"], u) for u in stats["users"]] + [_row("TOTAL", stats["total"])]
    print_table(rows, ["user", "photos", "videos", "trashed", "size", "trash", "new (30 d)", "shared copies", "$/month"])
    cost = stats["total"]["cost"]
    click.echo(f"\nEstimated monthly cost (USD): S3 storage {cost['s3_storage']:.2f}, S3 requests "
               f"{cost['s3_requests']:.2f}, DynamoDB storage {cost['dynamodb_storage']:.2f}, DynamoDB requests "
               f"{cost['dynamodb_requests']:.2f}. Prices from MOMENTO_PRICE_*; see docs/operations.md.")


def _row(name: str, u: dict) -> dict:
    return {"user": name, "photos": u["photos"], "videos": u["videos"], "trashed": u["trashed"],
            "size": human_bytes(u["bytes"]), "trash": human_bytes(u["trash_bytes"]), "new (30 d)": u["new_uploads"],
            "shared copies": human_bytes(u["display_bytes"]), "$/month": f"{u['cost']['total']:.2f}"}


@momento_cli.command("verify")
@click.option("--repair", is_flag=True, help="Remove orphans older than an hour, rebuild thumbnails and index entries.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify_command(repair: bool, as_json: bool):
    """Compare the object store with the catalog (exit 0 only when they agree)."""
    b = ops_backends()
    try:
        users = list(b.catalog.iter_users())
        with progressbar(len(users), "Checking each user's objects and records", hidden=as_json) as bar:
            report = verify(b.storage, b.catalog, repair=repair, users=users, progress=bar.update)
    except MomentoError as exc:
        fail(f"{exc.message} Nothing is lost: run verify again.")
    if as_json:
        echo_json(report.as_dict())
    else:
        if report.problems:
            print_table([{"problem": p.kind, "where": p.where, "state": "repaired" if p.repaired else (
                "repairable" if p.fixable else "needs a person"), "detail": p.detail} for p in report.problems],
                ["problem", "where", "state", "detail"])
            click.echo("")
        left = sum(not p.repaired for p in report.problems)
        click.echo(f"Checked {report.users} users, {report.uploads} uploads, {report.objects} objects: "
                   + ("all in step." if not report.problems else
                      f"{len(report.problems) - left} repaired, {left} left"
                      + (" (--repair fixes the repairable ones)." if left and not repair else ".")))
    exit_unless(report.clean)


@momento_cli.command("purge")
@click.option("--older-than", "days", type=Amount(min=0, max=36500), default=30, show_default=True,
              help="Purge uploads in the trash for at least this many days.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def purge_command(days: float, as_json: bool):
    """Delete trashed uploads for good: objects first, then records, with retries (an interrupted run resumes)."""
    b = ops_backends()
    try:
        report = purging.start(b.catalog, days)
        with progressbar(report.queued, "Purging", hidden=as_json, show_pos=True) as bar:
            purging.work_queue(b.storage, b.catalog, report,
                               on_job=lambda job, outcome: bar.update(outcome != "retry"))
    except MomentoError as exc:
        fail(f"{exc.message} Run purge again: it resumes where it stopped.")
    if as_json:
        echo_json(report.as_dict())
    else:
        click.echo(f"Purged {report.purged} upload(s) trashed before {report.trashed_before} "
                   f"({human_bytes(report.bytes_freed)} freed); {report.skipped} skipped (restored or gone), "
                   f"{report.retries} retried attempt(s).")
        for f in report.failed:
            click.echo(f"  could not purge {f['user_id']}/{f['upload_id']} after {f['attempts']} attempts: "
                       f"{f['error']}")
    exit_unless(not report.failed)
