"""The durable job queue, the same on both backends: due times, leases, claims that race, finishing."""
from __future__ import annotations

from momento.models import Job
from tests.backends import backends


def job(i: int, **kw) -> Job:
    values = dict(queue="rendition", id=f"01J{i:023d}", user_id="u1", upload_id=f"up{i}",
                  created_at="2026-11-22T00:00:00Z", not_before="2026-11-22T00:00:00Z")
    return Job(**values | kw)


@backends
def test_due_claim_finish(backends_pair):
    _, catalog = backends_pair
    catalog.put_job(job(1))
    catalog.put_job(job(2, not_before="2026-11-22T05:00:00Z"))
    catalog.put_job(job(3, queue="purge"))
    now = "2026-11-22T01:00:00Z"
    due = catalog.due_jobs("rendition", now)
    assert [j.id for j in due] == [job(1).id]
    claimed = catalog.claim_job(due[0], lease_until="2026-11-22T01:10:00Z")
    assert claimed.attempts == 1 and claimed.lease_until == "2026-11-22T01:10:00Z"
    # A second worker holding the stale copy loses the race.
    assert catalog.claim_job(due[0], lease_until="2026-11-22T01:11:00Z") is None
    assert catalog.due_jobs("rendition", now) == []
    # When the lease runs out (a worker died), the job is due again and can be re-claimed.
    later = "2026-11-22T01:20:00Z"
    again = catalog.due_jobs("rendition", later)
    assert [j.id for j in again] == [job(1).id]
    assert catalog.claim_job(again[0], lease_until="2026-11-22T01:30:00Z").attempts == 2
    catalog.finish_job(again[0])
    catalog.finish_job(again[0])
    assert catalog.due_jobs("rendition", "2026-11-23T00:00:00Z") == [job(2, not_before="2026-11-22T05:00:00Z")]
    assert [j.id for j in catalog.due_jobs("purge", now)] == [job(3).id]


@backends
def test_retry_with_error_and_later_time(backends_pair):
    _, catalog = backends_pair
    first = catalog.claim_job(catalog.put_job(job(5)), lease_until="2026-11-22T00:05:00Z")
    catalog.put_job(first.__class__(**{**first.__dict__, "lease_until": None, "error": "boom",
                                       "not_before": "2026-11-22T00:10:00Z"}))
    assert catalog.due_jobs("rendition", "2026-11-22T00:06:00Z") == []
    (retry,) = catalog.due_jobs("rendition", "2026-11-22T00:11:00Z")
    assert retry.error == "boom" and retry.attempts == 1
