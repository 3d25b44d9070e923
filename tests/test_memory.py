"""The allocator's tuning: Momento's values go in, except for any parameter the operator set in the environment."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from momento.memory import VALUES, operator_settings

ROOT = Path(__file__).resolve().parent.parent
glibc = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                           reason="mallopt() and its variables are glibc's")

# Tunes the allocator as the app does at start, then has four threads allocate at once and counts glibc's heaps
# (malloc_stats() lists one "Arena n:" per heap on stderr): one with Momento's arena_max, else the operator's.
CHILD = """
import ctypes, json, logging, threading
records = []
handler = logging.Handler()
handler.emit = records.append
logging.getLogger("momento.memory").addHandler(handler)
logging.getLogger("momento.memory").setLevel(logging.INFO)
from momento.memory import tune_allocator
ok = tune_allocator() and tune_allocator()

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
together = threading.Barrier(5)

def allocate():
    libc.free(ctypes.c_void_p(libc.malloc(1000)))
    together.wait()  # all alive at once, so none inherits another's freed heap
    together.wait()

threads = [threading.Thread(target=allocate) for _ in range(4)]
for t in threads:
    t.start()
together.wait()
libc.malloc_stats()
together.wait()
for t in threads:
    t.join()
print(json.dumps({"ok": ok, "logs": [(r.levelname, r.getMessage()) for r in records]}))
"""


def tune_in_a_child(**env: str) -> dict:
    """Run the tuning in a fresh python with exactly these malloc variables (none of the caller's)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    done = subprocess.run([sys.executable, "-c", CHILD], env={**clean, **env, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=60, check=True)
    out = json.loads(done.stdout)
    out["heaps"] = sum(line.startswith("Arena ") for line in done.stderr.splitlines())
    return out


def parts(message: str) -> tuple[str, str]:
    """The applied and the left-alone halves of the log line."""
    assert message.startswith("Allocator: applied ")
    applied, _, left = message.removeprefix("Allocator: applied ").partition("; left to the operator: ")
    return applied, left


@glibc
def test_with_nothing_set_everything_is_applied_and_logged_once():
    out = tune_in_a_child()
    assert out["ok"] is True
    assert len(out["logs"]) == 1 and out["logs"][0][0] == "INFO"
    applied, left = parts(out["logs"][0][1])
    assert applied == "mmap_threshold=1310720, trim_threshold=4194304, arena_max=1" and left == "nothing"
    assert out["heaps"] == 1  # Momento's arena_max


@glibc
def test_the_operators_tunables_and_variables_win():
    out = tune_in_a_child(GLIBC_TUNABLES="glibc.malloc.mmap_threshold=65536:glibc.malloc.top_pad=0:glibc.rtld.x=1",
                          MALLOC_ARENA_MAX="3")
    assert out["ok"] is True and len(out["logs"]) == 1
    applied, left = parts(out["logs"][0][1])
    assert applied == "trim_threshold=4194304"
    assert left == ("GLIBC_TUNABLES glibc.malloc.mmap_threshold=65536, GLIBC_TUNABLES glibc.malloc.top_pad=0, "
                    "MALLOC_ARENA_MAX=3")
    assert out["heaps"] == 3  # the operator's limit held: neither Momento's 1 nor glibc's 8 per core


@glibc
def test_the_older_variables_are_respected_too():
    out = tune_in_a_child(MALLOC_TRIM_THRESHOLD_="131072", MALLOC_MMAP_MAX_="0", MALLOC_TOP_PAD_="")
    applied, left = parts(out["logs"][0][1])
    assert applied == "mmap_threshold=1310720, arena_max=1" and out["heaps"] == 1
    assert left == "MALLOC_TRIM_THRESHOLD_=131072, MALLOC_MMAP_MAX_=0"


@glibc
def test_everything_set_by_the_operator_leaves_nothing_to_apply():
    out = tune_in_a_child(GLIBC_TUNABLES="glibc.malloc.mmap_threshold=1048576:glibc.malloc.trim_threshold=131072",
                          MALLOC_ARENA_MAX="8")
    assert out["ok"] is True
    applied, left = parts(out["logs"][0][1])
    assert applied == "nothing" and left.count(", ") == 2
    assert out["heaps"] == 5  # MALLOC_ARENA_MAX=8: the main thread's heap and one for each of the four threads


def test_reading_the_environment():
    env = {"GLIBC_TUNABLES": "glibc.malloc.arena_max=4:glibc.malloc.trim_threshold=:glibc.cpu.x86_ibt=on:junk",
           "MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": "", "MALLOC_TOP_PAD_": "0", "MALLOC_PERTURB_": "9"}
    # GLIBC_TUNABLES is named when both forms set one parameter; empty values set nothing.
    assert operator_settings(env) == {"arena_max": "GLIBC_TUNABLES glibc.malloc.arena_max=4",
                                      "top_pad": "MALLOC_TOP_PAD_=0"}
    assert operator_settings({}) == {}


def test_the_documented_tunables_are_momentos_values():
    line = "GLIBC_TUNABLES=" + ":".join(f"glibc.malloc.{name}={value}" for name, value in VALUES.items())
    assert line in (ROOT / "docs" / "operations.md").read_text()
