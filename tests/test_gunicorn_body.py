"""Form and tus bodies are read straight from gunicorn's socket (web/receive.py), with gunicorn's own count of the
body kept in step: the connection's next request starts at the right byte, and a body cut short closes it."""
from __future__ import annotations

import http.client
import io
import json
import socket
import time
import uuid

import pytest
from gunicorn.http.body import Body, LengthReader
from gunicorn.http.unreader import SocketUnreader

from momento.web.receive import _from_gunicorn_socket
from tests import corpus
from tests.test_metrics_gunicorn import _request, server  # noqa: F401 - the gunicorn fixture


def test_reads_what_gunicorn_holds_then_the_socket_and_keeps_its_count():
    ours, theirs = socket.socketpair()
    try:
        body_bytes, next_request = b"a" * 100 + b"b" * 5000, b"GET /next HTTP/1.1\r\n\r\n"
        unreader = SocketUnreader(ours)
        unreader.buf.write(body_bytes[:60])  # read along with the headers
        body = Body(LengthReader(unreader, len(body_bytes)))
        body.buf.write(body.reader.read(20))  # gunicorn's body read ahead of the application
        theirs.sendall(body_bytes[60:] + next_request)  # the next request pipelined behind the body
        read = _from_gunicorn_socket({"wsgi.input": body, "gunicorn.socket": ours})
        got = b""
        while chunk := read(1000):
            got += chunk
        assert got == body_bytes and body.reader.length == 0 and not body.failed
        # what came after the body is gunicorn's: its unreader and socket still hold the next request whole
        rest = unreader.buf.getvalue()
        theirs.close()
        while data := ours.recv(1000):
            rest += data
        assert rest == next_request
    finally:
        ours.close()


def test_a_body_cut_short_is_marked_failed():
    ours, theirs = socket.socketpair()
    try:
        body = Body(LengthReader(SocketUnreader(ours), 1000))
        theirs.sendall(b"x" * 10)
        theirs.close()
        read = _from_gunicorn_socket({"wsgi.input": body, "gunicorn.socket": ours})
        assert read(1000) == b"x" * 10 and read(1000) == b""
        assert body.failed  # gunicorn closes the connection rather than read a next request from it
    finally:
        ours.close()


def test_other_servers_keep_their_own_reader():
    assert _from_gunicorn_socket({"wsgi.input": io.BytesIO(b"x")}) is None


def _form(boundary: str, data: bytes) -> bytes:
    return (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()


@pytest.mark.slow
def test_an_upload_and_the_request_pipelined_behind_it_both_answer(server):  # noqa: F811 - the fixture
    port, token, _, _ = server
    boundary = uuid.uuid4().hex
    body = _form(boundary, corpus.jpeg(64, 48) + b"\0" * 3_000_000)  # decoders ignore what follows the image
    upload = (f"POST /api/v1/uploads HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
              f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    health = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        sock.sendall(upload + body[:1000])
        time.sleep(0.2)  # the rest in pieces, the last one with the next request behind it
        for i in range(1000, len(body), 700_000):
            sock.sendall(body[i:i + 700_000] + (health if i + 700_000 >= len(body) else b""))
        replies = sock.makefile("rb")

        class _Kept:  # one reader for both answers, left open by the first
            def __getattr__(self, name):
                return getattr(replies, name)

            def close(self):
                pass

        class _Sock:
            def makefile(self, *_args, **_kwargs):
                return _Kept()

        first = http.client.HTTPResponse(_Sock())
        first.begin()
        answer = json.loads(first.read())
        assert first.status == 201, answer
        second = http.client.HTTPResponse(_Sock())
        second.begin()
        assert second.status == 200 and json.loads(second.read()) == {"status": "ok"}
    finally:
        sock.close()
    status, _, listed = _request(port, "GET", "/api/v1/uploads", headers={"Authorization": f"Bearer {token}"})
    assert status == 200 and [u["id"] for u in json.loads(listed)["items"]] == [answer["id"]]


@pytest.mark.slow
def test_an_upload_cut_off_stores_nothing_and_the_server_goes_on(server):  # noqa: F811 - the fixture
    port, token, _, _ = server
    boundary = uuid.uuid4().hex
    body = _form(boundary, corpus.jpeg(64, 48) + b"\0" * 3_000_000)
    upload = (f"POST /api/v1/uploads HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
              f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        sock.sendall(upload + body[:2_000_000])
        sock.shutdown(socket.SHUT_WR)  # the client stops half-way
        reply = b""
        while data := sock.recv(65536):
            reply += data
        assert reply.startswith(b"HTTP/1.1 400") and b"incomplete_body" in reply
    finally:
        sock.close()
    auth = {"Authorization": f"Bearer {token}"}
    status, _, listed = _request(port, "GET", "/api/v1/uploads", headers=auth)
    assert status == 200 and json.loads(listed)["items"] == []
