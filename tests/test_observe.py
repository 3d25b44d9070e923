"""Metrics, request ids and JSON logs, through the test client (tests/test_metrics_gunicorn.py: a real server)."""
from __future__ import annotations

import io
import json
import logging
import sqlite3

import pytest
from prometheus_client.parser import text_string_to_metric_families

from momento import create_app
from tests import corpus
from tests.conftest import app_config

TUS = {"Tus-Resumable": "1.0.0"}


def scrape(client, **kw) -> dict[tuple, float]:
    """/metrics as {(sample name, sorted labels): value}."""
    resp = client.get("/metrics", **kw)
    assert resp.status_code == 200, resp.status_code
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(resp.get_data(as_text=True)) for s in family.samples}


def value(samples: dict, name: str, **labels) -> float:
    """One sample, 0 when absent."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_uploads_and_requests_are_counted_and_labels_never_hold_ids(app, alice):
    client = app.test_client()
    before = scrape(client)
    photo = corpus.jpeg()
    stored = alice.upload(photo)
    assert stored.status_code == 201
    assert alice.upload(photo).status_code == 200  # the same bytes again
    assert alice.upload(b"just some text, not a photo", filename="notes.txt").status_code == 415
    upload_id = stored.json["id"]
    assert alice.get(f"/api/v1/uploads/{upload_id}").status_code == 200
    assert alice.get(f"/media/{upload_id}/thumbnail").status_code in (200, 202)
    assert alice.get("/api/v1/uploads/01ARZ3NDEKTSV4RRFFQ69G5FAV").status_code == 404
    assert client.get(f"/no/such/page/{upload_id}?token={alice.token}").status_code == 404
    # a tus upload, counted when it settles
    created = alice.client.post("/api/v1/tus/", headers={**alice.headers, **TUS, "Upload-Length": str(len(photo) + 1)})
    assert created.status_code == 201
    other = photo + b"\0"  # different bytes, so not a duplicate
    done = alice.client.patch(created.headers["Location"], data=other, content_type="application/offset+octet-stream",
                              headers={**alice.headers, **TUS, "Upload-Offset": "0"})
    assert done.status_code == 204 and done.headers.get("Momento-Upload-Id")

    after = scrape(client)
    delta = {k: v - before.get(k, 0.0) for k, v in after.items()}
    assert value(delta, "momento_uploads_total", kind="photo", outcome="stored") == 2
    assert value(delta, "momento_uploads_total", kind="photo", outcome="duplicate") == 1
    assert value(delta, "momento_uploads_total", kind="unknown", outcome="unsupported_media_type") == 1
    assert value(delta, "momento_upload_bytes_total", kind="photo") == len(photo) + len(other)
    assert value(delta, "momento_http_requests_total", route="/api/v1/uploads", method="POST", status="201") == 1
    assert value(delta, "momento_http_requests_total", route="/api/v1/uploads/<upload_id>", method="GET",
                 status="200") == 1
    assert value(delta, "momento_http_requests_total", route="/api/v1/uploads/<upload_id>", method="GET",
                 status="404") == 1
    assert value(delta, "momento_http_requests_total", route="<unmatched>", method="GET", status="404") == 1
    assert value(delta, "momento_http_request_duration_seconds_count", route="/api/v1/uploads", method="POST") == 3
    secrets = (upload_id, done.headers["Momento-Upload-Id"], alice.email, alice.user.id, alice.token, "example.com")
    for name, labels in after:
        for label in labels:
            assert not any(s in label[1] for s in secrets), (name, label)


def test_backend_errors_are_counted_by_backend_and_operation(app, alice, monkeypatch):
    catalog = app.extensions["momento"].catalog

    class Broken:
        def execute(self, *args):
            raise sqlite3.OperationalError("disk I/O error")

    before = scrape(app.test_client())
    with monkeypatch.context() as m:
        m.setattr(type(catalog), "db", property(lambda self: Broken()))
        assert alice.get("/api/v1/uploads").status_code == 503
    after = scrape(app.test_client())
    assert value(after, "momento_backend_errors_total", backend="sqlite", operation="read") > \
        value(before, "momento_backend_errors_total", backend="sqlite", operation="read")


def test_metrics_are_for_loopback_or_the_token(request, tmp_path):
    stranger = {"REMOTE_ADDR": "203.0.113.7"}
    app = create_app(app_config(request, tmp_path, "local", METRICS_TOKEN="s3cret-scrape"))
    client = app.test_client()
    assert client.get("/metrics", environ_base=stranger).status_code == 404  # a token is set and none is given
    assert client.get("/metrics", environ_base=stranger, headers={"Authorization": "Bearer wrong"}).status_code == 404
    assert client.get("/metrics", environ_base=stranger,
                      headers={"Authorization": "Bearer s3cret-scrape"}).status_code == 200
    assert client.get("/metrics").status_code == 200  # loopback
    # without ProxyFix, a request that came through a proxy is not local, whatever its socket says
    assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 404

    proxied = create_app(app_config(request, tmp_path, "local", PROXY_FIX=1)).test_client()
    assert proxied.get("/metrics", headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 404
    assert proxied.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 200
    assert proxied.get("/metrics", environ_base=stranger).status_code == 404


def test_request_ids_on_every_answer(app, alice):
    client = app.test_client()
    kept = client.get("/healthz", headers={"X-Request-ID": "edge-42.a_b"})
    assert kept.headers["X-Request-ID"] == "edge-42.a_b"
    for bad in ("x" * 65, "has space", "semi;colon", "ünï"):
        made = client.get("/healthz", headers={"X-Request-ID": bad}).headers["X-Request-ID"]
        assert made != bad and len(made) == 32
    upload_id = alice.upload(corpus.jpeg()).json["id"]
    answers = [client.get("/nowhere"), client.get("/api/v1/uploads"), alice.get(f"/media/{upload_id}/original"),
               client.options("/api/v1/tus/"), alice.upload(b"text", filename="a.txt"), client.get("/login")]
    ids = [r.headers.get("X-Request-ID") for r in answers]
    assert all(ids) and len(set(ids)) == len(ids)


def own_logging(monkeypatch) -> None:
    """The root logger without the test runner's handlers (added as the test starts), so the app installs its own."""
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    monkeypatch.setattr(logging.getLogger(), "level", logging.WARNING)


def test_json_log_lines_carry_the_request_id(request, tmp_path, monkeypatch, capsys):
    own_logging(monkeypatch)
    app = create_app(app_config(request, tmp_path, "local", LOG_FORMAT="json"))

    @app.get("/_log_something")
    def log_something():
        logging.getLogger("momento.example").warning("something happened")
        return "ok"

    capsys.readouterr()
    resp = app.test_client().get("/_log_something?token=do-not-log-me", headers={"X-Request-ID": "req-json-1",
                                                                                 "Cookie": "session=secret-cookie"})
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert resp.headers["X-Request-ID"] == "req-json-1"
    mine = [line for line in lines if line["request_id"] == "req-json-1"]
    assert [line["logger"] for line in mine] == ["momento.example", "momento.access"]
    for line in mine:
        assert {"time", "level", "logger", "message", "request_id"} <= set(line)
    access = mine[-1]
    assert (access["method"], access["route"], access["status"], access["user"]) == \
        ("GET", "/_log_something", 200, None)
    assert isinstance(access["duration_ms"], float)
    everything = json.dumps(lines)
    assert "do-not-log-me" not in everything and "secret-cookie" not in everything


def test_the_access_line_names_the_user_by_id_only(request, tmp_path, monkeypatch, capsys):
    own_logging(monkeypatch)
    from tests.conftest import Account

    app = create_app(app_config(request, tmp_path, "local", LOG_FORMAT="json"))
    alice = Account(app, "alice@example.com")
    capsys.readouterr()
    alice.get("/api/v1/uploads", headers={"X-Request-ID": "req-user"})
    err = capsys.readouterr().err
    (access,) = [json.loads(line) for line in err.splitlines() if '"req-user"' in line]
    assert access["user"] == alice.user.id and access["route"] == "/api/v1/uploads"
    assert alice.email not in err and alice.token not in err


def test_text_logs_carry_the_request_id(request, tmp_path, monkeypatch, capsys):
    own_logging(monkeypatch)
    app = create_app(app_config(request, tmp_path, "local"))
    capsys.readouterr()
    app.test_client().get("/healthz", headers={"X-Request-ID": "req-text-1"})
    assert "[req-text-1] GET /healthz 200" in capsys.readouterr().err


def test_an_unknown_log_format_is_refused(request, tmp_path):
    from momento.config import ConfigError

    with pytest.raises(ConfigError, match="MOMENTO_LOG_FORMAT"):
        create_app(app_config(request, tmp_path, "local", LOG_FORMAT="xml"))


def test_a_captured_handler_writes_json_outside_requests_too():
    """make_handler is what a host can use to capture the app's lines itself."""
    from momento.observe.logs import make_handler

    stream = io.StringIO()
    handler = make_handler(stream, "json")
    logging.getLogger("momento.example").addHandler(handler)
    try:
        logging.getLogger("momento.example").error("outside a request")
    finally:
        logging.getLogger("momento.example").removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert line["request_id"] is None and line["level"] == "ERROR" and line["message"] == "outside a request"


def test_the_development_server_writes_no_path_or_query(app, caplog):
    """`flask run` (werkzeug's server) logs its own request line with the raw path; Momento drops that line, as
    `momento.access` already writes the request by its route."""
    import threading
    import urllib.request

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    dev_server, kept = logging.getLogger("werkzeug"), []
    handler = logging.Handler()
    handler.emit = lambda record: kept.append(record.getMessage())  # what passes the logger's own filters
    dev_server.addHandler(handler)
    level, dev_server.level = dev_server.level, logging.INFO
    try:
        with caplog.at_level(logging.INFO):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{server.port}/s/SecretLinkToken?q=private-words")
            except urllib.error.HTTPError as exc:
                assert exc.code == 404
            dev_server.info(" * Running on http://127.0.0.1:5000")
    finally:
        server.shutdown()
        thread.join()
        dev_server.removeHandler(handler)
        dev_server.level = level
    assert not any("SecretLinkToken" in line or "private-words" in line for line in kept + [caplog.text])
    assert "/s/<token>" in caplog.text and any("Running on" in line for line in kept)
