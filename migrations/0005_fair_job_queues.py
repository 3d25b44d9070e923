"""Take queued jobs in turns across users: the users' turns (SQLite), one job partition per user (DynamoDB)."""

QUEUES = ("rendition", "purge")


def upgrade(backends):
    """Idempotent: moves whatever jobs are still in an older layout, then there is nothing left to move."""
    backends.catalog.create_schema()
    backends.catalog.upgrade_job_queues(QUEUES)
