"""The JSON API under /api/v1: uploads, tags, and the health check."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from flask_login import login_required

from ..backends import backends, catalog
from ..errors import BadRequest, BackendError
from ..media.tags import normalize_tags
from ..search import tag_counts
from .library import (find_uploads, owned_upload, owner, page_limit, receive_upload, request_query, restore_owned,
                      trash_owned)
from .serialize import upload_json

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.post("/uploads")
@login_required
def create_upload():
    """Upload one photo or video."""
    result = receive_upload()
    body = upload_json(result.upload)
    if result.duplicate:
        body["duplicate"] = True
        return jsonify(body), 200
    return jsonify(body), 201


@bp.get("/uploads")
@login_required
def list_uploads():
    """The user's uploads, newest first, optionally narrowed by tags, kind, dates and text."""
    page = find_uploads(owner().id, request_query(request.args), limit=page_limit(), cursor=request.args.get("cursor"))
    return jsonify({"items": [upload_json(u) for u in page.items], "next_cursor": page.next_cursor})


@bp.get("/uploads/<upload_id>")
@login_required
def get_upload(upload_id: str):
    """One upload."""
    return jsonify(upload_json(owned_upload(upload_id)))


@bp.patch("/uploads/<upload_id>")
@login_required
def patch_upload(upload_id: str):
    """Replace the user's tags of an upload."""
    upload = owned_upload(upload_id)
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or "tags" not in body or not isinstance(body["tags"], list):
        raise BadRequest('Send JSON {"tags": ["...", ...]}.', code="invalid_body")
    updated = catalog().set_tags(upload.user_id, upload.id, normalize_tags(body["tags"]))
    return jsonify(upload_json(updated))


@bp.delete("/uploads/<upload_id>")
@login_required
def delete_upload(upload_id: str):
    """Move an upload to the trash."""
    trash_owned(owned_upload(upload_id))
    return "", 204


@bp.post("/uploads/<upload_id>/restore")
@login_required
def restore_upload(upload_id: str):
    """Bring an upload back from the trash."""
    return jsonify(upload_json(restore_owned(owned_upload(upload_id))))


@bp.get("/tags")
@login_required
def list_tags():
    """The user's tags with how many live uploads carry each."""
    counts = tag_counts(catalog(), owner().id)
    items = sorted(({"tag": t, "count": n} for t, n in counts.items()), key=lambda i: (-i["count"], i["tag"]))
    return jsonify({"items": items})


health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz():
    """200 when storage and metadata answer, else 503."""
    b = backends()
    try:
        b.storage.check()
        b.catalog.check()
        check_limiter_storage()
    except BackendError as exc:
        return jsonify({"status": "unavailable", "error": {"code": exc.code, "message": exc.message}}), 503
    return jsonify({"status": "ok"})


def check_limiter_storage() -> None:
    """BackendError when limits are on and their shared storage (Redis) does not answer: a server that cannot
    count sign-ins or uploads is no server to send people to."""
    if not current_app.config.get("RATELIMIT_ENABLED"):
        return
    from ..extensions import limiter

    try:
        healthy = limiter.limiter.storage.check()
    except Exception:  # noqa: BLE001 - any failure of the storage's client means it does not answer
        healthy = False
    if not healthy:
        raise BackendError("The rate-limit storage does not answer.", backend="ratelimit", operation="check")
