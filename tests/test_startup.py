"""Start-up: configuration order, fail-fast checks, persistence of the embedded backend, health."""
from __future__ import annotations

import pytest

from momento import create_app
from momento.config import ConfigError
from tests import corpus
from tests.conftest import Account, both_backends


def test_missing_secret_key_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("MOMENTO_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="MOMENTO_SECRET_KEY"):
        create_app({"DATA_DIR": str(tmp_path)})


def test_environment_then_test_overrides(tmp_path, monkeypatch):
    monkeypatch.setenv("MOMENTO_SECRET_KEY", "from-env")
    monkeypatch.setenv("MOMENTO_MAX_PHOTO_BYTES", "1234")
    monkeypatch.setenv("MOMENTO_OPEN_REGISTRATION", "false")
    monkeypatch.setenv("MOMENTO_DATA_DIR", str(tmp_path / "env"))
    app = create_app({"MAX_VIDEO_BYTES": 999})
    assert app.config["SECRET_KEY"] == "from-env"
    assert app.config["MAX_PHOTO_BYTES"] == 1234 and app.config["MAX_VIDEO_BYTES"] == 999
    assert app.config["OPEN_REGISTRATION"] is False
    assert app.config["DATA_DIR"] == str(tmp_path / "env")
    assert (tmp_path / "env" / "momento.sqlite3").exists()


@pytest.mark.parametrize("name,value", [("MOMENTO_BACKEND", "ftp"), ("MOMENTO_MAX_PHOTO_BYTES", "lots"),
                                        ("MOMENTO_MAX_PHOTO_BYTES", "1000.7"), ("MOMENTO_TUS_EXPIRY_HOURS", "0.001"),
                                        ("MOMENTO_TUS_EXPIRY_HOURS", "1.9")])
def test_bad_settings_fail_fast(tmp_path, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError):
        create_app({"SECRET_KEY": "x", "DATA_DIR": str(tmp_path)})


def test_everything_survives_a_restart(tmp_path):
    config = {"SECRET_KEY": "s", "DATA_DIR": str(tmp_path / "data"), "TESTING": True}
    first = create_app(config)
    alice = Account(first, "alice@example.com")
    data = corpus.jpeg(300, 200)
    uid = alice.upload(data, tags="kept").json["id"]
    first.extensions["momento"].catalog.close()

    second = create_app(config)
    c = second.test_client()
    resp = c.post("/api/v1/auth/token", json={"email": "alice@example.com", "password": alice.password})
    assert resp.status_code == 201
    auth = {"Authorization": f"Bearer {resp.json['token']}"}
    listed = c.get("/api/v1/uploads", headers=auth).json["items"]
    assert [u["id"] for u in listed] == [uid] and listed[0]["tags"] == ["kept"]
    assert c.get(f"/media/{uid}/original", headers=auth).data == data
    # The old token is still valid too.
    assert c.get("/api/v1/uploads", headers=alice.headers).status_code == 200


@both_backends
def test_healthz(app, client):
    resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.json == {"status": "ok"}


def test_healthz_reports_a_broken_catalog(app, client, backends, monkeypatch):
    from momento.errors import BackendError

    monkeypatch.setattr(backends.catalog, "check", lambda: (_ for _ in ()).throw(BackendError("db gone")))
    resp = client.get("/healthz")
    assert resp.status_code == 503 and resp.json["status"] == "unavailable"


def test_the_allocator_is_tuned_on_linux():
    """glibc's mmap threshold is fixed once per process, so freed upload parts do not stay resident."""
    import platform

    from momento.memory import tune_allocator

    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert tune_allocator() is True
    else:
        tune_allocator()  # elsewhere it is a no-op and must not fail


def test_a_bad_setting_is_one_line_for_a_flask_command(tmp_path):
    """The operator's commands say what is wrong in a sentence and exit 1, with no traceback."""
    import os
    import subprocess
    import sys

    env = os.environ | {"MOMENTO_SECRET_KEY": "x", "MOMENTO_DATA_DIR": str(tmp_path), "MOMENTO_TUS_EXPIRY_HOURS": "abc"}
    done = subprocess.run([sys.executable, "-m", "flask", "users", "list"], env=env, capture_output=True, text=True)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "MOMENTO_TUS_EXPIRY_HOURS must be a whole number of hours, not 'abc'" in done.stderr
