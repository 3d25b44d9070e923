"""Sign-in sessions and passkeys on the server; API tokens made before names and scopes keep every scope."""


def upgrade(backends):
    """Idempotent: the new tables are created if missing, and older tokens get an id and all four scopes."""
    backends.catalog.create_schema()
    backends.catalog.upgrade_tokens()
