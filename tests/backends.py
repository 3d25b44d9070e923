"""Pytest plugin: a moto server per session and fixtures that give each test fresh backends.

Load it with `pytest_plugins = ["tests.backends"]` (or `-p tests.backends`). Tests take
`backend_config` and run once per backend when decorated with `@backends`; the aws runs carry the
`aws` marker (`-m "not aws"` leaves them out).
"""
from __future__ import annotations

import functools
import logging
import os
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
# Anything that could send the tests to a real account or another endpoint.
AWS_UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB")

backends = pytest.mark.parametrize(
    "backend_config", ["local", pytest.param("aws", marks=pytest.mark.aws)], indirect=True
)


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers this plugin hands out."""
    config.addinivalue_line("markers", "aws: runs against S3 and DynamoDB on the session's moto server")


def serialize_moto_dynamodb() -> None:
    """Make moto's DynamoDB handle one call at a time, as DynamoDB's own transactions are isolated.

    moto applies a transaction item by item on the live table, without a lock, and restores a copy of the whole
    table when one fails: under concurrent requests two conditional transactions can both pass, and a failed one
    wipes out writes made meanwhile. Code that relies on DynamoDB's serializable transactions (quota
    reservations) can only be tested against a moto that serializes them.
    """
    import threading

    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend, "_momento_serialized", False):
        return
    lock = threading.RLock()

    def locked(method):
        def call(self, *args, **kwargs):
            with lock:
                return method(self, *args, **kwargs)
        return call

    for name in ("transact_write_items", "update_item", "put_item", "delete_item", "get_item", "query",
                 "batch_get_item", "batch_write_item", "transact_get_items", "scan"):
        setattr(DynamoDBBackend, name, locked(getattr(DynamoDBBackend, name)))
    DynamoDBBackend._momento_serialized = True


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One in-process moto server for this (xdist worker) process; boto3 finds it through the environment."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    serialize_moto_dynamodb()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()  # port 0: the system chose a free one
    url = f"http://{host}:{port}"
    config_file = tmp_path_factory.mktemp("aws") / "config"
    config_file.write_text("")
    with pytest.MonkeyPatch.context() as mp:
        for name in AWS_UNSET:
            mp.delenv(name, raising=False)
        for name, value in AWS_ENV.items():
            mp.setenv(name, value)
        # no shared config or credentials file can add a profile, region or endpoint
        mp.setenv("AWS_CONFIG_FILE", str(config_file))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(config_file))
        mp.setenv("AWS_ENDPOINT_URL", url)
        try:
            yield url
        finally:
            server.stop()


@pytest.fixture
def backend_config(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """Flask config values for one backend ("local" unless parametrized), with names unique to the test."""
    backend = getattr(request, "param", "local")
    data_dir = str(tmp_path / "data")
    if backend == "local":
        return {"BACKEND": "local", "DATA_DIR": data_dir}
    if backend == "aws":
        request.getfixturevalue("moto_server")
        token = uuid.uuid4().hex[:8]
        return {"BACKEND": "aws", "BUCKET": f"momento-test-{token}", "TABLE_PREFIX": f"t{token}-",
                "DATA_DIR": data_dir}
    raise ValueError(f"unknown backend {backend!r}")


@functools.cache
def aws_session() -> Any:
    """One boto3 session per test process: its clients share the parsed service models (~0.2 s each)."""
    import boto3

    return boto3.session.Session()


def build_storage(config: dict[str, Any], *, create: bool = True, **options: Any):
    """The storage for a config (created unless told); options go to S3Storage (part_size, in_flight)."""
    if config["BACKEND"] == "aws":
        from momento.storage.s3 import S3Storage

        storage = S3Storage(config["BUCKET"], kms_key_id=config.get("KMS_KEY_ID"), session=aws_session(), **options)
    else:
        from momento.storage.local import LocalStorage

        storage = LocalStorage(config["DATA_DIR"])
    if create:
        storage.create()
    return storage


def build_catalog(config: dict[str, Any], *, create: bool = True):
    """The catalog for a config, with its schema unless told."""
    if config["BACKEND"] == "aws":
        from momento.catalog.dynamodb import DynamoCatalog

        catalog = DynamoCatalog(config["TABLE_PREFIX"], session=aws_session())
    else:
        from momento.catalog.sqlite import SqliteCatalog

        catalog = SqliteCatalog(os.path.join(config["DATA_DIR"], "momento.sqlite3"))
    if create:
        catalog.create_schema()
    return catalog


def make_backends(config: dict[str, Any]):
    """(storage, catalog) for a config, without Flask, both created."""
    return build_storage(config), build_catalog(config)


@pytest.fixture
def backends_pair(backend_config: dict[str, Any]) -> Iterator[tuple[Any, Any]]:
    """Fresh (storage, catalog) for the test's backend."""
    storage, catalog = make_backends(backend_config)
    yield storage, catalog
    if hasattr(catalog, "close"):
        catalog.close()


@pytest.fixture
def dynamo_ops() -> Iterator[Any]:
    """record(catalog) -> list that fills with the DynamoDB operation names the catalog calls."""
    hooks: list[tuple[Any, Any]] = []

    def record(catalog: Any) -> list[str]:
        ops: list[str] = []

        def before_call(model: Any, **kwargs: Any) -> None:
            ops.append(model.name)

        events = catalog.client.meta.events
        events.register("before-call.dynamodb", before_call)
        hooks.append((events, before_call))
        return ops

    yield record
    for events, handler in hooks:
        events.unregister("before-call.dynamodb", handler)


@pytest.fixture
def catalog(backend_config, dynamo_ops):
    """A catalog with its schema; on aws, every DynamoDB call of the test is recorded and none may be a Scan."""
    catalog = build_catalog(backend_config, create=False)
    ops = dynamo_ops(catalog) if backend_config["BACKEND"] == "aws" else None
    catalog.create_schema()
    yield catalog
    if ops is not None:
        assert "CreateTable" in ops  # the recorder saw the calls
        assert "Scan" not in ops, f"the DynamoDB catalog scanned a table: {ops}"
    if hasattr(catalog, "close"):
        catalog.close()
