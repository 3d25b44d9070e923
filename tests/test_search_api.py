"""Search through the API and the search page; tag listing; no DynamoDB Scan in any request."""
from __future__ import annotations

from tests import corpus
from tests.conftest import both_backends


def _ids(resp):
    assert resp.status_code == 200, resp.json
    return [u["id"] for u in resp.json["items"]]


@both_backends
def test_search_api_and_tags(app, alice, bob):
    beach = alice.upload(corpus.jpeg(64, 48, color=(20, 60, 200)), "beach day.jpg", tags="beach,family").json["id"]
    dog = alice.upload(corpus.jpeg(48, 64, color=(200, 60, 20)), "dog.jpg", tags="dog,family").json["id"]
    clip = alice.upload(corpus.mp4(seconds=1), "clip.mp4", tags="beach").json["id"]
    old = alice.upload(corpus.jpeg(40, 40, exif_date="2015:06:01 09:00:00"), "old.jpg").json["id"]
    bob.upload(corpus.jpeg(30, 30), tags="beach")

    assert _ids(alice.get("/api/v1/uploads?tag=beach")) == [clip, beach]
    assert _ids(alice.get("/api/v1/uploads?tag=beach&tag=family")) == [beach]
    assert _ids(alice.get("/api/v1/uploads?any_tag=dog&any_tag=beach")) == [clip, dog, beach]
    assert _ids(alice.get("/api/v1/uploads?tag=family&not_tag=dog")) == [beach]
    assert _ids(alice.get("/api/v1/uploads?tag=beach&kind=video")) == [clip]
    assert _ids(alice.get("/api/v1/uploads?from=2015-01-01&to=2015-12-31")) == [old]
    assert _ids(alice.get("/api/v1/uploads?to=2016-01-01")) == [old]
    assert _ids(alice.get("/api/v1/uploads?q=DAY")) == [beach]
    assert _ids(alice.get("/api/v1/uploads?q=fam")) == [dog, beach]
    assert _ids(alice.get("/api/v1/uploads?tag=beach&limit=1")) == [clip]
    first = alice.get("/api/v1/uploads?tag=beach&limit=1").json
    assert _ids(alice.get(f"/api/v1/uploads?tag=beach&limit=1&cursor={first['next_cursor']}")) == [beach]

    alice.delete(f"/api/v1/uploads/{beach}")
    assert _ids(alice.get("/api/v1/uploads?tag=beach")) == [clip]
    tags = {i["tag"]: i["count"] for i in alice.get("/api/v1/tags").json["items"]}
    assert tags["beach"] == 1 and tags["family"] == 1 and tags["dog"] == 1
    assert tags["kind:photo"] == 2 and tags["year:2015"] == 1
    assert {i["tag"]: i["count"] for i in bob.get("/api/v1/tags").json["items"]}["beach"] == 1


def test_bad_search_arguments(alice):
    for query in ("from=last-week", "from=2024-05-01&to=2024-01-01", "tag=" + "x" * 65, "kind=sound"):
        resp = alice.get(f"/api/v1/uploads?{query}")
        assert resp.status_code == 400 and resp.json["error"]["code"], query


def test_search_page_keeps_the_query_in_the_url(app, alice):
    uid = alice.upload(corpus.jpeg(64, 48), "sea.jpg", tags="sea").json["id"]
    alice.upload(corpus.jpeg(48, 64), "hill.jpg", tags="hill")
    page = alice.get("/search?tag=sea&kind=photo")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f"/uploads/{uid}" in html and "hill.jpg" not in html
    empty = alice.get("/search").get_data(as_text=True)
    assert "/uploads/" not in empty


@both_backends
def test_no_request_scans_dynamodb(app, alice, backends, dynamo_ops):
    """Record every DynamoDB operation that the request paths make (on aws) and refuse any Scan."""
    if app.config["BACKEND"] != "aws":
        return
    ops = dynamo_ops(backends.catalog)
    uid = alice.upload(corpus.jpeg(64, 48), tags="a,b").json["id"]
    alice.upload(corpus.jpeg(64, 48))  # a duplicate
    alice.upload(corpus.mp4(seconds=1), "v.mp4")
    for url in ("/api/v1/uploads", "/api/v1/uploads?tag=a", "/api/v1/uploads?tag=a&tag=b&not_tag=c",
                "/api/v1/uploads?any_tag=a&any_tag=z", "/api/v1/uploads?from=2020-01-01", "/api/v1/uploads?q=ph",
                "/api/v1/uploads?kind=video", f"/api/v1/uploads/{uid}", "/api/v1/tags", f"/media/{uid}/original",
                f"/media/{uid}/thumbnail", "/", "/search?tag=a", f"/uploads/{uid}", "/trash", "/healthz"):
        assert alice.get(url).status_code == 200, url
    alice.patch(f"/api/v1/uploads/{uid}", {"tags": ["c"]})
    alice.delete(f"/api/v1/uploads/{uid}")
    alice.post(f"/api/v1/uploads/{uid}/restore")
    assert ops and "Scan" not in ops
    assert {"Query", "GetItem", "TransactWriteItems"} <= set(ops)
