"""Pytest plugin: a Redis server on loopback, and several Momento servers (real processes) sharing one moto and one Redis.

`redis_url` starts Debian's redis-server once per test process; `start_cluster(...)` starts app servers under the
shipped gunicorn.conf.py, each on its own port, all on the same bucket, tables and rate-limit storage.
"""
from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import pytest

ROOT = Path(__file__).resolve().parent.parent
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port: int, method: str, path: str, body: bytes = b"", headers: Optional[dict] = None,
            timeout: float = 60) -> tuple[int, dict, bytes]:
    """One HTTP request to a server on loopback: (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def multipart(data: bytes, filename: str) -> tuple[bytes, str]:
    """A form body with one `file` part, and its Content-Type."""
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """redis-server on a free loopback port, without persistence, for this test process."""
    if not os.path.exists(REDIS_SERVER):
        pytest.fail("redis-server is not installed (apt-get install redis-server)")
    folder = tmp_path_factory.mktemp("redis")
    port = free_port()
    proc = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(folder)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, "redis-server did not start"
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@dataclass
class Cluster:
    """App servers sharing a bucket, tables and a Redis; `env` runs the CLI against the same."""

    env: dict
    folder: Path
    ports: list[int] = field(default_factory=list)
    procs: list[subprocess.Popen] = field(default_factory=list)

    def flask(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run `flask ARGS` with the servers' configuration."""
        return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, env=self.env,
                              check=check, capture_output=True, text=True, timeout=timeout)

    def account(self, email: str, password: str = "a long enough password") -> str:
        """Create an account with the CLI; its API token."""
        self.flask("users", "create", email, "--password", password)
        return self.flask("users", "token", email).stdout.strip().split()[-1]

    def logs(self) -> str:
        """The tail of every server's log, for failure messages."""
        return "\n".join((self.folder / f"server-{n}.log").read_text()[-3000:] for n in range(len(self.ports)))

    def stop(self) -> None:
        """Stop the servers this cluster started."""
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def cluster_env(folder: Path, redis: str, **settings: str) -> dict:
    """The environment of servers on the test session's moto (AWS_* as set by moto_server) and one Redis."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOMENTO_", "PROMETHEUS_", "GUNICORN_"))}
    tag = uuid.uuid4().hex[:10]
    env.update(MOMENTO_BACKEND="aws", MOMENTO_BUCKET=f"momento-test-{tag}", MOMENTO_TABLE_PREFIX=f"t{tag}-",
               MOMENTO_DATA_DIR=str(folder / "data"), MOMENTO_SECRET_KEY="cluster-test", MOMENTO_WORKER_THREADS="0",
               MOMENTO_TAGGERS="", MOMENTO_RATELIMIT_STORAGE_URI=redis, PYTHONUNBUFFERED="1")
    env.update({f"MOMENTO_{k}": v for k, v in settings.items()})
    return env


def start_cluster(folder: Path, env: dict, servers: int = 2, workers: int = 2) -> Cluster:
    """`flask momento init`, then `servers` gunicorn servers (gunicorn.conf.py, `workers` each), all answering."""
    cluster = Cluster(env, folder)
    cluster.flask("momento", "init")
    try:
        for n in range(servers):
            port = free_port()
            server_env = {**env, "GUNICORN_WORKERS": str(workers)}
            log = (folder / f"server-{n}.log").open("wb")
            cluster.procs.append(subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", "wsgi:app"],
                cwd=ROOT, env=server_env, stdout=log, stderr=subprocess.STDOUT))
            log.close()
            cluster.ports.append(port)
        deadline = time.monotonic() + 90
        for proc, port in zip(cluster.procs, cluster.ports):
            while True:
                assert proc.poll() is None and time.monotonic() < deadline, cluster.logs()
                try:
                    if request(port, "GET", "/healthz", timeout=5)[0] == 200:
                        break
                except OSError:
                    pass
                time.sleep(0.2)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def error_code(body: bytes) -> str:
    """The `code` of an error answer."""
    return json.loads(body)["error"]["code"]
