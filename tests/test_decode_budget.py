"""Decode budgets through the API: images whose decode would cost too much memory are refused before decoding."""
from __future__ import annotations

import functools
import io
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image

from tests import corpus, hostile
from tests.conftest import both_backends


@functools.cache
def _crafted(name: str) -> bytes:
    """The crafted files, made once per session (the zero PNG takes a second to compress)."""
    return {
        "canvas.gif": lambda: hostile.gif_canvas(9450, 9450, frames=8),
        "zeros.png": lambda: hostile.zero_png(9000, 9900),
        "frames.gif": lambda: hostile.gif_canvas(2000, 2000, frames=250),
        "frames.webp": lambda: hostile.webp_canvas(2000, 2000, frames=250),
        "canvas.webp": lambda: hostile.webp_canvas(9000, 9000, frames=2),
    }[name]()


def _nothing_stored(alice, backends) -> None:
    assert list(backends.storage.list("")) == []
    assert list(backends.catalog.iter_all_uploads(alice.user.id)) == []
    assert backends.catalog.usage(alice.user.id).get("photos", 0) == 0
    assert alice.get("/api/v1/uploads").json["items"] == []


@both_backends
@pytest.mark.parametrize("name", ["canvas.gif", "zeros.png", "frames.gif", "frames.webp", "canvas.webp"])
def test_crafted_images_are_413_and_leave_nothing(alice, backends, name):
    data = _crafted(name)
    assert len(data) < 400_000  # tiny files that would decode into hundreds of MB
    resp = alice.upload(data, name)
    assert resp.status_code == 413, resp.json
    error = resp.json["error"]
    assert error["code"] == "image_too_large"
    assert "too large to process" in error["message"] or "too many to process" in error["message"]
    assert "megapixels" in error["message"]
    _nothing_stored(alice, backends)


def test_message_names_the_size_and_the_limit(alice):
    message = alice.upload(_crafted("zeros.png"), "zeros.png").json["error"]["message"]
    assert message.startswith("This image is 9000x9900 pixels, too large to process")
    assert "(the limit for this kind of image is 50 megapixels)" in message


def test_budget_is_a_setting(app, alice):
    png = corpus.png_rgba(400, 300)  # 480 KB decoded
    app.config["DECODE_BUDGET_BYTES"] = 400 * 300 * 4 - 1
    resp = alice.upload(png, "small.png")
    assert resp.status_code == 413 and resp.json["error"]["code"] == "image_too_large"
    app.config["DECODE_BUDGET_BYTES"] = 400 * 300 * 4
    assert alice.upload(png, "small.png").status_code == 201


def test_budget_from_the_environment(monkeypatch, tmp_path):
    from momento import create_app

    monkeypatch.setenv("MOMENTO_DECODE_BUDGET_BYTES", "1048576")
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "DATA_DIR": str(tmp_path)})
    assert app.config["DECODE_BUDGET_BYTES"] == 1048576


def test_a_small_gif_canvas_with_one_frame_is_stored_and_its_thumbnail_is_small(alice):
    resp = alice.upload(hostile.gif_canvas(3000, 2000), "wide.gif")
    assert resp.status_code == 201, resp.json
    thumb = Image.open(io.BytesIO(alice.get(resp.json["urls"]["thumbnail"]).data))
    assert thumb.size == (512, 341)


@both_backends
def test_large_legitimate_photos_are_stored(alice, backends):
    for data, name, size in ((hostile.large_png(), "screen.png", (8000, 5000)),
                             (hostile.large_jpeg(), "wall.jpg", (9800, 6530))):
        resp = alice.upload(data, name)
        assert resp.status_code == 201, resp.json
        assert (resp.json["width"], resp.json["height"]) == size
        thumb = Image.open(io.BytesIO(alice.get(resp.json["urls"]["thumbnail"]).data))
        assert max(thumb.size) == 512
        top, bottom = thumb.convert("RGB").getpixel((256, 2)), thumb.convert("RGB").getpixel((256, 300))
        assert top[2] > top[0] and bottom[2] > 180  # the dark header bar on top, the blue half below


def test_transparent_png_thumbnail_is_laid_over_white_in_strips(alice):
    img = Image.new("RGBA", (3000, 2000), (0, 0, 0, 0))
    img.paste((20, 60, 220, 255), (0, 1000, 3000, 2000))
    out = io.BytesIO()
    img.save(out, "PNG")
    resp = alice.upload(out.getvalue(), "half.png")
    assert resp.status_code == 201, resp.json
    thumb = Image.open(io.BytesIO(alice.get(resp.json["urls"]["thumbnail"]).data)).convert("RGB")
    assert min(thumb.getpixel((100, 50))) > 245
    assert thumb.getpixel((100, 300))[2] > 200


def test_truncated_large_png_is_still_422(alice):
    data = hostile.large_png(4000, 3000)
    resp = alice.upload(data[: len(data) * 2 // 3], "cut.png")
    assert resp.status_code == 422 and resp.json["error"]["code"] == "corrupt_media"


_PEAK = textwrap.dedent("""
    import gc, resource, sys
    from momento.media import inspect, sniff
    from tests import corpus
    for warm in (corpus.jpeg(600, 400), corpus.png_rgba(600, 400)):  # load the codecs first
        open(sys.argv[1], "wb").write(warm)
        inspect(sys.argv[1], sniff(warm))
    gc.collect()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    inspect(sys.argv[2], sniff(open(sys.argv[2], "rb").read(8192)))
    print(before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
""")


@pytest.mark.parametrize("make", [hostile.large_png, hostile.large_jpeg])
def test_large_photo_decode_stays_well_under_256_mib(make, tmp_path):
    """A coarse bound on the peak RSS growth of inspect, in a fresh process (the bench gives figures)."""
    path = tmp_path / "photo"
    path.write_bytes(make())
    out = subprocess.run([sys.executable, "-c", _PEAK, str(tmp_path / "warm"), str(path)], capture_output=True,
                         text=True, check=True, cwd=str(Path(__file__).resolve().parent.parent))
    before, after = (int(v) for v in out.stdout.split())
    assert (after - before) / 1024 < 200, (before, after)  # KiB on Linux
