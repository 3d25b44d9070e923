"""Search latency against library size: fills one user's library, times the searches, compares sizes.

Fills a library of N uploads (and one of N/10) for one user on the local backend (SQLite) and on a moto
server (DynamoDB), then reports the median time of: the newest 50, a one-tag search, a three-tag AND,
an OR of two tags and a date range, and the ratio between the two sizes. Tags are drawn the way photo
libraries have them: each upload belongs to an event whose tags it carries (beach + family + summer),
plus a few loose tags. Not a test: run it by hand.

    python bench/search.py                       # 100,000 local, 20,000 on moto
    python bench/search.py --local 20000 --moto 0
"""
from __future__ import annotations

import argparse
import hashlib
import os
import random
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ulid import ULID  # noqa: E402

from momento.models import PHOTO, VIDEO, Upload  # noqa: E402
from momento.search import build_query, search  # noqa: E402

EVENTS = [("beach", "family", "summer"), ("hike", "mountain", "friends"), ("birthday", "family", "party"),
          ("city", "night", "travel"), ("snow", "ski", "winter"), ("garden", "flowers", "spring")]
LOOSE = [f"tag{i:03d}" for i in range(200)]
QUERIES = {
    "newest 50": {},
    "one tag": {"tags": ["family"]},
    "three-tag AND": {"tags": ["beach", "family", "summer"]},
    "OR of two tags": {"any_tags": ["snow", "night"]},
    "date range (a year)": {"start": "2021-01-01", "end": "2021-12-31"},
}


def library(user_id: str, n: int, seed: int = 1):
    """n uploads, oldest first, with event tags, loose tags, kinds and capture dates over eleven years."""
    rng = random.Random(seed)
    base = 1_600_000_000_000
    for i in range(n):
        kind = VIDEO if rng.random() < 0.15 else PHOTO
        day = rng.randrange(0, 11 * 365)
        year, rest = 2015 + day // 365, day % 365
        taken = f"{year}-{1 + rest // 31 % 12:02d}-{1 + rest % 28:02d}T12:00:00Z"
        tags = set(rng.choice(EVENTS)) | set(rng.sample(LOOSE, rng.randint(0, 2)))
        yield Upload(
            user_id=user_id, id=str(ULID.from_timestamp((base + i * 1000) / 1000)), kind=kind,
            filename=f"IMG_{i:06d}.{'mp4' if kind == VIDEO else 'jpg'}", mime="image/jpeg", ext="jpg",
            size=2_000_000 + i, sha256=hashlib.sha256(f"{user_id}/{i}".encode()).hexdigest(),
            uploaded_at="2026-01-01T00:00:00Z", taken_at=taken, tags=tuple(sorted(tags)),
            auto_tags=(f"kind:{kind}", f"year:{year}", f"month:{taken[:7]}", "camera:apple"),
        )


@contextmanager
def one_transaction(catalog):
    """SQLite fill in large transactions: put_upload's own transactions become no-ops inside this one."""
    db = catalog.db
    real = catalog._tx

    @contextmanager
    def joined():
        yield db

    db.execute("BEGIN IMMEDIATE")
    catalog._tx = joined
    try:
        yield
        db.execute("COMMIT")
    finally:
        catalog._tx = real


def fill(catalog, user_id: str, n: int, local: bool) -> float:
    """Put n uploads; seconds taken."""
    start = time.perf_counter()
    uploads = list(library(user_id, n))
    if local:
        for at in range(0, n, 2000):
            with one_transaction(catalog):
                for upload in uploads[at:at + 2000]:
                    catalog.put_upload(upload)
    else:
        # moto's transactions are slow (and it is not safe under several writers): write the records in
        # batches, then build the index from them with the same code the search-index migration uses.
        from momento.catalog.dynamo_items import s as string, to_item
        from momento.catalog.records import upload_to_dict

        requests = []
        for upload in uploads:
            doc = upload_to_dict(upload)
            key = {"userId": string(doc.pop("user_id")), "uploadId": string(doc.pop("id"))}
            requests.append({"PutRequest": {"Item": key | to_item(doc) | {"rev": {"N": "0"}}}})
        catalog._batch_write("uploads", requests)
        catalog.rebuild_index(user_id)
    return time.perf_counter() - start


def run_query(catalog, user_id: str, kw: dict) -> tuple[float, int]:
    """Milliseconds and result count of one query's first page."""
    start = time.perf_counter()
    if not kw:
        page = catalog.list_uploads(user_id, limit=50)
    else:
        page = search(catalog, user_id, build_query(**kw), limit=50, cursor=None)
    return (time.perf_counter() - start) * 1000, len(page.items)


def run_backend(name: str, make, size: int, repeats: int) -> list[tuple]:
    """Fill both sizes, then time the queries in alternation so drift on a busy machine hits both alike."""
    libraries = {}
    for label, n in (("full", size), ("tenth", size // 10)):
        catalog, local = make(f"{name}-{label}")
        seconds = fill(catalog, f"bench-{label}", n, local)
        print(f"  {name}: filled {n:,} uploads in {seconds:.1f} s", file=sys.stderr)
        libraries[label] = catalog
    times = {(label, q): [] for label in libraries for q in QUERIES}
    hits = {}
    for _ in range(repeats):
        for query, kw in QUERIES.items():
            for label, catalog in libraries.items():
                ms, count = run_query(catalog, f"bench-{label}", kw)
                times[(label, query)].append(ms)
                hits[(label, query)] = count
    rows = []
    for query in QUERIES:
        full, tenth = statistics.median(times[("full", query)]), statistics.median(times[("tenth", query)])
        rows.append((name, query, size, full, size // 10, tenth, full / tenth, hits[("full", query)],
                     hits[("tenth", query)]))
    return rows


def local_maker(root: str):
    from momento.catalog.sqlite import SqliteCatalog

    def make(label: str):
        catalog = SqliteCatalog(os.path.join(root, label, "momento.sqlite3"))
        catalog.create_schema()
        return catalog, True

    return make


def moto_maker():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server._server.server_address[:2]
    os.environ.update(AWS_ENDPOINT_URL=f"http://{host}:{port}", AWS_ACCESS_KEY_ID="bench",
                      AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    from momento.catalog.dynamodb import DynamoCatalog

    def make(label: str):
        catalog = DynamoCatalog(f"bench-{label}-")
        catalog.create_schema()
        return catalog, False

    return make


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--local", type=int, default=100_000, help="library size on SQLite (0 to skip)")
    parser.add_argument("--moto", type=int, default=20_000, help="library size on a moto server (0 to skip)")
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per query")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as root:
        if args.local:
            rows += run_backend("local", local_maker(root), args.local, args.repeats)
        if args.moto:
            rows += run_backend("moto", moto_maker(), args.moto, max(3, args.repeats // 3))
    print(f"{'backend':8} {'query':22} {'size':>8} {'median ms':>10} {'size/10':>8} {'median ms':>10} "
          f"{'ratio':>6} {'hits':>9}")
    for backend, query, n, ms, n10, ms10, ratio, hits, hits10 in rows:
        print(f"{backend:8} {query:22} {n:>8,} {ms:>10.2f} {n10:>8,} {ms10:>10.2f} {ratio:>6.2f} "
              f"{hits:>4}/{hits10:<4}")
    worst = {b: max(r[6] for r in rows if r[0] == b) for b in {r[0] for r in rows}}
    print("worst ratio full/tenth: " + ", ".join(f"{b} {w:.2f}" for b, w in sorted(worst.items())))


if __name__ == "__main__":
    main()
