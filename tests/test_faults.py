"""Fault injection: each backend call of the tag, trash, restore and upload paths fails (an exception, a timeout,
throttling, a locked database); the user gets a clear 503, nothing half-done remains, and a retry succeeds.
Also a server killed (SIGKILL) in the middle of an upload, restarted on the same data."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from momento import create_app
from momento.catalog.sqlite import SqliteCatalog
from tests import corpus
from tests.conftest import Account, app_config

pytestmark = pytest.mark.usefixtures("fast_passwords")  # many sign-ins: hashing is not under test here

ROOT = Path(__file__).resolve().parent.parent

# what the user does -> (method, url template, body) and what the state must look like once it worked
OPERATIONS = {
    "tag": ("PATCH", "/api/v1/uploads/{id}", {"tags": ["beach", "family"]}),
    "tag_page": ("POST", "/uploads/{id}/tags", "beach, family"),
    "trash": ("DELETE", "/api/v1/uploads/{id}", None),
    "restore": ("POST", "/api/v1/uploads/{id}/restore", None),
}


def _aws_fault(kind: str, operation: str) -> Exception:
    """The botocore error a throttled, failing or unreachable service gives after the client's own retries."""
    if kind == "timeout":
        return ReadTimeoutError(endpoint_url="http://injected/")
    if kind == "unreachable":
        return EndpointConnectionError(endpoint_url="http://injected/")
    code, status, extra = {
        "throttling": ("ThrottlingException", 400, {}),
        "provisioned": ("ProvisionedThroughputExceededException", 400, {}),
        "slowdown": ("SlowDown", 503, {}),
        "internal": ("InternalServerError", 500, {}),
        # a transaction cancelled because one of its items was throttled
        "cancelled": ("TransactionCanceledException", 400,
                      {"CancellationReasons": [{"Code": "None"}, {"Code": "ThrottlingError"}]}),
    }[kind]
    return ClientError({"Error": {"Code": code, "Message": "injected"}, "ResponseMetadata": {"HTTPStatusCode": status},
                        **extra}, operation)


class _Injector:
    """Registers hooks on real boto3 clients that fail chosen operations (optionally on one table)."""

    def __init__(self):
        self.hooks: list[tuple] = []
        self.fired = 0

    def fail(self, client, service: str, operation: str, kind: str, table: str | None = None) -> None:
        def hook(params, **_):
            if table is None or params.get("TableName", "").endswith(table):
                self.fired += 1
                raise _aws_fault(kind, operation)

        event = f"before-parameter-build.{service}.{operation}"  # sees the call's own parameters
        client.meta.events.register(event, hook)
        self.hooks.append((client, event, hook))

    def heal(self) -> None:
        for client, event, hook in self.hooks:
            client.meta.events.unregister(event, hook)
        self.hooks.clear()


@pytest.fixture
def inject():
    injector = _Injector()
    yield injector
    injector.heal()


class _LockedConnection:
    """A SQLite connection whose statements matching `pattern` fail as when another process holds the lock."""

    def __init__(self, conn: sqlite3.Connection, pattern: str):
        self._conn, self._pattern, self.fired = conn, re.compile(pattern), 0

    def _check(self, sql: str) -> None:
        if self._pattern.search(sql):
            self.fired += 1
            raise sqlite3.OperationalError("database is locked")

    def execute(self, sql, *args):
        self._check(sql)
        return self._conn.execute(sql, *args)

    def executemany(self, sql, *args):
        self._check(sql)
        return self._conn.executemany(sql, *args)

    def __getattr__(self, name):
        return getattr(self._conn, name)


def _lock(monkeypatch, catalog: SqliteCatalog, pattern: str) -> _LockedConnection:
    locked = _LockedConnection(SqliteCatalog.db.fget(catalog), pattern)
    monkeypatch.setattr(SqliteCatalog, "db", property(lambda self: locked))
    return locked


@pytest.fixture(scope="module")
def aws_app(request, tmp_path_factory):
    """An app on the session's moto server (tables migrated), shared by this module's aws tests: each test
    works as an account of its own (see _account), so none sees another's uploads or counters."""
    from momento.migrate import apply_pending

    app = create_app(app_config(request, tmp_path_factory.mktemp("aws"), "aws"))
    with app.app_context():
        apply_pending(app.extensions["momento"])
    return app


def _account(app) -> Account:
    return Account(app, f"{uuid.uuid4().hex[:12]}@example.com")


def _snapshot(b, user_id: str, upload_id: str):
    """Everything a half-done change could leave behind: the record, the index counters, the term entries."""
    upload = b.catalog.get_upload(user_id, upload_id)
    terms = {t: [e.upload_id for e in b.catalog.term_entries(user_id, t, None, 50)]
             for t in ("t:beach", "t:family", "t:old")}
    return upload, b.catalog.term_counts(user_id), terms


def _prepare(alice, operation: str) -> str:
    up = alice.upload(corpus.jpeg(64, 48), tags="old").json
    if operation == "restore":
        assert alice.delete(f"/api/v1/uploads/{up['id']}").status_code == 204
    return up["id"]


def _do(alice, operation: str, upload_id: str):
    method, url, body = OPERATIONS[operation]
    url = url.format(id=upload_id)
    if operation == "tag_page":
        return alice.client.post(url, data={"tags": body}, headers={**alice.headers, "Accept": "text/html"})
    if method == "PATCH":
        return alice.patch(url, json=body)
    if method == "DELETE":
        return alice.delete(url)
    return alice.post(url)


def _assert_done(b, alice, operation: str, upload_id: str, resp) -> None:
    assert resp.status_code in (200, 204, 302), resp.get_data(as_text=True)
    upload = b.catalog.get_upload(alice.user.id, upload_id)
    if operation.startswith("tag"):
        assert upload.tags == ("beach", "family")
        assert [u["id"] for u in alice.get("/api/v1/uploads?tag=beach").json["items"]] == [upload_id]
    else:
        assert upload.trashed == (operation == "trash")
        listed = [u["id"] for u in alice.get("/api/v1/uploads").json["items"]]
        assert listed == ([] if operation == "trash" else [upload_id])


def _assert_clear_503(resp) -> None:
    assert resp.status_code == 503, resp.get_data(as_text=True)
    if resp.is_json:
        error = resp.json["error"]
        assert error["code"] == "backend_unavailable" and error["message"]
    else:
        assert "try again" in resp.get_data(as_text=True).lower()


# local: a locked database at the start of the transaction, in its middle, and on the read before it

@pytest.mark.parametrize("operation", list(OPERATIONS))
@pytest.mark.parametrize("where", [r"^BEGIN IMMEDIATE", r"INTO terms|INTO counters|FROM terms", r"^SELECT doc FROM uploads"])
def test_local_locked_database(app, alice, backends, monkeypatch, operation, where):
    upload_id = _prepare(alice, operation)
    before = _snapshot(backends, alice.user.id, upload_id)
    with monkeypatch.context() as m:
        locked = _lock(m, backends.catalog, where)
        resp = _do(alice, operation, upload_id)
    assert locked.fired, "the fault was never reached"
    _assert_clear_503(resp)
    assert _snapshot(backends, alice.user.id, upload_id) == before  # the transaction left nothing
    _assert_done(backends, alice, operation, upload_id, _do(alice, operation, upload_id))


# aws: the read and the transaction fail with throttling, timeouts and server errors

AWS_FAULTS = [("GetItem", "throttling", "uploads"), ("GetItem", "timeout", "uploads"),
              ("TransactWriteItems", "throttling", None), ("TransactWriteItems", "provisioned", None),
              ("TransactWriteItems", "cancelled", None), ("TransactWriteItems", "timeout", None),
              ("TransactWriteItems", "unreachable", None), ("TransactWriteItems", "internal", None)]


@pytest.mark.aws
@pytest.mark.parametrize("operation", ["tag", "trash", "restore"])
@pytest.mark.parametrize("api,kind,table", AWS_FAULTS)
def test_aws_faults_on_change(aws_app, inject, operation, api, kind, table):
    b = aws_app.extensions["momento"]
    alice = _account(aws_app)
    upload_id = _prepare(alice, operation)
    with aws_app.app_context():
        before = _snapshot(b, alice.user.id, upload_id)
    inject.fail(b.catalog.client, "dynamodb", api, kind, table)
    resp = _do(alice, operation, upload_id)
    assert inject.fired
    inject.heal()
    _assert_clear_503(resp)
    with aws_app.app_context():
        assert _snapshot(b, alice.user.id, upload_id) == before
        _assert_done(b, alice, operation, upload_id, _do(alice, operation, upload_id))


# uploads: the object store and the catalog fail in the middle of an upload

# how: "small" a photo in one PUT at commit; "large" past one part, its length known, in one streamed PUT;
# "field-after" the same with a form field after the file, cut to size by a copy inside S3; "chunked" of unknown
# length (Transfer-Encoding: chunked), in multipart parts
UPLOAD_FAULTS = [("s3", "PutObject", "slowdown", None, "small"), ("s3", "PutObject", "timeout", None, "small"),
                 ("s3", "PutObject", "slowdown", None, "large"), ("s3", "PutObject", "timeout", None, "large"),
                 ("s3", "UploadPartCopy", "internal", None, "field-after"),
                 ("s3", "CompleteMultipartUpload", "slowdown", None, "field-after"),
                 ("s3", "UploadPart", "slowdown", None, "chunked"),
                 ("s3", "CompleteMultipartUpload", "internal", None, "chunked"),
                 ("dynamodb", "TransactWriteItems", "throttling", None, "small"),
                 ("dynamodb", "TransactWriteItems", "provisioned", None, "small"),
                 ("dynamodb", "TransactWriteItems", "timeout", None, "large"),
                 ("dynamodb", "GetItem", "throttling", "index", "small")]


@pytest.mark.aws
@pytest.mark.parametrize("service,api,kind,table,how", UPLOAD_FAULTS)
def test_aws_faults_during_upload(aws_app, inject, service, api, kind, table, how):
    b = aws_app.extensions["momento"]
    alice = _account(aws_app)
    client = b.storage.writes if service == "s3" else b.catalog.client
    data = corpus.jpeg(96, 72) if how == "small" else _large_jpeg(b)
    inject.fail(client, service, api, kind, table)
    resp = _upload(alice, data, how)
    fired = inject.fired
    inject.heal()
    assert fired, f"the {how} upload made no {api} call"
    _assert_clear_503(resp)
    with aws_app.app_context():
        assert list(b.storage.list(f"user-{alice.user.id}/")) == []
        assert b.catalog.list_uploads(alice.user.id).items == ()
        assert b.catalog.term_counts(alice.user.id) == {}
        assert b.storage.client.list_multipart_uploads(Bucket=b.storage.bucket).get("Uploads", []) == []
    again = _upload(alice, data, how)
    assert again.status_code == 201, again.json
    with aws_app.app_context():
        assert len(list(b.storage.list(f"user-{alice.user.id}/"))) == 2
        assert [u.id for u in b.catalog.list_uploads(alice.user.id).items] == [again.json["id"]]
        assert b"".join(b.storage.open(f"user-{alice.user.id}/photos/{again.json['id']}.jpg")) == data


def _upload(account, data: bytes, how: str):
    """POST the file as `how` says (see UPLOAD_FAULTS)."""
    import io

    from tests.test_streaming import BOUNDARY, multipart

    if how in ("small", "large"):
        return account.upload(data)
    body = multipart(data, "big.jpg", tags="x", tags_after=True)
    extra = {}
    if how == "chunked":  # no Content-Length: the server reads to the body's end
        extra = {"headers": {**account.headers, "Transfer-Encoding": "chunked"},
                 "environ_overrides": {"wsgi.input_terminated": True}}
    else:
        extra = {"headers": account.headers, "content_length": len(body)}
    return account.client.post("/api/v1/uploads", input_stream=io.BytesIO(body),
                               content_type=f"multipart/form-data; boundary={BOUNDARY}", **extra)


def _large_jpeg(b) -> bytes:
    """A JPEG past the store's part size, so the upload does not go in one PUT at commit."""
    threshold = getattr(getattr(b.storage, "transfer", None), "multipart_threshold", 8 * 1024 * 1024)
    return corpus.jpeg(64, 48) + b"\0" * (threshold + 1024)  # decoders ignore what follows the image


def test_local_locked_database_during_upload(app, alice, backends, monkeypatch):
    data = corpus.jpeg(64, 48)
    with monkeypatch.context() as m:
        locked = _lock(m, backends.catalog, r"^INSERT INTO uploads")
        resp = alice.upload(data)
    assert locked.fired
    _assert_clear_503(resp)
    assert list(backends.storage.list("")) == []
    assert backends.catalog.term_counts(alice.user.id) == {}
    assert alice.upload(data).status_code == 201


# transient throttling: the client's own retries absorb it and the user never notices

class _Raw:
    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **_):
        yield self.body


@pytest.mark.aws
@pytest.mark.parametrize("service,api", [("dynamodb", "TransactWriteItems"), ("s3", "PutObject")])
def test_throttled_once_is_retried_by_the_client(aws_app, service, api):
    b = aws_app.extensions["momento"]
    alice = _account(aws_app)
    client = b.storage.writes if service == "s3" else b.catalog.client
    throttled = []

    def once(request, **_):
        if throttled:
            return None
        throttled.append(request.url)
        if service == "s3":
            body = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
            return AWSResponse(request.url, 503, {"Content-Type": "application/xml"}, _Raw(body))
        body = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
                           "message": "Rate of requests exceeds the allowed throughput."}).encode()
        return AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.0"}, _Raw(body))

    event = f"before-send.{service}.{api}"
    client.meta.events.register(event, once)
    try:
        resp = alice.upload(corpus.jpeg(70, 50))
    finally:
        client.meta.events.unregister(event, once)
    assert throttled, f"no {api} call was made"
    assert resp.status_code == 201, resp.json


# a server killed in the middle of an upload

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_env(data_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOMENTO_", "AWS_", "FLASK_"))}
    env.update(MOMENTO_DATA_DIR=str(data_dir), MOMENTO_SECRET_KEY="kill-test", MOMENTO_WORKER_THREADS="0",
               MOMENTO_RATELIMIT_ENABLED="0", FLASK_APP="momento", PYTHONUNBUFFERED="1")
    return env


def _start_server(data_dir: Path, port: int, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "flask", "run", "--host", "127.0.0.1", "--port", str(port),
                             "--no-reload", "--no-debugger", "--with-threads"],
                            cwd=ROOT, env=_server_env(data_dir), stdout=log.open("ab"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
                if resp.status == 200:
                    return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"the server did not start: {log.read_text()[-2000:]}")


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


@pytest.mark.slow
def test_server_killed_mid_upload_leaves_nothing_half_done(tmp_path):
    data_dir, log = tmp_path / "data", tmp_path / "server.log"
    setup = create_app({"DATA_DIR": str(data_dir), "SECRET_KEY": "kill-test", "TESTING": True})
    alice = Account(setup, "alice@example.com")
    setup.extensions["momento"].catalog.close()

    payload = corpus.jpeg(320, 240) + os.urandom(24 * 1024 * 1024)  # a photo with a long tail, sent slowly
    boundary = "killtestboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.jpg\"\r\n"
            "Content-Type: image/jpeg\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    body_length = len(head) + len(payload) + len(tail)

    port = _free_port()
    server = _start_server(data_dir, port, log)
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall((f"POST /api/v1/uploads HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                      f"Authorization: Bearer {alice.token}\r\n"
                      f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                      f"Content-Length: {body_length}\r\n\r\n").encode() + head)
        half, sent, step = len(payload) // 2, 0, 256 * 1024
        while sent < half:
            sock.sendall(payload[sent:sent + step])
            sent += step
            time.sleep(0.005)
        time.sleep(0.5)  # let the server write what it received
        in_flight = _files(data_dir / "tmp")
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        sock.close()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()

    # The half-received upload left at most scratch files, never an object or a record.
    assert in_flight, "the server had not started writing the upload when it was killed"
    assert [f for f in _files(data_dir / "objects")] == []
    hours_ago = time.time() - 2 * 3600  # the restart sweeps scratch nothing has written to for an hour
    for name in in_flight:
        os.utime(data_dir / "tmp" / name, (hours_ago, hours_ago))
    server = _start_server(data_dir, port, log)
    try:
        assert _files(data_dir / "tmp") == []
        listing = _get_json(port, "/api/v1/uploads", alice.token)
        assert listing["items"] == []
        verify = subprocess.run([sys.executable, "-m", "flask", "momento", "verify", "--json"], cwd=ROOT,
                                env=_server_env(data_dir), capture_output=True, text=True, timeout=120, check=False)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        report = json.loads(verify.stdout)
        assert not report.get("problems"), report
        # After the restart the same upload goes through whole.
        photo = corpus.jpeg(320, 240)
        stored = _post_upload(port, alice.token, photo)
        assert stored["size"] == len(photo)
        assert [u["id"] for u in _get_json(port, "/api/v1/uploads", alice.token)["items"]] == [stored["id"]]
    finally:
        server.kill()
        server.wait()


def _get_json(port: int, path: str, token: str) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def _post_upload(port: int, token: str, data: bytes) -> dict:
    boundary = "retryboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"again.jpg\"\r\n\r\n".encode()
            + data + f"\r\n--{boundary}--\r\n".encode())
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/uploads", data=body, method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        assert resp.status == 201
        return json.loads(resp.read())
