"""Automatic tags from real generated media, and `flask momento retag`."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import corpus
from tests.conftest import both_backends

DATA = Path(__file__).parent / "data"


def _auto(alice, data, name="f.jpg"):
    resp = alice.upload(data, name)
    assert resp.status_code == 201, resp.json
    return set(resp.json["auto_tags"])


def test_photo_metadata_tags(alice):
    tags = _auto(alice, corpus.jpeg(640, 480, exif_date="2019:12:24 18:00:00", make="Canon", model="Canon EOS R5",
                                    gps=(51.5, -0.12)))
    assert {"year:2019", "month:2019-12", "camera:canon", "model:canon-eos-r5", "has:location", "format:jpeg",
            "orientation:landscape", "res:sd", "kind:photo"} <= tags


@pytest.mark.parametrize("size,expected", [((300, 500), "orientation:portrait"), ((400, 400), "orientation:square"),
                                           ((1200, 300), "orientation:panorama")])
def test_orientation(alice, size, expected):
    assert expected in _auto(alice, corpus.jpeg(*size))


def test_exif_rotation_decides_orientation(alice):
    # Stored 400x300 landscape with EXIF orientation 6 (turn 90°): people see it portrait.
    assert "orientation:portrait" in _auto(alice, corpus.jpeg(300, 400, orientation=6))


def test_resolution_classes(alice):
    assert "res:hd" in _auto(alice, corpus.jpeg(1280, 720))
    assert "res:fullhd" in _auto(alice, corpus.jpeg(1920, 1080, color=(1, 2, 3)))


def test_no_exif_falls_back_to_upload_date(alice):
    tags = _auto(alice, corpus.png(64, 64))
    assert any(t.startswith("year:20") for t in tags) and "format:png" in tags and "has:location" not in tags


def test_animation_and_colours(alice):
    assert "animated" in _auto(alice, corpus.gif_animated(), "a.gif")
    blue = _auto(alice, corpus.jpeg(200, 150, color=(20, 60, 220)), "blue.jpg")
    assert "color:blue" in blue
    assert "animated" not in blue


def test_video_tags(alice):
    tags = _auto(alice, corpus.mp4(seconds=2, audio=False), "v.mp4")
    assert {"kind:video", "duration:short", "audio:none", "format:mp4"} <= tags
    with_audio = _auto(alice, corpus.mp4(seconds=1, audio=True, size=(120, 160)), "w.mp4")
    assert "audio:none" not in with_audio and "orientation:portrait" in with_audio


def test_faces_are_tagged_people(alice):
    assert "people" in _auto(alice, (DATA / "astronaut.jpg").read_bytes())
    assert "people" not in _auto(alice, (DATA / "chelsea.jpg").read_bytes())


def test_taggers_are_configurable(request, tmp_path):
    from momento import create_app
    from momento.config import ConfigError
    from tests.conftest import Account, app_config

    app = create_app(app_config(request, tmp_path, "local", TAGGERS=""))
    tags = _auto(Account(app, "x@example.com"), (DATA / "astronaut.jpg").read_bytes())
    assert "people" not in tags and not any(t.startswith("color:") for t in tags)
    with pytest.raises(ConfigError, match="TAGGERS"):
        create_app(app_config(request, tmp_path, "local", TAGGERS="color,telepathy"))


@both_backends
def test_retag_recomputes_and_is_idempotent(app, alice, runner, backends):
    uid = alice.upload((DATA / "astronaut.jpg").read_bytes(), "astro.jpg", tags="space").json["id"]
    # Pretend the upload was made before automatic tags existed.
    backends.catalog.set_auto_tags(alice.user.id, uid, ())
    assert alice.get("/api/v1/uploads?tag=people").json["items"] == []
    result = runner.invoke(args=["momento", "retag", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1]) == {"uploads": 1, "changed": 1}
    assert [u["id"] for u in alice.get("/api/v1/uploads?tag=people").json["items"]] == [uid]
    again = runner.invoke(args=["momento", "retag", "--user", alice.email, "--json"])
    assert json.loads(again.output.strip().splitlines()[-1]) == {"uploads": 1, "changed": 0}
    assert alice.get(f"/api/v1/uploads/{uid}").json["tags"] == ["space"]


def test_retag_interrupted_then_rerun(app, alice, runner, backends, monkeypatch):
    ids = [alice.upload(corpus.jpeg(64, 48, color=(i * 60, 20, 20))).json["id"] for i in range(3)]
    for uid in ids:
        backends.catalog.set_auto_tags(alice.user.id, uid, ())
    real = backends.catalog.set_auto_tags
    calls = []

    def flaky(*args):
        calls.append(args)
        if len(calls) == 2:
            from momento.errors import BackendError
            raise BackendError("connection lost")
        return real(*args)

    monkeypatch.setattr(backends.catalog, "set_auto_tags", flaky)
    first = runner.invoke(args=["momento", "retag"])
    assert first.exit_code != 0 and "run the command again" in first.output
    monkeypatch.setattr(backends.catalog, "set_auto_tags", real)
    second = runner.invoke(args=["momento", "retag", "--json"])
    assert second.exit_code == 0
    assert json.loads(second.output.strip().splitlines()[-1])["changed"] == 2
    for uid in ids:
        assert "kind:photo" in alice.get(f"/api/v1/uploads/{uid}").json["auto_tags"]
