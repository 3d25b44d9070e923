"""Wires the chosen storage and catalog into the app and hands them to routes and commands."""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from .catalog import Catalog, make_catalog
from .storage import Storage, make_storage


@dataclass(frozen=True)
class Backends:
    """The app's object store and catalog."""

    storage: Storage
    catalog: Catalog


def init_app(app) -> None:
    """Build the backends once per app; the embedded backend prepares itself on first start."""
    backends = Backends(make_storage(app), make_catalog(app))
    app.extensions["momento"] = backends
    if app.config["BACKEND"] == "local":
        import os

        from .migrate import apply_pending
        from .models import PostureCheck

        database = backends.catalog.path
        fresh = not os.path.exists(database)
        backends.storage.create()
        if fresh:  # `init --check` reports what this start had to make
            backends.storage.repaired.append(PostureCheck(f"database {os.path.basename(database)}", "exists",
                                                          "missing (made as this process started)", False))
        apply_pending(backends)


def backends() -> Backends:
    """The current app's backends."""
    return current_app.extensions["momento"]


def storage() -> Storage:
    """The current app's object store."""
    return backends().storage


def catalog() -> Catalog:
    """The current app's catalog."""
    return backends().catalog
