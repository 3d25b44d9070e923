"""Half-failures: when any backend call of an upload fails, nothing half-done remains and a retry works."""
from __future__ import annotations

import pytest

from momento.errors import BackendError
from tests import corpus
from tests.conftest import both_backends

STEPS = ["original", "thumbnail", "record"]


def _break(backends, monkeypatch, step):
    """Make one backend call of the upload fail; returns a function that mends it."""
    def broken(*args, **kwargs):
        raise BackendError("injected failure")

    if step == "original":
        real_writer = backends.storage.writer

        def writer(*args, **kwargs):
            w = real_writer(*args, **kwargs)
            w.commit = broken
            return w

        monkeypatch.setattr(backends.storage, "writer", writer)
    elif step == "thumbnail":
        monkeypatch.setattr(backends.storage, "put_bytes", broken)
    else:
        monkeypatch.setattr(backends.catalog, "put_upload", broken)
    return monkeypatch.undo


def _all_keys(backends):
    return sorted(o.key for o in backends.storage.list(""))


def large_video() -> bytes:
    """A video over one S3 part, so it goes up as a multipart upload (padding after its boxes is kept as it is)."""
    video = corpus.mp4(seconds=1)
    return video + b"\0" * (6 * 1024 * 1024 - len(video))


def _no_multipart_uploads_left(backends):
    storage = backends.storage
    if hasattr(storage, "bucket"):
        assert storage.client.list_multipart_uploads(Bucket=storage.bucket).get("Uploads", []) == []


@both_backends
@pytest.mark.parametrize("large", [False, True], ids=["photo", "large-video"])
@pytest.mark.parametrize("step", STEPS)
def test_failed_step_leaves_nothing_and_retry_succeeds(app, alice, backends, monkeypatch, step, large):
    """Whichever step fails, a small photo (one PUT on S3) or a video of several S3 parts leaves nothing."""
    mend = _break(backends, monkeypatch, step)
    data = large_video() if large else corpus.jpeg(120, 90)
    resp = alice.upload(data, "v.mp4") if large else alice.upload(data)
    assert resp.status_code == 503 and resp.json["error"]["code"] == "backend_unavailable"
    assert _all_keys(backends) == []
    assert alice.get("/api/v1/uploads").json["items"] == []
    assert not list((backends_tmp(app)).glob("*"))
    _no_multipart_uploads_left(backends)

    mend()
    again = alice.upload(data)
    assert again.status_code == 201
    assert len(_all_keys(backends)) == 2


def backends_tmp(app):
    """The folder where temporary files of uploads live while a request runs."""
    from pathlib import Path

    return Path(app.config["DATA_DIR"]) / "tmp"


@both_backends
def test_a_thumbnail_still_landing_when_the_original_fails_is_removed_too(app, alice, backends, monkeypatch):
    """The thumbnail is stored while the original is published: when publishing fails, the thumbnail is removed
    only once its write has landed, so a slow thumbnail write leaves nothing behind either."""
    import time

    real_put = backends.storage.put_bytes

    def slow_put(*args, **kwargs):
        time.sleep(0.3)
        return real_put(*args, **kwargs)

    monkeypatch.setattr(backends.storage, "put_bytes", slow_put)
    real_writer = backends.storage.writer

    def writer(*args, **kwargs):
        w = real_writer(*args, **kwargs)
        w.commit = lambda: (_ for _ in ()).throw(BackendError("injected failure"))
        return w

    monkeypatch.setattr(backends.storage, "writer", writer)
    resp = alice.upload(corpus.jpeg(120, 90))
    assert resp.status_code == 503
    time.sleep(0.6)  # a thumbnail write still under way would land by now
    assert _all_keys(backends) == []
    assert alice.get("/api/v1/uploads").json["items"] == []


@both_backends
def test_a_failure_deriving_tags_leaves_nothing(app, alice, backends, monkeypatch):
    """What is derived after the decode (tags, the record's fields) failing discards the original too: no object,
    no multipart upload left open, no record."""
    from momento.uploads import commit as commit_module

    def broken(*args, **kwargs):
        raise RuntimeError("injected failure")

    monkeypatch.setattr(commit_module, "build_upload", broken)
    resp = alice.upload(large_video(), "v.mp4")
    assert resp.status_code == 500
    assert _all_keys(backends) == []
    _no_multipart_uploads_left(backends)
    assert alice.get("/api/v1/uploads").json["items"] == []


@both_backends
def test_bytes_already_stored_come_back_as_the_duplicate_whatever_their_decode_says(app, alice, backends,
                                                                                     monkeypatch):
    """The lookup for the same bytes comes before the decode: an upload the user already has is answered as the
    duplicate without decoding it again (which would fail now: a tighter limit, say), and nothing new is stored."""
    from momento.errors import BadRequest
    from momento.uploads import commit as commit_module

    data = corpus.jpeg(120, 90)
    first = alice.upload(data)
    assert first.status_code == 201
    keys = _all_keys(backends)

    def refuse(*args, **kwargs):
        raise BadRequest("refused now", code="bad_image")

    monkeypatch.setattr(commit_module, "inspect", refuse)
    again = alice.upload(data)
    assert again.status_code == 200 and again.json["duplicate"] is True and again.json["id"] == first.json["id"]
    assert _all_keys(backends) == keys
    other = alice.upload(corpus.jpeg(64, 48))
    assert other.status_code == 400 and other.json["error"]["code"] == "bad_image"
    assert _all_keys(backends) == keys


def test_unexpected_exception_after_store_also_compensates(app, alice, backends, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(backends.catalog, "put_upload", boom)
    resp = alice.upload(corpus.jpeg(50, 50))
    assert resp.status_code == 500 and resp.json["error"]["code"] == "internal_error"
    assert _all_keys(backends) == []


def test_failing_cleanup_is_reported_by_the_original_error(app, alice, backends, monkeypatch):
    monkeypatch.setattr(backends.catalog, "put_upload", lambda *a, **k: (_ for _ in ()).throw(BackendError("db down")))
    monkeypatch.setattr(backends.storage, "delete", lambda *a, **k: (_ for _ in ()).throw(BackendError("s3 down")))
    resp = alice.upload(corpus.jpeg(50, 50))
    assert resp.status_code == 503 and "db down" in resp.json["error"]["message"]


@pytest.mark.aws
@pytest.mark.parametrize("service,operation", [
    ("s3", "PutObject"),
    ("dynamodb", "TransactWriteItems"),
])
def test_real_client_errors_are_translated_and_compensated(request, tmp_path, service, operation):
    """A botocore error from the real client (not a patched method) surfaces as 503 and leaves nothing."""
    from botocore.exceptions import ClientError

    from momento import create_app
    from momento.migrate import apply_pending
    from tests.conftest import Account, app_config

    app = create_app(app_config(request, tmp_path, "aws"))
    b = app.extensions["momento"]
    with app.app_context():
        apply_pending(b)
    alice = Account(app, "alice@example.com")
    client = b.storage.writes if service == "s3" else b.catalog.client

    def fail(**kwargs):
        raise ClientError({"Error": {"Code": "InternalError", "Message": "injected"}}, operation)

    client.meta.events.register(f"before-call.{service}.{operation}", fail)
    resp = alice.upload(corpus.jpeg(80, 60))
    assert resp.status_code == 503, resp.json
    client.meta.events.unregister(f"before-call.{service}.{operation}", fail)
    assert _all_keys(b) == []
    assert alice.upload(corpus.jpeg(80, 60)).status_code == 201


@pytest.mark.parametrize("app", [pytest.param("aws", marks=pytest.mark.aws)], indirect=True)
def test_an_upload_whose_record_meets_another_transaction_is_stored(app, alice, backends, monkeypatch):
    """Uploads of one person finishing together meet on the rendition queue's entry for that person; DynamoDB
    cancels all but one (TransactionConflict), and the others are run again rather than answered 503."""
    from botocore.exceptions import ClientError

    from momento.catalog import dynamodb

    monkeypatch.setattr(dynamodb.time, "sleep", lambda seconds: None)
    conflicts = [2]

    def provide(params, **kwargs):
        if conflicts[0] and any("Put" in item and "sha256" in item["Put"]["Item"] for item in params["TransactItems"]):
            conflicts[0] -= 1
            raise ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                               "CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict"}],
                               "ResponseMetadata": {"HTTPStatusCode": 400}}, "TransactWriteItems")

    backends.catalog.client.meta.events.register("provide-client-params.dynamodb.TransactWriteItems", provide)
    resp = alice.upload(large_video(), "v.mp4")
    assert resp.status_code == 201, resp.json
    assert conflicts == [0]
    assert [u["id"] for u in alice.get("/api/v1/uploads").json["items"]] == [resp.json["id"]]
    assert len(_all_keys(backends)) == 2
