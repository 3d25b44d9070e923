"""Durable job queues in the embedded catalog, taken in turn across users."""
from __future__ import annotations

import json
from dataclasses import asdict, replace
from typing import Optional

from ..models import Job


def due_at(job: Job) -> str:
    """When a job can be taken: its not_before, or the end of its lease when that is later."""
    return max(job.not_before, job.lease_until or "")

JOBS_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    queue TEXT NOT NULL,
    id TEXT NOT NULL,
    not_before TEXT NOT NULL,
    lease_until TEXT,
    due TEXT,
    doc TEXT NOT NULL,
    PRIMARY KEY (queue, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS job_turns (
    queue TEXT NOT NULL,
    user_id TEXT NOT NULL,
    served INTEGER NOT NULL,
    PRIMARY KEY (queue, user_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS jobs_due ON jobs (queue, due);
"""

# Due jobs in turns: every user's oldest due job first (the user served longest ago, or never, leading),
# then every user's second, and so on. `served` counts up per queue, so there are no ties between users.
# `due` is when a job can be taken (not_before, or the end of its lease when later): a range of jobs_due.
_DUE = """
WITH due AS (
    SELECT doc, id, due, json_extract(doc, '$.user_id') AS user_id FROM jobs
    WHERE queue = :queue AND due <= :now
), ranked AS (
    SELECT doc, id, due, user_id,
           ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY due, id) AS turn,
           MIN(id) OVER (PARTITION BY user_id) AS first_id
    FROM due
)
SELECT ranked.doc FROM ranked
LEFT JOIN job_turns t ON t.queue = :queue AND t.user_id = ranked.user_id
ORDER BY ranked.turn, COALESCE(t.served, 0), ranked.first_id, ranked.due, ranked.id
LIMIT :limit
"""


class SqliteJobs:
    """put/due/claim/finish on one table, and each user's last turn in another; a claim is a compare-and-set."""

    def put_job(self, job: Job) -> Job:
        """Add or replace a job."""
        with self._tx() as db:
            self._insert_job(db, job)
        return job

    @staticmethod
    def _insert_job(db, job: Job) -> None:
        """Write a job inside an open transaction (put_upload queues one with the upload's record)."""
        db.execute("INSERT OR REPLACE INTO jobs (queue, id, not_before, lease_until, due, doc) VALUES (?, ?, ?, ?, ?, ?)",
                   (job.queue, job.id, job.not_before, job.lease_until, due_at(job), json.dumps(asdict(job))))

    def _add_job_due(self) -> None:
        """Give a jobs table of an older version its `due` column, filled in (before JOBS_SCHEMA indexes it)."""
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(jobs)")}
        if columns and "due" not in columns:
            with self._tx() as db:
                db.execute("ALTER TABLE jobs ADD COLUMN due TEXT")
                db.execute("UPDATE jobs SET due = MAX(not_before, COALESCE(lease_until, ''))")

    def due_jobs(self, queue: str, now: str, limit: int = 50) -> list[Job]:
        """Jobs ready to run, taken in turns across users: the user served least recently first."""
        rows = self._read(_DUE, {"queue": queue, "now": now, "limit": limit})
        return [Job(**json.loads(r["doc"])) for r in rows]

    def claim_job(self, job: Job, lease_until: str) -> Optional[Job]:
        """Take the job unless its lease changed since it was read; its user goes to the back of the line."""
        claimed = replace(job, lease_until=lease_until, attempts=job.attempts + 1)
        with self._tx() as db:
            cur = db.execute(
                "UPDATE jobs SET lease_until = ?, due = ?, doc = ? WHERE queue = ? AND id = ? AND lease_until IS ?",
                (lease_until, due_at(claimed), json.dumps(asdict(claimed)), job.queue, job.id, job.lease_until))
            if cur.rowcount != 1:
                return None
            db.execute("INSERT OR REPLACE INTO job_turns (queue, user_id, served) VALUES "
                       "(?, ?, (SELECT COALESCE(MAX(served), 0) + 1 FROM job_turns WHERE queue = ?))",
                       (job.queue, job.user_id, job.queue))
        return claimed

    def finish_job(self, job: Job) -> None:
        """Remove the job (and its user's turn once the user has no job left in the queue)."""
        with self._tx() as db:
            db.execute("DELETE FROM jobs WHERE queue = ? AND id = ?", (job.queue, job.id))
            db.execute("DELETE FROM job_turns WHERE queue = ? AND user_id = ? AND NOT EXISTS (SELECT 1 FROM jobs "
                       "WHERE queue = ? AND json_extract(doc, '$.user_id') = ?)",
                       (job.queue, job.user_id, job.queue, job.user_id))

    def upgrade_job_queues(self, queues) -> int:
        """Nothing moves here: jobs keep their table, and create_schema adds the users' turns."""
        self.create_schema()
        return 0
