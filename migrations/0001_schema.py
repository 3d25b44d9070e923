"""Create the object store and the catalog's tables and indexes."""


def upgrade(backends):
    """Idempotent: creating what exists changes nothing."""
    backends.storage.create()
    backends.catalog.create_schema()
