"""Add saved searches and share links (SQLite tables; DynamoDB keeps both in the existing index table)."""


def upgrade(backends):
    """Idempotent: create_schema adds what is missing and leaves the rest alone."""
    backends.catalog.create_schema()
