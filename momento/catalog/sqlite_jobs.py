"""Durable job queues in the embedded catalog."""
from __future__ import annotations

import json
from dataclasses import asdict, replace
from typing import Optional

from ..models import Job

JOBS_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    queue TEXT NOT NULL,
    id TEXT NOT NULL,
    not_before TEXT NOT NULL,
    lease_until TEXT,
    doc TEXT NOT NULL,
    PRIMARY KEY (queue, id)
) WITHOUT ROWID;
"""


class SqliteJobs:
    """put/due/claim/finish on one table; a claim is a compare-and-set on the lease."""

    def put_job(self, job: Job) -> Job:
        """Add or replace a job."""
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO jobs (queue, id, not_before, lease_until, doc) VALUES (?, ?, ?, ?, ?)",
                       (job.queue, job.id, job.not_before, job.lease_until, json.dumps(asdict(job))))
        return job

    def due_jobs(self, queue: str, now: str, limit: int = 50) -> list[Job]:
        """Jobs ready to run, oldest first."""
        rows = self._read("SELECT doc FROM jobs WHERE queue = ? AND not_before <= ? AND "
                          "(lease_until IS NULL OR lease_until <= ?) ORDER BY id LIMIT ?", (queue, now, now, limit))
        return [Job(**json.loads(r["doc"])) for r in rows]

    def claim_job(self, job: Job, lease_until: str) -> Optional[Job]:
        """Take the job unless its lease changed since it was read."""
        claimed = replace(job, lease_until=lease_until, attempts=job.attempts + 1)
        with self._tx() as db:
            cur = db.execute(
                "UPDATE jobs SET lease_until = ?, doc = ? WHERE queue = ? AND id = ? AND lease_until IS ?",
                (lease_until, json.dumps(asdict(claimed)), job.queue, job.id, job.lease_until))
        return claimed if cur.rowcount == 1 else None

    def finish_job(self, job: Job) -> None:
        """Remove the job."""
        with self._tx() as db:
            db.execute("DELETE FROM jobs WHERE queue = ? AND id = ?", (job.queue, job.id))
