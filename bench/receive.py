"""Upload receive path: throughput against the floor of the job, and server memory per transfer.

1. local backend: a 200 MB video through Momento against a bare socket sink that reads the same request,
   hashes it (sha256), writes it to a file and fsyncs it before answering (Momento answers only once the
   original is on disk; --no-sink-fsync leaves the fsync out).              target: at least 0.7x
   Each measure starts once the disk is quiet, as below. Also: the same server with its allocator set back as
   it was before momento/memory.py's tuning (bench/untuned_allocator.py), the uploads in turn.
2. aws backend on a moto server: the same upload against a direct boto3 put_object to that moto server.
                                                                            target: at least 0.8x
   Also, in the same rounds: boto3's own multipart upload of the file with Momento's part settings (no server
   in between) and the time of its CompleteMultipartUpload alone, and the CPU Momento and moto use per upload.
   Ratios are medians with their range over the rounds (--repeats). Each measure starts once the disk is
   quiet (os.sync, then half a second), and every object a round wrote is deleted from moto after it.
3. memory: the server's peak RSS above idle while 1, 4 and 16 uploads (and downloads, through the server)
   run at once, per transfer; a fresh server and account per round, medians and ranges of --memory-repeats.
                                 target: 5 MiB per upload (local), 2 x part size + 5 MiB (aws)

Not a test: run it by hand (python bench/receive.py --help).
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import hashlib
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (MiB, PeakSampler, ROOT, download, free_port, make_token, momento_server,  # noqa: E402
                    multipart_head_tail, rss_mib, stop, temp_dir, upload, video_file, wait_for)


def socket_sink_seconds(path: Path, folder: str, fsync: bool = True) -> float:
    """Send the same HTTP request to a sink that hashes and writes it (fsync'ed before the answer, as a durable
    job must); seconds until it answered."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    head, tail, boundary = multipart_head_tail(path.name)
    length = len(head) + path.stat().st_size + len(tail)
    request_head = (f"POST /sink HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
                    f"Content-Length: {length}\r\n\r\n").encode()

    def sink():
        conn, _ = server.accept()
        digest, left = hashlib.sha256(), len(request_head) + length
        with open(os.path.join(folder, "sink.bin"), "wb") as out:
            while left > 0:
                data = conn.recv(min(1 * MiB, left))
                if not data:
                    break
                digest.update(data)
                out.write(data)
                left -= len(data)
            out.flush()
            if fsync:
                os.fsync(out.fileno())
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        conn.close()

    thread = threading.Thread(target=sink)
    thread.start()
    client = socket.create_connection(("127.0.0.1", port))
    start = time.perf_counter()
    client.sendall(request_head + head)
    with open(path, "rb") as f:
        while data := f.read(1 * MiB):
            client.sendall(data)
    client.sendall(tail)
    client.recv(100)
    seconds = time.perf_counter() - start
    thread.join()
    client.close()
    server.close()
    return seconds


def moto_env(folder: str) -> tuple[subprocess.Popen, dict]:
    """A moto server subprocess and the environment that points Momento and boto3 at it."""
    port = free_port()
    # moto's DynamoDB serialized as the test suite's is (tests/backends.py): left alone, concurrent transactions
    # race inside moto (500s), which DynamoDB's isolated transactions never do
    serve = ("import sys; from tests.backends import serialize_moto_dynamodb; serialize_moto_dynamodb(); "
             "from moto.server import main; main(sys.argv[1:])")
    proc = subprocess.Popen([sys.executable, "-c", serve, "-H", "127.0.0.1", "-p", str(port)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(port, "/moto-api/")
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "bench",
           "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
           "MOMENTO_BACKEND": "aws", "MOMENTO_BUCKET": "bench-bucket", "MOMENTO_TABLE_PREFIX": "bench-",
           "MOMENTO_DATA_DIR": folder}
    os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
    subprocess.run([sys.executable, "-m", "flask", "momento", "init"], cwd=ROOT, env=os.environ | env |
                   {"MOMENTO_SECRET_KEY": "bench"}, check=True, capture_output=True)
    return proc, env


def throughput(args, folder: str) -> list[tuple]:
    rows = []
    path = video_file(args.size * MiB, folder)
    mb = path.stat().st_size / 1e6
    if "local" not in args.skip:
        rows += local_throughput(args, folder, path, mb)
    if "aws" not in args.skip:
        rows += aws_throughput(args, folder, path, mb)
    return rows


def local_throughput(args, folder: str, path: Path, mb: float) -> list[tuple]:
    rows = []
    env = {"MOMENTO_DATA_DIR": os.path.join(folder, "local"), "MOMENTO_MAX_VIDEO_BYTES": str(4 * 1024 * MiB)}
    token = make_token(env)
    floors, ours, untuned = [], [], []
    with momento_server(env) as (port, _), \
            momento_server(env, config=str(Path(__file__).with_name("untuned_allocator.py"))) as (old_port, _):
        for i in range(args.repeats):  # in turn, so drift on a busy machine hits all three alike
            settle()
            floors.append(socket_sink_seconds(path, folder, args.sink_fsync))
            for server, times in ((port, ours), (old_port, untuned)):
                settle()
                status, body, seconds = upload(server, token, path)
                assert status == 201 or body.get("duplicate"), body
                times.append(seconds)
                if status == 201:  # the next round must not be a duplicate: delete it for good
                    _forget(env, body["id"])
    floor, mine, old = statistics.median(floors), statistics.median(ours), statistics.median(untuned)
    rows.append((f"local: Momento vs socket sink (sha256 + file{' + fsync' if args.sink_fsync else ''})",
                 f"{mb / mine:.0f} MB/s", f"{mb / floor:.0f} MB/s", ratio(floors, ours), "0.70x"))
    rows.append(("local: Momento vs Momento, allocator untuned", f"{mb / mine:.0f} MB/s", f"{mb / old:.0f} MB/s",
                 ratio(untuned, ours), ""))
    return rows


def aws_throughput(args, folder: str, path: Path, mb: float) -> list[tuple]:
    """Per round, in turn: a direct put_object, Momento's upload, and boto3's own multipart upload of the file with
    Momento's part settings (no server in between), whose CompleteMultipartUpload is timed on its own."""
    rows = []
    moto, aws = moto_env(folder)
    try:
        import boto3
        from boto3.s3.transfer import TransferConfig

        s3 = boto3.client("s3")
        part = int(aws.get("MOMENTO_S3_PART_SIZE", 5 * MiB))
        multipart = TransferConfig(multipart_threshold=part, multipart_chunksize=part, max_concurrency=2)
        completing = _timer(s3, "CompleteMultipartUpload")
        token = make_token(aws)
        puts, ours, boto_mp, cpu_ours, cpu_moto = [], [], [], [], []
        variants = [_variant(path, i, folder) for i in range(args.repeats)]  # written before, not during, a round
        os.sync()
        with momento_server(aws | {"MOMENTO_MAX_VIDEO_BYTES": str(4 * 1024 * MiB)}) as (port, pid):
            for i in range(args.repeats):
                settle()
                start = time.perf_counter()
                with open(path, "rb") as f:
                    s3.put_object(Bucket="bench-bucket", Key=f"direct/{i}.mp4", Body=f)
                puts.append(time.perf_counter() - start)
                s3.delete_object(Bucket="bench-bucket", Key=f"direct/{i}.mp4")
                settle()
                before = cpu_seconds(pid), cpu_seconds(moto.pid)
                status, body, seconds = upload(port, token, variants[i])
                assert status == 201, body
                ours.append(seconds)
                cpu_ours.append(cpu_seconds(pid) - before[0])
                cpu_moto.append(cpu_seconds(moto.pid) - before[1])
                _drop_objects(s3, "bench-bucket", "user-")  # as the references' objects are: moto holds no more
                settle()
                start = time.perf_counter()
                s3.upload_file(str(path), "bench-bucket", f"multipart/{i}.mp4", Config=multipart)
                boto_mp.append(time.perf_counter() - start)
                s3.delete_object(Bucket="bench-bucket", Key=f"multipart/{i}.mp4")
        put, mine, theirs = statistics.median(puts), statistics.median(ours), statistics.median(boto_mp)
        rows.append(("aws (moto): Momento vs boto3 put_object", f"{mb / mine:.0f} MB/s", f"{mb / put:.0f} MB/s",
                     ratio(puts, ours), "0.80x"))
        rows.append((f"aws (moto): boto3 upload_file, {part // MiB} MiB parts x 2, vs put_object",
                     f"{mb / theirs:.0f} MB/s", f"{mb / put:.0f} MB/s", ratio(puts, boto_mp), ""))
        rows.append(("aws (moto): its CompleteMultipartUpload alone (s)", _median_range(completing, 2), "", "", ""))
        rows.append(("aws (moto): CPU per Momento upload (s), Momento / moto", f"{_median_range(cpu_ours, 2)} / "
                     f"{_median_range(cpu_moto, 2)}", "", "", ""))
    finally:
        stop(moto)
    return rows


def settle() -> None:
    """Start a measure from a quiet disk: what the one before wrote (moto's temporary files) is written back
    first, so its writeback does not land on whichever measure comes next."""
    os.sync()
    time.sleep(0.5)


def _drop_objects(s3, bucket: str, prefix: str) -> None:
    """Delete every object under prefix (the record stays: the next round's bytes differ anyway)."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=item["Key"])


def _timer(client, operation: str) -> list[float]:
    """Seconds each call of `operation` takes on this client, appended as they end."""
    seconds, started = [], {}
    client.meta.events.register(f"before-call.s3.{operation}",
                                lambda **_: started.__setitem__("t", time.perf_counter()))
    client.meta.events.register(f"after-call.s3.{operation}",
                                lambda **_: seconds.append(time.perf_counter() - started["t"]))
    return seconds


def cpu_seconds(pid: int) -> float:
    """User and system CPU a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ratio(references: list[float], ours: list[float]) -> str:
    """The median ratio of reference time to ours, and its range over the rounds."""
    per_round = [r / o for r, o in zip(references, ours)]
    return f"{statistics.median(references) / statistics.median(ours):.2f}x " \
           f"({min(per_round):.2f}-{max(per_round):.2f})"


def _variant(path: Path, i: int, folder: str) -> Path:
    """The same file with a different last byte, so repeated uploads are not duplicates."""
    out = Path(folder) / f"variant-{i}.mp4"
    if not out.exists():
        os.link(path, out) if i == 0 else _copy_with_tail(path, out, i)
    return out


def _copy_with_tail(src: Path, dst: Path, i: int) -> None:
    with open(src, "rb") as f, open(dst, "wb") as out:
        while data := f.read(8 * MiB):
            out.write(data)
        out.write(bytes([i % 256]))


def _forget(env: dict, upload_id: str) -> None:
    """Remove an upload's record and objects so the same bytes count as new (local backend)."""
    from momento.catalog.sqlite import SqliteCatalog

    catalog = SqliteCatalog(os.path.join(env["MOMENTO_DATA_DIR"], "momento.sqlite3"))
    for user in catalog.iter_users():
        upload = catalog.get_upload(user.id, upload_id)
        if upload:
            catalog.delete_upload(user.id, upload_id)
            for key in upload.object_keys:
                p = Path(env["MOMENTO_DATA_DIR"], "objects", key)
                p.unlink(missing_ok=True)


def memory(args, folder: str, backend: str) -> list[tuple]:
    """Peak RSS above idle per transfer at each concurrency, `--memory-repeats` fresh servers each: median (range)."""
    rows = []
    size = args.memory_size * MiB
    files = [_copy_unique(video_file(size, folder), folder, i) for i in range(max(args.concurrency) + 1)]
    warm, files = files[-1], files[:-1]  # the warm-up's own file, so no measured upload is its duplicate
    moto = None
    if backend == "aws":
        moto, env = moto_env(os.path.join(folder, "aws-mem"))
        env |= {"MOMENTO_MEDIA_DELIVERY": "proxy"}  # downloads through the server (presigned ones never touch it)
    else:
        env = {"MOMENTO_DATA_DIR": os.path.join(folder, "mem")}
    part = int(env.get("MOMENTO_S3_PART_SIZE", 5 * MiB)) if backend == "aws" else 0
    try:
        for n in args.concurrency:
            ups, downs = [], []
            for _ in range(args.memory_repeats):
                up, down = _memory_round(env, n, files[:n], warm, max(args.concurrency) + 4)
                ups.append(up)
                downs.append(down)
            target = 2 * part / MiB + 5 if backend == "aws" else 5
            rows.append((backend, n, _median_range(ups), _median_range(downs), f"{target:.0f}"))
    finally:
        if moto:
            stop(moto)
    return rows


def _memory_round(env: dict, n: int, files: list[Path], warm: Path, threads: int) -> tuple[float, float]:
    """One fresh server and account: MiB per upload and per download with n at once."""
    token = make_token(env)  # a fresh account: the same bytes are not duplicates of an earlier round
    with momento_server(env, threads=threads) as (port, pid):
        upload(port, token, warm)  # warm up: imports, clients, first connections
        time.sleep(0.5)
        idle = rss_mib(pid)
        with PeakSampler(pid) as up, cf.ThreadPoolExecutor(n) as pool:
            results = list(pool.map(lambda p: upload(port, token, p), files))
        failed = [r for r in results if r[0] != 201]
        if failed:
            print(f"  {len(failed)} of {n} uploads not stored: {failed[0][:2]}", file=sys.stderr)
        urls = [r[1]["urls"]["original"] for r in results if r[0] == 201]
        download(port, token, urls[0])  # warm up the download path too
        time.sleep(0.5)
        idle_dl = rss_mib(pid)
        with PeakSampler(pid) as down, cf.ThreadPoolExecutor(n) as pool:
            list(pool.map(lambda u: download(port, token, u), urls))
    return (up.peak - idle) / n, (down.peak - idle_dl) / n


def _median_range(values: list[float], digits: int = 1) -> str:
    """The median of the values and their range."""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def _copy_unique(path: Path, folder: str, i: int) -> Path:
    out = Path(folder) / f"unique-{path.stat().st_size}-{i}.mp4"
    if not out.exists():
        _copy_with_tail(path, out, i)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=200, help="MB of the throughput upload")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each throughput measure")
    parser.add_argument("--memory-size", type=int, default=40, help="MB of each file in the memory runs")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--memory-repeats", type=int, default=3, help="fresh servers per concurrency level")
    parser.add_argument("--sink-fsync", action=argparse.BooleanOptionalAction, default=True,
                        help="the socket sink fsyncs its file before answering (the floor of a durable upload)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["throughput", "memory", "local", "aws"])
    args = parser.parse_args()
    folder = temp_dir()
    stolen = StolenCpu()
    if "throughput" not in args.skip:
        rows = throughput(args, folder)
        print(f"{'measure':60} {'Momento':>14} {'reference':>10} {'ratio (range)':>18} {'target':>7}")
        for r in rows:
            print(f"{r[0]:60} {r[1]:>14} {r[2]:>10} {r[3]:>18} {r[4]:>7}")
    if "memory" not in args.skip:
        rows = ([] if "local" in args.skip else memory(args, folder, "local")) + \
            ([] if "aws" in args.skip else memory(args, folder, "aws"))
        print(f"\n{'backend':8} {'at once':>7} {'MiB/upload':>18} {'MiB/download':>18} {'target MiB':>11}")
        for r in rows:
            print(f"{r[0]:8} {r[1]:>7} {r[2]:>18} {r[3]:>18} {r[4]:>11}")
    print(stolen.report())
    print("done")


class StolenCpu:
    """The share of the machine's CPU time its host gave to others during the run (steal, /proc/stat): ratios
    measured while it is high are noise, both sides slowed unevenly."""

    def __init__(self) -> None:
        self.start = self._read()

    @staticmethod
    def _read() -> tuple[int, int] | None:
        try:
            with open("/proc/stat") as f:
                fields = [int(v) for v in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        return (fields[7] if len(fields) > 7 else 0), sum(fields)

    def report(self) -> str:
        end = self._read()
        if self.start is None or end is None or end[1] == self.start[1]:
            return "CPU stolen by the host during the run: unknown"
        share = (end[0] - self.start[0]) / (end[1] - self.start[1])
        return f"CPU stolen by the host during the run: {share:.1%}" + (" (figures unreliable)" if share > 0.05 else "")


if __name__ == "__main__":
    main()
