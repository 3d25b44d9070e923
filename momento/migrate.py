"""Numbered migrations from the top-level migrations/ folder, applied in order and recorded."""
from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from .formats import now_iso
from .errors import BackendError

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.py$")


@dataclass(frozen=True)
class Migration:
    """One step: its id (`0001_schema`), what it does, and the function that does it."""

    id: str
    description: str
    upgrade: Callable


def discover(folder: Optional[Path] = None) -> list[Migration]:
    """Every migration in the folder (migrations/ unless told), in order."""
    found = []
    for path in sorted(Path(folder or MIGRATIONS_DIR).glob("[0-9][0-9][0-9][0-9]_*.py")):
        if not _NAME.match(path.name):
            continue
        spec = importlib.util.spec_from_file_location(f"momento_migration_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        found.append(Migration(path.stem, (module.__doc__ or "").strip().splitlines()[0], module.upgrade))
    return found


def status(backends, folder: Optional[Path] = None) -> list[tuple[Migration, str | None]]:
    """Each migration with the time it was applied, or None when pending."""
    applied = _applied(backends)
    return [(m, applied.get(m.id)) for m in discover(folder)]


def _applied(backends) -> dict[str, str]:
    # The first migration creates the tables that record migrations.
    try:
        return backends.catalog.applied_migrations()
    except BackendError:  # no schema yet on a new backend
        return {}


def apply_pending(backends, progress: Callable[[Migration], None] | None = None,
                  folder: Optional[Path] = None) -> list[Migration]:
    """Apply pending migrations in order; each is recorded only after it finished, so a re-run after an
    interruption starts again at the step that did not finish (which is why every step is idempotent)."""
    applied = _applied(backends)
    done = []
    for migration in discover(folder):
        if migration.id in applied:
            continue
        if progress:
            progress(migration)
        migration.upgrade(backends)
        backends.catalog.record_migration(migration.id, now_iso())
        done.append(migration)
    return done
