"""`flask momento work`: run the background jobs (video renditions) from the durable queue."""
from __future__ import annotations

import json
import time

import click
from flask import current_app

from ..jobs.queue import FAILED, requeue_pending
from ..jobs.renditions import Limits
from ..jobs.runner import Summary, run_jobs
from ..backends import backends
from ..errors import MomentoError
from . import fail, momento_cli, user_or_fail

_LABELS = {"ready": "done", "retry": "will retry", "failed": "FAILED", "dropped": "dropped (upload gone)",
           "released": "given back"}


@momento_cli.command("work")
@click.option("--follow", is_flag=True, help="Keep waiting for new jobs instead of stopping when none is left.")
@click.option("--requeue", is_flag=True,
              help="First queue renditions for videos left pending without a job (after a failed queue write).")
@click.option("--user", "email", help="With --requeue: look at this account only.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON line per job and a JSON summary line.")
def work_command(follow: bool, requeue: bool, email: str | None, as_json: bool):
    """Run pending background jobs (video renditions) until none is left, or for ever with --follow.

    Exits non-zero when a job failed for good (after its retries).
    """
    if email and not requeue:
        fail("--user goes with --requeue.")
    b = backends()
    summary = Summary()
    started = time.monotonic()
    try:
        if requeue:
            users = [user_or_fail(email)] if email else None
            count = requeue_pending(b.catalog, users)
            _say(as_json, {"requeued": count}, f"Queued {count} rendition(s) left without a job.")
        try:
            run_jobs(b, follow=follow, limits=Limits.from_config(current_app.config), on_start=lambda job: _started(job, as_json),
                            on_done=lambda outcome: _done(outcome, summary, as_json))
        except KeyboardInterrupt:
            _say(as_json, {"interrupted": True}, "Interrupted; the job in hand goes back to the queue.")
    except MomentoError as exc:
        fail(exc.message)
    counts = dict(summary)
    seconds = round(time.monotonic() - started, 1)
    text = ", ".join(f"{n} {_LABELS.get(k, k)}" for k, n in sorted(counts.items())) or "no job was due"
    _say(as_json, {"summary": {**counts, "seconds": seconds}}, f"Finished in {seconds} s: {text}.")
    if summary[FAILED]:
        click.get_current_context().exit(1)


def _say(as_json: bool, doc: dict, text: str) -> None:
    click.echo(json.dumps(doc) if as_json else text)


def _started(job, as_json: bool) -> None:
    if not as_json:
        retry = f" (attempt {job.attempts})" if job.attempts > 1 else ""
        click.echo(f"{job.queue} {job.upload_id} of user {job.user_id}{retry} ...")


def _done(outcome, summary: Summary, as_json: bool) -> None:
    summary.add(outcome)
    job = outcome.job
    doc = {"queue": job.queue, "job": job.id, "user_id": job.user_id, "upload_id": job.upload_id,
           "result": outcome.result, "attempts": job.attempts, "seconds": round(outcome.seconds, 2),
           "error": outcome.error}
    line = f"  {_LABELS.get(outcome.result, outcome.result)} in {outcome.seconds:.1f} s"
    _say(as_json, doc, line + (f": {outcome.error}" if outcome.error else ""))
