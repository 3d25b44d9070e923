"""Photo work per upload: Momento's inspect (validation decode + thumbnail) against pyvips' thumbnail.

For 24 MP and 12 MP JPEGs: the median time of momento.media.inspect (which decodes the whole image in
JPEG draft mode, reads EXIF and writes a 512 px WebP) against pyvips.Image.thumbnail of the same file to
512 px, and the time to ingest the 24 MP JPEG end to end on the local backend (sniff, hash, store,
decode, thumbnail, automatic tags with and without the content taggers, record).
Target: at most 1.0x pyvips. Needs bench/requirements.txt. Not a test: run it by hand.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT  # noqa: E402,F401  (puts the project on sys.path)

from PIL import Image  # noqa: E402


def photo(width: int, height: int, folder: str) -> Path:
    """A camera-like JPEG: smooth gradients with noise, quality 90."""
    import numpy as np

    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([(x * 255 // width), (y * 255 // height), ((x + y) * 255 // (width + height))], axis=-1)
    noisy = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype("uint8")
    path = Path(folder) / f"photo-{width}x{height}.jpg"
    Image.fromarray(noisy).save(path, "JPEG", quality=90)
    return path


def median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    import pyvips

    from momento.media import inspect
    from momento.media.sniff import sniff

    folder = tempfile.mkdtemp()
    rows = []
    for label, (w, h) in (("24 MP", (6000, 4000)), ("12 MP", (4032, 3024))):
        path = photo(w, h, folder)
        sniffed = sniff(path.read_bytes()[:8192])
        ours = median_ms(lambda: inspect(str(path), sniffed), args.repeats)
        vips = median_ms(lambda: pyvips.Image.thumbnail(str(path), 512).webpsave_buffer(Q=80), args.repeats)
        rows.append((f"{label} inspect vs pyvips thumbnail", ours, vips, ours / vips))

    from momento import create_app
    from momento.accounts import register
    from momento.uploads.commit import Limits
    from momento.uploads.incoming import ingest

    big = Path(folder) / "photo-6000x4000.jpg"
    for taggers in ("", "color,faces"):
        app = create_app({"TESTING": True, "DATA_DIR": tempfile.mkdtemp(), "TAGGERS": taggers})
        b = app.extensions["momento"]
        user = register(b.catalog, f"t{len(taggers)}@example.com", "bench-password")
        limits = Limits.from_config(app.config)
        data = big.read_bytes()
        n = [0]

        def once():
            n[0] += 1
            variant = Path(folder) / "variant.jpg"
            variant.write_bytes(data + bytes([n[0] % 256, n[0] // 256]))  # unique bytes: no duplicate
            with open(variant, "rb") as f:
                ingest(b.storage, b.catalog, user, f, filename="x.jpg", tags=(), limits=limits)

        rows.append((f"24 MP ingest, taggers: {taggers or 'none'}", median_ms(once, args.repeats), None, None))

    print(f"{'measure':42} {'Momento ms':>11} {'pyvips ms':>10} {'ratio':>6}  target")
    for name, ours, vips, ratio in rows:
        extra = f"{vips:>10.1f} {ratio:>6.2f}  1.00x" if vips else f"{'':>10} {'':>6}"
        print(f"{name:42} {ours:>11.1f} {extra}")
    print("done")


if __name__ == "__main__":
    main()
