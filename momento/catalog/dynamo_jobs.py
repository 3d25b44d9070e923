"""Durable job queues in the DynamoDB catalog: one partition per queue in the `index` table."""
from __future__ import annotations

from dataclasses import asdict, replace
from typing import Optional

from botocore.exceptions import ClientError

from ..models import Job
from .dynamo_items import s, to_doc, to_item

FAILED = "ConditionalCheckFailedException"


class DynamoJobs:
    """Items `job#<queue>` / `<job id>`; a claim is a conditional update of the lease."""

    @staticmethod
    def _job_key(queue: str, job_id: str) -> dict:
        return {"pk": s(f"job#{queue}"), "sk": s(job_id)}

    def put_job(self, job: Job) -> Job:
        """Add or replace a job."""
        self._call("put_item", TableName=self.tables["index"], Item=self._job_key(job.queue, job.id) | to_item(asdict(job)))
        return job

    def due_jobs(self, queue: str, now: str, limit: int = 50) -> list[Job]:
        """Jobs ready to run, oldest first (a Query on the queue's partition)."""
        items = self._query("index", KeyConditionExpression="pk = :p", ConsistentRead=True,
                            FilterExpression="not_before <= :now AND (attribute_not_exists(lease_until) OR "
                                             "lease_until <= :now)",
                            ExpressionAttributeValues={":p": s(f"job#{queue}"), ":now": s(now)})
        jobs = []
        for item in items:
            doc = {k: v for k, v in to_doc(item).items() if k not in ("pk", "sk")}
            jobs.append(Job(**doc))
            if len(jobs) >= limit:
                break
        return jobs

    def claim_job(self, job: Job, lease_until: str) -> Optional[Job]:
        """Take the job unless its lease changed since it was read."""
        claimed = replace(job, lease_until=lease_until, attempts=job.attempts + 1)
        condition = "attribute_exists(pk) AND " + (
            "lease_until = :old" if job.lease_until else "attribute_not_exists(lease_until)")
        values = {":lease": s(lease_until), ":attempts": {"N": str(claimed.attempts)}}
        if job.lease_until:
            values[":old"] = s(job.lease_until)
        try:
            self._call("update_item", expect=(FAILED,), TableName=self.tables["index"],
                       Key=self._job_key(job.queue, job.id), ConditionExpression=condition,
                       UpdateExpression="SET lease_until = :lease, attempts = :attempts",
                       ExpressionAttributeValues=values)
        except ClientError:
            return None
        return claimed

    def finish_job(self, job: Job) -> None:
        """Remove the job."""
        self._call("delete_item", TableName=self.tables["index"], Key=self._job_key(job.queue, job.id))
