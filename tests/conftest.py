"""Fixtures: a fresh app per test on the local backend or on a moto server, clients and users."""
from __future__ import annotations

import uuid

import pytest

from momento import create_app
from momento.accounts import issue_token, register
from momento.backends import Backends

pytest_plugins = ["tests.backends", "tests.cluster"]


def pytest_configure(config):
    """Markers of this suite (the aws marker comes with tests.backends)."""
    config.addinivalue_line("markers", "slow: starts real servers; deselect with -m 'not slow'")


both_backends = pytest.mark.parametrize("app", ["local", pytest.param("aws", marks=pytest.mark.aws)], indirect=True)


def app_config(request, tmp_path, backend: str, **extra) -> dict:
    """Test config for one backend; aws gets its own bucket and table prefix on the session's moto server."""
    config = {"TESTING": True, "SECRET_KEY": "test-secret", "DATA_DIR": str(tmp_path / "data"),
              "WTF_CSRF_ENABLED": False, "BACKEND": backend}
    if backend == "aws":
        request.getfixturevalue("moto_server")
        tag = uuid.uuid4().hex[:10]
        # the server streams media unless a test asks for presigned delivery (tests/test_presigned.py)
        config.update(BUCKET=f"momento-test-{tag}", TABLE_PREFIX=f"t{tag}-", MEDIA_DELIVERY="proxy")
    config.update(extra)
    return config


@pytest.fixture
def app(request, tmp_path):
    """A new app with empty storage; `local` unless parametrized with `both_backends`."""
    backend = getattr(request, "param", "local")
    app = create_app(app_config(request, tmp_path, backend))
    if backend == "aws":
        from momento.migrate import apply_pending

        with app.app_context():
            apply_pending(app.extensions["momento"])
    return app


@pytest.fixture
def backends(app) -> Backends:
    """The app's storage and catalog."""
    return app.extensions["momento"]


@pytest.fixture
def client(app):
    """A test client without a session."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """Flask's CLI runner."""
    return app.test_cli_runner()


class Account:
    """A user with an API token and a client that sends it."""

    def __init__(self, app, email: str, password: str = "correct horse battery"):
        with app.app_context():
            catalog = app.extensions["momento"].catalog
            self.user = register(catalog, email, password)
            self.token = issue_token(catalog, self.user)
        self.email, self.password = email, password
        self.client = app.test_client()
        self.headers = {"Authorization": f"Bearer {self.token}"}

    def upload(self, data: bytes, filename: str = "photo.jpg", tags: str | None = None):
        """POST one file to the API."""
        import io

        form = {"file": (io.BytesIO(data), filename)}
        if tags is not None:
            form["tags"] = tags
        return self.client.post("/api/v1/uploads", data=form, headers=self.headers,
                                content_type="multipart/form-data")

    def get(self, url: str, **kw):
        """GET with the token."""
        return self.client.get(url, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def head(self, url: str, **kw):
        """HEAD with the token."""
        return self.client.head(url, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def patch(self, url: str, json):
        """PATCH JSON with the token."""
        return self.client.patch(url, json=json, headers=self.headers)

    def post(self, url: str, **kw):
        """POST with the token."""
        return self.client.post(url, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def delete(self, url: str):
        """DELETE with the token."""
        return self.client.delete(url, headers=self.headers)


@pytest.fixture
def fast_passwords(monkeypatch):
    """argon2id with the cheapest parameters, for tests that sign in many times (not a test of hashing)."""
    from argon2 import PasswordHasher

    from momento import accounts

    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(accounts, "_hasher", cheap)
    monkeypatch.setattr(accounts, "_DUMMY_HASH", cheap.hash("momento-timing-guard"))


@pytest.fixture
def alice(app) -> Account:
    """A signed-up user with a token."""
    return Account(app, "alice@example.com")


@pytest.fixture
def bob(app) -> Account:
    """Another user, who must never see alice's uploads."""
    return Account(app, "bob@example.com")
