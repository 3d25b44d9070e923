"""Saved searches and share links through HTTP, on both backends: who can see what, for how long, and what
a visitor never receives (names, places, camera details, original bytes unless allowed)."""
from __future__ import annotations

import io
import re
from datetime import datetime, timedelta, timezone

import pytest
from PIL import Image

from momento.formats import now_iso
from momento.sharing.shares import create_share, token_hash
from tests import corpus
from tests.conftest import both_backends

GPS_PARIS = (48.8583, 2.2945)


def big_jpeg_with_gps() -> bytes:
    """A 3000x2000 JPEG carrying GPS, a camera and its serial number in EXIF."""
    img = Image.new("RGB", (3000, 2000), (200, 120, 40))
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "Canon EOS R6"
    exif.get_ifd(0x8769)[0xA431] = "SERIAL-123456"  # BodySerialNumber
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (48.0, 51.0, 29.88), "E", (2.0, 17.0, 40.2)
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif, quality=80)
    return out.getvalue()


def share(account, **body):
    """POST /api/v1/shares; the JSON answer."""
    resp = account.post("/api/v1/shares", json=body)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def saved(account, name="beach", **query):
    """POST /api/v1/searches; the JSON answer."""
    resp = account.post("/api/v1/searches", json={"name": name, "query": query})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def upload_id(account, data, filename="photo.jpg", tags=None) -> str:
    resp = account.upload(data, filename, tags)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def items(client, url):
    resp = client.get(f"{url}/items")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()["items"]


@both_backends
def test_saved_searches_are_kept_listed_renamed_run_and_deleted(app, alice, bob):
    beach = upload_id(alice, corpus.jpeg(color=(1, 2, 3)), "IMG_beach.jpg", "beach,sea")
    upload_id(alice, corpus.jpeg(color=(9, 9, 9)), "work.jpg", "work")
    made = saved(alice, "Beach days", tag=["Beach"], kind="photo")
    assert set(made) == {"id", "name", "query", "created_at"}
    assert made["query"]["tag"] == ["beach"] and made["query"]["kind"] == "photo"
    assert [s["id"] for s in alice.get("/api/v1/searches").get_json()["items"]] == [made["id"]]
    found = alice.get(f"/api/v1/uploads?search={made['id']}&limit=10").get_json()
    assert [u["id"] for u in found["items"]] == [beach] and found["next_cursor"] is None
    mixed = alice.get(f"/api/v1/uploads?search={made['id']}&kind=video&tag=work")
    assert mixed.status_code == 400 and mixed.get_json()["error"]["code"] == "invalid_query"  # never silently dropped
    assert "kind, tag" in mixed.get_json()["error"]["message"] or "tag, kind" in mixed.get_json()["error"]["message"]
    renamed = alice.patch(f"/api/v1/searches/{made['id']}", json={"name": "Sea"}).get_json()
    assert renamed["name"] == "Sea" and renamed["query"] == made["query"]
    # Another user's search is a 404 everywhere, like another user's upload.
    assert bob.get(f"/api/v1/uploads?search={made['id']}").status_code == 404
    assert bob.delete(f"/api/v1/searches/{made['id']}").status_code == 404
    assert bob.get("/api/v1/searches").get_json()["items"] == []
    assert alice.delete(f"/api/v1/searches/{made['id']}").status_code == 204
    assert alice.get("/api/v1/searches").get_json()["items"] == []
    assert alice.get(f"/api/v1/uploads?search={made['id']}").status_code == 404


@both_backends
def test_saved_search_input_is_checked(app, alice):
    bad = [{"name": "", "query": {"tag": ["a"]}}, {"name": "x", "query": {"colour": "red"}},
           {"name": "x", "query": {"tag": [1]}}, {"name": "x", "query": {"from": "yesterday"}},
           {"name": "x", "query": {}}, {"name": "x" * 101, "query": {"q": "a"}}, ["not", "an", "object"]]
    for body in bad:
        resp = alice.post("/api/v1/searches", json=body)
        assert resp.status_code == 400, body
        assert resp.get_json()["error"]["code"]


@both_backends
def test_a_share_of_uploads_shows_them_without_owner_data(app, alice, bob):
    photo = upload_id(alice, big_jpeg_with_gps(), "IMG_0001 secret name.jpg", "family")
    other = upload_id(alice, corpus.jpeg(color=(0, 200, 0)), "other.jpg")
    made = share(alice, uploads=[photo], title="Holiday")
    assert set(made) >= {"id", "url", "title", "kind", "expires_at", "allow_download", "has_password",
                         "created_at", "views"}
    assert made["kind"] == "uploads" and made["allow_download"] is False and made["has_password"] is False
    token = made["url"].removeprefix("/s/")
    assert len(token) >= 32 and re.fullmatch(r"[A-Za-z0-9_-]+", token)  # 192 random bits, URL-safe
    expires = datetime.strptime(made["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert timedelta(days=6, hours=23) < expires - datetime.now(timezone.utc) <= timedelta(days=7)
    # Only the token's hash is kept: the listing has no way back to the link.
    listed = alice.get("/api/v1/shares").get_json()["items"]
    assert [s["id"] for s in listed] == [made["id"]] and listed[0]["url"] is None
    with app.app_context():
        stored = app.extensions["momento"].catalog.share_by_hash(token_hash(token))
        assert stored.id == made["id"] and token not in repr(stored)

    visitor = app.test_client()  # no account
    page = visitor.get(made["url"])
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for secret in ("secret name", "IMG_0001", "alice", "Canon", "SERIAL", "48.85", "family"):
        assert secret not in html
    body = visitor.get(f"{made['url']}/items").get_json()
    assert body["title"] == "Holiday" and body["next_cursor"] is None
    (item,) = body["items"]
    assert set(item) == {"id", "kind", "width", "height", "taken_at", "duration", "urls"}
    assert set(item["urls"]) == {"thumbnail", "display"}  # no original without allow_download
    text = str(body)
    for secret in ("secret", "IMG_0001", "Canon", "SERIAL", "48.8", "family", alice.user.id):
        assert secret not in text

    display = visitor.get(item["urls"]["display"])
    assert display.status_code == 200 and display.mimetype == "image/jpeg"
    img = Image.open(io.BytesIO(display.data))
    assert max(img.size) <= 2048 and img.size == (2048, 1365)
    assert not img.getexif() and "exif" not in img.info and b"SERIAL" not in display.data
    assert display.headers["X-Robots-Tag"].startswith("noindex")
    assert visitor.get(item["urls"]["thumbnail"]).status_code == 200
    assert visitor.get(f"{made['url']}/media/{photo}/original").status_code == 404
    # The owner's other uploads, and other people's, do not open through this link.
    assert visitor.get(f"{made['url']}/media/{other}/thumbnail").status_code == 404
    bobs = upload_id(bob, corpus.jpeg(color=(5, 5, 200)))
    assert visitor.get(f"{made['url']}/media/{bobs}/display").status_code == 404
    assert visitor.get(f"{made['url']}/media/{photo}/nonsense").status_code == 404
    # The copy is kept beside the thumbnail and made once.
    with app.app_context():
        storage = app.extensions["momento"].storage
        key = f"user-{alice.user.id}/thumbs/{photo}.display.jpg"
        assert storage.stat(key).size == len(display.data)


@both_backends
def test_original_bytes_only_when_the_owner_allows_downloads(app, alice):
    data = big_jpeg_with_gps()
    photo = upload_id(alice, data)
    made = share(alice, uploads=[photo], allow_download=True)
    visitor = app.test_client()
    (item,) = items(visitor, made["url"])
    assert made["allow_download"] is True and "original" in item["urls"]
    original = visitor.get(item["urls"]["original"])
    assert original.status_code == 200 and original.data == data
    assert "IMG" not in original.headers["Content-Disposition"]
    ranged = visitor.get(item["urls"]["original"], headers={"Range": "bytes=0-9"})
    assert ranged.status_code == 206 and ranged.data == data[:10]


@both_backends
def test_sharing_someone_elses_or_unknown_ids_is_a_404(app, alice, bob):
    bobs = upload_id(bob, corpus.jpeg(color=(5, 5, 200)))
    mine = upload_id(alice, corpus.jpeg(color=(50, 5, 20)))
    bob_search = saved(bob, "bob's", tag=["x"])
    for body in ({"uploads": [bobs]}, {"uploads": [mine, bobs]}, {"uploads": ["not-an-id"]},
                 {"search": bob_search["id"]}, {"search": "01J0000000000000000000000X"}):
        resp = alice.post("/api/v1/shares", json=body)
        assert resp.status_code == 404, body
    trashed = upload_id(alice, corpus.jpeg(color=(70, 70, 70)))
    alice.delete(f"/api/v1/uploads/{trashed}")
    assert alice.post("/api/v1/shares", json={"uploads": [trashed]}).status_code == 404
    for body in ({}, {"uploads": []}, {"uploads": [mine], "search": bob_search["id"]},
                 {"uploads": [mine], "expires_in_days": 0}, {"uploads": [mine], "expires_in_days": 366},
                 {"uploads": [mine], "expires_in_days": "7"}, {"uploads": [mine], "allow_download": "yes"}):
        assert alice.post("/api/v1/shares", json=body).status_code == 400, body
    assert share(alice, uploads=[mine], expires_in_days=365)["kind"] == "uploads"
    assert alice.get("/api/v1/shares").get_json()["items"][0]["id"]
    assert bob.get("/api/v1/shares").get_json()["items"] == []
    alice_share = alice.get("/api/v1/shares").get_json()["items"][0]["id"]
    assert bob.get(f"/api/v1/shares/{alice_share}").status_code == 404
    assert bob.delete(f"/api/v1/shares/{alice_share}").status_code == 404


@both_backends
def test_a_search_share_shows_current_results(app, alice):
    first = upload_id(alice, corpus.jpeg(color=(10, 20, 30)), "a.jpg", "beach")
    upload_id(alice, corpus.jpeg(color=(11, 20, 30)), "b.jpg", "work")
    search = saved(alice, "Beach", tag=["beach"])
    made = share(alice, search=search["id"])
    assert made["kind"] == "search"
    visitor = app.test_client()
    assert [i["id"] for i in items(visitor, made["url"])] == [first]
    later = upload_id(alice, corpus.jpeg(color=(12, 20, 30)), "c.jpg", "beach")
    assert [i["id"] for i in items(visitor, made["url"])] == [later, first]
    assert visitor.get(f"{made['url']}/media/{later}/display").status_code == 200
    assert alice.delete(f"/api/v1/uploads/{first}").status_code == 204
    assert [i["id"] for i in items(visitor, made["url"])] == [later]
    assert visitor.get(f"{made['url']}/media/{first}/thumbnail").status_code == 404
    # A retag out of the search takes the upload out of the link too.
    alice.patch(f"/api/v1/uploads/{later}", json={"tags": ["work"]})
    assert items(visitor, made["url"]) == []
    assert visitor.get(f"{made['url']}/media/{later}/thumbnail").status_code == 404


def test_every_item_of_a_search_share_opens_whatever_its_words(app, alice):
    """The link's list and its item URLs agree on which uploads the search finds, for words as typed: split like
    file names (IMG_20), excluded (-work), a tag typed whole (2024-07 is month:2024-07's value)."""
    ids = {name: upload_id(alice, corpus.jpeg(color=(i, 40, 60)), name, tags)
           for i, (name, tags) in enumerate([("IMG_20240704_1.jpg", "beach"), ("IMG_20240705_2.jpg", "work"),
                                             ("walk_01.jpg", "beach"), ("notes.jpg", None)])}
    visitor = app.test_client()
    for q, expected in (("IMG_20 -work", {"IMG_20240704_1.jpg"}), ("img 2024", {"IMG_20240704_1.jpg", "IMG_20240705_2.jpg"}),
                        ("walk_01", {"walk_01.jpg"})):
        made = share(alice, search=saved(alice, q, q=q)["id"])
        listed = items(visitor, made["url"])
        assert {i["id"] for i in listed} == {ids[n] for n in expected}, q
        for item in listed:
            assert visitor.get(item["urls"]["thumbnail"]).status_code == 200, (q, item["id"])
        for name in set(ids) - expected:
            assert visitor.get(f"{made['url']}/media/{ids[name]}/thumbnail").status_code == 404, (q, name)


@both_backends
def test_revoking_stops_the_link_at_once(app, alice):
    photo = upload_id(alice, corpus.jpeg())
    made = share(alice, uploads=[photo])
    visitor = app.test_client()
    (item,) = items(visitor, made["url"])
    assert alice.delete(f"/api/v1/shares/{made['id']}").status_code == 204
    for url in (made["url"], f"{made['url']}/items", item["urls"]["display"], item["urls"]["thumbnail"]):
        resp = visitor.get(url)
        assert resp.status_code == 404, url
    assert visitor.get(f"{made['url']}/items").get_json()["error"]["code"] == "share_not_found"
    assert alice.get(f"/api/v1/shares/{made['id']}").status_code == 404
    assert alice.delete(f"/api/v1/shares/{made['id']}").status_code == 404
    assert app.test_client().get("/s/" + "x" * 32).status_code == 404


@both_backends
def test_an_expired_link_is_410(app, alice):
    photo = upload_id(alice, corpus.jpeg())
    with app.app_context():
        catalog = app.extensions["momento"].catalog
        old, token = create_share(catalog, alice.user.id, {"uploads": [photo], "expires_in_days": 1},
                                  now=datetime.now(timezone.utc) - timedelta(days=2))
    visitor = app.test_client()
    page = visitor.get(f"/s/{token}")
    assert page.status_code == 410 and "expired" in page.get_data(as_text=True)
    resp = visitor.get(f"/s/{token}/items")
    assert resp.status_code == 410 and resp.get_json()["error"]["code"] == "share_expired"
    assert visitor.get(f"/s/{token}/media/{photo}/thumbnail").status_code == 410


@both_backends
def test_a_password_comes_first_and_is_audited_views_are_counted(app, alice):
    photo = upload_id(alice, corpus.jpeg())
    made = share(alice, uploads=[photo], password="open sesame")
    assert made["has_password"] is True
    visitor = app.test_client()
    page = visitor.get(made["url"])
    assert page.status_code == 200 and 'type="password"' in page.get_data(as_text=True)
    assert photo not in page.get_data(as_text=True)
    assert visitor.get(f"{made['url']}/items").status_code == 401
    assert visitor.get(f"{made['url']}/media/{photo}/thumbnail").status_code == 401
    assert visitor.post(made["url"], data={"password": "wrong"}).status_code == 401
    ok = visitor.post(made["url"], data={"password": "open sesame"})
    assert ok.status_code == 303 and ok.headers["Location"].endswith(made["url"])
    assert [i["id"] for i in items(visitor, made["url"])] == [photo]
    assert visitor.get(made["url"]).status_code == 200
    assert app.test_client().get(f"{made['url']}/items").status_code == 401  # another browser: not unlocked
    assert alice.get(f"/api/v1/shares/{made['id']}").get_json()["views"] == 1
    with app.app_context():
        events = app.extensions["momento"].catalog.list_audit_events(alice.user.id).items
    actions = [e.action for e in events]
    assert actions.count("share_unlocked") == 1 and "share_created" in actions
    alice.delete(f"/api/v1/shares/{made['id']}")
    with app.app_context():
        events = app.extensions["momento"].catalog.list_audit_events(alice.user.id).items
    assert events[0].action == "share_revoked" and events[0].details["share_id"] == made["id"]


@both_backends
def test_share_pages_carry_privacy_headers(app, alice):
    from momento.web.security import PAGE_CSP

    made = share(alice, uploads=[upload_id(alice, corpus.jpeg())])
    resp = app.test_client().get(made["url"])
    assert resp.headers["Content-Security-Policy"] == PAGE_CSP
    assert resp.headers["X-Robots-Tag"].startswith("noindex")
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert "<script" not in resp.get_data(as_text=True).split("</head>")[1]  # nothing inline


@both_backends
def test_videos_play_through_the_share(app, alice):
    video = upload_id(alice, corpus.mp4(seconds=1, faststart=True), "clip.mp4")
    made = share(alice, uploads=[video])
    visitor = app.test_client()
    (item,) = items(visitor, made["url"])
    assert item["kind"] == "video" and "playback" in item["urls"]
    resp = visitor.get(item["urls"]["playback"], headers={"Range": "bytes=0-99"})
    assert resp.status_code == 206 and resp.mimetype.startswith("video/")
    assert visitor.get(item["urls"]["display"]).mimetype.startswith("image/")


@both_backends
def test_stats_count_display_copies(app, alice, runner):
    import json

    photo = upload_id(alice, big_jpeg_with_gps())
    made = share(alice, uploads=[photo])
    visitor = app.test_client()
    (item,) = items(visitor, made["url"])
    size = len(visitor.get(item["urls"]["display"]).data)
    result = runner.invoke(args=["momento", "stats", "--json"])
    assert result.exit_code == 0, result.output
    (user,) = [u for u in json.loads(result.output)["users"] if u["email"] == alice.email]
    assert user["display_copies"] == 1 and user["display_bytes"] == size


@pytest.mark.aws
@pytest.mark.parametrize("app", ["aws"], indirect=True)
def test_dynamodb_sharing_reads_by_key(app, alice, dynamo_ops):
    photo = upload_id(alice, corpus.jpeg(), tags="beach")
    ops = dynamo_ops(app.extensions["momento"].catalog)
    search = saved(alice, "b", tag=["beach"])
    made = share(alice, search=search["id"])
    visitor = app.test_client()
    items(visitor, made["url"])
    visitor.get(f"{made['url']}/media/{photo}/display")
    alice.get("/api/v1/shares")
    alice.delete(f"/api/v1/shares/{made['id']}")
    assert ops and "Scan" not in ops
    assert now_iso()
