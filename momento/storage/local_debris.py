"""What a crash can leave in the local data folder beside the objects, found and cleared for `verify --repair`.

Objects are renamed into place after their sidecar, so a crash between the two renames leaves a `.meta`
without its object; an upload cut short leaves its temporary file in tmp/, and a tus PATCH that died before
its record named its multipart object leaves that object's folder in parts/.
"""
from __future__ import annotations

import json
import mimetypes
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from .local_sync import fsync_dir, fsync_file


@dataclass(frozen=True)
class Debris:
    """One leftover: `kind` is stray_sidecar, missing_sidecar, scratch_file or stray_parts."""

    kind: str
    path: Path
    detail: str


def _age(path: Path, now: float) -> float:
    """Seconds since path was last written; 0 when it is gone."""
    try:
        return now - path.lstat().st_mtime
    except FileNotFoundError:
        return 0.0


def _in_layout(root, path: Path) -> bool:
    """Whether a file is under one of Momento's key folders (`user-<id>/`, `tus/`)."""
    top = path.relative_to(root).parts[0]
    return len(path.relative_to(root).parts) > 1 and (top.startswith("user-") or top == "tus")


class LocalDebris:
    """debris()/clear_debris() for LocalStorage."""

    def debris(self, *, now: float, grace: float, live_parts: Iterable[str]) -> Iterator[Debris]:
        """Leftovers untouched for `grace` seconds; parts folders only when no tus record names them."""
        for folder, _, files in os.walk(self.root):
            names = set(files)
            for name in sorted(names):
                path = Path(folder) / name
                if _age(path, now) < grace:
                    continue  # may be an upload being placed right now
                if name.endswith(".meta"):
                    if name[:-5] not in names:
                        yield Debris("stray_sidecar", path, "a sidecar whose object was never renamed into place")
                elif name + ".meta" not in names and _in_layout(self.root, path):
                    # (a file outside Momento's key layout is verify's unknown_object, left alone)
                    yield Debris("missing_sidecar", path, "an object without its sidecar (content type and ETag)")
        for entry in self._scratch_entries():
            if _age(entry, now) >= grace:
                yield Debris("scratch_file", entry, "a temporary file left by a process that stopped")
        live = set(live_parts)
        try:
            refs = sorted(self.parts.iterdir())
        except FileNotFoundError:
            refs = []
        for entry in refs:
            if entry.name not in live and _age(entry, now) >= grace:
                yield Debris("stray_parts", entry, "the parts of a resumable upload no record names")

    def clear_debris(self, item: Debris) -> None:
        """Remove the leftover, or (a missing sidecar) write one from the key's extension."""
        if item.kind == "missing_sidecar":
            kind = mimetypes.guess_type(item.path.name)[0] or "application/octet-stream"
            meta = self._meta_path(item.path)
            with open(meta, "w") as out:
                out.write(json.dumps({"content_type": kind, "etag": os.urandom(16).hex()}))
                out.flush()
                fsync_file(out.fileno())
            fsync_dir(meta.parent)
        elif item.path.is_dir() and not item.path.is_symlink():
            shutil.rmtree(item.path, ignore_errors=True)
        else:
            try:
                item.path.unlink()
            except FileNotFoundError:
                pass

    def where(self, item: Debris) -> str:
        """The leftover's path inside the data folder."""
        return str(item.path.relative_to(self.root.parent))
