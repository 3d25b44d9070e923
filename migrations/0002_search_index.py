"""Build the tag, filename and date index and the usage counters for uploads made before them."""


def upgrade(backends):
    """Rebuild every user's index from the upload records; running it again gives the same index."""
    for user in backends.catalog.iter_users():
        backends.catalog.rebuild_index(user.id)
