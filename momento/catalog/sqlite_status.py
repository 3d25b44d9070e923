"""How the embedded catalog's job queues stand, and the record of jobs that failed for good (for monitoring)."""
from __future__ import annotations

from ..models import Job, QueueStatus

FAILURES_SCHEMA = """
CREATE TABLE IF NOT EXISTS job_failures (
    queue TEXT NOT NULL,
    at TEXT NOT NULL,
    id TEXT NOT NULL,
    error TEXT,
    PRIMARY KEY (queue, at, id)
) WITHOUT ROWID;
"""

KEEP_FAILURES = "-7 days"  # older failures are dropped as new ones are recorded


class SqliteQueueStatus:
    """Counts by queue, read from the jobs table and the failures table."""

    def queue_status(self, queue: str, now: str, failed_since: str) -> QueueStatus:
        """Due and running jobs of a queue now, the oldest due one, and the failures since failed_since."""
        (row,) = self._read(
            "SELECT SUM(CASE WHEN not_before <= :now AND (lease_until IS NULL OR lease_until <= :now) THEN 1 ELSE 0 END)"
            " AS due, SUM(CASE WHEN lease_until > :now THEN 1 ELSE 0 END) AS running,"
            " MIN(CASE WHEN not_before <= :now AND (lease_until IS NULL OR lease_until <= :now) THEN not_before END)"
            " AS oldest FROM jobs WHERE queue = :queue", {"queue": queue, "now": now})
        (failed,) = self._read("SELECT COUNT(*) AS n FROM job_failures WHERE queue = ? AND at >= ?",
                               (queue, failed_since))
        return QueueStatus(queue, due=row["due"] or 0, running=row["running"] or 0, failed=failed["n"],
                           oldest_due=row["oldest"])

    def record_job_failure(self, job: Job, at: str) -> None:
        """Remember that a job failed for good at `at` (kept a week)."""
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO job_failures (queue, at, id, error) VALUES (?, ?, ?, ?)",
                       (job.queue, at, job.id, job.error))
            db.execute("DELETE FROM job_failures WHERE queue = ? AND at < strftime('%Y-%m-%dT%H:%M:%SZ', ?, ?)",
                       (job.queue, at, KEEP_FAILURES))

    def tus_backlog(self, now: str) -> tuple[int, str | None]:
        """How many resumable uploads are past their expiry and not yet cleaned up, and the oldest expiry."""
        (row,) = self._read("SELECT COUNT(*) AS n, MIN(expires_at) AS oldest FROM tus_uploads WHERE expires_at <= ?",
                            (now,))
        return row["n"], row["oldest"]
