"""Search latency against library size: fills one user's library, times the searches, compares sizes.

Fills a library of N uploads (and one of N/10) for one user on the local backend (SQLite) and on a moto
server (DynamoDB), then reports the median time of: the newest 50 (by upload, and by date taken as the gallery shows them), a one-tag search, a three-tag AND,
an OR of two tags and a date range, and the ratio between the two sizes. Tags are drawn the way photo
libraries have them: each upload belongs to an event whose tags it carries (beach + family + summer),
plus a few loose tags. Each query's first page is checked against the answer computed from the generated
uploads. Not a test: run it by hand.

On DynamoDB the report also gives, per query and size, the calls made and the items they read (Query:
ScannedCount; GetItem and BatchGetItem: items returned): on real DynamoDB a Query costs by the items it
reads, so these counts, not moto's times, say how the design scales. moto sorts every item of the table
on each Query before keeping the queried partition, so its times grow with the table whatever the
design; the rows "moto*" time the same libraries again with moto's Query reading only the queried
partition, a rough model of DynamoDB's cost.

moto is filled with the items `put_upload` would leave, computed with the catalog's own item builders and
written with BatchWriteItem (put_upload's transactions copy moto's tables, and the index rebuild queries
every partition, each a sort of the whole table); `--check` first fills a small library both ways and
compares the tables item for item.

    python bench/search.py                       # 100,000 local, 20,000 on moto
    python bench/search.py --local 20000 --moto 0
    python bench/search.py --local 0 --moto 20000 --repeats 6
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ulid import ULID  # noqa: E402

from momento.models import PHOTO, VIDEO, Upload  # noqa: E402
from momento.search import build_query, by_date, search  # noqa: E402

EVENTS = [("beach", "family", "summer"), ("hike", "mountain", "friends"), ("birthday", "family", "party"),
          ("city", "night", "travel"), ("snow", "ski", "winter"), ("garden", "flowers", "spring")]
LOOSE = [f"tag{i:03d}" for i in range(200)]
TAKEN = {"order": "taken"}  # the gallery's default view: newest taken first (by_date), not a search
QUERIES = {
    "newest 50": {},
    "newest 50 taken": TAKEN,
    "one tag": {"tags": ["family"]},
    "three-tag AND": {"tags": ["beach", "family", "summer"]},
    "OR of two tags": {"any_tags": ["snow", "night"]},
    "date range (a year)": {"start": "2021-01-01", "end": "2021-12-31"},
}
PAGE = 50


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


def expected_ids(uploads: list[Upload], kw: dict) -> list[str]:
    """The first page a query must answer, computed from the uploads themselves."""
    if kw is TAKEN:
        live = [u for u in uploads if not u.trashed]
        return [u.id for u in sorted(live, key=lambda u: (u.sort_date, u.id), reverse=True)][:PAGE]
    query = build_query(**kw)

    def matches(upload: Upload) -> bool:
        tags = set(upload.tags) | set(upload.auto_tags)
        return (not upload.trashed and set(query.all_tags) <= tags
                and (not query.any_tags or bool(tags & set(query.any_tags)))
                and (not query.start or upload.sort_date >= query.start)
                and (not query.end or upload.sort_date <= query.end))

    return [u.id for u in sorted(uploads, key=lambda u: u.id, reverse=True) if matches(u)][:PAGE]


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


def dynamo_items(catalog, uploads: list[Upload]) -> dict[str, list[dict]]:
    """Per table, the items put_upload leaves for these uploads (one user's, all new): each record, its sha256
    entry and index entries, then the counters summed over the uploads, as rebuild_index sums them."""
    from momento.catalog.dynamo_items import s as string, to_item
    from momento.catalog.indexing import index_delta
    from momento.catalog.records import upload_to_dict

    records, index, counts = [], [], {}
    for upload in uploads:
        doc = upload_to_dict(upload)
        key = {"userId": string(doc.pop("user_id")), "uploadId": string(doc.pop("id"))}
        records.append(key | to_item(doc) | {"rev": {"N": "0"}})
        index.append(catalog._sha_key(upload.user_id, upload.sha256) | {"uploadId": string(upload.id)})
        for write in catalog._index_writes(None, upload):
            if "Put" in write:
                index.append(write["Put"]["Item"])
            elif "Update" not in write:  # counters: summed below
                raise ValueError(f"a new upload should only put index items and add to counters: {write}")
        for name, n in index_delta(None, upload).counts.items():
            counts[name] = counts.get(name, 0) + n
    if uploads:
        user_id = uploads[0].user_id
        index += [catalog._word_key(user_id, name) | {"n": {"N": str(n)}}
                  for name, n in counts.items() if name.startswith("f:") and n]
        index.append(catalog._counts_key(user_id) | {k: {"N": str(v)} for k, v in counts.items()
                                                     if not k.startswith("f:") and v})
    return {"uploads": records, "index": index}


def fill(catalog, uploads: list[Upload], local: bool) -> float:
    """Put the uploads; seconds taken."""
    start = time.perf_counter()
    if local:
        for at in range(0, len(uploads), 2000):
            with one_transaction(catalog):
                for upload in uploads[at:at + 2000]:
                    catalog.put_upload(upload)
    else:
        for table, items in dynamo_items(catalog, uploads).items():
            catalog._batch_write(table, ({"PutRequest": {"Item": item}} for item in items))
            stored = catalog._call("describe_table", TableName=catalog.tables[table])["Table"]["ItemCount"]
            if stored != len(items):
                raise SystemExit(f"{catalog.tables[table]}: {stored} items stored, {len(items)} written")
    return time.perf_counter() - start


def scan_all(catalog, table: str) -> list[str]:
    """Every item of a table, as sorted JSON lines."""
    items, args = [], {"TableName": catalog.tables[table], "ConsistentRead": True}
    while True:
        answer = catalog._call("scan", **args)
        items += [json.dumps(i, sort_keys=True) for i in answer.get("Items", ())]
        if "LastEvaluatedKey" not in answer:
            return sorted(items)
        args["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def check_fill(make, n: int) -> None:
    """Fill n uploads through put_upload and through the batch fill; the tables must hold the same items."""
    uploads = list(library("bench-check", n))
    one_by_one, _ = make("check-put")
    for upload in uploads:
        one_by_one.put_upload(upload)
    batched, _ = make("check-batch")
    fill(batched, uploads, False)
    for table in ("uploads", "index"):
        a, b = scan_all(one_by_one, table), scan_all(batched, table)
        if a != b:
            raise SystemExit(f"check: table {table} differs: {len(set(a) - set(b))} items only from put_upload, "
                             f"{len(set(b) - set(a))} only from the batch fill")
    print(f"  moto: batch fill of {n:,} uploads matches put_upload item for item", file=sys.stderr)


class CallCounter:
    """DynamoDB calls of a client and the items they read: Query's ScannedCount, the items Get/BatchGet return."""

    def __init__(self, client):
        self.calls = self.items = 0
        client.meta.events.register("after-call.dynamodb", self._count)

    def _count(self, parsed=None, model=None, **_):
        self.calls += 1
        parsed = parsed or {}
        if model.name == "Query":
            self.items += parsed.get("ScannedCount", 0)
        elif model.name == "GetItem":
            self.items += "Item" in parsed
        elif model.name == "BatchGetItem":
            self.items += sum(len(v) for v in parsed.get("Responses", {}).values())


def run_query(catalog, user_id: str, kw: dict) -> tuple[float, list[str]]:
    """Milliseconds and result ids of one query's first page."""
    start = time.perf_counter()
    if not kw:
        page = catalog.list_uploads(user_id, limit=PAGE)
    elif kw is TAKEN:
        page = by_date(catalog, user_id, kind=None, limit=PAGE, cursor=None)
    else:
        page = search(catalog, user_id, build_query(**kw), limit=PAGE, cursor=None)
    return (time.perf_counter() - start) * 1000, [u.id for u in page.items]


def fill_backend(name: str, make, size: int) -> dict:
    """label -> (catalog, user id, uploads, call counter or None) for the full and the tenth size."""
    libraries = {}
    for label, n in (("full", size), ("tenth", size // 10)):
        catalog, local = make(f"{name}-{label}")
        uploads = list(library(f"bench-{label}", n))
        seconds = fill(catalog, uploads, local)
        print(f"  {name}: filled {n:,} uploads in {seconds:.1f} s", file=sys.stderr)
        libraries[label] = (catalog, f"bench-{label}", uploads, None if local else CallCounter(catalog.client))
    return libraries


def time_queries(name: str, libraries: dict, repeats: int) -> list[tuple]:
    """Time the queries in alternation so drift on a busy machine hits both sizes alike; the first run of
    each is checked and counted."""
    times = {(label, q): [] for label in libraries for q in QUERIES}
    hits, calls = {}, {}
    for round_ in range(repeats):
        for query, kw in QUERIES.items():
            for label, (catalog, user_id, uploads, counter) in libraries.items():
                before = (counter.calls, counter.items) if counter else None
                ms, ids = run_query(catalog, user_id, kw)
                times[(label, query)].append(ms)
                if round_ == 0:
                    if ids != expected_ids(uploads, kw):
                        raise SystemExit(f"{name} {label} {query}: wrong answer ({len(ids)} hits)")
                    hits[(label, query)] = len(ids)
                    if counter:
                        calls[(label, query)] = (counter.calls - before[0], counter.items - before[1])
        print(f"  {name}: round {round_ + 1}/{repeats} done", file=sys.stderr)
    rows = []
    size, size10 = (len(libraries[label][2]) for label in ("full", "tenth"))
    for query in QUERIES:
        full, tenth = statistics.median(times[("full", query)]), statistics.median(times[("tenth", query)])
        rows.append((name, query, size, full, size10, tenth, full / tenth, hits[("full", query)],
                     hits[("tenth", query)], calls.get(("full", query)), calls.get(("tenth", query))))
    return rows


@contextmanager
def partition_queries():
    """moto's Query, reading only the queried partition instead of every item of the table (base-table
    queries only; index queries and everything else unchanged)."""
    from moto.dynamodb.models.table import Table

    query, all_items = Table.query, Table.all_items
    local = threading.local()

    def partition_query(self, hash_key, *args, **kwargs):
        local.partition = hash_key if kwargs.get("index_name", args[6] if len(args) > 6 else None) is None else None
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            local.partition = None

    def partition_items(self):
        key = getattr(local, "partition", None)
        if key is None or not self.range_key_attr:
            return all_items(self)
        return list(self.items[key].values()) if key in self.items else []

    Table.query, Table.all_items = partition_query, partition_items
    try:
        yield
    finally:
        Table.query, Table.all_items = query, all_items


def local_maker(root: str):
    from momento.catalog.sqlite import SqliteCatalog

    def make(label: str):
        catalog = SqliteCatalog(os.path.join(root, label, "momento.sqlite3"))
        catalog.create_schema()
        return catalog, True

    return make


def moto_maker():
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
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
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per query (a third on moto, at least 3)")
    parser.add_argument("--check", type=int, default=50,
                        help="uploads filled both through put_upload and in batches on moto, to compare (0 to skip)")
    parser.add_argument("--no-partition", action="store_true", help="skip the moto* rows")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as root:
        if args.local:
            rows += time_queries("local", fill_backend("local", local_maker(root), args.local),
                                 args.repeats)
        if args.moto:
            make, repeats = moto_maker(), max(3, args.repeats // 3)
            if args.check:
                check_fill(make, args.check)
            libraries = fill_backend("moto", make, args.moto)
            rows += time_queries("moto", libraries, repeats)
            if not args.no_partition:
                with partition_queries():
                    rows += time_queries("moto*", libraries, repeats)
    print(f"{'backend':8} {'query':22} {'size':>8} {'median ms':>10} {'size/10':>8} {'median ms':>10} "
          f"{'ratio':>6} {'hits':>9} {'calls':>9} {'items read':>11}")
    for backend, query, n, ms, n10, ms10, ratio, hits, hits10, calls, calls10 in rows:
        counted = f"{calls[0]:>4}/{calls10[0]:<4} {calls[1]:>5}/{calls10[1]:<5}" if calls else ""
        print(f"{backend:8} {query:22} {n:>8,} {ms:>10.2f} {n10:>8,} {ms10:>10.2f} {ratio:>6.2f} "
              f"{hits:>4}/{hits10:<4} {counted}")
    worst = {b: max(r[6] for r in rows if r[0] == b) for b in {r[0] for r in rows}}
    print("worst ratio full/tenth: " + ", ".join(f"{b} {w:.2f}" for b, w in sorted(worst.items())))
    if any(r[9] for r in rows):
        print("calls and items read: DynamoDB calls of one run of the query and the items they read, size/size10")


if __name__ == "__main__":
    main()
