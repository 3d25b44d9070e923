"""Add the table of quota reservations (SQLite; DynamoDB keeps them in the existing index table)."""


def upgrade(backends):
    """Idempotent: create_schema adds what is missing and leaves the rest alone."""
    backends.catalog.create_schema()
