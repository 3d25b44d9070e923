"""Jobs keyed by their due time: a poll reads only due jobs (both backends), and 0010 moves older jobs over."""
from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict
from types import SimpleNamespace

import pytest

from momento.migrate import discover
from tests.backends import backends
from tests.test_contract_jobs import NOW, job, take_all

TOMORROW = "2026-11-23T00:00:00Z"


def items_read(catalog) -> list[int]:
    """A list that fills with how many items each DynamoDB Query read (ScannedCount: before any filter)."""
    counts: list[int] = []

    def after_call(parsed, model, **kwargs) -> None:
        if model.name == "Query":
            counts.append(parsed.get("ScannedCount", 0))

    catalog.client.meta.events.register("after-call.dynamodb", after_call)
    return counts


@pytest.mark.aws
@pytest.mark.parametrize("backend_config", ["aws"], indirect=True)
def test_a_poll_reads_only_due_jobs_on_dynamodb(catalog):
    for i in range(1, 51):
        catalog.put_job(job(i, user_id="a", not_before=TOMORROW))
    catalog.put_job(job(51, user_id="a"))
    catalog.put_job(job(52, user_id="b", not_before=TOMORROW))
    counts = items_read(catalog)
    assert [j.upload_id for j in catalog.due_jobs("rendition", NOW, limit=5)] == ["up51"]
    # the user list (2), a's due job (1), and b's: nothing due, one item read to see the partition is not empty
    assert sum(counts) <= 4, counts
    assert take_all(catalog) == ["a:up51"]
    assert len(catalog.due_jobs("rendition", TOMORROW, limit=5)) == 5


@backends
def test_claims_and_retries_move_the_job_and_it_is_found_by_id(catalog):
    first = catalog.claim_job(catalog.put_job(job(1)), lease_until="2026-11-22T01:10:00Z")
    retry = catalog.put_job(job(1, attempts=1, error="boom", not_before="2026-11-22T02:00:00Z"))
    assert catalog.due_jobs("rendition", "2026-11-22T01:30:00Z") == []
    assert catalog.claim_job(first, lease_until="2026-11-22T01:40:00Z") is None  # moved since: the copy is stale
    assert catalog.due_jobs("rendition", "2026-11-22T02:00:00Z") == [retry]
    catalog.finish_job(first)  # a stale copy still finds the job by its id
    assert catalog.due_jobs("rendition", TOMORROW) == []


def test_the_sqlite_poll_reads_the_due_index(tmp_path):
    from momento.catalog.sqlite import SqliteCatalog
    from momento.catalog.sqlite_jobs import _DUE

    catalog = SqliteCatalog(str(tmp_path / "m.sqlite3"))
    catalog.create_schema()
    plan = " | ".join(r[3] for r in catalog.db.execute(
        "EXPLAIN QUERY PLAN " + _DUE, {"queue": "rendition", "now": NOW, "limit": 5}))
    assert "jobs USING INDEX jobs_due (queue=? AND due<?)" in plan, plan
    assert "SCAN jobs" not in plan, plan


def upgrade(catalog) -> None:
    """Run migration 0010 on a catalog."""
    (step,) = [m for m in discover() if m.id == "0010_due_job_keys"]
    step.upgrade(SimpleNamespace(catalog=catalog))


@pytest.mark.aws
@pytest.mark.parametrize("backend_config", ["aws"], indirect=True)
def test_0010_moves_dynamodb_jobs_to_due_keys(catalog):
    from momento.catalog.dynamo_items import s, to_item

    older = [job(1, user_id="a"), job(2, user_id="a", not_before=TOMORROW),
             job(3, user_id="b", lease_until="2026-11-22T00:30:00Z", attempts=1)]
    for old in older:  # as the previous version kept them: under the job id, the user on the list
        catalog._call("put_item", TableName=catalog.tables["index"],
                      Item={"pk": s(f"job#rendition#{old.user_id}"), "sk": s(old.id)} | to_item(asdict(old)))
        catalog._call("put_item", TableName=catalog.tables["index"],
                      Item={"pk": s("jobusers#rendition"), "sk": s(old.user_id), "since": s(old.id),
                            "rev": {"N": "1"}})
    assert catalog.due_jobs("rendition", NOW) == []  # not read as due until moved
    assert catalog.upgrade_job_queues(("rendition",)) == 3
    upgrade(catalog)  # again: nothing left to move
    assert catalog.upgrade_job_queues(("rendition",)) == 0
    assert catalog.due_jobs("rendition", NOW) == [older[0], older[2]]
    assert take_all(catalog) == ["a:up1", "b:up3"]
    assert catalog.due_jobs("rendition", TOMORROW) == [older[1]]


def test_0010_adds_the_due_column_to_an_older_sqlite_table(tmp_path):
    from momento.catalog.sqlite import SqliteCatalog

    path = tmp_path / "m.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE jobs (queue TEXT NOT NULL, id TEXT NOT NULL, not_before TEXT NOT NULL, "
               "lease_until TEXT, doc TEXT NOT NULL, PRIMARY KEY (queue, id)) WITHOUT ROWID")
    older = [job(1, user_id="a", lease_until="2026-11-22T02:00:00Z", attempts=1), job(2, user_id="b")]
    for old in older:
        db.execute("INSERT INTO jobs VALUES (?, ?, ?, ?, ?)",
                   (old.queue, old.id, old.not_before, old.lease_until, json.dumps(asdict(old))))
    db.commit()
    db.close()
    catalog = SqliteCatalog(str(path))
    upgrade(catalog)
    upgrade(catalog)
    assert catalog.due_jobs("rendition", NOW) == [older[1]]
    assert catalog.due_jobs("rendition", "2026-11-22T03:00:00Z") == older
