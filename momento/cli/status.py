"""`flask momento status`: the background queues at a glance, with an exit status cron or an alarm can act on."""
from __future__ import annotations

import click

from ..errors import MomentoError
from ..ops.queues import problems, queue_reports
from . import Amount, echo_json, exit_unless, fail, momento_cli, ops_backends, print_table


@momento_cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the queues as JSON.")
@click.option("--max-backlog", type=click.IntRange(min=0), default=100, show_default=True,
              help="Exit 1 when a queue has more due jobs than this.")
@click.option("--max-age", type=Amount(min=0, max=10 * 365 * 86400), default=3600, show_default=True,
              help="Exit 1 when a queue's oldest due job has waited longer than this many seconds.")
def status_command(as_json: bool, max_backlog: int, max_age: float):
    """Each queue (renditions, purge, expired tus uploads): due, running, failed in the last 24 hours and the
    age of its oldest due job. Exits 1 when a backlog or an age passes its limit."""
    try:
        reports = queue_reports(ops_backends().catalog)
    except MomentoError as exc:
        fail(exc.message)
    found = problems(reports, max_backlog=max_backlog, max_age=max_age)
    if as_json:
        echo_json({"ok": not found, "queues": [r.as_dict() for r in reports], "problems": found,
                   "limits": {"max_backlog": max_backlog, "max_age": max_age}})
    else:
        rows = [{"queue": r.kind, "due": r.due, "running": "-" if r.running is None else r.running,
                 "failed 24h": "-" if r.failed_24h is None else r.failed_24h,
                 "oldest due": f"{r.oldest_age_seconds:.0f} s" if r.due else "-"} for r in reports]
        print_table(rows, ["queue", "due", "running", "failed 24h", "oldest due"])
        for problem in found:
            click.echo(f"Over the limit: {problem}.", err=True)
    exit_unless(not found)
