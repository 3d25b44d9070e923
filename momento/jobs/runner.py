"""The runner: claims due jobs in turns across users, runs each within its limits, retries or gives up."""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Optional

from ..formats import iso, now_iso, parse_iso
from ..media.renditions import BudgetExceeded
from ..models import Job
from .queue import FAILED, QUEUE
from .renditions import Limits, make_rendition, rendition_failed

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
RETRY_DELAY = timedelta(seconds=30)  # then 4x longer after each failed attempt
POLL_SECONDS = 5.0  # how often a following worker looks at an empty queue
PEEK = 5  # due jobs read at once; one is run, then the queue is read again so that users take turns


@dataclass(frozen=True)
class Outcome:
    """What became of one claimed job: ready, retry, failed (for good), dropped or released."""

    job: Job
    result: str
    seconds: float
    error: Optional[str] = None


class Summary(Counter):
    """How many jobs of a run came to each result (ready, retry, failed, dropped, released)."""

    def add(self, outcome: Outcome) -> None:
        """Count one outcome."""
        self[outcome.result] += 1


@dataclass(frozen=True)
class Handler:
    """How a queue's jobs run (returning an outcome name) and what giving up on one means (with a reason)."""

    run: Callable[[Any, Job, Callable[[Any], None], Limits], str]
    give_up: Callable[[Any, Job, str], None]


HANDLERS = {QUEUE: Handler(make_rendition, rendition_failed)}  # purge runs its own loop (momento/ops/purge.py)


class _Released(Exception):
    """The worker gave the job back (shutting down) or lost its lease to another worker."""


def _later(delta: timedelta) -> str:
    """A time `delta` from now, written like now_iso()."""
    return iso(datetime.now(timezone.utc) + delta)


def run_jobs(backends, queue: str = QUEUE, *, follow: bool = False, lease: timedelta = timedelta(minutes=30),
             limit: Optional[int] = None, retry_delay: Optional[timedelta] = None,
             on_start: Optional[Callable[[Job], None]] = None, on_done: Optional[Callable[[Outcome], None]] = None,
             stop: Optional[threading.Event] = None, poll: float = POLL_SECONDS,
             limits: Optional[Limits] = None) -> Summary:
    """Claim and run due jobs until none is left (waiting for the retries of this run), or for ever with follow.

    One job at a time, reading the queue again after each: it hands out turns across users (due_jobs), so a
    user's job waits for at most one job of each user ahead of it, each bounded by `limits`.
    """
    handler = HANDLERS[queue]
    limits = limits or Limits()
    catalog = backends.catalog
    retry_delay = RETRY_DELAY if retry_delay is None else retry_delay
    summary = Summary()
    retrying: dict[str, str] = {}  # job id -> not_before, for retries this run waits for
    stop = stop or threading.Event()
    while not stop.is_set() and (limit is None or summary.total() < limit):
        due = catalog.due_jobs(queue, now_iso(), limit=PEEK)
        if not due:
            wait = _next_wait(retrying, follow, poll)
            if wait is None:
                break
            stop.wait(wait)
            continue
        for job in due:
            if stop.is_set() or (limit is not None and summary.total() >= limit):
                break
            retrying.pop(job.id, None)
            claimed = catalog.claim_job(job, lease_until=_later(lease))
            if claimed is None:
                continue  # another worker took it
            if on_start is not None:
                on_start(claimed)
            outcome = _run_one(backends, handler, claimed, lease, retry_delay, stop, limits)
            if outcome.result == "retry":
                retrying[claimed.id] = outcome.job.not_before
            summary.add(outcome)
            if on_done is not None:
                on_done(outcome)
            break  # whose turn it is now may have changed
    return summary


def _next_wait(retrying: dict[str, str], follow: bool, poll: float) -> Optional[float]:
    """Seconds to wait for more work, or None when a run without follow is over."""
    if follow:
        return poll
    now = now_iso()
    for job_id in [j for j, at in retrying.items() if at < now]:
        del retrying[job_id]  # due yet not listed: another worker holds it now
    if not retrying:
        return None
    first = parse_iso(min(retrying.values()))
    return max(1.0, min(poll, (first - datetime.now(timezone.utc)).total_seconds() + 1))


def _run_one(backends, handler, job: Job, lease: timedelta, retry_delay: timedelta,
             stop: threading.Event, limits: Limits) -> Outcome:
    """Run a claimed job and record what came of it in the queue."""
    catalog = backends.catalog
    started = time.monotonic()
    keeper = _LeaseKeeper(catalog, job, lease, stop)
    try:
        result = handler.run(backends, job, keeper, limits)
    except _Released as why:
        return Outcome(keeper.job, "released", time.monotonic() - started, str(why))
    except KeyboardInterrupt:
        keeper.release()
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of one job is recorded on it, never fatal to the run
        return _failed(catalog, handler.give_up, keeper.job, exc, retry_delay, time.monotonic() - started)
    catalog.finish_job(keeper.job)
    return Outcome(keeper.job, result, time.monotonic() - started)


def _failed(catalog, give_up, job: Job, exc: Exception, retry_delay: timedelta, seconds: float) -> Outcome:
    """Schedule a retry with backoff, or after MAX_ATTEMPTS (or past its budget) give up on the job and drop it."""
    error = f"{type(exc).__name__}: {exc}"[:500]
    if isinstance(exc, BudgetExceeded):  # trying again would cost as much again: give up at once
        log.error("job %s/%s went past its budget, given up: %s", job.queue, job.id, exc)
        give_up(catalog, job, str(exc))
        catalog.record_job_failure(replace(job, error=str(exc)), now_iso())
        catalog.finish_job(job)
        return Outcome(job, FAILED, seconds, str(exc))
    if job.attempts < MAX_ATTEMPTS:
        log.warning("job %s/%s failed (attempt %d), will retry: %s", job.queue, job.id, job.attempts, error)
        again = catalog.put_job(replace(job, lease_until=None, error=error,
                                        not_before=_later(retry_delay * 4 ** (job.attempts - 1))))
        return Outcome(again, "retry", seconds, error)
    log.error("job %s/%s failed for good after %d attempts: %s", job.queue, job.id, job.attempts, error)
    give_up(catalog, job, f"It could not be made after {job.attempts} attempts ({type(exc).__name__}).")
    catalog.record_job_failure(replace(job, error=error), now_iso())
    catalog.finish_job(job)
    return Outcome(job, FAILED, seconds, error)


class _LeaseKeeper:
    """Renews the claim while a long job runs (called with progress), and gives it back on shutdown."""

    def __init__(self, catalog, job: Job, lease: timedelta, stop: threading.Event):
        self.catalog, self.job, self.lease, self.stop = catalog, job, lease, stop
        self.renew_at = time.monotonic() + lease.total_seconds() / 2

    def __call__(self, _progress: Any = None) -> None:
        """Raise _Released when the worker stops or lost the job; renew the lease past its half-life."""
        if self.stop.is_set():
            self.release()
            raise _Released("the worker is stopping")
        if time.monotonic() < self.renew_at:
            return
        # claim_job counts an attempt; a renewal is the same attempt, so hand it one fewer.
        renewed = self.catalog.claim_job(replace(self.job, attempts=self.job.attempts - 1),
                                         lease_until=_later(self.lease))
        if renewed is None:
            raise _Released("another worker took the job over")
        self.job = renewed
        self.renew_at = time.monotonic() + self.lease.total_seconds() / 2

    def release(self) -> None:
        """Put the job back as due now, without counting this attempt."""
        try:
            self.catalog.put_job(replace(self.job, lease_until=None, attempts=self.job.attempts - 1))
        except Exception:  # noqa: BLE001 - the lease runs out by itself
            log.exception("could not give back job %s", self.job.id)
