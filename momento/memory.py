"""Keeping a server's resident memory close to what it holds: large buffers go back to the system when freed.

Uploads pass through part-sized buffers (5 MiB and up). glibc's malloc raises its mmap threshold each time such
a buffer is freed, after which the next ones come from per-thread heaps that it seldom gives back: with many
request and upload threads the process then keeps tens of MiB it no longer uses. A fixed threshold of 1 MiB
keeps every large buffer in its own mapping, returned to the system on free, and turns that raising off.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging

M_MMAP_THRESHOLD = -3  # mallopt() parameter, from glibc's malloc.h
THRESHOLD = 1024 * 1024

log = logging.getLogger(__name__)
_done = False


def release_large_buffers() -> bool:
    """Set glibc's mmap threshold once per process (nothing elsewhere, e.g. musl or macOS); whether it was set."""
    global _done
    if _done:
        return True
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = getattr(libc, "mallopt", None)
    except OSError:
        mallopt = None
    if mallopt is None:
        return False
    _done = bool(mallopt(M_MMAP_THRESHOLD, THRESHOLD))
    if not _done:
        log.info("mallopt(M_MMAP_THRESHOLD) was refused; memory stays as the allocator keeps it")
    return _done
