"""gunicorn config for benchmarks: the worker's allocator set back to a fixed 1 MiB mmap threshold alone (trim
threshold then fixed at glibc's 128 KiB, one heap per thread), to measure what momento/memory.py's tuning buys.

    gunicorn -c bench/untuned_allocator.py wsgi:app
"""
import ctypes
import ctypes.util
import runpy
from pathlib import Path

# Everything else as the server's own gunicorn.conf.py has it, so that the allocator is the only difference.
globals().update({name: value for name, value in
                  runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py")).items()
                  if not name.startswith("__")})

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8


def post_worker_init(worker):
    """After the app (and its tuning) loaded in the worker, before its request threads start."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    for param, value in ((M_MMAP_THRESHOLD, 1024 * 1024), (M_TRIM_THRESHOLD, 128 * 1024), (M_ARENA_MAX, 0)):
        if not libc.mallopt(param, value):
            raise RuntimeError(f"mallopt({param}, {value}) refused")
