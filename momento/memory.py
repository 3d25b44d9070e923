"""Tuning glibc's allocator for a server whose requests stream large bodies.

Left to itself, glibc's malloc raises its mmap threshold each time a large buffer is freed, after which
part-sized buffers (5 MiB and up) come from per-thread heaps that it seldom gives back: with many request
and upload threads the process keeps tens of MiB it no longer uses. Fixing the threshold turns that off, but
also fixes the trim threshold at 128 KiB, and then the 1-2 MiB buffers that every read of a body passes
through (the server's 1 MiB socket reads, Python's copies of them) are given back and faulted in again on each
read: that alone halved the receive rate. So:

- buffers over 1.25 MiB (upload parts; not the 1 MiB reads) get a mapping of their own, returned to the
  system when freed;
- up to 4 MiB free at the top of the heap is kept for the next read instead of being given back;
- one heap for all threads, so that what is kept is 4 MiB for the process, not 4 MiB per thread.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging

# mallopt() parameters, from glibc's malloc.h
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8
MiB = 1024 * 1024
SETTINGS = ((M_MMAP_THRESHOLD, MiB + MiB // 4), (M_TRIM_THRESHOLD, 4 * MiB), (M_ARENA_MAX, 1))

log = logging.getLogger(__name__)
_done = False


def tune_allocator() -> bool:
    """Apply SETTINGS once per process (nothing elsewhere, e.g. musl or macOS); whether they were set."""
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
    _done = all([bool(mallopt(param, value)) for param, value in SETTINGS])
    if not _done:
        log.info("mallopt() refused a setting; memory stays as the allocator keeps it")
    return _done
