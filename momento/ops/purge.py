"""Purging the trash for good, through the durable "purge" job queue: objects first, then the record.

A job per eligible upload is enqueued first, then the queue is worked off. Each job freezes its upload
(`begin_purge`: from then on it can neither be restored nor changed), deletes its objects, deletes the
record, and only then leaves the queue, so a purge that stops anywhere resumes on the next run and never
leaves a visible record without its objects. Failed attempts are retried with a doubling delay.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Callable, Optional

from ..accounts import audit
from ..errors import MomentoError
from ..formats import iso
from ..models import Job, Upload

log = logging.getLogger(__name__)

QUEUE = "purge"
MAX_ATTEMPTS = 5
RETRY_DELAY = 2.0  # seconds before the second attempt, doubled for each one after
LEASE = timedelta(minutes=10)
PARKED = timedelta(hours=1)  # a job that used up its attempts waits this long (or for the next run)
BATCH = 50
PAGE = 200


def retry_delay(attempts: int) -> timedelta:
    """How long a job waits after its attempts-th failure: RETRY_DELAY, then twice as long each time."""
    return timedelta(seconds=RETRY_DELAY * 2 ** (attempts - 1))


def utcnow() -> datetime:
    """Now, in UTC."""
    return datetime.now(timezone.utc)


@dataclass
class PurgeReport:
    """What a purge run did."""

    trashed_before: str
    queued: int = 0
    purged: int = 0
    bytes_freed: int = 0
    skipped: int = 0  # restored, trashed too recently, or gone already
    retries: int = 0
    failed: list[dict] = field(default_factory=list)  # jobs that used up their attempts in this run

    def as_dict(self) -> dict:
        """JSON-ready."""
        return {"trashed_before": self.trashed_before, "queued": self.queued, "purged": self.purged,
                "bytes_freed": self.bytes_freed, "skipped": self.skipped, "retries": self.retries,
                "failed": self.failed}


def enqueue(catalog, trashed_before: str, now: datetime) -> int:
    """A job for every upload trashed at or before trashed_before; a job enqueued again starts afresh."""
    count = 0
    for user in catalog.iter_users():
        cursor = None
        while True:
            page = catalog.list_uploads(user.id, trashed=True, limit=PAGE, cursor=cursor)
            for upload in page.items:
                if upload.purgeable(trashed_before):
                    catalog.put_job(Job(queue=QUEUE, id=f"{upload.id}.{user.id}", user_id=user.id,
                                        upload_id=upload.id, created_at=iso(now), not_before=iso(now)))
                    count += 1
            cursor = page.next_cursor
            if not cursor:
                break
    return count


def purge_upload(storage, catalog, user_id: str, upload_id: str, trashed_before: str,
                 started_at: str) -> Optional[Upload]:
    """Delete one upload for good: freeze it, delete its objects, then its record; None when not eligible."""
    upload = catalog.begin_purge(user_id, upload_id, trashed_before, started_at)
    if upload is None:
        return None
    for key in upload.object_keys:  # deleting a missing object is fine, so a resumed purge repeats this
        storage.delete(key)
    catalog.delete_upload(user_id, upload_id)
    return upload


def work_queue(storage, catalog, report: PurgeReport, *, clock: Callable[[], datetime] = utcnow,
               sleep: Callable[[float], None] = time.sleep,
               on_job: Optional[Callable[[Job, str], None]] = None) -> None:
    """Run due purge jobs until none is left, waiting out the retry delays of this run's failures."""
    waiting: dict[str, datetime] = {}  # job id -> when its retry is due
    while True:
        now = clock()
        waiting = {k: t for k, t in waiting.items() if t > now}
        due = catalog.due_jobs(QUEUE, iso(now), limit=BATCH)
        if not due:
            if not waiting:
                return
            sleep(max(0.0, (min(waiting.values()) - now).total_seconds()))
            continue
        for job in due:
            claimed = catalog.claim_job(job, iso(clock() + LEASE))
            if claimed is None:
                continue  # another purge took it
            outcome, retry_at = _run(storage, catalog, claimed, report, clock)
            if retry_at:
                waiting[claimed.id] = retry_at
            if on_job:
                on_job(claimed, outcome)


def _run(storage, catalog, job: Job, report: PurgeReport,
         clock: Callable[[], datetime]) -> tuple[str, Optional[datetime]]:
    """One attempt at one job: purged, skipped, retry (and when) or failed."""
    try:
        upload = purge_upload(storage, catalog, job.user_id, job.upload_id, report.trashed_before, iso(clock()))
    except MomentoError as exc:
        log.warning("purge of %s/%s failed (attempt %d): %s", job.user_id, job.upload_id, job.attempts, exc.message)
        if job.attempts < MAX_ATTEMPTS:
            report.retries += 1
            retry_at = clock() + retry_delay(job.attempts)
            catalog.put_job(replace(job, lease_until=None, error=exc.message, not_before=iso(retry_at)))
            return "retry", retry_at
        catalog.put_job(replace(job, lease_until=None, error=exc.message, not_before=iso(clock() + PARKED)))
        catalog.record_job_failure(replace(job, error=exc.message), iso(clock()))
        report.failed.append({"user_id": job.user_id, "upload_id": job.upload_id, "error": exc.message,
                              "attempts": job.attempts})
        return "failed", None
    catalog.finish_job(job)
    if upload is None:
        report.skipped += 1
        return "skipped", None
    report.purged += 1
    report.bytes_freed += upload.size
    audit.record(catalog, upload.user_id, "purge", actor="operator", filename=upload.filename)
    return "purged", None


def start(catalog, older_than_days: float, *, clock: Callable[[], datetime] = utcnow) -> PurgeReport:
    """Enqueue a job for every upload in the trash for at least older_than_days days."""
    now = clock()
    report = PurgeReport(trashed_before=iso(now - timedelta(days=older_than_days)))
    report.queued = enqueue(catalog, report.trashed_before, now)
    return report


def purge_trash(storage, catalog, older_than_days: float, *, clock: Callable[[], datetime] = utcnow,
                sleep: Callable[[float], None] = time.sleep,
                on_job: Optional[Callable[[Job, str], None]] = None) -> PurgeReport:
    """Delete for good every upload in the trash for at least older_than_days days."""
    report = start(catalog, older_than_days, clock=clock)
    work_queue(storage, catalog, report, clock=clock, sleep=sleep, on_job=on_job)
    return report
