"""Rendition jobs within budgets (what a file can honestly need, a wall-clock limit) and in turns across users."""
from __future__ import annotations

import html
import time

import pytest

from momento import create_app
from momento.jobs import queue, runner
from momento.jobs import renditions as rendition_job
from momento.config import ConfigError
from momento.media import renditions
from tests import corpus
from tests.conftest import Account, app_config, both_backends
from tests.repeated_mov import mov_repeating_one_picture


def run(app, **kw) -> list:
    """Run the queue as the server's threads and `flask momento work` do; the outcomes in order."""
    done = []
    runner.run_jobs(app.extensions["momento"], limits=rendition_job.Limits.from_config(app.config), on_done=done.append,
                    **kw)
    return done


def shown(account: Account, upload_id: str) -> tuple[dict, str]:
    """The upload's JSON and its detail page's text."""
    return account.get(f"/api/v1/uploads/{upload_id}").json, html.unescape(account.get(f"/uploads/{upload_id}").text)


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return mov_repeating_one_picture(frames=5000)  # ~0.3 MB; its frames add up to ~1.4 GB of packets


@both_backends
def test_a_movie_repeating_one_picture_fails_fast_and_the_next_user_is_served(app, alice, bob, bomb, monkeypatch):
    """The upload's own check refuses such a file (tests/test_video_budget.py); the rendition's budget is the
    second line, for a file that gets past the first: here the first is switched off."""
    from momento.media import videos

    monkeypatch.setattr(videos, "check_mp4", lambda *args, **kwargs: None)
    assert len(bomb) < 600_000
    crafted = alice.upload(bomb, "loop.mov").json
    assert crafted["rendition"] == "pending" and crafted["duration"] == pytest.approx(5000 / 30, abs=0.1)
    ordinary = bob.upload(corpus.mov(seconds=1), "walk.mov").json  # a second later, another user
    started = time.monotonic()
    done = run(app)
    assert time.monotonic() - started < 30  # decoding the crafted movie alone takes ~20 s, transcoding minutes
    assert [(o.job.upload_id, o.result, o.job.attempts) for o in done] == [
        (crafted["id"], "failed", 1), (ordinary["id"], "ready", 1)]  # failed for good: no retry
    body, page = shown(alice, crafted["id"])
    assert body["rendition"] == "failed" and "more data" in body["rendition_error"]
    assert body["rendition_error"] in page and "Failed: it could not be made" in page
    body, page = shown(bob, ordinary["id"])
    assert body["rendition"] == "ready" and "rendition_error" not in body and "playback" in body["urls"]
    assert alice.get(f"/media/{crafted['id']}/playback").status_code == 404
    assert app.extensions["momento"].catalog.due_jobs(queue.QUEUE, queue.END_OF_TIME) == []


def test_a_users_backlog_waits_its_turn(app, alice, bob):
    first = [alice.upload(corpus.mp4(seconds=1, codec="hevc", size=(96 + 2 * i, 64)), f"a{i}.mp4").json["id"]
             for i in range(3)]
    late = bob.upload(corpus.mp4(seconds=1, codec="hevc"), "b.mp4").json["id"]
    order = [o.job.upload_id for o in run(app)]
    assert order == [first[0], late, first[1], first[2]]


def test_more_pixels_than_the_ceiling_fail_for_good(request, tmp_path):
    app = create_app(app_config(request, tmp_path, "local", RENDITION_MAX_PIXELS=160 * 120 * 10))
    alice = Account(app, "alice@example.com")
    upload_id = alice.upload(corpus.mp4(seconds=2, codec="hevc"), "clip.mp4").json["id"]  # 48 frames of 160x120
    (outcome,) = run(app)
    assert outcome.result == "failed" and outcome.job.attempts == 1
    body, page = shown(alice, upload_id)
    assert "more work than its length and picture size allow" in body["rendition_error"]
    assert body["rendition_error"] in page


def test_more_frames_than_the_duration_holds_fail_for_good(app, alice, monkeypatch):
    monkeypatch.setattr(renditions, "MAX_FPS", 5)  # a 2 s clip at 24 fps then holds 48 frames where 15 fit
    upload_id = alice.upload(corpus.mp4(seconds=2, codec="hevc"), "clip.mp4").json["id"]
    (outcome,) = run(app)
    assert outcome.result == "failed" and outcome.job.attempts == 1
    assert "more frames than its length can hold" in shown(alice, upload_id)[0]["rendition_error"]


def test_a_job_past_its_wall_clock_limit_fails_for_good(request, tmp_path, monkeypatch):
    app = create_app(app_config(request, tmp_path, "local", RENDITION_SECONDS=0.5))
    alice = Account(app, "alice@example.com")
    upload_id = alice.upload(corpus.mp4(seconds=2, codec="hevc"), "clip.mp4").json["id"]
    real = renditions._Transcode._picture

    def slow(self, frame):
        time.sleep(0.2)  # a video that takes long to decode: 48 frames, ~10 s
        real(self, frame)
    monkeypatch.setattr(renditions._Transcode, "_picture", slow)
    started = time.monotonic()
    (outcome,) = run(app)
    assert time.monotonic() - started < 5
    assert outcome.result == "failed" and outcome.job.attempts == 1
    body, page = shown(alice, upload_id)
    assert body["rendition_error"] == "Making the playback version took longer than the limit of 0.5 s."
    assert body["rendition_error"] in page


def test_failures_after_retries_say_so(app, alice, monkeypatch):
    monkeypatch.setattr(rendition_job, "transcode", lambda *a, **k: 1 / 0)
    upload_id = alice.upload(corpus.mp4(seconds=1, codec="hevc"), "clip.mp4").json["id"]
    assert [o.result for o in run(app, retry_delay=runner.timedelta(0))] == ["retry", "retry", "failed"]
    assert shown(alice, upload_id)[0]["rendition_error"] == "It could not be made after 3 attempts (ZeroDivisionError)."


def test_budget_settings(request, tmp_path, monkeypatch):
    config = app_config(request, tmp_path, "local")
    app = create_app(config)
    assert (app.config["RENDITION_SECONDS"], app.config["RENDITION_MAX_PIXELS"]) == (600, 10**12)
    monkeypatch.setenv("MOMENTO_RENDITION_SECONDS", "90")
    assert rendition_job.Limits.from_config(create_app(config).config) == rendition_job.Limits(90.0, 10**12)
    for bad in ({"RENDITION_SECONDS": 0}, {"RENDITION_SECONDS": "soon"}, {"RENDITION_MAX_PIXELS": -1}):
        with pytest.raises(ConfigError, match="RENDITION"):
            create_app({**config, **bad})


def test_budget_follows_the_record():
    budget = renditions.Budget.for_video(duration=2.0, width=160, height=120, size=10_000, pixel_ceiling=None,
                                         seconds=None)
    assert budget.max_frames == 3 * renditions.MAX_FPS
    assert budget.max_pixels == 2 * budget.max_frames * 160 * 120
    assert budget.max_bytes == 10_000 + renditions.BYTES_SLACK
    capped = renditions.Budget.for_video(duration=None, width=None, height=None, size=None, pixel_ceiling=99,
                                         seconds=None)
    assert (capped.max_frames, capped.max_pixels, capped.max_bytes, capped.deadline) == (None, 99, None, None)
