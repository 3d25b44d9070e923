"""How the DynamoDB catalog's job queues stand, and the record of jobs that failed for good: Queries on the
queue's user list and each listed user's job partition by due time (dynamo_jobs.py), never a Scan.

Items: `job-failed#<queue>` / `<at>#<job id>` in the `index` table, one per job that failed for good, dropped a
week later (by the next failure's write, and by DynamoDB's TTL on `expires` where the operator enabled it).
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Optional

from ..formats import iso, parse_iso
from ..models import Job, QueueStatus
from .dynamo_items import s
from .dynamo_tus import EXPIRY_PARTITION

KEEP_FAILURES = timedelta(days=7)


class DynamoQueueStatus:
    """Counts by queue from the queue's partition and its failures' partition."""

    def queue_status(self, queue: str, now: str, failed_since: str) -> QueueStatus:
        """Due and running jobs of a queue now, the oldest due one, and the failures since failed_since."""
        due = running = 0
        oldest: Optional[str] = None
        users = self._query("index", KeyConditionExpression="pk = :p", ConsistentRead=True, ProjectionExpression="sk",
                            ExpressionAttributeValues={":p": s(f"jobusers#{queue}")})
        for user in users:  # the queue's users with jobs, then each user's job partition, by due time
            partition = s(f"job#{queue}#{user['sk']['S']}")
            for item in self._query("index", KeyConditionExpression="pk = :p AND sk <= :now", ConsistentRead=True,
                                    ProjectionExpression="not_before",
                                    ExpressionAttributeValues={":p": partition, ":now": s(f"{now}#~")}):
                due += 1
                oldest = min(oldest or item["not_before"]["S"], item["not_before"]["S"])
            # not due yet: leased jobs (running) and retries waiting; the `id#` locators sort after them
            for item in self._query("index", KeyConditionExpression="pk = :p AND sk BETWEEN :now AND :ids",
                                    ConsistentRead=True, ProjectionExpression="lease_until",
                                    ExpressionAttributeValues={":p": partition, ":now": s(f"{now}#~"),
                                                               ":ids": s("id#")}):
                running += item.get("lease_until", {}).get("S", "") > now
        failed = self._count("index", KeyConditionExpression="pk = :p AND sk >= :since",
                             ExpressionAttributeValues={":p": s(f"job-failed#{queue}"), ":since": s(failed_since)})
        return QueueStatus(queue, due=due, running=running, failed=failed, oldest_due=oldest)

    def record_job_failure(self, job: Job, at: str) -> None:
        """Remember that a job failed for good at `at` (kept a week), and drop the entries older than that."""
        expires = parse_iso(at) + KEEP_FAILURES
        self._call("put_item", TableName=self.tables["index"],
                   Item={"pk": s(f"job-failed#{job.queue}"), "sk": s(f"{at}#{job.id}"), "error": s(job.error or ""),
                         "expires": {"N": str(int(expires.timestamp()))}})
        cutoff = iso(parse_iso(at) - KEEP_FAILURES)
        answer = self._call("query", TableName=self.tables["index"], KeyConditionExpression="pk = :p AND sk < :cut",
                            ExpressionAttributeValues={":p": s(f"job-failed#{job.queue}"), ":cut": s(cutoff)},
                            ProjectionExpression="pk, sk", Limit=25)
        for old in answer.get("Items", ()):
            self._call("delete_item", TableName=self.tables["index"], Key={"pk": old["pk"], "sk": old["sk"]})

    def tus_backlog(self, now: str) -> tuple[int, Optional[str]]:
        """How many resumable uploads are past their expiry and not yet cleaned up, and the oldest expiry."""
        values = {":p": s(EXPIRY_PARTITION), ":after": s(f"{now}#~")}
        first = self._call("query", TableName=self.tables["index"], KeyConditionExpression="pk = :p AND sk < :after",
                           ExpressionAttributeValues=values, ConsistentRead=True, Limit=1).get("Items", ())
        if not first:
            return 0, None
        count = self._count("index", KeyConditionExpression="pk = :p AND sk < :after", ExpressionAttributeValues=values)
        return count, first[0]["sk"]["S"].split("#", 1)[0]

    def _count(self, table: str, **kwargs: Any) -> int:
        """How many items a Query matches (Select COUNT, page after page)."""
        total = 0
        while True:
            answer = self._call("query", TableName=self.tables[table], Select="COUNT", ConsistentRead=True, **kwargs)
            total += answer.get("Count", 0)
            if "LastEvaluatedKey" not in answer:
                return total
            kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
