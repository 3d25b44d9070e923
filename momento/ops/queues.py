"""How the background work stands: each queue's backlog, its running and failed jobs, and how long its oldest
due job has waited; read by key, for `flask momento status` and the metrics."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Optional

from .purge import QUEUE as PURGE
from ..jobs.queue import QUEUE as RENDITION
from ..formats import iso, parse_iso

TUS_EXPIRY = "tus_expiry"
QUEUES = (RENDITION, PURGE, TUS_EXPIRY)
FAILED_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class QueueReport:
    """One queue: due, running, failed in the last 24 hours (None where nothing runs or fails on its own, as for
    expired tus uploads, which `tus-cleanup` removes), and the age in seconds of the oldest due job."""

    kind: str
    due: int
    running: Optional[int]
    failed_24h: Optional[int]
    oldest_age_seconds: float

    def as_dict(self) -> dict:
        """JSON-ready."""
        return asdict(self)


def _age(now: datetime, stamp: Optional[str]) -> float:
    """Seconds from a catalog time to now (0 for none)."""
    if not stamp:
        return 0.0
    then = parse_iso(stamp)
    return max(0.0, (now - then).total_seconds())


def queue_reports(catalog, now: Optional[datetime] = None) -> list[QueueReport]:
    """Every queue's report at `now`: a few Queries on the catalog, none of them a Scan."""
    now = now or datetime.now(timezone.utc)
    reports = []
    for queue in (RENDITION, PURGE):
        status = catalog.queue_status(queue, iso(now), iso(now - FAILED_WINDOW))
        reports.append(QueueReport(queue, status.due, status.running, status.failed, _age(now, status.oldest_due)))
    expired, oldest = catalog.tus_backlog(iso(now))
    reports.append(QueueReport(TUS_EXPIRY, expired, None, None, _age(now, oldest)))
    return reports


def problems(reports: list[QueueReport], *, max_backlog: int, max_age: float) -> list[str]:
    """Sentences for each queue whose backlog passes max_backlog or whose oldest due job is older than max_age."""
    found = []
    for r in reports:
        if r.due > max_backlog:
            found.append(f"{r.kind}: {r.due} due jobs, more than {max_backlog}")
        if r.oldest_age_seconds > max_age:
            found.append(f"{r.kind}: the oldest due job has waited {r.oldest_age_seconds:.0f} s, "
                         f"more than {max_age:.0f} s")
    return found
