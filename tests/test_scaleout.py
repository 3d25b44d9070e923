"""Two app servers (real gunicorn processes) on one moto and one Redis behave as one library: limits, quotas,
resumable uploads and renditions span them."""
from __future__ import annotations

import base64
import http.client
import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests import corpus
from tests.cluster import cluster_env, error_code, multipart, request, start_cluster

MiB = 1024 * 1024
DAILY = 64_000_000  # bytes a day per user, across every server
pytestmark = [pytest.mark.slow, pytest.mark.aws]


@pytest.fixture(scope="module")
def cluster(moto_server, redis_url, tmp_path_factory):
    """Two servers (two gunicorn workers each) with limits on, sharing the session's moto and Redis."""
    folder = tmp_path_factory.mktemp("cluster")
    env = cluster_env(folder, redis_url, RATELIMIT_ENABLED="1", LOGIN_LIMIT="3 per 15 minutes",
                      UPLOAD_LIMIT="8 per minute", UPLOAD_BYTES_PER_DAY=str(DAILY), TUS_PART_SIZE=str(5 * MiB))
    running = start_cluster(folder, env)
    yield running
    running.stop()


def upload(port: int, token: str, data: bytes, filename: str = "p.jpg") -> tuple[int, dict]:
    """POST one file to a server: (status, JSON answer)."""
    body, ctype = multipart(data, filename)
    status, _, answer = request(port, "POST", "/api/v1/uploads", body,
                                {"Authorization": f"Bearer {token}", "Content-Type": ctype})
    return status, json.loads(answer)


def test_sign_in_lock_out_counts_failures_on_every_server(cluster):
    cluster.account("lockout@example.com")
    a, b = cluster.ports

    def sign_in(port: int, password: str) -> int:
        body = json.dumps({"email": "lockout@example.com", "password": password}).encode()
        return request(port, "POST", "/api/v1/auth/token", body, {"Content-Type": "application/json"})[0]

    assert [sign_in(port, "wrong password") for port in (a, b, a)] == [401, 401, 401]
    assert sign_in(b, "a long enough password") == 429  # the fourth try, on the other server: locked out
    assert sign_in(a, "a long enough password") == 429


def test_upload_rate_spans_servers(cluster):
    token = cluster.account("rate@example.com")
    a, b = cluster.ports
    statuses = [upload((a, b)[n % 2], token, corpus.jpeg(color=(n * 25, 5, 5)))[0] for n in range(8)]
    assert statuses == [201] * 8
    status, answer = upload(b, token, corpus.jpeg(color=(1, 200, 1)))
    assert status == 429 and answer["error"]["code"] == "rate_limited"


def begin_upload(port: int, token: str, length: int) -> socket.socket:
    """Send a form upload's headers declaring `length` bytes, and the start of its body; the rest never comes."""
    head = corpus.jpeg()
    body, ctype = multipart(head, "big.jpg")
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.sendall((f"POST /api/v1/uploads HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
                  f"Content-Type: {ctype}\r\nContent-Length: {length}\r\n\r\n").encode() + body[:-60])
    return sock


def answer_of(sock: socket.socket) -> tuple[int, bytes]:
    """The status and body of the answer on a raw connection."""
    resp = http.client.HTTPResponse(sock)
    resp.begin()
    return resp.status, resp.read()


def test_daily_allowance_spans_servers(cluster):
    token = cluster.account("daily@example.com")
    a, b = cluster.ports
    first = begin_upload(a, token, 40_000_000)  # claimed from the allowance before its body is read
    try:
        time.sleep(1)
        # alone, the other server would take 30 MB more (under the 64 MB a day); together they may not
        second = begin_upload(b, token, 30_000_000)
        with second:
            status, body = answer_of(second)
        assert status == 429 and error_code(body) == "daily_limit_exceeded"
        assert b"left today" in body
        assert upload(b, token, corpus.jpeg(color=(9, 9, 200)))[0] == 201  # what is left still fits
    finally:
        first.close()


def test_quota_holds_across_servers_under_parallel_uploads(cluster):
    token = cluster.account("quota@example.com")
    photos = [corpus.jpeg(64, 48, color=(n * 40, 90, 10)) for n in range(6)]
    quota = 3 * max(len(p) for p in photos) + 100  # three fit, whichever three
    cluster.flask("users", "quota", "quota@example.com", str(quota))
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda n: upload(cluster.ports[n % 2], token, photos[n]), range(6)))
    stored = [answer["size"] for status, answer in results if status == 201]
    refused = [answer["error"]["code"] for status, answer in results if status != 201]
    assert sum(stored) <= quota and len(stored) >= 1
    assert refused and set(refused) == {"quota_exceeded"}
    status, _, body = request(cluster.ports[0], "GET", "/api/v1/uploads?limit=50",
                              headers={"Authorization": f"Bearer {token}"})
    assert status == 200 and len(json.loads(body)["items"]) == len(stored)


def test_resumable_upload_begun_on_one_server_finishes_on_the_other(cluster):
    token = cluster.account("tus@example.com")
    a, b = cluster.ports
    video = corpus.mp4(seconds=1)
    video += b"\0" * (6 * MiB + 1234 - len(video))  # two parts of 5 MiB's worth
    auth = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    meta = f"filename {base64.b64encode(b'clip.mp4').decode()}"
    status, headers, _ = request(a, "POST", "/api/v1/tus/", headers={
        **auth, "Upload-Length": str(len(video)), "Upload-Metadata": meta})
    assert status == 201
    path = "/" + headers["Location"].split("://", 1)[-1].split("/", 1)[-1]
    cut = 5 * MiB + 77
    patch = {**auth, "Content-Type": "application/offset+octet-stream"}
    status, headers, _ = request(a, "PATCH", path, video[:cut], {**patch, "Upload-Offset": "0"})
    assert status == 204 and headers["Upload-Offset"] == str(cut)
    status, headers, _ = request(b, "HEAD", path, headers=auth)
    assert status == 200 and headers["Upload-Offset"] == str(cut)
    status, headers, _ = request(b, "PATCH", path, video[cut:], {**patch, "Upload-Offset": str(cut)})
    assert status == 204, cluster.logs()
    upload_id = headers["Momento-Upload-Id"]
    status, _, body = request(a, "GET", f"/api/v1/uploads/{upload_id}", headers={"Authorization": f"Bearer {token}"})
    assert status == 200 and json.loads(body)["size"] == len(video)


def test_renditions_are_made_by_a_worker_process_of_their_own(cluster):
    token = cluster.account("worker@example.com")
    a, b = cluster.ports
    auth = {"Authorization": f"Bearer {token}"}
    status, answer = upload(a, token, corpus.mov(seconds=1), "clip.mov")
    assert status == 201 and answer["rendition"] == "pending"
    done = cluster.flask("momento", "work")  # until none is left
    assert done.returncode == 0, done.stderr
    status, _, body = request(b, "GET", f"/api/v1/uploads/{answer['id']}", headers=auth)
    assert status == 200 and json.loads(body)["rendition"] == "ready"
    status, headers, _ = request(b, "GET", f"/media/{answer['id']}/playback", headers=auth)
    assert status in (200, 302)
