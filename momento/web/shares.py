"""The owner's side of sharing: saved searches and share links, as JSON (/api/v1/searches, /api/v1/shares)
and as pages (/searches, /shares). The visitor's side is momento/web/shared.py."""
from __future__ import annotations

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_login import login_required

from ..accounts import audit
from ..backends import catalog
from ..errors import BadRequest, MomentoError
from ..formats import now_iso
from ..sharing.searches import owned_search, query_from_dict, rename_search, save_search, search_json
from ..sharing.shares import create_share, owned_share, owned_uploads, share_json
from .library import owner, query_from_args

api = Blueprint("shares_api", __name__, url_prefix="/api/v1")
pages = Blueprint("shares", __name__)


def _json_body() -> dict:
    """The request's JSON object; 400 for anything else."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("Send a JSON object.", code="invalid_body")
    return body


# saved searches, JSON

@api.post("/searches")
@login_required
def create_search():
    """Save a search under a name."""
    body = _json_body()
    saved = save_search(catalog(), owner().id, body.get("name"), query_from_dict(body.get("query")))
    return jsonify(search_json(saved)), 201


@api.get("/searches")
@login_required
def list_searches():
    """The user's saved searches, newest first."""
    return jsonify({"items": [search_json(s) for s in catalog().list_saved_searches(owner().id)]})


@api.get("/searches/<search_id>")
@login_required
def get_search(search_id: str):
    """One saved search."""
    return jsonify(search_json(owned_search(catalog(), owner().id, search_id)))


@api.patch("/searches/<search_id>")
@login_required
def patch_search(search_id: str):
    """Rename a saved search."""
    saved = owned_search(catalog(), owner().id, search_id)
    return jsonify(search_json(rename_search(catalog(), saved, _json_body().get("name"))))


@api.delete("/searches/<search_id>")
@login_required
def delete_search(search_id: str):
    """Forget a saved search (links sharing it then show nothing)."""
    saved = owned_search(catalog(), owner().id, search_id)
    catalog().delete_saved_search(saved.user_id, saved.id)
    return "", 204


# shares, JSON

def _create(body: dict):
    """Make a share for the signed-in user, with its audit entry; (share, token)."""
    share, token = create_share(catalog(), owner().id, body)
    audit.record_request(catalog(), owner(), "share_created", share_id=share.id, kind=share.kind,
                         expires_at=share.expires_at, password=share.password_hash is not None,
                         allow_download=share.allow_download)
    return share, token


@api.post("/shares")
@login_required
def create_share_api():
    """Share some uploads, or a saved search; the answer holds the link (shown this once)."""
    share, token = _create(_json_body())
    return jsonify(share_json(share, token)), 201


@api.get("/shares")
@login_required
def list_shares():
    """The user's share links, newest first (without their tokens, which are not kept)."""
    return jsonify({"items": [share_json(s) for s in catalog().list_shares(owner().id)]})


@api.get("/shares/<share_id>")
@login_required
def get_share(share_id: str):
    """One share link."""
    return jsonify(share_json(owned_share(catalog(), owner().id, share_id)))


@api.delete("/shares/<share_id>")
@login_required
def delete_share(share_id: str):
    """Revoke a link: it stops at once."""
    _revoke(share_id)
    return "", 204


def _revoke(share_id: str) -> None:
    """Delete the signed-in user's share (404 for anyone else's), with its audit entry."""
    share = owned_share(catalog(), owner().id, share_id)
    catalog().delete_share(share.user_id, share.id)
    audit.record_request(catalog(), owner(), "share_revoked", share_id=share.id)


# pages

@pages.post("/searches")
@login_required
def save_search_page():
    """"Save this search" on /search: the form's name and the search's own fields."""
    try:
        saved = save_search(catalog(), owner().id, request.form.get("name"), query_from_args(request.form))
    except BadRequest as exc:
        flash(exc.message, "error")
        return redirect(url_for("pages.search_page", **request.form.to_dict(flat=False) | {"name": None,
                                                                                            "csrf_token": None}))
    flash(f"Search saved as “{saved.name}”.")
    return redirect(url_for("pages.search_page", search=saved.id))


@pages.post("/searches/<search_id>/rename")
@login_required
def rename_search_page(search_id: str):
    """Rename a saved search from its page."""
    saved = owned_search(catalog(), owner().id, search_id)
    try:
        rename_search(catalog(), saved, request.form.get("name"))
    except BadRequest as exc:
        flash(exc.message, "error")
    return redirect(url_for("pages.search_page", search=saved.id))


@pages.post("/searches/<search_id>/delete")
@login_required
def delete_search_page(search_id: str):
    """Forget a saved search from its page."""
    saved = owned_search(catalog(), owner().id, search_id)
    catalog().delete_saved_search(saved.user_id, saved.id)
    flash(f"Saved search “{saved.name}” deleted.")
    return redirect(url_for("pages.gallery"))


@pages.get("/shares")
@login_required
def shares_page():
    """The user's links: what each shares, until when, how often seen; copy and revoke."""
    return _shares_page()


def _shares_page(created=None, token=None, status=200):
    """The /shares page, with a link just made (shown this once) when there is one."""
    names = {s.id: s.name for s in catalog().list_saved_searches(owner().id)}
    return render_template("shares.html", shares=catalog().list_shares(owner().id), searches=names, now=now_iso(),
                           created=created, created_url=url_for("shared.view", token=token, _external=True)
                           if token else None), status


@pages.route("/shares/new", methods=["GET", "POST"])
@login_required
def new_share_page():
    """The form to make a link to some uploads (?uploads=id,id) or to a saved search (?search=id)."""
    source = request.form if request.method == "POST" else request.args
    uploads = [i for v in source.getlist("uploads") for i in v.split(",") if i.strip()]
    search_id = source.get("search") or None
    target = {"search": search_id} if search_id else {"uploads": uploads}
    saved = owned_search(catalog(), owner().id, search_id) if search_id else None
    if not search_id and request.method == "GET":  # the form for uploads not the user's own and live is a 404
        # (a POST is checked once, by the share's creation itself)
        if not uploads:
            raise BadRequest("Choose the photos and videos to share first: select them in the gallery or a search.",
                             code="nothing_to_share")
        owned_uploads(catalog(), owner().id, uploads)
    error = None
    if request.method == "POST":
        try:
            days = source.get("expires_in_days", "7").strip()
            body = target | {"title": source.get("title", ""), "password": source.get("password") or None,
                             "allow_download": source.get("allow_download") == "on",
                             "expires_in_days": int(days) if days.isdigit() else -1}
            share, token = _create(body)
        except MomentoError as exc:
            if exc.status == 404:
                raise
            error = exc.message
        else:
            return _shares_page(share, token, 201)
    return render_template("share_new.html", uploads=uploads, saved=saved, error=error,
                           form=source), 400 if error else 200


@pages.post("/shares/<share_id>/revoke")
@login_required
def revoke_share_page(share_id: str):
    """Revoke a link from /shares."""
    _revoke(share_id)
    flash("The link is revoked: it no longer opens.")
    return redirect(url_for("shares.shares_page"))
