"""Videos whose sample tables cannot be true are refused before FFmpeg indexes them; video metadata is cleaned."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import av
import pytest

from momento.media import inspect, sniff
from momento.media.mp4check import MAX_SAMPLES, MIN_SAMPLES, sample_budget
from tests import corpus, hostile_videos
from tests.conftest import both_backends


def keys(backends, user_id: str) -> list[str]:
    return sorted(o.key for o in backends.storage.list(f"user-{user_id}/"))


def fragmented_mp4() -> bytes:
    """A fragmented MP4 (empty moov, one moof per keyframe), as cameras streaming to disk write."""
    fd, path = tempfile.mkstemp()
    os.close(fd)
    try:
        with av.open(path, "w", format="mp4", options={"movflags": "frag_keyframe+empty_moov"}) as out:
            video = corpus._video_stream(out, "h264", (160, 120), 0)
            video.codec_context.gop_size = 5
            corpus._pictures(out, video, (160, 120), 0, 2.0)
        with open(path, "rb") as fh:
            return fh.read()
    finally:
        os.unlink(path)


HOSTILE = ["mp4_stsz_truncated_table", "mp4_stsz_constant_huge", "mp4_chunk_offsets_past_end",
           "mp4_sizes_over_file", "mp4_impossible_frame_rate", "mov_same_picture", "mov_overlapping_chunks",
           "mp4_many_boxes"]


@pytest.mark.parametrize("name", HOSTILE)
def test_inconsistent_videos_are_refused_and_leave_nothing(alice, backends, name):
    resp = alice.upload(hostile_videos.MAKERS[name](), hostile_videos.filename(name))
    assert resp.status_code == 422, resp.json
    error = resp.json["error"]
    assert error["code"] == "inconsistent_video" and "contradicts itself" in error["message"]
    assert keys(backends, alice.user.id) == []
    assert alice.get("/api/v1/uploads").json["items"] == []


@pytest.mark.parametrize("name,reason", [
    ("mp4_stsz_truncated_table", "'stsz' table claims 5000000 entries"),
    ("mp4_stsz_constant_huge", "5,000,000 samples"),
    ("mp4_chunk_offsets_past_end", "past the end of the file"),
    ("mp4_sizes_over_file", "more bytes than the file"),
    ("mp4_impossible_frame_rate", "lists 20 samples in"),
    ("mov_same_picture", "more bytes than the file"),
    ("mov_overlapping_chunks", "point at the same bytes"),
    ("mp4_many_boxes", "more than 10000 boxes"),
])
def test_each_rule_names_what_is_wrong(tmp_path, name, reason):
    path = tmp_path / "clip"
    data = hostile_videos.MAKERS[name]()
    path.write_bytes(data)
    with pytest.raises(Exception) as caught:
        inspect(str(path), sniff(data[:4096]))
    assert reason in caught.value.message and str(tmp_path) not in caught.value.message


def test_samples_beyond_the_budget_are_refused_even_when_every_table_agrees(alice, backends):
    data = hostile_videos.many_samples(samples=400_000, total=2 * 2**20)  # 240 fps for 28 minutes
    resp = alice.upload(data, "long.mp4")
    assert resp.status_code == 422 and resp.json["error"]["code"] == "inconsistent_video"
    assert "400,000 samples" in resp.json["error"]["message"]
    assert keys(backends, alice.user.id) == []


def test_the_budget_grows_with_the_file_up_to_a_ceiling():
    assert sample_budget(1000) == MIN_SAMPLES
    assert MIN_SAMPLES < sample_budget(100 * 2**20) < MAX_SAMPLES
    assert sample_budget(2**31) == MAX_SAMPLES


@pytest.mark.parametrize("make,name", [
    (lambda: corpus.mp4(seconds=2), "clip.mp4"),
    (lambda: corpus.mp4(seconds=2, faststart=True), "fast.mp4"),
    (lambda: corpus.mp4(seconds=2, codec="hevc"), "hevc.mp4"),
    (corpus.mov, "clip.mov"),
    (lambda: corpus.mov(audio=False, rotation=0), "silent.mov"),
    (corpus.webm, "clip.webm"),
    (fragmented_mp4, "fragments.mp4"),
])
def test_ordinary_videos_are_still_stored(alice, backends, make, name):
    resp = alice.upload(make(), name)
    assert resp.status_code == 201, resp.json
    assert len(keys(backends, alice.user.id)) == 2  # the original and its poster


def test_cut_mp4_is_still_called_incomplete(tmp_path):
    data = corpus.truncated(corpus.mp4(seconds=2), keep=0.5)
    path = tmp_path / "cut.mp4"
    path.write_bytes(data)
    with pytest.raises(Exception) as caught:
        inspect(str(path), sniff(data[:4096]))
    assert caught.value.code == "corrupt_media" and "ends early" in caught.value.message


# --- metadata --------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["mov", "mp4"])
def test_camera_tags_are_cleaned_like_exif(alice, fmt):
    data = hostile_videos.video_with_metadata({
        "com.apple.quicktime.make": "Ca\u202enon,\x07 Inc.\x00",
        "com.apple.quicktime.model": "EOS\u2066,R5\u2028 " + "x" * 300,
    }, fmt)
    resp = alice.upload(data, f"clip.{fmt}")
    assert resp.status_code == 201, resp.json
    camera = resp.json["camera"]
    assert camera["make"] == "Canon, Inc."
    assert camera["model"].startswith("EOS,R5 x") and len(camera["model"]) == 100
    tags = resp.json["auto_tags"]
    assert "camera:canon-inc." in tags and any(t.startswith("model:eos-r5-xxx") for t in tags)
    assert not any("," in t or any(not ch.isprintable() for ch in t) for t in tags)
    # the tag can be typed back into a search
    assert alice.get("/api/v1/uploads?tag=camera:canon-inc.").json["items"][0]["id"] == resp.json["id"]


# --- messages -----------------------------------------------------------------------------------

@both_backends
def test_a_missing_object_is_reported_without_its_key(app, alice, backends):
    body = alice.upload(corpus.mp4(seconds=1), "clip.mp4").json
    key = f"user-{alice.user.id}/videos/{body['id']}.mp4"
    backends.storage.delete(key)
    resp = alice.get(body["urls"]["original"])
    assert resp.status_code == 404
    message = resp.json["error"]["message"] if resp.is_json else resp.get_data(as_text=True)
    assert key not in message and f"user-{alice.user.id}" not in message


# --- memory ------------------------------------------------------------------------------------------

_PROBE = """
import resource, sys
from momento.media import inspect, sniff
from momento.errors import Unprocessable
path = sys.argv[1]
with open(path, "rb") as fh:
    head = fh.read(4096)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    inspect(path, sniff(head))
except Unprocessable as exc:
    print(exc.code)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def test_the_refusal_costs_little_memory(tmp_path):
    path = tmp_path / "bomb.mp4"
    path.write_bytes(hostile_videos.many_samples(samples=1_000_000, total=4 * 2**20))
    out = subprocess.run([sys.executable, "-c", _PROBE, str(path)], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parent.parent)
    code, grown_kib = out.stdout.split()
    assert code == "inconsistent_video"
    assert int(grown_kib) < 16 * 1024  # FFmpeg would have indexed ~70 MB for it
