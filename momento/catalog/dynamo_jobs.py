"""Durable job queues in the DynamoDB catalog, taken in turns across users, read by key only.

In the `index` table a queue is:
- one partition per user with jobs, `job#<queue>#<user id>` / `<job id>`, holding that user's jobs;
- the queue's user list, `jobusers#<queue>` / `<user id>`: `since` (the job that put the user on the list),
  `served` (when a job of the user was last claimed, to the microsecond) and `rev` (bumped by every put).
due_jobs reads the user list (one Query), orders it by `served` (never served first) and queries the users'
partitions in that order until it has enough; a user whose partition is empty leaves the list, unless a job was
put meanwhile (the delete is conditional on `rev`, which put_job bumps in the same transaction as the job).
"""
from __future__ import annotations

from dataclasses import asdict, replace
from datetime import datetime, timezone
from itertools import chain, zip_longest
from typing import Iterable, Optional

from botocore.exceptions import ClientError

from ..models import Job
from .dynamo_items import s, to_doc, to_item

FAILED = "ConditionalCheckFailedException"
_DUE = "not_before <= :now AND (attribute_not_exists(lease_until) OR lease_until <= :now)"


def _served_mark() -> str:
    """Now, to the microsecond: the order in which users were served."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class DynamoJobs:
    """Jobs in per-user partitions and a per-queue list of users; a claim is a conditional update of the lease."""

    @staticmethod
    def _job_key(job: Job) -> dict:
        """Where a job is: in its user's partition of its queue."""
        return {"pk": s(f"job#{job.queue}#{job.user_id}"), "sk": s(job.id)}

    @staticmethod
    def _users_key(queue: str, user_id: str) -> dict:
        """A user's entry in the queue's list of users with jobs."""
        return {"pk": s(f"jobusers#{queue}"), "sk": s(user_id)}

    def put_job(self, job: Job) -> Job:
        """Add or replace a job, and put its user on the queue's list (both or neither)."""
        self._call("transact_write_items", TransactItems=self._job_writes(job))
        return job

    def _job_writes(self, job: Job) -> list[dict]:
        """The transaction items that queue a job: the job, and its user on the queue's list (put_upload adds
        them to the upload's own transaction)."""
        return [
            {"Put": {"TableName": self.tables["index"], "Item": self._job_key(job) | to_item(asdict(job))}},
            {"Update": {"TableName": self.tables["index"], "Key": self._users_key(job.queue, job.user_id),
                        "UpdateExpression": "SET since = if_not_exists(since, :id) ADD rev :one",
                        "ExpressionAttributeValues": {":id": s(job.id), ":one": {"N": "1"}}}},
        ]

    def due_jobs(self, queue: str, now: str, limit: int = 50) -> list[Job]:
        """Jobs ready to run, taken in turns across users: the user served least recently first."""
        users = sorted(self._query("index", KeyConditionExpression="pk = :p", ConsistentRead=True,
                                   ExpressionAttributeValues={":p": s(f"jobusers#{queue}")}),
                       key=lambda u: (u.get("served", {}).get("S", ""), u.get("since", {}).get("S", ""),
                                      u["sk"]["S"]))
        lines: list[list[Job]] = []
        for user in users:
            if len(lines) >= limit:
                break  # each of these users has a turn before anyone's second job
            jobs = self._due_of_user(queue, user, now, limit)
            if jobs:
                lines.append(jobs)
        turns: Iterable[Optional[Job]] = chain.from_iterable(zip_longest(*lines))
        return [job for job in turns if job is not None][:limit]

    def _due_of_user(self, queue: str, user: dict, now: str, limit: int) -> list[Job]:
        """A user's due jobs, oldest first; an empty partition takes the user off the list."""
        partition = s(f"job#{queue}#{user['sk']['S']}")
        items, _ = self._query_page(limit, TableName=self.tables["index"], KeyConditionExpression="pk = :p",
                                    FilterExpression=_DUE, ConsistentRead=True,
                                    ExpressionAttributeValues={":p": partition, ":now": s(now)})
        if not items and not self._call("query", TableName=self.tables["index"], KeyConditionExpression="pk = :p",
                                        ExpressionAttributeValues={":p": partition}, ConsistentRead=True,
                                        Limit=1, Select="COUNT")["Count"]:
            try:
                self._call("delete_item", expect=(FAILED,), TableName=self.tables["index"], Key={"pk": user["pk"], "sk": user["sk"]}, ConditionExpression="rev = :rev",
                    ExpressionAttributeValues={":rev": user.get("rev", {"N": "0"})})
            except ClientError:
                pass  # a job was put meanwhile: the user stays
        return [Job(**{k: v for k, v in to_doc(item).items() if k not in ("pk", "sk")}) for item in items]

    def claim_job(self, job: Job, lease_until: str) -> Optional[Job]:
        """Take the job unless its lease changed since it was read; its user goes to the back of the line."""
        claimed = replace(job, lease_until=lease_until, attempts=job.attempts + 1)
        condition = "attribute_exists(pk) AND " + (
            "lease_until = :old" if job.lease_until else "attribute_not_exists(lease_until)")
        values = {":lease": s(lease_until), ":attempts": {"N": str(claimed.attempts)}}
        if job.lease_until:
            values[":old"] = s(job.lease_until)
        try:
            self._call("update_item", expect=(FAILED,), TableName=self.tables["index"],
                       Key=self._job_key(job), ConditionExpression=condition,
                       UpdateExpression="SET lease_until = :lease, attempts = :attempts",
                       ExpressionAttributeValues=values)
        except ClientError:
            return None
        try:  # the turn is a hint for fairness: never resurrect a user that left the list
            self._call("update_item", expect=(FAILED,), TableName=self.tables["index"],
                       Key=self._users_key(job.queue, job.user_id), ConditionExpression="attribute_exists(pk)",
                       UpdateExpression="SET served = :at", ExpressionAttributeValues={":at": s(_served_mark())})
        except ClientError:
            pass
        return claimed

    def finish_job(self, job: Job) -> None:
        """Remove the job (its user leaves the list on the next due_jobs that finds the partition empty)."""
        self._call("delete_item", TableName=self.tables["index"], Key=self._job_key(job))

    def upgrade_job_queues(self, queues: Iterable[str]) -> int:
        """Move jobs an older version queued in one partition per queue (`job#<queue>`) into this layout."""
        moved = 0
        for queue in queues:
            for item in list(self._query("index", KeyConditionExpression="pk = :p", ConsistentRead=True,
                                         ExpressionAttributeValues={":p": s(f"job#{queue}")})):
                job = Job(**{k: v for k, v in to_doc(item).items() if k not in ("pk", "sk")})
                self.put_job(job)
                self._call("delete_item", TableName=self.tables["index"], Key={"pk": item["pk"], "sk": item["sk"]})
                moved += 1
        return moved
