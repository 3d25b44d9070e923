"""Face detection for the `people` tag: Momento's YuNet tagger against the Haar cascade it replaced, same run.

For each picture (the photos in tests/data, composites made from them, textures and flat colours): the
milliseconds per image of FaceTagger.count (YuNet at 320 px) and of the former Haar cascade code (kept here
only, with its tuned parameters, the cascade file coming from the installed opencv-python 4.x wheel), as the
median of several rounds (each round the median of a few calls, the two detectors interleaved) with the range
of the round medians; and the faces each finds, and whether the `people` / `people:group` tags differ.
Not a test: run it by hand (python bench/faces.py [--rounds N] [--calls N]).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT  # noqa: E402  (puts the project on sys.path)

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from momento.media.taggers import FaceTagger  # noqa: E402

DATA = ROOT / "tests" / "data"
# The Haar code as momento/media/taggers.py had it before YuNet.
HAAR_FILE = "haarcascade_frontalface_default.xml"
HAAR_SCALE_FACTOR, HAAR_MIN_NEIGHBORS, HAAR_MIN_SIZE = 1.1, 8, (24, 24)


def photo(name: str) -> Image.Image:
    """A photo from tests/data as RGB."""
    with Image.open(DATA / f"{name}.jpg") as img:
        return img.convert("RGB")


def in_a_row(img: Image.Image, times: int) -> Image.Image:
    """`times` copies of a picture side by side."""
    row = Image.new("RGB", (img.width * times, img.height))
    for i in range(times):
        row.paste(img, (i * img.width, 0))
    return row


def pictures() -> dict[str, Image.Image]:
    """What the bench looks at, with the faces a person would count in each."""
    face = photo("astronaut").crop((150, 30, 300, 200))
    small = Image.new("RGB", (512, 384), (180, 180, 175))
    small.paste(face.resize((100, 113)), (300, 60))
    three = Image.new("RGB", (512, 200), (200, 200, 200))
    for i in range(3):
        three.paste(face, (10 + i * 170, 15))
    rng = np.random.default_rng(42)
    yy, xx = np.mgrid[0:384, 0:512]

    def gray(a: np.ndarray) -> Image.Image:
        """RGB from grey levels."""
        return Image.fromarray(a.clip(0, 255).astype(np.uint8)).convert("RGB")

    return {
        "astronaut (1)": photo("astronaut"),
        "chelsea, a cat (0)": photo("chelsea"),
        "two astronauts (2)": in_a_row(photo("astronaut"), 2),
        "two cats (0)": in_a_row(photo("chelsea"), 2),
        "small face (1)": small,
        "three faces (3)": three,
        "noise (0)": gray(rng.integers(0, 256, (384, 512))),
        "stripes (0)": gray((np.sin(xx / 5) + 1) * 127),
        "checkerboard (0)": gray(((yy // 16 + xx // 16) % 2) * 255),
        "flat beige (0)": Image.new("RGB", (512, 384), (225, 205, 165)),
    }


class Haar:
    """The former cascade detector, one classifier (this script runs in one thread)."""

    def __init__(self) -> None:
        """Load the cascade file shipped in the opencv-python 4.x wheel."""
        import cv2

        path = os.path.join(cv2.data.haarcascades, HAAR_FILE)
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise SystemExit(f"OpenCV could not load {path} (opencv-python 5 no longer ships it)")

    def count(self, image: Image.Image) -> int:
        """Faces found, as the old tagger counted them."""
        gray = image.convert("L")
        scale = FaceTagger.WORK_SIZE / max(gray.size)
        if scale < 1:
            gray = gray.resize((max(1, round(gray.width * scale)), max(1, round(gray.height * scale))),
                               Image.Resampling.BOX)
        return len(self.cascade.detectMultiScale(np.asarray(gray), scaleFactor=HAAR_SCALE_FACTOR,
                                                 minNeighbors=HAAR_MIN_NEIGHBORS, minSize=HAAR_MIN_SIZE))


def tags(faces: int) -> str:
    """The tags a face count gives."""
    return ",".join((["people"] if faces else []) + (["people:group"] if faces >= FaceTagger.GROUP else [])) or "-"


def ms(fn, img: Image.Image, calls: int) -> float:
    """Median milliseconds of `calls` calls."""
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn(img)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=9)
    args = parser.parse_args()
    import cv2

    start = time.perf_counter()
    yunet = FaceTagger()
    yunet.count(Image.new("RGB", (64, 64)))  # loads this thread's detector
    yunet_load = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    haar = Haar()
    haar_load = (time.perf_counter() - start) * 1000
    print(f"OpenCV {cv2.__version__}, {cv2.getNumThreads()} threads; load: YuNet {yunet_load:.0f} ms, "
          f"Haar {haar_load:.0f} ms; {args.rounds} rounds x {args.calls} calls, median (range of round medians)")
    header = f"{'picture (faces)':<22} {'size':>9} {'YuNet ms':>17} {'Haar ms':>17} {'Haar/YuNet':>10} " \
             f"{'YuNet':>5} {'Haar':>5}  tags YuNet / Haar"
    print(header)
    print("-" * len(header))
    ratios = []
    for name, img in pictures().items():
        yunet.count(img), haar.count(img)  # warm up on this size
        y_rounds, h_rounds = [], []
        for _ in range(args.rounds):
            y_rounds.append(ms(yunet.count, img, args.calls))
            h_rounds.append(ms(haar.count, img, args.calls))
        y, h = statistics.median(y_rounds), statistics.median(h_rounds)
        ratios.append(h / y)
        yf, hf = yunet.count(img), haar.count(img)
        changed = "" if tags(yf) == tags(hf) else "  <- changes"
        print(f"{name:<22} {img.width:>4}x{img.height:<4} {y:6.1f} ({min(y_rounds):4.1f}-{max(y_rounds):4.1f})"
              f" {h:6.1f} ({min(h_rounds):4.1f}-{max(h_rounds):4.1f}) {h / y:9.1f}x {yf:>5} {hf:>5}"
              f"  {tags(yf)} / {tags(hf)}{changed}")
    print(f"Haar/YuNet time over all pictures: median {statistics.median(ratios):.1f}x "
          f"(range {min(ratios):.1f}-{max(ratios):.1f}x)")


if __name__ == "__main__":
    main()
