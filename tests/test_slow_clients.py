"""The shipped gunicorn config keeps a server answering while many slow clients hold connections open."""
from __future__ import annotations

import socket
import time
import uuid

import pytest

from tests import corpus
from tests.test_metrics_gunicorn import _request, server  # noqa: F401 - the gunicorn fixture

pytestmark = pytest.mark.slow
SLOW_UPLOADS = 12
SLOW_HEADERS = 4


def _slow_upload(port: int, token: str) -> socket.socket:
    """An upload that declared 2 MB and sends only its first bytes: it holds a connection and a thread."""
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.jpg\"\r\n\r\n").encode()
    start = (f"POST /api/v1/uploads HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
             f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: 2000000\r\n\r\n").encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(start + head + corpus.jpeg(64, 48)[:2000])
    return sock


def _slow_headers(port: int) -> socket.socket:
    """A client that sends its request line and then nothing (headers trickling in)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    return sock


def test_health_answers_while_a_dozen_uploads_crawl(server):  # noqa: F811 - the fixture
    port, token, _, _ = server
    held = [_slow_upload(port, token) for _ in range(SLOW_UPLOADS)]
    held += [_slow_headers(port) for _ in range(SLOW_HEADERS)]
    try:
        time.sleep(1.0)  # every slow request has reached a worker thread
        for _ in range(5):
            started = time.monotonic()
            status, _, body = _request(port, "GET", "/healthz")
            assert status == 200 and b"ok" in body
            assert time.monotonic() - started < 5.0  # with every thread busy it would wait for a slow client (minutes)
        # and an ordinary upload still goes through beside them
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"quick.jpg\"\r\n\r\n"
                ).encode() + corpus.jpeg(90, 60) + f"\r\n--{boundary}--\r\n".encode()
        status, _, answer = _request(port, "POST", "/api/v1/uploads", body, {
            "Authorization": f"Bearer {token}", "Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert status == 201, answer
    finally:
        for sock in held:
            sock.close()
