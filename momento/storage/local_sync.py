"""Making local writes survive a power cut: a file's bytes, then the folder entries that name it, on disk.

A rename is atomic but not durable: until the folder holding the new name is fsync'ed, a crash can bring the
old name (or none) back; until a file is fsync'ed, its name can survive with no bytes behind it. A folder made
for the occasion (`user-<id>/photos/`) needs its own entry in its parent synced too, and so on up.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Iterable


def fsync_file(fd: int) -> None:
    """The file's bytes and size on disk."""
    os.fsync(fd)


def fsync_dir(folder: Path) -> None:
    """The names in folder (renames, new files, new subfolders) on disk."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SyncedFolders:
    """The folders this process has seen named durably in their parents, so each costs its parents' fsyncs once.

    A folder that exists may have been made a moment ago by another process that has not synced its parent
    yet: the first use in each process syncs the chain up to `top` whether or not this process made it.
    """

    LIMIT = 100_000  # forget them all past this many: a few more fsyncs, never a wrong answer

    def __init__(self, top: Path):
        self.top = top
        self._known: set[Path] = set()
        self._lock = threading.Lock()

    def sync(self, folders: Iterable[Path]) -> None:
        """fsync each folder (it just received a name), then each parent not yet known to name it durably."""
        seen: set[Path] = set()
        for folder in folders:
            if folder not in seen:
                fsync_dir(folder)
                seen.add(folder)
            self._chain(folder, seen)

    def _chain(self, folder: Path, seen: set[Path]) -> None:
        with self._lock:
            if folder in self._known:
                return
        chain, node = [], folder
        while node != self.top and self.top in node.parents:
            chain.append(node)
            node = node.parent
        for child in chain:  # bottom-up: the parent of each link is synced once it names the link
            if child.parent not in seen:
                fsync_dir(child.parent)
                seen.add(child.parent)
        with self._lock:
            if len(self._known) > self.LIMIT:
                self._known.clear()
            self._known.update(chain)
