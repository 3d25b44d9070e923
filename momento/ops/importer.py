"""Bulk import of a folder: each file through the same pipeline as a web upload, nothing imported twice."""
from __future__ import annotations

import hashlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from typing import Callable, Optional

from ..errors import BackendError, MomentoError
from ..models import User
from ulid import ULID

from ..uploads.admission import Budgets, admit
from ..uploads.commit import Limits
from ..uploads.incoming import ingest

log = logging.getLogger(__name__)
CHUNK = 1024 * 1024
IMPORTED, DUPLICATE, REFUSED, FAILED = "imported", "duplicate", "refused", "failed"


@dataclass(frozen=True)
class FileResult:
    """What became of one file: imported, duplicate, refused (with the pipeline's reason) or failed."""

    path: str  # relative to the imported folder
    size: int
    status: str
    reason: str = ""  # a code: unsupported_media_type, corrupt_media, file_too_large, in_trash, ...
    message: str = ""
    upload_id: Optional[str] = None


@dataclass
class ImportReport:
    """Every file's result, in the order the folder was walked."""

    results: list[FileResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        """How many files ended with this status."""
        return sum(1 for r in self.results if r.status == status)

    def refused_by_reason(self) -> dict[str, list[str]]:
        """Refused files grouped by reason."""
        out: dict[str, list[str]] = {}
        for r in self.results:
            if r.status == REFUSED:
                out.setdefault(r.reason, []).append(r.path)
        return out

    def as_dict(self) -> dict:
        """JSON-ready: the summary and every file."""
        return {"imported": self.count(IMPORTED), "duplicates": self.count(DUPLICATE),
                "refused": self.refused_by_reason(), "failed": [asdict(r) for r in self.results if r.status == FAILED],
                "bytes_imported": sum(r.size for r in self.results if r.status == IMPORTED),
                "files": [asdict(r) for r in self.results]}


def walk(root: str) -> list[tuple[str, int]]:
    """(relative path, size) of every entry under root, in a stable order; hidden files and folders are left out.
    A name that is no regular file (a broken link, a pipe, a device) is listed with size 0: import_file refuses
    it, so the summary names it."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = os.path.join(folder, name)
            if name.startswith("."):
                continue
            found.append((os.path.relpath(path, root), os.path.getsize(path) if os.path.isfile(path) else 0))
    return found


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def import_file(storage, catalog, user: User, root: str, rel: str, size: int, *, tags: tuple[str, ...],
                limits: Limits, budgets: Budgets = Budgets()) -> FileResult:
    """Import one file; refusals and failures become results, never exceptions."""
    path = os.path.join(root, rel)
    if not os.path.isfile(path):  # never opened: a pipe would wait for ever
        return FileResult(rel, size, REFUSED, "not_a_file", "not a regular file (a broken link, a pipe or a device)")
    try:
        # Checked first so that a photo the user put in the trash stays there (the pipeline would revive it).
        existing = catalog.find_by_sha256(user.id, _sha256(path))
        if existing is not None:
            return FileResult(rel, size, DUPLICATE, "in_trash" if existing.trashed else "duplicate",
                              upload_id=existing.id)
        admission = admit(catalog, user, budgets, declared=size, reservation_id=str(ULID()), count_upload=False)
        kept = 0
        try:
            with open(path, "rb") as f:
                result = ingest(storage, catalog, user, f, filename=os.path.basename(rel), tags=tags, limits=limits,
                                on_size=admission.need, expected=size)  # S3: one PUT while the file is read
            kept = 0 if result.duplicate else result.upload.size
        finally:
            admission.settle(kept)
        return FileResult(rel, size, DUPLICATE if result.duplicate else IMPORTED, upload_id=result.upload.id)
    except BackendError as exc:
        return FileResult(rel, size, FAILED, exc.code, exc.message)
    except MomentoError as exc:  # unsupported, too large, damaged, empty: the file itself is refused
        return FileResult(rel, size, REFUSED, exc.code, exc.message)
    except OSError as exc:
        return FileResult(rel, size, FAILED, "unreadable", str(exc))
    except Exception as exc:  # noqa: BLE001 - one file must not end a long import; the log has the details
        log.exception("importing %s failed", path)
        return FileResult(rel, size, FAILED, "internal_error", f"{type(exc).__name__}: {exc}")


def import_folder(storage, catalog, user: User, root: str, *, tags: tuple[str, ...], limits: Limits,
                  budgets: Budgets = Budgets(), jobs: int = 2,
                  files: Optional[list[tuple[str, int]]] = None,
                  on_file: Optional[Callable[[FileResult], None]] = None) -> ImportReport:
    """Import every file under root with `jobs` files at a time; results keep the walk's order."""
    files = walk(root) if files is None else files
    results: dict[str, FileResult] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="import") as pool:
        futures = [pool.submit(import_file, storage, catalog, user, root, rel, size, tags=tags, limits=limits,
                               budgets=budgets)
                   for rel, size in files]
        try:
            for future in as_completed(futures):
                result = future.result()
                results[result.path] = result
                if on_file:
                    on_file(result)
        except BaseException:  # Ctrl-C or a crash: start no more files; a re-run skips the ones done
            for future in futures:
                future.cancel()
            raise
    return ImportReport([results[rel] for rel, _ in files])
