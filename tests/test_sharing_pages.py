"""Sharing as pages: "Save this search", saved searches beside the gallery, the share form and /shares, and
password guesses limited per link and per address (limits on, as in tests/test_limits.py)."""
from __future__ import annotations

import re

import pytest

from momento import create_app
from tests import corpus
from tests.conftest import Account, app_config, both_backends


def signed_in(app, account):
    """A browser-like client signed in as the account."""
    client = app.test_client()
    resp = client.post("/login", data={"email": account.email, "password": account.password})
    assert resp.status_code == 302
    return client


@both_backends
def test_save_a_search_then_find_it_beside_the_gallery_and_share_it(app, alice):
    photo = alice.upload(corpus.jpeg(), "sea.jpg", "beach").get_json()["id"]
    c = signed_in(app, alice)
    page = c.get("/search?tag=beach").get_data(as_text=True)
    assert "Save this search" in page
    saved = c.post("/searches", data={"name": "Beach days", "tag": "beach"})
    assert saved.status_code == 302 and "search=" in saved.headers["Location"]
    search_id = saved.headers["Location"].split("search=")[1]
    found = c.get(f"/search?search={search_id}").get_data(as_text=True)
    assert "Beach days" in found and photo in found
    assert "Beach days" in c.get("/").get_data(as_text=True)
    form = c.get(f"/shares/new?search={search_id}")
    assert form.status_code == 200 and "Beach days" in form.get_data(as_text=True)
    made = c.post("/shares/new", data={"search": search_id, "title": "Sea", "expires_in_days": "3"})
    assert made.status_code == 201
    url = re.search(r'value="(http://[^"]+/s/[^"]+)"', made.get_data(as_text=True)).group(1)
    assert app.test_client().get(url).status_code == 200
    assert c.post(f"/searches/{search_id}/rename", data={"name": "Seaside"}).status_code == 302
    assert "Seaside" in c.get("/").get_data(as_text=True)


@both_backends
def test_share_form_from_a_selection_and_revoke_from_shares(app, alice, bob):
    ids = [alice.upload(corpus.jpeg(color=(i, 0, 0)), f"p{i}.jpg").get_json()["id"] for i in (1, 2)]
    c = signed_in(app, alice)
    assert 'data-action="share"' in c.get("/").get_data(as_text=True)
    assert f"/shares/new?uploads={ids[0]}" in c.get(f"/uploads/{ids[0]}").get_data(as_text=True)
    form = c.get(f"/shares/new?uploads={','.join(ids)}")
    assert "Share 2 items" in form.get_data(as_text=True)
    bad = c.post("/shares/new", data={"uploads": ",".join(ids), "expires_in_days": "400"})
    assert bad.status_code == 400 and "365" in bad.get_data(as_text=True)
    bobs = bob.upload(corpus.jpeg(color=(0, 0, 9))).get_json()["id"]
    assert c.post("/shares/new", data={"uploads": bobs}).status_code == 404
    made = c.post("/shares/new", data={"uploads": ",".join(ids), "password": "pw", "allow_download": "on"})
    assert made.status_code == 201
    url = re.search(r'value="(http://[^"]+/s/[^"]+)"', made.get_data(as_text=True)).group(1)
    (listed,) = alice.get("/api/v1/shares").get_json()["items"]
    assert listed["has_password"] and listed["allow_download"]
    page = c.get("/shares").get_data(as_text=True)
    assert "2 items" in page and "password" in page
    assert c.post(f"/shares/{listed['id']}/revoke").status_code == 302
    assert app.test_client().get(url).status_code == 404
    assert "You have not shared anything yet" in c.get("/shares").get_data(as_text=True)


@pytest.fixture
def limited_app(request, tmp_path):
    """Limits on, with small password budgets: 3 wrong guesses per link, 5 per address."""
    config = {"RATELIMIT_ENABLED": True, "SHARE_PASSWORD_LIMIT": "3 per 15 minutes",
              "SHARE_PASSWORD_ADDRESS_LIMIT": "5 per 15 minutes"}
    return create_app(app_config(request, tmp_path, "local", **config))


def test_password_guesses_are_limited_per_link_and_per_address(limited_app):
    alice = Account(limited_app, "alice@example.com")
    photo = alice.upload(corpus.jpeg()).get_json()["id"]
    links = [alice.post("/api/v1/shares", json={"uploads": [photo], "password": "right one"}).get_json()["url"]
             for _ in range(3)]
    guesser = limited_app.test_client()
    for _ in range(3):
        assert guesser.post(links[0], data={"password": "guess"}).status_code == 401
    paused = guesser.post(links[0], data={"password": "right one"})  # even the right one waits now
    assert paused.status_code == 429 and int(paused.headers["Retry-After"]) > 0
    assert "Too many wrong passwords" in paused.get_data(as_text=True)
    # From another address, that link is paused too: the budget belongs to the link.
    other = limited_app.test_client()
    assert other.post(links[0], data={"password": "right one"}, environ_base={"REMOTE_ADDR": "10.0.0.9"}
                      ).status_code == 429
    # Another link from the first address still has the address's last two guesses.
    assert guesser.post(links[1], data={"password": "guess"}).status_code == 401
    assert guesser.post(links[1], data={"password": "guess"}).status_code == 401
    assert guesser.post(links[2], data={"password": "right one"}).status_code == 429  # the address is spent
    fresh = limited_app.test_client()
    assert fresh.post(links[2], data={"password": "right one"}, environ_base={"REMOTE_ADDR": "10.0.0.7"}
                      ).status_code == 303


def test_the_share_form_and_save_this_search_refuse_what_could_not_be_kept(app, alice, bob):
    mine = alice.upload(corpus.jpeg(), "sea.jpg", "beach").get_json()["id"]
    theirs = bob.upload(corpus.jpeg(33, 22), "b.jpg").get_json()["id"]
    c = signed_in(app, alice)
    assert c.get(f"/shares/new?uploads={mine}").status_code == 200
    for ids in (theirs, f"{mine},{theirs}", "garbage"):
        assert c.get(f"/shares/new?uploads={ids}").status_code == 404, ids
    assert c.get("/shares/new").status_code == 400  # nothing chosen: said, not a form for 0 items
    alice.delete(f"/api/v1/uploads/{mine}")
    assert c.get(f"/shares/new?uploads={mine}").status_code == 404  # a trashed upload is not shared
    # "Save this search" keeps only what opens again: the API's limit of 50 tags a group
    many = ",".join(f"t{i}" for i in range(51))
    saved = c.post("/searches", data={"name": "Many tags", "tag": many}, follow_redirects=True)
    assert "at most 50 tags" in saved.get_data(as_text=True)
    assert alice.get("/api/v1/searches").get_json()["items"] == []


def test_a_share_whose_search_was_deleted_says_so(app, alice):
    alice.upload(corpus.jpeg(), "sea.jpg", "beach")
    search = alice.post("/api/v1/searches", json={"name": "deleted", "query": {"tag": ["beach"]}}).get_json()["id"]
    assert alice.post("/api/v1/shares", json={"search": search}).status_code == 201
    assert alice.delete(f"/api/v1/searches/{search}").status_code == 204
    page = signed_in(app, alice).get("/shares").get_data(as_text=True)
    assert "A saved search since deleted" in page and "Search “deleted”" not in page
