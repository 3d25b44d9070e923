"""A short, bounded run of bench/load.py: gunicorn with several workers, 10 users for about 5 seconds.
No 5xx, no transport error, and every acknowledged upload listed and stored whole."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

LOAD = Path(__file__).resolve().parent.parent / "bench" / "load.py"


def _load_module():
    spec = importlib.util.spec_from_file_location("momento_bench_load", LOAD)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_short_load_run_loses_nothing(tmp_path):
    report = _load_module().run_load(users=10, duration=5, workers=2, threads=4, data_dir=tmp_path, taggers="")
    assert report["server_errors"] == 0, report
    assert report["error_count"] == 0, report["errors"]
    assert report["acknowledged"] >= 10, report  # every user stored something
    assert report["lost"] == 0 and report["not_listed"] == 0 and report["not_whole"] == 0, report
    assert {"POST /api/v1/uploads", "GET /api/v1/uploads"} <= set(report["routes"])
