"""Durable job queues in the DynamoDB catalog, taken in turns across users, read by key only.

In the `index` table a queue is:
- one partition per user with jobs, `job#<queue>#<user id>`, holding each of that user's jobs twice:
  the job itself at `<due>#<job id>`, where due is when it can be taken (its not_before, or the end of its lease
  when that is later), and a locator at `id#<job id>` holding `due` (so a job is found by id: put and finish);
- the queue's user list, `jobusers#<queue>` / `<user id>`: `since` (the job that put the user on the list),
  `served` (when a job of the user was last claimed, to the microsecond) and `rev` (bumped by every put).
due_jobs reads the user list (one Query), orders it by `served` (never served first) and queries the users'
partitions in that order until it has enough, each with `sk <= <now>#~`: only due jobs are read, the one due
longest first (a due time starts with a digit, so the `id#` locators sort after every job). A user whose
partition is empty leaves the list, unless a job was put meanwhile (the delete is conditional on `rev`, which
put_job bumps in the same transaction as the job). A change of the due time (a claim, a retry) moves the job to
its new key in one transaction, conditional on the lease (claims) or on the locator's due (puts).
"""
from __future__ import annotations

from dataclasses import asdict, replace
from datetime import datetime, timezone
from itertools import chain, zip_longest
from typing import Iterable, Optional

from botocore.exceptions import ClientError

from ..errors import BackendError
from ..models import Job
from .dynamo_items import s, to_doc, to_item

FAILED = "ConditionalCheckFailedException"
TRIES = 5  # a put or finish that raced a claim reads the locator again, this many times at most


def due_at(job: Job) -> str:
    """When a job can be taken: its not_before, or the end of its lease when that is later."""
    return max(job.not_before, job.lease_until or "")


def _served_mark() -> str:
    """Now, to the microsecond: the order in which users were served."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _to_job(item: dict) -> Job:
    """The job an item holds."""
    return Job(**{k: v for k, v in to_doc(item).items() if k not in ("pk", "sk")})


class DynamoJobs:
    """Jobs keyed by due time in per-user partitions and a per-queue list of users; a claim moves the job."""

    @staticmethod
    def _partition(queue: str, user_id: str) -> dict:
        """A user's partition of a queue."""
        return s(f"job#{queue}#{user_id}")

    def _job_key(self, job: Job, due: Optional[str] = None) -> dict:
        """Where a job is: in its user's partition of its queue, under its due time (or the one given)."""
        return {"pk": self._partition(job.queue, job.user_id), "sk": s(f"{due or due_at(job)}#{job.id}")}

    def _locator_key(self, job: Job) -> dict:
        """Where a job's current due time is kept, found by the job's id."""
        return {"pk": self._partition(job.queue, job.user_id), "sk": s(f"id#{job.id}")}

    @staticmethod
    def _users_key(queue: str, user_id: str) -> dict:
        """A user's entry in the queue's list of users with jobs."""
        return {"pk": s(f"jobusers#{queue}"), "sk": s(user_id)}

    def _put_item(self, job: Job) -> dict:
        """The transaction item that writes a job under its due time."""
        return {"Put": {"TableName": self.tables["index"], "Item": self._job_key(job) | to_item(asdict(job))}}

    def _locator_put(self, job: Job, **condition) -> dict:
        """The transaction item that records a job's due time under its id."""
        return {"Put": {"TableName": self.tables["index"], "Item": self._locator_key(job) | {"due": s(due_at(job))},
                        **condition}}

    def _user_listed(self, job: Job) -> dict:
        """The transaction item that puts the job's user on the queue's list (and bumps its rev)."""
        return {"Update": {"TableName": self.tables["index"], "Key": self._users_key(job.queue, job.user_id),
                           "UpdateExpression": "SET since = if_not_exists(since, :id) ADD rev :one",
                           "ExpressionAttributeValues": {":id": s(job.id), ":one": {"N": "1"}}}}

    def put_job(self, job: Job) -> Job:
        """Add or replace a job (moved to its new due time), and put its user on the queue's list (all or none)."""
        for _ in range(TRIES):
            found = self._get("index", self._locator_key(job))
            if found is None:
                codes = self._transact(self._job_writes(job))
            else:
                old = found["due"]["S"]
                moves = [] if old == due_at(job) else [
                    {"Delete": {"TableName": self.tables["index"], "Key": self._job_key(job, old)}}]
                codes = self._transact([*moves, self._put_item(job), self._locator_put(
                    job, ConditionExpression="due = :old", ExpressionAttributeValues={":old": s(old)}),
                    self._user_listed(job)])
            if codes is None:
                return job
        raise BackendError("The job queue kept changing while a job was written; try again.",
                           backend="dynamodb", operation="put_job")

    def _job_writes(self, job: Job) -> list[dict]:
        """The transaction items that queue a new job: the job, its locator, and its user on the queue's list
        (put_upload adds them to the upload's own transaction)."""
        return [self._put_item(job), self._locator_put(job, ConditionExpression="attribute_not_exists(pk)"),
                self._user_listed(job)]

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
        """A user's due jobs, due longest first (read by key: nothing that is not due); an empty partition takes
        the user off the list."""
        partition = self._partition(queue, user["sk"]["S"])
        items = self._call("query", TableName=self.tables["index"], KeyConditionExpression="pk = :p AND sk <= :due",
                           ExpressionAttributeValues={":p": partition, ":due": s(f"{now}#~")}, ConsistentRead=True,
                           Limit=limit).get("Items", [])
        if not items and not self._call("query", TableName=self.tables["index"], KeyConditionExpression="pk = :p",
                                        ExpressionAttributeValues={":p": partition}, ConsistentRead=True,
                                        Limit=1, Select="COUNT")["Count"]:
            try:
                self._call("delete_item", expect=(FAILED,), TableName=self.tables["index"], Key={"pk": user["pk"], "sk": user["sk"]}, ConditionExpression="rev = :rev",
                    ExpressionAttributeValues={":rev": user.get("rev", {"N": "0"})})
            except ClientError:
                pass  # a job was put meanwhile: the user stays
        jobs = [_to_job(item) for item in items]
        # an item still under its job id alone (queued before due keys) waits for upgrade_job_queues
        return [job for job, item in zip(jobs, items) if item["sk"]["S"] == f"{due_at(job)}#{job.id}"]

    def claim_job(self, job: Job, lease_until: str) -> Optional[Job]:
        """Take the job unless its lease changed since it was read; its user goes to the back of the line."""
        claimed = replace(job, lease_until=lease_until, attempts=job.attempts + 1)
        condition = "attribute_exists(pk) AND " + (
            "lease_until = :old" if job.lease_until else "attribute_not_exists(lease_until)")
        values = {":old": s(job.lease_until)} if job.lease_until else {}
        if due_at(claimed) == due_at(job):  # a lease ending before not_before: the key stays
            items = [{"Update": {"TableName": self.tables["index"], "Key": self._job_key(job),
                                 "ConditionExpression": condition,
                                 "UpdateExpression": "SET lease_until = :lease, attempts = :attempts",
                                 "ExpressionAttributeValues": values | {
                                     ":lease": s(lease_until), ":attempts": {"N": str(claimed.attempts)}}}}]
        else:  # the job moves to the end of its lease: Delete (if still as read) and Put, with its locator
            delete = {"TableName": self.tables["index"], "Key": self._job_key(job), "ConditionExpression": condition}
            items = [{"Delete": delete | ({"ExpressionAttributeValues": values} if values else {})},
                     self._put_item(claimed), self._locator_put(claimed)]
        if self._transact(items) is not None:
            return None
        try:  # the turn is a hint for fairness: never resurrect a user that left the list
            self._call("update_item", expect=(FAILED,), TableName=self.tables["index"],
                       Key=self._users_key(job.queue, job.user_id), ConditionExpression="attribute_exists(pk)",
                       UpdateExpression="SET served = :at", ExpressionAttributeValues={":at": s(_served_mark())})
        except ClientError:
            pass
        return claimed

    def finish_job(self, job: Job) -> None:
        """Remove the job wherever it is now (its user leaves the list on the next due_jobs that finds the
        partition empty)."""
        for _ in range(TRIES):
            found = self._get("index", self._locator_key(job))
            if found is None:
                return
            due = found["due"]["S"]
            if self._transact([
                    {"Delete": {"TableName": self.tables["index"], "Key": self._job_key(job, due)}},
                    {"Delete": {"TableName": self.tables["index"], "Key": self._locator_key(job),
                                "ConditionExpression": "due = :due", "ExpressionAttributeValues": {":due": s(due)}}},
            ]) is None:
                return
        raise BackendError("The job queue kept changing while a job was finished; try again.",
                           backend="dynamodb", operation="finish_job")

    def upgrade_job_queues(self, queues: Iterable[str]) -> int:
        """Move jobs an older version queued into this layout: from one partition per queue (`job#<queue>`),
        and from `<job id>` keys to `<due>#<job id>` with a locator; read by key, idempotent."""
        moved = 0
        for queue in queues:
            for item in list(self._query("index", KeyConditionExpression="pk = :p", ConsistentRead=True,
                                         ExpressionAttributeValues={":p": s(f"job#{queue}")})):
                self.put_job(_to_job(item))
                self._call("delete_item", TableName=self.tables["index"], Key={"pk": item["pk"], "sk": item["sk"]})
                moved += 1
            for user in list(self._query("index", KeyConditionExpression="pk = :p", ConsistentRead=True,
                                         ExpressionAttributeValues={":p": s(f"jobusers#{queue}")})):
                moved += self._rekey_user(queue, user["sk"]["S"])
        return moved

    def _rekey_user(self, queue: str, user_id: str) -> int:
        """Move a user's jobs still keyed by job id alone to their due keys; how many moved."""
        moved = 0
        for item in list(self._query("index", KeyConditionExpression="pk = :p", ConsistentRead=True,
                                     ExpressionAttributeValues={":p": self._partition(queue, user_id)})):
            if item["sk"]["S"].startswith("id#"):
                continue
            job = _to_job(item)
            if item["sk"]["S"] == self._job_key(job)["sk"]["S"]:
                continue  # already moved
            codes = self._transact([
                {"Delete": {"TableName": self.tables["index"], "Key": {"pk": item["pk"], "sk": item["sk"]},
                            "ConditionExpression": "attribute_exists(pk)"}},
                self._put_item(job), self._locator_put(job)])
            moved += codes is None
        return moved
