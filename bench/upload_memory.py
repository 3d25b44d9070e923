"""Peak resident memory and time of 1 GiB and 2 GiB video uploads to a real Momento server, per backend.

For each backend and size this starts a fresh server (gunicorn, one sync worker, on loopback; for `aws`
a fresh moto server too), warms it up with a small upload, resets the worker's peak-RSS counter, streams
one large H.264 MP4 through `POST /api/v1/uploads` from disk, and reads the worker's peak RSS (VmHWM).
The issue's target: a 2 GiB upload raises the server's resident memory by at most about 64 MiB.

References measured in the same run: the idle server's RSS, and a raw loopback socket copy of the same
bytes (the fastest an upload could possibly go on this machine).

The videos are real: 480x360 lossless-noise H.264 (about 100 Mbit/s, so a 2 GiB file is ~3 minutes and
~5,000 frames, its index at the end as phones write it), generated once and cached in the work folder.
moto keeps objects in memory at 2.5-4.5x their size and gives nothing back, so each aws run gets its own
moto server; sizes over --aws-max (1 GiB: the largest moto completes, see --help) or that moto could not
hold in this machine's free memory are skipped for aws, and the table says so.

    python bench/upload_memory.py                  # local and aws, 1 GiB and 2 GiB
    python bench/upload_memory.py --sizes 256 --backends local
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

ROOT = Path(__file__).resolve().parent.parent

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import free_port, wait_for  # noqa: E402

MiB = 1024 * 1024
TARGET_MIB = 64
READ = 1024 * 1024
BOUNDARY = "momento-bench-" + uuid.uuid4().hex
GENERATOR_VERSION = "1"
MOTO_FACTOR = 5  # moto's peak while receiving an object, with a margin over the measured 2.5-4.5x


@dataclass
class Result:
    backend: str
    size: int
    status: int
    seconds: float
    idle_rss: int
    before_rss: int
    peak_rss: int
    raw_seconds: float
    moto_peak: Optional[int] = None

    @property
    def raise_mib(self) -> float:
        return (self.peak_rss - self.before_rss) / MiB


# --- the video ----------------------------------------------------------------------------------------

def generate_video(path: Path, target: int, width: int = 480, height: int = 360, fps: int = 30) -> None:
    """A decodable H.264 MP4 of just under `target` bytes: 30 distinct lossless noise frames, cycled."""
    import av

    tmp = path.with_suffix(".part")
    with av.open(str(tmp), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps, options={
            "preset": "ultrafast", "qp": "0", "x264-params": "keyint=1:log-level=none"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        packets: list[bytes] = []
        for i in range(fps):
            frame = av.VideoFrame(width, height, "yuv420p")
            for plane in frame.planes:
                plane.update(os.urandom(plane.buffer_size))
            frame.pts = i
            for packet in stream.encode(frame) + (stream.encode(None) if i == fps - 1 else []):
                packets.append(bytes(packet))
                out.mux(packet)
        written, n = sum(map(len, packets)), len(packets)
        time_base = stream.codec_context.time_base
        # Every packet is a keyframe (keyint=1), so repeating them in a cycle is still a valid stream.
        while written + max(map(len, packets)) + 64 * n < target:  # room left for the index at the end
            data = packets[n % len(packets)]
            packet = av.Packet(data)
            packet.stream, packet.time_base, packet.pts, packet.dts = stream, time_base, n, n
            packet.is_keyframe = True
            out.mux(packet)
            written, n = written + len(data), n + 1
    tmp.rename(path)


def video(workdir: Path, size: int) -> Path:
    """The cached video of about `size` bytes."""
    path = workdir / f"video-{round(size / MiB)}MiB-v{GENERATOR_VERSION}.mp4"
    if not path.exists():
        started = time.monotonic()
        print(f"generating {path.name} ...", flush=True)
        generate_video(path, size)
        print(f"  {path.stat().st_size / MiB:.0f} MiB in {time.monotonic() - started:.1f} s", flush=True)
    return path


# --- processes ----------------------------------------------------------------------------------------

def status_kib(pid: int, field: str) -> int:
    """A VmRSS/VmHWM-style field of /proc/<pid>/status, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def reset_peak(pid: int) -> bool:
    """Reset the kernel's peak-RSS counter of a process (Linux 4.0+); False where not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class PeakSampler:
    """Polls a process's RSS (a fallback and a cross-check for VmHWM)."""

    def __init__(self, pid: int, every: float = 0.02):
        self.pid, self.every, self.peak = pid, every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, status_kib(self.pid, "VmRSS"))
            except (OSError, KeyError):
                return
            self._stop.wait(self.every)

    def __enter__(self) -> "PeakSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


AWS_ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1",
           "AWS_DEFAULT_REGION": "us-east-1"}


class Stack:
    """A fresh Momento server (and moto server for aws) with one user and token."""

    def __init__(self, backend: str, workdir: Path):
        self.backend, self.workdir = backend, workdir
        self.data = Path(tempfile.mkdtemp(prefix=f"data-{backend}-", dir=workdir))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("MOMENTO_", "AWS_"))}
        self.env.update(MOMENTO_BACKEND=backend, MOMENTO_DATA_DIR=str(self.data), MOMENTO_SECRET_KEY="bench",
                        MOMENTO_WORKER_THREADS="0", MOMENTO_RATELIMIT_STORAGE_URI="memory://")
        self.moto: Optional[subprocess.Popen] = None
        self.server: Optional[subprocess.Popen] = None
        self.port = free_port()

    def __enter__(self) -> "Stack":
        if self.backend == "aws":
            moto_port = free_port()
            log = open(self.data / "moto.log", "wb")  # noqa: SIM115 - lives as long as the server
            self.moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
                                         stdout=log, stderr=subprocess.STDOUT, env=self.env)
            wait_for(moto_port, "/moto-api/")
            tag = uuid.uuid4().hex[:8]
            self.env.update(AWS_ENV, AWS_ENDPOINT_URL=f"http://127.0.0.1:{moto_port}",
                            AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
                            MOMENTO_BUCKET=f"momento-bench-{tag}", MOMENTO_TABLE_PREFIX=f"bench{tag}-")
        self.token = self._prepare()
        self.server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", "1", "-k", "sync", "-b", f"127.0.0.1:{self.port}", "--timeout", "1800",
             "--log-level", "warning", "wsgi:app"], cwd=ROOT, env=self.env)
        wait_for(self.port, "/healthz")
        (self.pid,) = children(self.server.pid)  # the one gunicorn worker
        return self

    def _prepare(self) -> str:
        """Create the backend's bucket and tables, an account and a token (in a child, with the server's env)."""
        code = ("from momento import create_app\nfrom momento.migrate import apply_pending\n"
                "from momento.accounts import register, issue_token\napp = create_app()\n"
                "with app.app_context():\n    b = app.extensions['momento']\n    apply_pending(b)\n"
                "    user = register(b.catalog, 'bench@example.com', 'bench-password-1')\n"
                "    print(issue_token(b.catalog, user))\n")
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=self.env, check=True,
                             capture_output=True, text=True)
        return out.stdout.strip().splitlines()[-1]

    def __exit__(self, *exc) -> None:
        for proc in (self.server, self.moto):
            if proc is not None:
                stop(proc)
        shutil.rmtree(self.data, ignore_errors=True)


# --- uploads and the reference copy -------------------------------------------------------------------

def multipart(path: Path) -> tuple[int, Iterator[bytes]]:
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{path.name}\"\r\n"
            f"Content-Type: video/mp4\r\n\r\n").encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()

    def body() -> Iterator[bytes]:
        yield head
        with open(path, "rb") as f:
            while chunk := f.read(READ):
                yield chunk
        yield tail
    return len(head) + path.stat().st_size + len(tail), body()


def upload(port: int, token: str, path: Path) -> tuple[int, float, dict]:
    """POST the file; (status, seconds from the first byte sent to the whole answer, answer)."""
    length, body = multipart(path)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
               "Content-Length": str(length)}
    started = time.monotonic()
    conn.request("POST", "/api/v1/uploads", body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    seconds = time.monotonic() - started
    try:
        answer = json.loads(data)
    except ValueError:
        answer = {"raw": data[:200].decode("latin-1")}
    return resp.status, seconds, answer


def raw_copy(path: Path) -> float:
    """Seconds to send the file's bytes over a loopback socket to a reader that drops them."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    total = path.stat().st_size

    def sink() -> None:
        conn, _ = server.accept()
        got = 0
        while got < total:
            chunk = conn.recv(READ)
            if not chunk:
                break
            got += len(chunk)
        conn.sendall(b"k")
        conn.close()
    thread = threading.Thread(target=sink)
    thread.start()
    client = socket.create_connection(server.getsockname())
    started = time.monotonic()
    with open(path, "rb") as f:
        while chunk := f.read(READ):
            client.sendall(chunk)
    client.recv(1)
    seconds = time.monotonic() - started
    client.close()
    thread.join()
    server.close()
    return seconds


def warm_page_cache(path: Path) -> None:
    with open(path, "rb") as f:
        while f.read(16 * MiB):
            pass


def measure(backend: str, size: int, workdir: Path, small: Path, raw_seconds: float) -> Result:
    path = video(workdir, size)
    warm_page_cache(path)
    with Stack(backend, workdir) as stack:
        # The first upload loads PyAV, the taggers and the clients: that is start-up, not the upload.
        status, _, answer = upload(stack.port, stack.token, small)
        if status != 201:
            raise RuntimeError(f"warm-up upload failed: {status} {answer}")
        idle = status_kib(stack.pid, "VmRSS")
        exact = reset_peak(stack.pid)
        before = status_kib(stack.pid, "VmRSS")
        if stack.moto is not None:
            reset_peak(stack.moto.pid)
        with PeakSampler(stack.pid) as sampler:
            status, seconds, answer = upload(stack.port, stack.token, path)
        peak = max(status_kib(stack.pid, "VmHWM") if exact else 0, sampler.peak)
        moto_peak = status_kib(stack.moto.pid, "VmHWM") if stack.moto is not None else None
        if status != 201:
            print(f"  {backend} {size // MiB} MiB: HTTP {status} {answer}", flush=True)
            if stack.moto is not None:  # moto's own account of a 500
                print("  moto log, last lines:\n    " + "\n    ".join(
                    (stack.data / "moto.log").read_text(errors="replace").splitlines()[-12:]), flush=True)
        return Result(backend, path.stat().st_size, status, seconds, idle, before, peak, raw_seconds, moto_peak)


def mem_available() -> int:
    return status_line("/proc/meminfo", "MemAvailable")


def status_line(path: str, field: str) -> int:
    for line in Path(path).read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def report(results: list[Result], skipped: list[str]) -> None:
    print()
    cols = ["backend", "size MiB", "HTTP", "seconds", "MB/s", "raw copy s", "x raw", "idle RSS", "peak RSS",
            "raise MiB", f"<= {TARGET_MIB} MiB", "moto peak"]
    rows = []
    for r in results:
        rows.append([r.backend, f"{r.size / MiB:.0f}", str(r.status), f"{r.seconds:.1f}",
                     f"{r.size / r.seconds / 1e6:.0f}", f"{r.raw_seconds:.2f}", f"{r.seconds / r.raw_seconds:.0f}",
                     f"{r.idle_rss / MiB:.0f} MiB", f"{r.peak_rss / MiB:.0f} MiB", f"{r.raise_mib:+.1f}",
                     "yes" if r.raise_mib <= TARGET_MIB else "NO",
                     f"{r.moto_peak / MiB:.0f} MiB" if r.moto_peak else "-"])
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(cols)]
    print("  ".join(c.rjust(w) for c, w in zip(cols, widths)))
    for row in rows:
        print("  ".join(v.rjust(w) for v, w in zip(row, widths)))
    for note in skipped:
        print(note)
    figures = "; ".join(f"{r.backend} {r.size / MiB:.0f} MiB: {r.raise_mib:+.1f} MiB peak RSS over "
                        f"{r.before_rss / MiB:.0f} MiB, {r.seconds:.1f} s (raw copy {r.raw_seconds:.2f} s)"
                        for r in results)
    print(f"RESULT target +{TARGET_MIB} MiB; {figures}")


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1024,2048", help="upload sizes in MiB, comma-separated (default 1024,2048)")
    parser.add_argument("--backends", default="local,aws", help="local, aws or both (default local,aws)")
    parser.add_argument("--aws-max", type=int, default=1024,
                        help="largest upload in MiB sent to moto (default 1024: moto 5.2 takes over a minute to "
                             "assemble a 2 GiB multipart upload, botocore times out and retries the completion, "
                             "and moto answers the retry with a 500)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "momento-bench",
                        help="where the generated videos are cached and servers keep their data")
    args = parser.parse_args(argv)
    sizes = [int(s) * MiB - MiB // 2 for s in args.sizes.split(",")]  # just under: 2 GiB is the default limit
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    args.workdir.mkdir(parents=True, exist_ok=True)
    small = args.workdir / "warm-up.mp4"
    if not small.exists():
        generate_video(small, 2 * MiB)
    results, skipped = [], []
    for size in sizes:
        path = video(args.workdir, size)
        warm_page_cache(path)
        raw = min(raw_copy(path) for _ in range(3))
        for backend in backends:
            if backend == "aws" and size > args.aws_max * MiB:
                skipped.append(f"aws {size / MiB:.0f} MiB skipped: over --aws-max {args.aws_max} MiB (see --help).")
                continue
            if backend == "aws" and size * MOTO_FACTOR > mem_available() * 0.8:
                skipped.append(f"aws {size / MiB:.0f} MiB skipped: moto would need about "
                               f"{size * MOTO_FACTOR / MiB:.0f} "
                               f"MiB of the {mem_available() / MiB:.0f} MiB free; run a smaller --sizes for aws.")
                continue
            print(f"{backend}: uploading {path.stat().st_size / MiB:.0f} MiB ...", flush=True)
            results.append(measure(backend, size, args.workdir, small, raw))
            r = results[-1]
            print(f"  HTTP {r.status} in {r.seconds:.1f} s, peak RSS {r.raise_mib:+.1f} MiB over "
                  f"{r.before_rss / MiB:.0f} MiB", flush=True)
    report(results, skipped)
    missed = [r for r in results if r.status != 201 or r.raise_mib > TARGET_MIB]
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
