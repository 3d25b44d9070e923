"""Numbered migrations from the top-level migrations/ folder, applied in order and recorded."""
from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .accounts import now_iso

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.py$")


@dataclass(frozen=True)
class Migration:
    """One step: its id (`0001_schema`), what it does, and the function that does it."""

    id: str
    description: str
    upgrade: Callable


def discover(folder: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Every migration in the folder, in order."""
    found = []
    for path in sorted(folder.glob("[0-9][0-9][0-9][0-9]_*.py")):
        if not _NAME.match(path.name):
            continue
        spec = importlib.util.spec_from_file_location(f"momento_migration_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        found.append(Migration(path.stem, (module.__doc__ or "").strip().splitlines()[0], module.upgrade))
    return found


def status(backends) -> list[tuple[Migration, str | None]]:
    """Each migration with the time it was applied, or None when pending."""
    applied = backends.catalog.applied_migrations()
    return [(m, applied.get(m.id)) for m in discover()]


def apply_pending(backends, progress: Callable[[Migration], None] | None = None) -> list[Migration]:
    """Apply pending migrations in order; each records itself only after it finished, so a re-run resumes."""
    # The first migration creates the tables that record migrations.
    try:
        applied = backends.catalog.applied_migrations()
    except Exception:  # noqa: BLE001 - no schema yet on a new backend
        applied = {}
    done = []
    for migration in discover():
        if migration.id in applied:
            continue
        if progress:
            progress(migration)
        migration.upgrade(backends)
        backends.catalog.record_migration(migration.id, now_iso())
        done.append(migration)
    return done
