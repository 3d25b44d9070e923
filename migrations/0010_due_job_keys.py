"""Jobs keyed by when they are due, so a poll reads only due jobs: `<due>#<job id>` (DynamoDB), `due` (SQLite)."""

QUEUES = ("rendition", "purge")


def upgrade(backends):
    """Idempotent: SQLite gains the `due` column and its index; DynamoDB jobs still keyed by id alone move to
    their due keys (found through the queues' user lists, never a Scan)."""
    backends.catalog.create_schema()
    backends.catalog.upgrade_job_queues(QUEUES)
