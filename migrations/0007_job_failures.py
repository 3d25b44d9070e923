"""Add the record of jobs that failed for good, for `flask momento status` (SQLite; DynamoDB keeps it in the index table)."""


def upgrade(backends):
    """Idempotent: create_schema adds what is missing and leaves the rest alone."""
    backends.catalog.create_schema()
