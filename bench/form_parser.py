"""Parsing a streamed multipart/form-data body: multipart's push parser (what Momento uses) against werkzeug's
sans-io MultipartDecoder (what it used before), on the same 200 MB file part fed 1 MiB at a time, as
momento/web/receive.py reads it. CPU seconds per body, medians of --repeats rounds with their range.

Not a test: run it by hand (python bench/form_parser.py --help).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

from multipart import PushMultipartParser
from werkzeug.sansio.multipart import Data, Epilogue, MultipartDecoder, NeedData

MiB = 1024 * 1024
BOUNDARY = "----MomentoBenchBoundary7MA4YWxkTrZu0gW"


def body(size: int) -> list[bytes]:
    """A form with one file part of `size` random bytes, cut in 1 MiB reads."""
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"v.mp4\"\r\n"
            "Content-Type: video/mp4\r\n\r\n").encode()
    whole = head + os.urandom(size) + f"\r\n--{BOUNDARY}--\r\n".encode()
    return [whole[i:i + MiB] for i in range(0, len(whole), MiB)]


def with_multipart(chunks: list[bytes]) -> int:
    """Bytes of file data multipart's push parser yields."""
    parser, n = PushMultipartParser(BOUNDARY), 0
    for chunk in chunks + [b""]:
        for event in parser.parse(chunk):
            if isinstance(event, (bytes, bytearray)):
                n += len(event)
    return n


def with_werkzeug(chunks: list[bytes]) -> int:
    """Bytes of file data werkzeug's decoder yields."""
    decoder, n = MultipartDecoder(BOUNDARY.encode(), 2 * MiB), 0
    for chunk in chunks + [None]:
        decoder.receive_data(chunk)
        while not isinstance(event := decoder.next_event(), (NeedData, Epilogue)):
            if isinstance(event, Data):
                n += len(event.data)
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=200, help="MB of the file part")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    chunks = body(args.size * 1_000_000)
    times: dict[str, list[float]] = {"multipart": [], "werkzeug": []}
    for _ in range(args.repeats):  # in turn, so drift hits both alike
        for name, parse in (("multipart", with_multipart), ("werkzeug", with_werkzeug)):
            start = time.process_time()
            assert parse(chunks) == args.size * 1_000_000
            times[name].append(time.process_time() - start)
    ratios = [w / m for m, w in zip(times["multipart"], times["werkzeug"])]
    print(f"{'parser':12} {'CPU s per body':>22}")
    for name, values in times.items():
        print(f"{name:12} {statistics.median(values):>8.3f} ({min(values):.3f}-{max(values):.3f})")
    print(f"werkzeug / multipart: {statistics.median(times['werkzeug']) / statistics.median(times['multipart']):.1f}x "
          f"({min(ratios):.1f}-{max(ratios):.1f}) for {args.size} MB")


if __name__ == "__main__":
    main()
