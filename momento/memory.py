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

An operator's own setting wins, parameter by parameter: anything given in GLIBC_TUNABLES (glibc.malloc.*) or in
the older MALLOC_* variables is left as glibc read it at start, and only the rest is set here.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
from typing import Mapping, NamedTuple


class Setting(NamedTuple):
    """One mallopt() parameter: glibc's tunable name (glibc.malloc.<name>), its older variable, its mallopt id."""

    name: str
    variable: str
    param: int


MiB = 1024 * 1024
# mallopt() parameters, from glibc's malloc.h
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX = -1, -2, -3, -4, -8
PARAMETERS = (
    Setting("mmap_threshold", "MALLOC_MMAP_THRESHOLD_", M_MMAP_THRESHOLD),
    Setting("trim_threshold", "MALLOC_TRIM_THRESHOLD_", M_TRIM_THRESHOLD),
    Setting("top_pad", "MALLOC_TOP_PAD_", M_TOP_PAD),
    Setting("arena_max", "MALLOC_ARENA_MAX", M_ARENA_MAX),
    Setting("mmap_max", "MALLOC_MMAP_MAX_", M_MMAP_MAX),
)
# Momento's values, by tunable name; the same as GLIBC_TUNABLES=glibc.malloc.mmap_threshold=1310720:...
VALUES = {"mmap_threshold": MiB + MiB // 4, "trim_threshold": 4 * MiB, "arena_max": 1}

log = logging.getLogger(__name__)
_done = False


def operator_settings(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The malloc parameters the environment sets, by tunable name, each with where it was set (for the log)."""
    found = {}
    for entry in environ.get("GLIBC_TUNABLES", "").split(":"):
        key, eq, value = entry.partition("=")
        if eq and value and key.startswith("glibc.malloc."):
            found[key.removeprefix("glibc.malloc.")] = f"GLIBC_TUNABLES {key}={value}"
    for setting in PARAMETERS:
        if environ.get(setting.variable) and setting.name not in found:
            found[setting.name] = f"{setting.variable}={environ[setting.variable]}"
    return found


_report: list[str] = []  # what tuning did, for report_tuning()


def tune_allocator() -> bool:
    """Apply VALUES once per process, except what the operator set (nothing off glibc); whether all went in."""
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
    theirs = operator_settings()
    applied, refused = [], []
    for setting in PARAMETERS:
        if setting.name in VALUES and setting.name not in theirs:
            ok = bool(mallopt(setting.param, VALUES[setting.name]))
            (applied if ok else refused).append(f"{setting.name}={VALUES[setting.name]}")
    _done = not refused
    _report.append("Allocator: applied %s; left to the operator: %s%s" % (
        ", ".join(applied) or "nothing", ", ".join(theirs.values()) or "nothing",
        f"; mallopt() refused {', '.join(refused)}" if refused else ""))
    log.info(_report[-1])
    return _done


def report_tuning() -> None:
    """Log what tune_allocator() did, once logging is set up (it runs before, to tune the process from the start)."""
    while _report:
        log.info(_report.pop(0))
