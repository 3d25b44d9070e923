"""Another user's upload is invisible: every id-taking route answers 404, on both backends."""
from __future__ import annotations

import pytest

from tests import corpus
from tests.conftest import both_backends


def id_routes(app):
    """Every rule in the URL map that takes an upload id, with its methods."""
    for rule in app.url_map.iter_rules():
        if "upload_id" in rule.arguments:
            for method in sorted(rule.methods - {"OPTIONS"}):
                yield rule, method


@both_backends
def test_every_id_route_hides_other_users_uploads(app, alice, bob):
    photo = alice.upload(corpus.jpeg(64, 64)).json["id"]
    routes = list(id_routes(app))
    assert len(routes) >= 10  # the API, media and page routes that take an id
    # A share link of bob's own (routes under /s/<token> take an upload id too).
    own = bob.upload(corpus.jpeg(48, 48)).json["id"]
    token = bob.post("/api/v1/shares", json={"uploads": [own]}).json["url"].rsplit("/", 1)[1]
    for rule, method in routes:
        url = rule.build({"upload_id": photo, "token": token, "variant": "thumbnail"}, append_unknown=False)[1]
        resp = bob.client.open(url, method=method, headers=bob.headers, json={"tags": ["x"]}
                               if method == "PATCH" else None)
        assert resp.status_code == 404, (method, url, resp.status_code)
    # Nothing bob did changed alice's upload.
    mine = alice.get(f"/api/v1/uploads/{photo}").json
    assert mine["tags"] == [] and mine["trashed_at"] is None
    assert [u["id"] for u in bob.get("/api/v1/uploads").json["items"]] == [own]


@pytest.mark.parametrize("bad_id", ["nope", "01JD3Z8Q4M5X2V7K9T1B6N0C3F", "../../etc/passwd", "0" * 300])
def test_malformed_and_unknown_ids_are_404(alice, bad_id):
    for url in (f"/api/v1/uploads/{bad_id}", f"/media/{bad_id}/original", f"/media/{bad_id}/thumbnail"):
        assert alice.get(url).status_code == 404
