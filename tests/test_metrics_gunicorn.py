"""/metrics under a real gunicorn with two workers: the counts add up whichever worker answers the scrape."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests import corpus
from tests.cluster import free_port as _free_port, multipart as _multipart, request as _request

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _samples(text: str) -> dict[tuple, float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


@pytest.fixture
def server(tmp_path):
    """gunicorn -c gunicorn.conf.py with two workers on a free loopback port; a user made with the CLI first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOMENTO_", "AWS_", "PROMETHEUS_"))}
    env.update(MOMENTO_DATA_DIR=str(tmp_path / "data"), MOMENTO_SECRET_KEY="gunicorn-test",
               MOMENTO_WORKER_THREADS="0", MOMENTO_RATELIMIT_ENABLED="0", MOMENTO_TAGGERS="",
               MOMENTO_LOG_FORMAT="json", GUNICORN_WORKERS="2", PYTHONUNBUFFERED="1")
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
    subprocess.run(flask + ["users", "create", "gunicorn@example.com", "--password", "a long enough password"],
                   cwd=ROOT, env=env, check=True, capture_output=True)
    token = subprocess.run(flask + ["users", "token", "gunicorn@example.com"], cwd=ROOT, env=env, check=True,
                           capture_output=True, text=True).stdout.strip().split()[-1]
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_99999.db").write_bytes(b"left from an earlier run")
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    port = _free_port()
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}",
                             "wsgi:app"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "server.log").read_text()[-3000:]
            try:
                if _request(port, "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        yield port, token, tmp_path / "server.log", metrics_dir
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def test_counts_add_up_over_both_workers(server):
    port, token, log, metrics_dir = server
    auth = {"Authorization": f"Bearer {token}"}
    ids = []
    for n in range(6):  # six different photos, then one again and one that is not a photo
        body, ctype = _multipart(corpus.jpeg(color=(n * 40, 10, 10)), f"p{n}.jpg")
        status, headers, answer = _request(port, "POST", "/api/v1/uploads", body, {**auth, "Content-Type": ctype})
        assert status == 201, answer
        ids.append(json.loads(answer)["id"])
    status, _, _ = _request(port, "POST", "/api/v1/uploads", body, {**auth, "Content-Type": ctype})
    assert status == 200
    bad, ctype = _multipart(b"plain text, no photo", "notes.txt")
    assert _request(port, "POST", "/api/v1/uploads", bad, {**auth, "Content-Type": ctype})[0] == 415
    with ThreadPoolExecutor(8) as pool:  # at once, so that both workers take some
        statuses = list(pool.map(lambda i: _request(port, "GET", f"/api/v1/uploads/{i}", headers=auth)[0], ids * 5))
    assert statuses == [200] * 30
    pids = set()
    for _ in range(8):  # each scrape is answered by one worker or the other; the sums are the same
        status, headers, text = _request(port, "GET", "/metrics", headers={"X-Request-ID": "scrape-1"})
        assert status == 200 and headers["X-Request-ID"] == "scrape-1"
        samples = _samples(text.decode())
        assert samples[("momento_uploads_total", (("kind", "photo"), ("outcome", "stored")))] == 6
        assert samples[("momento_uploads_total", (("kind", "photo"), ("outcome", "duplicate")))] == 1
        assert samples[("momento_uploads_total", (("kind", "unknown"), ("outcome", "unsupported_media_type")))] == 1
        assert samples[("momento_http_requests_total", (("method", "GET"), ("route", "/api/v1/uploads/<upload_id>"),
                                                        ("status", "200")))] == 30
        assert samples[("momento_http_request_duration_seconds_count",
                        (("method", "POST"), ("route", "/api/v1/uploads")))] == 8
        for _, labels in samples:
            assert not any(upload_id in v or "gunicorn@example.com" in v for upload_id in ids for _, v in labels)
        time.sleep(0.05)
    assert len(list(metrics_dir.glob("counter_*.db"))) == 2  # both workers counted, and the scrapes added them up
    assert not (metrics_dir / "counter_99999.db").exists()  # an earlier run's file went at start
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("logger") == "momento.access"]
    assert len(access) >= 8 + 6 + 8 + 1 and all(line["request_id"] for line in access)
