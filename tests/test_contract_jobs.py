"""The durable job queue, the same on both backends: due times, leases, claims that race, finishing."""
from __future__ import annotations

from dataclasses import asdict

import pytest

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


# --- turns across users ----------------------------------------------------------------------------

NOW = "2026-11-22T01:00:00Z"


def take_all(catalog, queue: str = "rendition", now: str = NOW) -> list[str]:
    """Run the queue as a worker does: take the first due job, finish it, read the queue again."""
    taken = []
    while due := catalog.due_jobs(queue, now, limit=1):
        claimed = catalog.claim_job(due[0], lease_until="2026-11-22T01:10:00Z")
        taken.append(f"{claimed.user_id}:{claimed.upload_id}")
        catalog.finish_job(claimed)
    return taken


@backends
def test_a_backlog_does_not_hold_up_another_users_job(catalog):
    for i in range(1, 6):
        catalog.put_job(job(i, user_id="a"))
    catalog.put_job(job(6, user_id="b"))
    # Listed in turns: each user's oldest, then each user's second...
    assert [(j.user_id, j.upload_id) for j in catalog.due_jobs("rendition", NOW, limit=3)] == [
        ("a", "up1"), ("b", "up6"), ("a", "up2")]
    assert take_all(catalog) == ["a:up1", "b:up6", "a:up2", "a:up3", "a:up4", "a:up5"]


@backends
def test_the_user_served_least_recently_goes_first(catalog):
    for i in (1, 2, 3):
        catalog.put_job(job(i, user_id="a"))
    for i in (4, 5, 6):
        catalog.put_job(job(i, user_id="b"))
    first = catalog.due_jobs("rendition", NOW, limit=1)[0]
    catalog.finish_job(catalog.claim_job(first, lease_until="2026-11-22T01:10:00Z"))
    catalog.put_job(job(7, user_id="c"))  # arrives after a was served: c and b come before a's second job
    assert take_all(catalog) == ["b:up4", "c:up7", "a:up2", "b:up5", "a:up3", "b:up6"]
    # Everyone's jobs are done; a user who comes back is taken at once, and the old turns are forgotten.
    catalog.put_job(job(8, user_id="a"))
    assert take_all(catalog) == ["a:up8"]


@backends
def test_turns_skip_jobs_not_due_and_other_queues(catalog):
    catalog.put_job(job(1, user_id="a", not_before="2026-11-22T05:00:00Z"))  # a retry waiting its backoff
    catalog.put_job(job(2, user_id="b"))
    catalog.put_job(job(3, user_id="c", queue="purge"))
    leased = catalog.claim_job(catalog.put_job(job(4, user_id="d")), lease_until="2026-11-22T02:00:00Z")
    assert [j.upload_id for j in catalog.due_jobs("rendition", NOW)] == ["up2"]
    assert [j.upload_id for j in catalog.due_jobs("purge", NOW)] == ["up3"]
    assert take_all(catalog) == ["b:up2"]
    # a's retry and d's job whose worker died are due later, and still listed in turns
    assert [j.upload_id for j in catalog.due_jobs("rendition", "2026-11-22T06:00:00Z")] == ["up1", "up4"]
    assert leased.attempts == 1


@pytest.mark.aws
@pytest.mark.parametrize("backend_config", ["aws"], indirect=True)
def test_jobs_queued_by_the_older_layout_move_over(catalog):
    from momento.catalog.dynamo_items import s, to_item

    old = job(1, user_id="a")
    catalog._call("put_item", TableName=catalog.tables["index"],
                  Item={"pk": s("job#rendition"), "sk": s(old.id)} | to_item(asdict(old)))
    assert catalog.due_jobs("rendition", NOW) == []
    assert catalog.upgrade_job_queues(("rendition", "purge")) == 1
    assert catalog.upgrade_job_queues(("rendition", "purge")) == 0
    assert catalog.due_jobs("rendition", NOW) == [old]


@backends
def test_an_upload_and_its_job_are_written_together(backends_pair):
    from momento.errors import DuplicateUpload
    from momento.models import VIDEO, Upload

    _, catalog = backends_pair
    video = Upload(user_id="u1", id="01J00000000000000000000V01", filename="a.mov", kind=VIDEO, ext="mov",
                   mime="video/quicktime", size=10, sha256="ab" * 32, uploaded_at="2026-11-22T00:00:00Z",
                   rendition="pending")
    catalog.put_upload(video, job(1, upload_id=video.id))
    assert [j.upload_id for j in catalog.due_jobs("rendition", "2026-11-22T01:00:00Z")] == [video.id]
    again = Upload(**{**video.__dict__, "id": "01J00000000000000000000V02"})
    with pytest.raises(DuplicateUpload):  # the same bytes again: neither the record nor its job is written
        catalog.put_upload(again, job(2, upload_id=again.id))
    assert [j.upload_id for j in catalog.due_jobs("rendition", "2026-11-22T01:00:00Z")] == [video.id]
    assert catalog.get_upload("u1", again.id) is None
