"""Browser renditions: which videos get one, the background job that makes it, and serving it."""
from __future__ import annotations

import io
import json
import time
from datetime import timedelta
from fractions import Fraction

import av
import pytest
from PIL import Image

from momento import create_app
from momento.jobs import queue, renditions
from momento.jobs import runner as jobs_runner
from momento.config import ConfigError
from momento.errors import BackendError
from momento.media.renditions import fit, needs_rendition
from tests import corpus
from tests.conftest import Account, app_config, both_backends


def top_level_boxes(data: bytes) -> list[str]:
    """The names of an MP4's top-level boxes, in file order."""
    names, pos = [], 0
    while pos + 8 <= len(data):
        size, name = int.from_bytes(data[pos:pos + 4], "big"), data[pos + 4:pos + 8].decode("latin-1")
        if size == 1:
            size = int.from_bytes(data[pos + 8:pos + 16], "big")
        names.append(name)
        if size < 8:
            break
        pos += size
    return names


def decoded(data: bytes) -> tuple[dict, Image.Image]:
    """Stream facts of a video and its first picture."""
    with av.open(io.BytesIO(data)) as container:
        video = container.streams.video[0]
        facts = {"codecs": sorted(s.codec_context.name for s in container.streams),
                 "size": (video.codec_context.width, video.codec_context.height),
                 "pix_fmt": video.codec_context.pix_fmt}
        frame = next(container.decode(video))
        facts["rotation"] = frame.rotation
        return facts, frame.to_image()


def upright(img: Image.Image) -> bool:
    """Grey on top and blue below, as corpus videos look when shown the right way up."""
    r, g, b = img.convert("RGB").getpixel((img.width // 2, img.height // 8))[:3]
    r2, g2, b2 = img.convert("RGB").getpixel((img.width // 2, img.height * 7 // 8))[:3]
    return abs(r - b) < 25 and b2 > r2 + 100


def jobs(app) -> list:
    return app.extensions["momento"].catalog.due_jobs(queue.QUEUE, queue.END_OF_TIME)


def run(app, **kw) -> dict:
    return dict(jobs_runner.run_jobs(app.extensions["momento"], **kw))


@pytest.fixture(scope="module")
def hevc() -> bytes:
    return corpus.mp4(seconds=2, codec="hevc")


# --- the rule and the size -------------------------------------------------------------------------

@pytest.mark.parametrize("container,video,audio,needed", [
    ("mp4", "h264", "aac", False), ("mp4", "h264", None, False), ("mp4", "av1", "opus", False),
    ("webm", "vp9", "opus", False), ("webm", "vp8", "vorbis", False),
    ("mp4", "hevc", "aac", True), ("mp4", "h264", "pcm_s16le", True), ("mov", "h264", "aac", True),
    ("mov", "hevc", "aac", True), ("webm", "h264", "opus", True), ("mp4", "mpeg4", "aac", True),
])
def test_which_videos_need_a_rendition(container, video, audio, needed):
    assert needs_rendition(container, video, audio) is needed


@pytest.mark.parametrize("codec,pix_fmt,needed", [
    ("h264", "yuv420p", False), ("h264", "yuvj420p", False), ("h264", None, False), ("h264", "yuv420p10le", True),
    ("h264", "yuv422p", True), ("h264", "yuv444p", True), ("vp9", "yuv420p10le", False), ("av1", "yuv420p10le", False),
])
def test_pixel_formats_browsers_cannot_decode_need_a_rendition(codec, pix_fmt, needed):
    assert needs_rendition("mp4", codec, "aac", pix_fmt) is needed


@pytest.mark.parametrize("pix_fmt", ["yuv420p10le", "yuv422p"])
def test_high_profile_h264_gets_an_8_bit_rendition(app, alice, pix_fmt):
    clip = corpus.mp4(seconds=1, pix_fmt=pix_fmt)
    body = alice.upload(clip, "camera.mp4").json
    assert body["rendition"] == "pending"
    assert run(app) == {"ready": 1}
    facts, _ = decoded(alice.get(f"/media/{body['id']}/playback").data)
    assert facts["pix_fmt"] == "yuv420p" and "h264" in facts["codecs"]
    plain = alice.upload(corpus.mp4(seconds=1, size=(162, 120)), "plain.mp4").json
    assert plain["rendition"] == "none"


@pytest.mark.parametrize("args,size", [
    ((3840, 2160), (1920, 1080)), ((3840, 2160, 90), (1080, 1920)), ((1920, 1440), (1440, 1080)),
    ((161, 121), (160, 120)), ((640, 480, 270), (480, 640)), ((720, 480, 0, Fraction(32, 27)), (852, 480)),
])
def test_rendition_size_fits_1080p_upright_and_even(args, size):
    assert fit(*args) == size


# --- upload, job, rendition, serving ------------------------------------------------------------------

def test_hevc_upload_gets_a_faststart_h264_rendition(app, alice, bob, hevc):
    body = alice.upload(hevc, "clip.mp4").json
    assert body["rendition"] == "pending" and "playback" not in body["urls"]
    assert [(j.upload_id, j.user_id) for j in jobs(app)] == [(body["id"], alice.user.id)]
    assert alice.get(f"/media/{body['id']}/playback").status_code == 404
    assert run(app) == {"ready": 1}
    assert jobs(app) == []
    body = alice.get(f"/api/v1/uploads/{body['id']}").json
    assert body["rendition"] == "ready" and body["urls"]["playback"] == f"/media/{body['id']}/playback"
    resp = alice.get(body["urls"]["playback"])
    assert resp.status_code == 200 and resp.mimetype == "video/mp4"
    boxes = top_level_boxes(resp.data)
    assert boxes.index("moov") < boxes.index("mdat")
    facts, first = decoded(resp.data)
    assert facts == {"codecs": ["aac", "h264"], "size": (160, 120), "pix_fmt": "yuv420p", "rotation": 0}
    assert alice.get(body["urls"]["original"]).data == hevc  # the original stays exact
    part = alice.get(body["urls"]["playback"], headers={"Range": "bytes=-100"})
    assert part.status_code == 206 and part.data == resp.data[-100:]
    assert alice.head(body["urls"]["playback"]).headers["Accept-Ranges"] == "bytes"
    # Another user's id is a 404, like every route.
    assert bob.get(body["urls"]["playback"]).status_code == 404


@pytest.mark.parametrize("app", [pytest.param("aws", marks=pytest.mark.aws)], indirect=True)
def test_ranges_are_ranged_gets_on_s3(app, alice, backends):
    data = corpus.mp4(seconds=3)  # moov at the end: the browser asks for the tail first
    body = alice.upload(data, "clip.mp4").json
    asked = []
    events = backends.storage.client.meta.events
    record = lambda params, **kw: asked.append(params.get("Range"))  # noqa: E731
    events.register("provide-client-params.s3.GetObject", record)
    try:
        for header, want in (("bytes=-1000", data[-1000:]), (f"bytes={len(data) - 10}-", data[-10:]),
                             ("bytes=0-99", data[:100])):
            resp = alice.get(body["urls"]["original"], headers={"Range": header})
            assert resp.status_code == 206 and resp.data == want
    finally:
        events.unregister("provide-client-params.s3.GetObject", record)
    assert asked == [f"bytes={len(data) - 1000}-{len(data) - 1}", f"bytes={len(data) - 10}-{len(data) - 1}",
                     "bytes=0-99"]


@pytest.mark.parametrize("make", [lambda: corpus.mp4(), lambda: corpus.webm(), lambda: corpus.mp4(audio=False)])
def test_browser_friendly_videos_get_no_job(app, alice, make):
    body = alice.upload(make(), "clip").json
    assert body["rendition"] == "none" and "playback" not in body["urls"]
    assert jobs(app) == []


def test_rotated_mov_rendition_and_poster_are_upright(app, alice):
    body = alice.upload(corpus.mov(rotation=90), "portrait.mov").json
    assert body["rendition"] == "pending" and (body["width"], body["height"]) == (120, 160)
    poster = Image.open(io.BytesIO(alice.get(body["urls"]["thumbnail"]).data))
    assert poster.height > poster.width and upright(poster)
    assert run(app) == {"ready": 1}
    facts, first = decoded(alice.get(f"/media/{body['id']}/playback").data)
    assert facts["size"] == (120, 160) and facts["rotation"] == 0  # turned, not flagged
    assert upright(first)


def test_failing_transcode_is_retried_then_marked_failed(app, alice, hevc, monkeypatch):
    calls = []

    def broken(*args, **kwargs):
        calls.append(args)
        raise av.InvalidDataError(1094995529, "Invalid data found when processing input")
    monkeypatch.setattr(renditions, "transcode", broken)
    upload_id = alice.upload(hevc, "clip.mp4").json["id"]
    done = []
    counts = run(app, retry_delay=timedelta(0), on_done=done.append)
    assert counts == {"retry": 2, "failed": 1} and len(calls) == jobs_runner.MAX_ATTEMPTS
    assert [o.job.attempts for o in done] == [1, 2, 3] and "InvalidDataError" in done[-1].error
    assert jobs(app) == []
    assert alice.get(f"/api/v1/uploads/{upload_id}").json["rendition"] == "failed"


def test_retry_waits_for_its_backoff(app, alice, hevc, monkeypatch):
    monkeypatch.setattr(renditions, "transcode", lambda *a, **k: 1 / 0)
    alice.upload(hevc, "clip.mp4")
    assert run(app, limit=1) == {"retry": 1}
    (job,) = jobs(app)
    assert job.attempts == 1 and job.lease_until is None and "ZeroDivisionError" in job.error
    assert job.not_before > jobs_runner.now_iso()
    assert app.extensions["momento"].catalog.due_jobs(queue.QUEUE, jobs_runner.now_iso()) == []


def test_jobs_survive_a_restart(app, alice, hevc, request, tmp_path):
    upload_id = alice.upload(hevc, "clip.mp4").json["id"]
    catalog = app.extensions["momento"].catalog
    # A worker claimed the job and died: its lease ran out long ago.
    (job,) = jobs(app)
    assert catalog.claim_job(job, lease_until="2000-01-01T00:00:00Z") is not None
    again = create_app(app_config(request, tmp_path, "local"))  # same data folder
    assert run(again) == {"ready": 1}
    with again.app_context():
        upload = again.extensions["momento"].catalog.get_upload(alice.user.id, upload_id)
    assert upload.rendition == "ready"
    assert again.extensions["momento"].storage.stat(upload.playback_key).size > 0


def test_trashed_uploads_job_is_dropped(app, alice, backends, hevc):
    upload_id = alice.upload(hevc, "clip.mp4").json["id"]
    assert alice.delete(f"/api/v1/uploads/{upload_id}").status_code == 204
    assert run(app) == {"dropped": 1}
    assert jobs(app) == []
    upload = backends.catalog.get_upload(alice.user.id, upload_id)
    assert [o.key for o in backends.storage.list(f"user-{alice.user.id}/videos/")] == [upload.original_key]


def test_restored_video_gets_its_rendition_after_all(app, alice, backends, hevc):
    upload_id = alice.upload(hevc, "clip.mp4").json["id"]
    assert alice.delete(f"/api/v1/uploads/{upload_id}").status_code == 204
    assert run(app) == {"dropped": 1}  # trashed before the worker came round
    assert alice.post(f"/api/v1/uploads/{upload_id}/restore").json["rendition"] == "pending"
    assert run(app) == {"ready": 1}
    assert alice.get(f"/media/{upload_id}/playback").status_code == 200
    # restoring by sending the same bytes again queues it too
    assert alice.delete(f"/api/v1/uploads/{upload_id}").status_code == 204
    backends.catalog.set_rendition(alice.user.id, upload_id, "pending")  # as if trashed while still pending
    assert jobs(app) == []
    assert alice.upload(hevc, "again.mp4").json["duplicate"] is True
    assert run(app) == {"ready": 1}


def test_long_jobs_renew_their_lease_without_spending_attempts(app, alice, hevc):
    alice.upload(hevc, "clip.mp4")
    done = []
    assert run(app, lease=timedelta(0), on_done=done.append) == {"ready": 1}
    assert done[0].job.attempts == 1 and done[0].job.lease_until is not None


def test_the_job_is_queued_with_the_record_and_requeue_finds_one_left_without(app, alice, backends, runner, hevc,
                                                                              monkeypatch):
    def down(job):
        raise BackendError("The catalog failed: disk I/O error")
    with monkeypatch.context() as m:
        m.setattr(backends.catalog, "put_job", down)  # no separate queue write is made any more
        resp = alice.upload(hevc, "clip.mp4")
    assert resp.status_code == 201 and resp.json["rendition"] == "pending"
    assert len(jobs(app)) == 1
    # a record an older version left pending without its job: --requeue queues it
    with app.app_context():
        for job in backends.catalog.due_jobs("rendition", "9999-12-31T00:00:00Z"):
            backends.catalog.finish_job(job)
    assert jobs(app) == []
    result = runner.invoke(args=["momento", "work", "--requeue", "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert lines[0] == {"requeued": 1} and lines[1]["result"] == "ready"
    assert alice.get(f"/api/v1/uploads/{resp.json['id']}").json["rendition"] == "ready"


@both_backends
def test_work_command(app, alice, runner, hevc):
    upload_id = alice.upload(hevc, "clip.mp4").json["id"]
    result = runner.invoke(args=["momento", "work"])
    assert result.exit_code == 0, result.output
    assert upload_id in result.output and "1 done" in result.output
    assert alice.get(f"/api/v1/uploads/{upload_id}").json["rendition"] == "ready"
    assert runner.invoke(args=["momento", "work"]).output.strip().endswith("no job was due.")


def test_work_command_fails_when_a_job_fails_for_good(app, alice, runner, hevc, monkeypatch):
    monkeypatch.setattr(renditions, "transcode", lambda *a, **k: 1 / 0)
    monkeypatch.setattr(jobs_runner, "RETRY_DELAY", timedelta(0))
    alice.upload(hevc, "clip.mp4")
    result = runner.invoke(args=["momento", "work", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.output.splitlines()[-1])["summary"]["failed"] == 1


# --- the server's own worker threads ---------------------------------------------------------------

def test_worker_threads_default_and_validation(request, tmp_path, monkeypatch):
    config = app_config(request, tmp_path, "local")
    assert create_app(config).config["WORKER_THREADS"] == 0  # never in tests unless asked
    assert create_app({**config, "TESTING": False}).config["WORKER_THREADS"] == 1
    monkeypatch.setenv("MOMENTO_WORKER_THREADS", "2")
    assert create_app(config).config["WORKER_THREADS"] == 2
    with pytest.raises(ConfigError, match="WORKER_THREADS"):
        create_app({**config, "WORKER_THREADS": -1})


def test_server_thread_makes_the_rendition(request, tmp_path, hevc):
    app = create_app(app_config(request, tmp_path, "local", WORKER_THREADS=1))
    workers = app.extensions["momento_workers"]
    workers.poll = 0.05
    assert workers.threads == []  # nothing runs until the server answers a request
    alice = Account(app, "alice@example.com")
    try:
        upload_id = alice.upload(hevc, "clip.mp4").json["id"]
        deadline = time.monotonic() + 10
        while alice.get(f"/api/v1/uploads/{upload_id}").json["rendition"] == "pending":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert alice.get(f"/api/v1/uploads/{upload_id}").json["rendition"] == "ready"
    finally:
        workers.shutdown()
    assert not any(t.is_alive() for t in workers.threads)
