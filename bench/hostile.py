"""Peak memory of a real Momento server per hostile (and large legitimate) photo upload.

Starts Momento under gunicorn (one worker, as in production, local backend, data on /dev/shm when there),
creates an account, and for each case in CASES uploads the file through `POST /api/v1/uploads` and reports
the worker's peak RSS growth during that request (VmHWM, reset before each request through
/proc/<pid>/clear_refs, cross-checked by polling VmRSS from a thread of this process), the HTTP status and
the ratio of the growth to the 256 MiB target. Each case runs --repeats times, interleaved; the table gives
the median growth and its range. A fresh server per round keeps one case's heap from hiding another's.

    python bench/hostile.py                 # every case, 3 rounds
    python bench/hostile.py --cases zeros-png,jpeg-64mp --repeats 5

To add a case, append (name, bytes-maker) to CASES.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT  # noqa: E402  (puts the project on sys.path)
from upload_memory import PeakSampler, Stack, reset_peak, status_kib, upload  # noqa: E402

from tests import corpus, hostile, hostile_videos  # noqa: E402

MiB = 1024 * 1024
TARGET_MIB = 256

CASES: list[tuple[str, Callable[[], bytes]]] = [
    ("gif-canvas-9450x9450x8", lambda: hostile.gif_canvas(9450, 9450, frames=8)),
    ("gif-canvas-9450x9450x1", lambda: hostile.gif_canvas(9450, 9450, frames=1)),
    ("zeros-png-9000x9900-rgba", lambda: hostile.zero_png(9000, 9900)),
    ("gif-frames-2000x2000x250", lambda: hostile.gif_canvas(2000, 2000, frames=250)),
    ("webp-frames-4000x4000x60", lambda: hostile.webp_canvas(4000, 4000, frames=60)),
    ("png-40mp-rgb", lambda: hostile.large_png()),
    ("png-40mp-rgba", lambda: hostile.large_png(mode="RGBA")),
    ("jpeg-64mp", lambda: hostile.large_jpeg()),
    ("webp-12mp", lambda: _converted(hostile.large_png(4000, 3000), "WEBP")),
    ("heic-12mp", lambda: _converted(hostile.large_png(4000, 3000), "HEIF")),
    ("mp4-5m-samples-20mb", hostile_videos.MAKERS["mp4_many_samples_20mb"]),
    ("mp4-stsz-constant-huge", hostile_videos.MAKERS["mp4_stsz_constant_huge"]),
    ("mp4-sizes-over-file", hostile_videos.MAKERS["mp4_sizes_over_file"]),
    ("mov-same-picture", hostile_videos.MAKERS["mov_same_picture"]),
    ("mp4-ordinary-2s", lambda: corpus.mp4(seconds=2)),
]


def _converted(data: bytes, fmt: str) -> bytes:
    """The same picture in another format."""
    import io

    import pillow_heif
    from PIL import Image

    pillow_heif.register_heif_opener()
    out = io.BytesIO()
    Image.open(io.BytesIO(data)).save(out, fmt, quality=80)
    return out.getvalue()


def write_cases(folder: Path, names: list[str]) -> dict[str, Path]:
    """Make each chosen case's file once."""
    paths = {}
    for name, make in CASES:
        if name in names:
            data = make()
            path = folder / f"{name}.{name.split('-')[0]}"
            path.write_bytes(data)
            paths[name] = path
    return paths


def measure(stack: Stack, path: Path) -> tuple[int, float, str]:
    """(status, peak RSS growth in MiB, error code) of one upload to a warmed-up server."""
    exact = reset_peak(stack.pid)
    before = status_kib(stack.pid, "VmRSS")
    with PeakSampler(stack.pid, every=0.005) as sampler:
        status, _, answer = upload(stack.port, stack.token, path)
    peak = max(status_kib(stack.pid, "VmHWM") if exact else 0, sampler.peak)
    code = answer.get("error", {}).get("code", "") if isinstance(answer, dict) else ""
    return status, (peak - before) / MiB, code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=",".join(name for name, _ in CASES))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.cases.split(",") if n.strip()]
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
    workdir = Path(tempfile.mkdtemp(prefix="momento-hostile-", dir=base))
    paths = write_cases(workdir, names)
    warm = workdir / "warm.png"
    warm.write_bytes(corpus.png_rgba(600, 400))
    growth: dict[str, list[float]] = {name: [] for name in paths}
    outcome: dict[str, tuple[int, str]] = {}
    for round_ in range(args.repeats):
        with Stack("local", workdir) as stack:
            for warm_up in (warm, workdir / "warm.jpg"):
                if not warm_up.exists():
                    warm_up.write_bytes(corpus.jpeg(600, 400))
                upload(stack.port, stack.token, warm_up)
            for name, path in paths.items():
                status, mib, code = measure(stack, path)
                growth[name].append(mib)
                outcome[name] = (status, code)
                print(f"round {round_ + 1} {name}: HTTP {status} {code} {mib:+.1f} MiB", flush=True)
    print()
    header = f"{'case':28} {'bytes':>9} {'HTTP':>4} {'code':16} {'peak growth MiB (median, range)':>32} {'x 256 MiB':>9}"
    print(header)
    for name, path in paths.items():
        values = growth[name]
        med = statistics.median(values)
        status, code = outcome[name]
        spread = f"{med:7.1f} ({min(values):.1f}-{max(values):.1f})"
        print(f"{name:28} {path.stat().st_size:>9} {status:>4} {code or '-':16} {spread:>32} {med / TARGET_MIB:>9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
