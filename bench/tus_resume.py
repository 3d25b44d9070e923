"""Resumable upload (tus) of a 200 MB video with the connection cut three times, against the same upload in one go.

A real Momento server (gunicorn on loopback; local backend, or with --backend aws S3 and DynamoDB on a moto
server) receives the same file twice per round, each time
for a new account (so that neither is a duplicate of the other):

- one go: POST /api/v1/tus/, then one PATCH with the whole file;
- cut:    the same, but the client drops the connection mid-body at 1/4, 2/4 and 3/4 of the file (closes its
          socket while sending, as a phone losing its network does), asks HEAD where to resume, and sends the
          rest from there; a 409 (the server had not yet recorded the cut PATCH) means HEAD again.

Both end with the file stored and recorded (the completing PATCH's answer). The stored bytes are then read back
and compared (sha256) with the file. Target: the cut upload takes at most 1.3x the time of the one in one go.

Each completion's bytes read back from the store to decode the file (momento_store_read_back_bytes_total from
the server's /metrics, before and after the upload) are shown beside the file's size: 0 on the local backend;
on aws the MP4's index and opening frames (a sparse copy), not the whole file.

Not a test: run it by hand (python bench/tus_resume.py --help).
"""
from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import secrets
import shutil
import socket
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import MiB, make_token, momento_server, stop, temp_dir, video_file  # noqa: E402
from receive import moto_env  # noqa: E402

TARGET = 1.3
SEND = 1 * MiB


@dataclass
class Run:
    round: int
    mode: str
    seconds: float
    cuts: int
    conflicts: int
    resent: int  # bytes sent more than once
    upload_id: str
    identical: bool
    read_back: float  # bytes read back from the store to decode it at completion


class TusSession:
    """One tus upload of a file from a plain http.client client."""

    def __init__(self, port: int, token: str, path: Path):
        self.port, self.token, self.path = port, token, path
        self.size = path.stat().st_size
        self.sent = 0

    def _conn(self) -> http.client.HTTPConnection:
        """A new connection (each request gets its own, as after a drop)."""
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)

    def _headers(self, **extra: str) -> dict:
        """The token, the protocol version and `extra`."""
        return {"Authorization": f"Bearer {self.token}", "Tus-Resumable": "1.0.0", **extra}

    def create(self) -> str:
        """POST: a new upload of the file's size; its URL."""
        conn = self._conn()
        conn.request("POST", "/api/v1/tus/", headers=self._headers(**{
            "Upload-Length": str(self.size), "Upload-Metadata": "filename dmlkZW8ubXA0"}))  # video.mp4
        resp = conn.getresponse()
        resp.read()
        if resp.status != 201:
            raise RuntimeError(f"creation answered {resp.status}")
        return resp.getheader("Location")

    def offset(self, url: str) -> int:
        """HEAD: where to resume."""
        conn = self._conn()
        conn.request("HEAD", url, headers=self._headers())
        resp = conn.getresponse()
        resp.read()
        return int(resp.getheader("Upload-Offset"))

    def patch(self, url: str, offset: int, stop: int | None = None) -> tuple[int | None, dict]:
        """Send the file from offset to its end; with `stop`, drop the connection once the file's byte `stop`
        is sent. (status, headers), or (None, {}) after a drop."""
        conn = self._conn()
        conn.putrequest("PATCH", url, skip_accept_encoding=True)
        for name, value in self._headers(**{"Content-Type": "application/offset+octet-stream",
                                            "Upload-Offset": str(offset),
                                            "Content-Length": str(self.size - offset)}).items():
            conn.putheader(name, value)
        conn.endheaders()
        end = self.size if stop is None else stop
        early = False  # the server answered before the end of the body (a 409) and closed
        with open(self.path, "rb") as f:
            f.seek(offset)
            position = offset
            try:
                while position < end:
                    data = f.read(min(SEND, end - position))
                    conn.send(data)
                    position += len(data)
            except (BrokenPipeError, ConnectionResetError):
                early = True
        self.sent += position - offset
        if stop is not None and not early:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
            return None, {}
        try:
            resp = conn.getresponse()
            resp.read()
        except (OSError, http.client.HTTPException):
            return 0, {}  # gone without an answer: ask where to resume
        return resp.status, dict(resp.getheaders())


def one_upload(port: int, token: str, path: Path, cuts: int) -> tuple[float, str, int, int]:
    """(seconds, upload id, conflicts, bytes sent) of one tus upload with `cuts` dropped connections."""
    session = TusSession(port, token, path)
    marks = [session.size * (i + 1) // (cuts + 1) for i in range(cuts)]
    conflicts = 0
    start = time.perf_counter()
    url = session.create()
    offset = 0
    while True:
        stop = marks.pop(0) if marks else None
        status, headers = session.patch(url, offset, stop)
        if status == 204 and "Momento-Upload-Id" in headers:
            return time.perf_counter() - start, headers["Momento-Upload-Id"], conflicts, session.sent
        if status not in (None, 0, 409):
            raise RuntimeError(f"PATCH answered {status}")
        conflicts += status in (0, 409)
        offset = session.offset(url)


def read_back_bytes(port: int, token: str) -> float:
    """The server's momento_store_read_back_bytes_total, every kind added up (from /metrics)."""
    from prometheus_client.parser import text_string_to_metric_families

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {token}"})
    resp = conn.getresponse()
    body = resp.read().decode()
    if resp.status != 200:
        raise RuntimeError(f"/metrics answered {resp.status}")
    return sum(sample.value for family in text_string_to_metric_families(body) for sample in family.samples
               if sample.name == "momento_store_read_back_bytes_total")


def stored_identical(port: int, token: str, upload_id: str, digest: str) -> bool:
    """Whether the stored original hashes like the file (read back through the API)."""
    url = f"/media/{upload_id}/original"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request("GET", url, headers={"Authorization": f"Bearer {token}"})
    resp = conn.getresponse()
    h = hashlib.sha256()
    while data := resp.read(MiB):
        h.update(data)
    return resp.status == 200 and h.hexdigest() == digest


def main() -> None:
    """Parse the options, run the rounds, print the table and the final line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--size-mb", type=int, default=200, help="file size in MB (default 200)")
    parser.add_argument("--cuts", type=int, default=3, help="connections dropped mid-body (default 3)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of both uploads; medians reported (default 5)")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads of the one worker (default 4)")
    parser.add_argument("--backend", choices=("local", "aws"), default="local",
                        help="local (default), or aws: S3 and DynamoDB on a moto server started for the run")
    args = parser.parse_args()

    folder = temp_dir()
    moto = None
    try:
        path = video_file(args.size_mb * 1000 * 1000, folder)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        env = {"MOMENTO_BACKEND": "local", "MOMENTO_DATA_DIR": os.path.join(folder, "data")}
        if args.backend == "aws":
            moto, env = moto_env(os.path.join(folder, "data"))
            env["MOMENTO_MEDIA_DELIVERY"] = "proxy"  # the stored bytes are read back through the server
        metrics_token = secrets.token_hex(16)  # /metrics answers loopback anyway; the token makes sure
        env |= {"MOMENTO_MAX_VIDEO_BYTES": str(4096 * MiB), "MOMENTO_METRICS_TOKEN": metrics_token}
        runs: list[Run] = []
        with momento_server(env, threads=args.threads) as (port, _pid):
            warm = make_token(env)
            one_upload(port, warm, video_file(12 * MiB, folder), 1)  # imports, first decode, page cache
            for r in range(1, args.rounds + 1):
                modes = [("one go", 0), (f"{args.cuts} cuts", args.cuts)]
                for mode, cuts in modes if r % 2 else modes[::-1]:  # alternate which runs first
                    token = make_token(env)
                    before = read_back_bytes(port, metrics_token)
                    seconds, upload_id, conflicts, sent = one_upload(port, token, path, cuts)
                    read_back = read_back_bytes(port, metrics_token) - before
                    same = stored_identical(port, token, upload_id, digest)
                    runs.append(Run(r, mode, seconds, cuts, conflicts, sent - path.stat().st_size, upload_id, same,
                                    read_back))
        report(runs, path.stat().st_size, args.cuts, args.backend)
    finally:
        if moto is not None:
            stop(moto)
        shutil.rmtree(folder, ignore_errors=True)


def report(runs: list[Run], size: int, cuts: int, backend: str = "local") -> None:
    """The table, the raw figures as JSON, the bytes read back, and the final line."""
    print(f"{'round':>5}  {'mode':<8}  {'seconds':>7}  {'MB/s':>6}  {'409s':>4}  {'re-sent MB':>10}  identical  "
          f"{'size MB':>7}  {'read back MB':>12}  {'read back/size':>14}")
    for run in runs:
        print(f"{run.round:>5}  {run.mode:<8}  {run.seconds:>7.2f}  {size / run.seconds / 1e6:>6.0f}  "
              f"{run.conflicts:>4}  {run.resent / 1e6:>10.1f}  {'yes' if run.identical else 'NO ':<9}  "
              f"{size / 1e6:>7.1f}  {run.read_back / 1e6:>12.2f}  {run.read_back / size:>14.4f}")
    whole = [r.seconds for r in runs if r.cuts == 0]
    cut = [r.seconds for r in runs if r.cuts]
    ratio = statistics.median(cut) / statistics.median(whole)
    ratios = [c.seconds / w.seconds for w, c in zip(sorted((r for r in runs if not r.cuts), key=lambda r: r.round),
                                                    sorted((r for r in runs if r.cuts), key=lambda r: r.round))]
    identical = all(r.identical for r in runs)
    read_back = [r.read_back for r in runs]
    print(json.dumps({"one_go_s": whole, "cut_s": cut, "ratios": [round(x, 3) for x in ratios],
                      "read_back_bytes": [int(x) for x in read_back]}))
    print(f"read back to decode ({backend}): median {statistics.median(read_back) / 1e6:.2f} MB "
          f"({min(read_back) / 1e6:.2f}-{max(read_back) / 1e6:.2f}) of {size / 1e6:.0f} MB per completion, "
          f"{statistics.median(read_back) / size:.4f} of the file")
    print(f"tus_resume: {size / 1e6:.0f} MB, one go {statistics.median(whole):.2f} s "
          f"({min(whole):.2f}-{max(whole):.2f}), {cuts} cuts {statistics.median(cut):.2f} s "
          f"({min(cut):.2f}-{max(cut):.2f}), ratio {ratio:.2f}x (per round {min(ratios):.2f}-{max(ratios):.2f}; "
          f"target <= {TARGET}x: {'met' if ratio <= TARGET else 'MISSED'}), stored bytes identical: "
          f"{'yes' if identical else 'NO'}")


if __name__ == "__main__":
    main()
