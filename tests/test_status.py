"""`flask momento status` and the queue gauges: counts read by key, on both backends, with the exit status alarms use."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from momento.models import Job
from momento.uploads.tus_record import TusUpload
from tests.conftest import both_backends


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _status(runner, *args):
    result = runner.invoke(args=["momento", "status", "--json", *args])
    return result.exit_code, json.loads(result.output)


def _by_kind(report) -> dict:
    return {q["kind"]: q for q in report["queues"]}


@both_backends
def test_status_exits_1_on_a_backlog_and_0_without(app, runner, dynamo_ops):
    catalog = app.extensions["momento"].catalog
    ops = dynamo_ops(catalog) if app.config["BACKEND"] == "aws" else []
    code, report = _status(runner)
    assert code == 0 and report["ok"] and report["problems"] == []
    assert all(q["due"] == 0 and q["oldest_age_seconds"] == 0 for q in report["queues"])
    assert set(_by_kind(report)) == {"rendition", "purge", "tus_expiry"}

    now = datetime.now(timezone.utc)
    for n in range(5):  # five due renditions, the oldest due for two hours
        catalog.put_job(Job(queue="rendition", id=f"01JOB{n:021d}", user_id="u", upload_id=f"up{n}",
                            created_at=_iso(now), not_before=_iso(now - timedelta(hours=2 if n == 0 else 0))))
    catalog.put_job(Job(queue="rendition", id="01JOBLEASED", user_id="u", upload_id="x", created_at=_iso(now),
                        not_before=_iso(now), lease_until=_iso(now + timedelta(minutes=30)), attempts=1))
    catalog.put_job(Job(queue="rendition", id="01JOBLATER", user_id="u", upload_id="y", created_at=_iso(now),
                        not_before=_iso(now + timedelta(hours=1))))  # a retry not due yet: neither due nor running
    failed = Job(queue="purge", id="up.u", user_id="u", upload_id="up", created_at=_iso(now), not_before=_iso(now),
                 error="boom")
    catalog.record_job_failure(failed, _iso(now - timedelta(hours=1)))
    catalog.record_job_failure(failed, _iso(now - timedelta(hours=30)))  # older than a day: not counted

    code, report = _status(runner, "--max-backlog", "4")
    rendition, purge = _by_kind(report)["rendition"], _by_kind(report)["purge"]
    assert (rendition["due"], rendition["running"], rendition["failed_24h"]) == (5, 1, 0)
    assert 7190 <= rendition["oldest_age_seconds"] <= 7300
    assert (purge["due"], purge["running"], purge["failed_24h"]) == (0, 0, 1)
    assert code == 1 and not report["ok"] and len(report["problems"]) == 2  # the backlog and the age

    code, report = _status(runner, "--max-age", "10000")  # 5 due is under the default backlog of 100
    assert code == 0 and report["ok"]
    code, report = _status(runner)  # the default age limit is an hour
    assert code == 1 and report["problems"] == [report["problems"][0]] and "rendition" in report["problems"][0]

    text = runner.invoke(args=["momento", "status", "--max-age", "10000"])
    assert text.exit_code == 0 and "rendition" in text.output and "tus_expiry" in text.output
    assert "Scan" not in ops


@both_backends
def test_expired_tus_uploads_are_a_backlog(app, runner, dynamo_ops):
    catalog = app.extensions["momento"].catalog
    ops = dynamo_ops(catalog) if app.config["BACKEND"] == "aws" else []
    now = datetime.now(timezone.utc)
    for n, hours in enumerate((3, 1, -1)):  # two past their expiry, one not
        catalog.put_tus(TusUpload(id=f"tus{n}", user_id="u", length=10, part_size=8 << 20,
                                  upload_id=f"01UP{n:022d}", created_at=_iso(now - timedelta(days=1)),
                                  expires_at=_iso(now - timedelta(hours=hours))))
    code, report = _status(runner, "--max-backlog", "1")
    tus = _by_kind(report)["tus_expiry"]
    assert tus["due"] == 2 and tus["running"] is None and 3 * 3600 - 60 <= tus["oldest_age_seconds"] <= 3 * 3600 + 60
    assert code == 1
    scrape = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'momento_jobs{kind="tus_expiry",state="due"} 2.0' in scrape
    assert "Scan" not in ops


def test_a_job_that_fails_for_good_is_counted(app, runner, monkeypatch):
    from momento.jobs import queue
    from momento.jobs import runner as jobs

    catalog = app.extensions["momento"].catalog
    now = datetime.now(timezone.utc)
    job = Job(queue="rendition", id="01JOBFAIL", user_id="u", upload_id="x", created_at=_iso(now),
              not_before=_iso(now), attempts=jobs.MAX_ATTEMPTS - 1)
    catalog.put_job(job)

    def broken(backends, job, keeper, limits):
        raise RuntimeError("the transcoder crashed")

    monkeypatch.setitem(jobs.HANDLERS, queue.QUEUE, jobs.Handler(broken, lambda catalog, job, reason: None))
    summary = jobs.run_jobs(app.extensions["momento"], limit=1)
    assert summary["failed"] == 1
    code, report = _status(runner)
    assert _by_kind(report)["rendition"]["failed_24h"] == 1 and _by_kind(report)["rendition"]["due"] == 0
    assert code == 0  # a failure is reported, not an alarm of its own
    scrape = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'momento_jobs{kind="rendition",state="failed"} 1.0' in scrape
