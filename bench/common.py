"""Shared pieces of the benchmark scripts: a real server in a subprocess, memory sampling, streamed uploads."""
from __future__ import annotations

import atexit
import http.client
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MiB = 1024 * 1024


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port: int, path: str = "/healthz", timeout: float = 60) -> None:
    """Block until the server answers."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status < 500:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server on {port} did not start")


@contextmanager
def momento_server(env: dict, *, threads: int = 16, config: str | None = None):
    """Momento under gunicorn (one worker, `threads` threads, and a gunicorn config file if given) on loopback;
    yields (port, worker pid)."""
    port = free_port()
    full_env = os.environ | {"MOMENTO_SECRET_KEY": "bench", "MOMENTO_TAGGERS": ""} | env
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "1", "--threads", str(threads), "-b", f"127.0.0.1:{port}",
         "--timeout", "600", "--log-level", "warning", *(["-c", config] if config else []), "wsgi:app"],
        cwd=ROOT, env=full_env)
    try:
        wait_for(port)
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        yield port, int(children[0]) if children else proc.pid
    finally:
        proc.terminate()
        proc.wait(30)


def stop(proc: subprocess.Popen, grace: float = 5) -> None:
    """End a server process for good: SIGTERM, then SIGKILL if it is still there after `grace` seconds (moto
    can spend minutes freeing what it held, on a core the next measure needs)."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def rss_mib(pid: int) -> float:
    """Resident memory of a process now, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class PeakSampler:
    """Samples a process's RSS every few milliseconds while active."""

    def __init__(self, pid: int, every: float = 0.01):
        self.pid, self.every, self.peak, self._stop = pid, every, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mib(self.pid))
            time.sleep(self.every)

    def __enter__(self) -> "PeakSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def video_file(size: int, folder: str) -> Path:
    """A valid MP4 padded to `size` bytes (a trailing box that runs to the end of the file), cached."""
    path = Path(folder) / f"video-{size}.mp4"
    if path.exists():
        return path
    from tests import corpus

    head = corpus.mp4(seconds=2)
    with open(path, "wb") as out:
        out.write(head)
        out.write(b"\0" * 8)  # a box of size 0: "to the end of the file"
        left = size - len(head) - 8
        block = os.urandom(4 * MiB)
        while left > 0:
            out.write(block[:left])
            left -= len(block)
    return path


def multipart_head_tail(filename: str) -> tuple[bytes, bytes, str]:
    """The bytes around a file part, and the boundary."""
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    return head, f"\r\n--{boundary}--\r\n".encode(), boundary


def upload(port: int, token: str, path: Path, chunk: int = 1 * MiB) -> tuple[int, dict, float]:
    """POST a file as a streamed multipart body; (status, JSON, seconds)."""
    head, tail, boundary = multipart_head_tail(path.name)
    length = len(head) + path.stat().st_size + len(tail)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    start = time.perf_counter()
    conn.putrequest("POST", "/api/v1/uploads")
    conn.putheader("Authorization", f"Bearer {token}")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(length))
    conn.endheaders()
    conn.send(head)
    with open(path, "rb") as f:
        while data := f.read(chunk):
            conn.send(data)
    conn.send(tail)
    resp = conn.getresponse()
    body = resp.read()
    return resp.status, json.loads(body or b"{}"), time.perf_counter() - start


def download(port: int, token: str, url: str) -> tuple[int, int, float]:
    """GET a media URL, reading and dropping the body; (status, bytes, seconds)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    start = time.perf_counter()
    conn.request("GET", url, headers={"Authorization": f"Bearer {token}"})
    resp = conn.getresponse()
    n = 0
    while data := resp.read(MiB):
        n += len(data)
    return resp.status, n, time.perf_counter() - start


def make_token(env: dict) -> str:
    """An account and an API token on the backend the server will use."""
    cmd = [sys.executable, "-m", "flask", "users", "create", f"bench-{secrets.token_hex(3)}@example.com",
           "--password", "bench-password"]
    full_env = os.environ | {"MOMENTO_SECRET_KEY": "bench"} | env
    out = subprocess.run(cmd, cwd=ROOT, env=full_env, capture_output=True, text=True, check=True).stdout
    email = out.split()[1]
    return subprocess.run([sys.executable, "-m", "flask", "users", "token", email], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, check=True).stdout.strip()


def temp_dir() -> str:
    """A scratch folder for one benchmark run, removed when the run ends (its files are gigabytes)."""
    folder = tempfile.mkdtemp(prefix="momento-bench-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder
