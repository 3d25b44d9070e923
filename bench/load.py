"""Load: a real server (gunicorn, several workers, local backend, a temporary folder) and, from this second
process on loopback, N simulated users uploading small generated JPEGs, listing, searching and downloading
for a fixed time. Then every acknowledged upload is checked: listed, and stored whole (sha256 of a download).

Reports requests per second, p50/p99 latency per route, errors and uploads lost; exits non-zero on any 5xx,
transport error, corrupt download or lost upload. Rate limits are turned off for the run: with several
workers and memory:// storage each worker would count alone.

    python bench/load.py --help
    python bench/load.py --users 50 --duration 30 --workers 4
"""
from __future__ import annotations

import argparse
import hashlib
import http.client
import io
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import free_port  # noqa: E402
TAGS = ["beach", "family", "city", "snow", "dog", "sunset", "work", "food"]
MIX = [("upload", 3), ("list", 3), ("search", 2), ("download", 2)]


def make_users(data_dir: Path, count: int) -> list[tuple[str, str]]:
    """Accounts and API tokens, made directly in the server's data folder before it starts."""
    from momento import create_app
    from momento.accounts import issue_token, register

    app = create_app({"DATA_DIR": str(data_dir), "SECRET_KEY": "load", "WORKER_THREADS": 0})
    catalog = app.extensions["momento"].catalog

    def one(i: int) -> tuple[str, str]:
        with app.app_context():
            user = register(catalog, f"load{i}@example.com", secrets.token_urlsafe(12))
            return user.email, issue_token(catalog, user)

    with ThreadPoolExecutor(4) as pool:  # argon2 leaves the GIL while it hashes
        users = list(pool.map(one, range(count)))
    catalog.close()
    return users


@contextmanager
def gunicorn(data_dir: Path, *, workers: int, threads: int, log: Path, taggers: str | None = None):
    """Momento under gunicorn on a free loopback port; yields the port."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOMENTO_", "AWS_"))}
    env |= {"MOMENTO_DATA_DIR": str(data_dir), "MOMENTO_SECRET_KEY": secrets.token_urlsafe(16),
            "MOMENTO_RATELIMIT_ENABLED": "0", "MOMENTO_WORKER_THREADS": "0", "PYTHONUNBUFFERED": "1"}
    if taggers is not None:
        env["MOMENTO_TAGGERS"] = taggers
    command = [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--worker-class", "gthread",
               "--threads", str(threads), "--bind", f"127.0.0.1:{port}", "--timeout", "120",
               "--graceful-timeout", "10", "--backlog", "512", "--log-level", "warning", "wsgi:app"]
    with log.open("ab") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start:\n{log.read_text()[-3000:]}")
            try:
                if request(port, "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def request(port: int, method: str, path: str, *, token: str | None = None, body: bytes | None = None,
            headers: dict | None = None, timeout: float = 60) -> tuple[int, bytes]:
    """One request on a new connection (no keep-alive races to tell apart from real errors)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        conn.request(method, path, body=body, headers=all_headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def jpeg_pool(seed: int, count: int = 16) -> list[bytes]:
    """Small JPEGs of a few sizes, noisy enough to look like photos."""
    from PIL import Image

    rng = random.Random(seed)
    out = []
    for _ in range(count):
        w, h = rng.choice([(96, 64), (160, 120), (320, 240), (640, 480)])
        img = Image.frombytes("RGB", (w, h), rng.randbytes(w * h * 3))
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=rng.choice([60, 80, 90]))
        out.append(buf.getvalue())
    return out


def multipart(data: bytes, filename: str, tags: str) -> tuple[bytes, str]:
    boundary = secrets.token_hex(12)
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"tags\"\r\n\r\n{tags}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            "Content-Type: image/jpeg\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@dataclass
class Stats:
    """What the users saw, shared by their threads."""

    latencies: dict = field(default_factory=lambda: defaultdict(list))
    statuses: dict = field(default_factory=lambda: defaultdict(int))
    errors: list = field(default_factory=list)
    acknowledged: dict = field(default_factory=dict)  # upload id -> (token, sha256, size)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, route: str, seconds: float, status: int) -> None:
        with self.lock:
            self.latencies[route].append(seconds)
            self.statuses[status] += 1
            if status >= 500 or status == 0:
                self.errors.append(f"{route} -> {status or 'transport error'}")


def simulated_user(port: int, token: str, pool: list[bytes], deadline: float, stats: Stats, seed: int) -> None:
    """Upload, list, search and download in a random mix until the deadline."""
    rng = random.Random(seed)
    mine: list[tuple[str, str]] = []  # (id, sha256) of this user's acknowledged uploads
    actions, weights = zip(*MIX)
    while time.monotonic() < deadline:
        action = rng.choices(actions, weights)[0] if mine else "upload"
        started = time.monotonic()
        try:
            if action == "upload":
                data = rng.choice(pool) + rng.randbytes(16)  # unique bytes; decoders ignore what follows the image
                body, ctype = multipart(data, f"IMG_{rng.randrange(10**4):04}.jpg", ",".join(rng.sample(TAGS, 2)))
                route = "POST /api/v1/uploads"
                status, answer = request(port, "POST", "/api/v1/uploads", token=token, body=body,
                                         headers={"Content-Type": ctype})
                if status in (200, 201):
                    up = json.loads(answer)
                    sha = hashlib.sha256(data).hexdigest()
                    if up["sha256"] != sha:
                        stats.errors.append(f"upload {up['id']}: the server reports another sha256")
                    mine.append((up["id"], sha))
                    with stats.lock:
                        stats.acknowledged[up["id"]] = (token, sha, len(data))
                elif status < 500:
                    stats.errors.append(f"upload refused: {status} {answer[:200]!r}")
            elif action == "list":
                route = "GET /api/v1/uploads"
                status, _ = request(port, "GET", f"/api/v1/uploads?limit={rng.choice([10, 50])}", token=token)
            elif action == "search":
                route = "GET /api/v1/uploads?tag"
                query = urllib.parse.urlencode([("tag", rng.choice(TAGS))] + [("kind", "photo")] * rng.randrange(2))
                status, _ = request(port, "GET", f"/api/v1/uploads?{query}", token=token)
            else:
                upload_id, sha = rng.choice(mine)
                which = rng.choice(["original", "original", "thumbnail"])
                route = f"GET /media/<id>/{which}"
                status, data = request(port, "GET", f"/media/{upload_id}/{which}", token=token)
                if status == 200 and which == "original" and hashlib.sha256(data).hexdigest() != sha:
                    stats.errors.append(f"download {upload_id}: bytes differ from the upload")
        except OSError as exc:
            status = 0
            stats.errors.append(f"{action}: {type(exc).__name__}: {exc}")
        stats.note(route if status else action, time.monotonic() - started, status)


def check_everything_stored(port: int, users: list[tuple[str, str]], stats: Stats) -> dict:
    """Every acknowledged upload listed and downloaded whole; the count of those that are not."""
    listed: set[str] = set()
    for _, token in users:
        cursor = ""
        while True:
            status, body = request(port, "GET", f"/api/v1/uploads?limit=200{cursor}", token=token)
            page = json.loads(body)
            listed.update(item["id"] for item in page["items"])
            if not page["next_cursor"]:
                break
            cursor = f"&cursor={page['next_cursor']}"
    missing = [i for i in stats.acknowledged if i not in listed]
    corrupt = []
    for upload_id, (token, sha, size) in stats.acknowledged.items():
        status, data = request(port, "GET", f"/media/{upload_id}/original", token=token)
        if status != 200 or len(data) != size or hashlib.sha256(data).hexdigest() != sha:
            corrupt.append(upload_id)
    return {"acknowledged": len(stats.acknowledged), "not_listed": len(missing), "not_whole": len(corrupt),
            "lost": len(set(missing) | set(corrupt))}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))] if ordered else 0.0


def run_load(*, users: int = 50, duration: float = 30, workers: int = 4, threads: int = 4, seed: int = 1,
             data_dir: Path | None = None, taggers: str | None = None) -> dict:
    """Start the server, drive it, check it; the report as a dict."""
    folder = Path(data_dir or tempfile.mkdtemp(prefix="momento-load-"))
    try:
        accounts = make_users(folder / "data", users)
        pool = jpeg_pool(seed)
        stats = Stats()
        with gunicorn(folder / "data", workers=workers, threads=threads, log=folder / "server.log",
                      taggers=taggers) as port:
            started = time.monotonic()
            deadline = started + duration
            runners = [threading.Thread(target=simulated_user, args=(port, token, pool, deadline, stats, seed + i))
                       for i, (_, token) in enumerate(accounts)]
            for t in runners:
                t.start()
            for t in runners:
                t.join()
            elapsed = time.monotonic() - started
            stored = check_everything_stored(port, accounts, stats)
        total = sum(len(v) for v in stats.latencies.values())
        routes = {route: {"requests": len(v), "p50_ms": round(percentile(v, 50) * 1000, 1),
                          "p99_ms": round(percentile(v, 99) * 1000, 1), "max_ms": round(max(v) * 1000, 1)}
                  for route, v in sorted(stats.latencies.items())}
        return {"users": users, "workers": workers, "threads": threads, "taggers": taggers, "seconds": round(elapsed, 1),
                "requests": total, "requests_per_second": round(total / elapsed, 1), "routes": routes,
                "statuses": dict(sorted(stats.statuses.items())), "server_errors": sum(
                    n for s, n in stats.statuses.items() if s >= 500), "errors": stats.errors[:20],
                "error_count": len(stats.errors), **stored}
    finally:
        if data_dir is None:
            shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=50, help="simulated users at once (default 50)")
    parser.add_argument("--duration", type=float, default=30, help="seconds of load (default 30)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes (default 4)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker (default 4)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the users' choices (default 1)")
    parser.add_argument("--taggers", help="MOMENTO_TAGGERS for the server ('' for none; default: the server's own)")
    parser.add_argument("--keep", metavar="DIR", help="keep the data folder and server log here")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args()
    report = run_load(users=args.users, duration=args.duration, workers=args.workers, threads=args.threads,
                      seed=args.seed, data_dir=Path(args.keep) if args.keep else None, taggers=args.taggers)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        taggers = "server default" if report["taggers"] is None else report["taggers"] or "none"
        print(f"{report['users']} users, {report['workers']} workers x {report['threads']} threads, taggers {taggers}, "
              f"{report['seconds']} s: {report['requests']} requests, {report['requests_per_second']} req/s")
        print(f"{'route':32} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
        for route, r in report["routes"].items():
            print(f"{route:32} {r['requests']:>8} {r['p50_ms']:>8} {r['p99_ms']:>8} {r['max_ms']:>8}")
        print(f"statuses {report['statuses']}; 5xx {report['server_errors']}; errors {report['error_count']}")
        for line in report["errors"]:
            print(f"  {line}")
        print(f"uploads acknowledged {report['acknowledged']}, not listed {report['not_listed']}, "
              f"not whole {report['not_whole']}, lost {report['lost']}")
    ok = report["server_errors"] == 0 and report["error_count"] == 0 and report["lost"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
