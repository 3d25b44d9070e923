"""`flask momento audit`: the audit trail for operators, one account or every account, newest first."""
from __future__ import annotations

import heapq
import json
from itertools import islice
from typing import Iterator

import click

from ..accounts import audit
from ..backends import catalog
from ..errors import MomentoError
from ..models import AuditEvent
from . import fail, momento_cli, print_table, user_or_fail


def _events_of(user_id: str) -> Iterator[AuditEvent]:
    """Every event of one account, newest first, read a page at a time."""
    cursor = None
    while True:
        page = audit.events(catalog(), user_id, limit=200, cursor=cursor)
        yield from page.items
        if not page.next_cursor:
            return
        cursor = page.next_cursor


@momento_cli.command("audit")
@click.option("--user", "email", help="Only this account's events.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1), help="How many events to print.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def audit_command(email: str | None, limit: int, as_json: bool):
    """Print the audit trail (sign-ins, tokens, uploads, deletes, admin commands), newest first."""
    try:
        users = [user_or_fail(email)] if email else list(catalog().iter_users())
        emails = {u.id: u.email for u in users}
        # Each account's events come newest first by key; merging them keeps the order across accounts.
        merged = heapq.merge(*(_events_of(u.id) for u in users), key=lambda e: e.id, reverse=True)
        events = list(islice(merged, limit))
    except MomentoError as exc:
        fail(exc.message)
    if as_json:
        click.echo(json.dumps([audit.to_json(e, emails.get(e.user_id)) for e in events], indent=2))
        return
    rows = [{"at": e.at, "email": emails.get(e.user_id, e.user_id), "what": audit.describe(e),
             "from": "command line" if e.actor == "operator" else (e.ip or "")} for e in events]
    if not rows:
        click.echo("No events recorded.")
        return
    print_table(rows, ["at", "email", "what", "from"])
