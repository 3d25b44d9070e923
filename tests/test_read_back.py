"""momento_store_read_back_bytes: the bytes read back from the object store to decode uploads it already holds."""
from __future__ import annotations

import pytest

from momento.uploads import sparse
from tests import corpus
from tests.test_observe import scrape, value
from tests.test_sparse_copy import read_back, reads  # noqa: F401 - reads is a fixture
from tests.test_tus import MiB, TusClient, padded_video

COUNTER = "momento_store_read_back_bytes_total"
aws_only = pytest.mark.parametrize("app", [pytest.param("aws", marks=pytest.mark.aws)], indirect=True)


def tus_upload(app, account, data: bytes, filename: str) -> str:
    """Send a file through tus in 5 MiB PATCHes; the stored Upload's id."""
    app.config["TUS_PART_SIZE"] = 5 * MiB
    tus = TusClient(account)
    url = tus.start(data, filename=filename)
    for start in range(0, len(data), 5 * MiB):
        resp = tus.patch(url, data[start:start + 5 * MiB], start)
        assert resp.status_code == 204, resp.json
    return resp.headers["Momento-Upload-Id"]


def read_back_during(app, action) -> dict[str, float]:
    """What the counter grew by, by kind, while `action` ran."""
    client = app.test_client()
    before = scrape(client)
    action()
    after = scrape(client)
    return {kind: value(after, COUNTER, kind=kind) - value(before, COUNTER, kind=kind) for kind in ("photo", "video")}


@aws_only
def test_a_finished_tus_video_counts_only_its_index_and_opening_frames(app, alice, reads):
    video = padded_video(6 * MiB)
    grew = read_back_during(app, lambda: tus_upload(app, alice, video, "clip.mp4"))
    from_store = read_back(reads)
    assert 0 < from_store <= sparse.FILL_BLOCK + 64 * 1024
    assert grew == {"photo": 0, "video": from_store}  # exactly what the store was asked for
    assert grew["video"] < len(video) / 2


@aws_only
def test_a_finished_tus_photo_counts_its_whole_size(app, alice, reads):
    photo = corpus.jpeg(640, 480, exif_date="2021:05:06 07:08:09")
    grew = read_back_during(app, lambda: tus_upload(app, alice, photo, "photo.jpg"))
    assert grew == {"photo": len(photo), "video": 0}
    assert read_back(reads) == len(photo)


@aws_only
def test_holes_a_form_upload_fetches_back_are_counted(app, alice, reads, monkeypatch):
    monkeypatch.setattr(sparse, "MEDIA_WINDOW", 0)  # no media kept: the frames are fetched from the original
    monkeypatch.setattr(sparse, "FILL_BLOCK", 4096)
    video = corpus.mp4(seconds=2)
    grew = read_back_during(app, lambda: alice.upload(video, "clip.mp4"))
    assert 0 < grew["video"] == read_back(reads) < len(video)
    assert grew["photo"] == 0


@aws_only
def test_a_form_upload_kept_whole_reads_nothing_back(app, alice, reads):
    grew = read_back_during(app, lambda: alice.upload(corpus.mp4(seconds=1), "clip.mp4"))
    assert grew == {"photo": 0, "video": 0} and read_back(reads) == 0


def test_the_local_backend_reads_nothing_back(app, alice):
    samples = scrape(app.test_client())
    assert {k[1] for k in samples if k[0] == COUNTER} >= {(("kind", "photo"),), (("kind", "video"),)}  # shown at 0
    grew = read_back_during(app, lambda: (tus_upload(app, alice, padded_video(6 * MiB), "clip.mp4"),
                                          tus_upload(app, alice, corpus.jpeg(640, 480), "photo.jpg")))
    assert grew == {"photo": 0, "video": 0}
