"""The JSON API under /api/v1: uploads, tags, and the health check."""
from __future__ import annotations

import re

from flask import Blueprint, current_app, jsonify, request
from flask_login import login_required

from .. import audit
from ..accounts import now_iso
from ..backends import backends, catalog
from ..errors import BadRequest, BackendError, NotFound
from ..media.tags import normalize_tags, parse_tag_field
from ..models import Page, Upload
from ..limits import charge_upload_bytes, check_upload_rate, release_upload_bytes, reserve_upload_bytes
from ..pipeline import IncomingUpload, IngestResult, Limits, restore_from_trash
from ..quota import check_quota
from ..search import Query, build_query, search, tag_counts
from .auth import owner
from .receive import receive
from .serialize import upload_json

bp = Blueprint("api", __name__, url_prefix="/api/v1")

_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def owned_upload(upload_id: str) -> Upload:
    """The signed-in user's upload with this id; 404 for anything else, whoever owns it."""
    upload = catalog().get_upload(owner().id, upload_id) if _ID.match(upload_id or "") else None
    if upload is None:
        raise NotFound("No upload with that id.")
    return upload


def receive_upload() -> IngestResult:
    """Stream the request's `file` part through the pipeline (shared by the API and the upload page).

    Before a byte is read: the upload rate, the declared size against the quota and the daily allowance;
    then the quota again as the bytes arrive.
    """
    b, config, user = backends(), current_app.config, owner()
    limits = Limits.from_config(config)
    check_upload_rate(user)
    declared = max(0, (request.content_length or 0) - MULTIPART_SLACK)
    guard = check_quota(b.catalog, user, declared)
    reserved = reserve_upload_bytes(user, declared)

    def start(filename: str | None) -> IncomingUpload:
        return IncomingUpload(b.storage, b.catalog, user, filename=filename, limits=limits, on_size=guard.check)

    kept = 0
    try:
        form = receive(request, start, max_field_bytes=config["MAX_FORM_MEMORY_SIZE"],
                       max_parts=config["MAX_FORM_PARTS"])
        if form.upload is None:
            raise BadRequest("Send exactly one file in a form part named 'file'.", code="missing_file",
                             fields=[("file", "missing")])
        try:
            result = form.upload.finish(parse_tag_field(form.fields.get("tags")))
        except BaseException:
            form.upload.abort()
            raise
        kept = 0 if result.duplicate else result.upload.size
    finally:
        release_upload_bytes(user, max(0, reserved - kept))
    charge_upload_bytes(user, max(0, kept - reserved))  # a body without a declared length counts afterwards
    if not result.duplicate:
        audit.record_request(b.catalog, user, "upload", upload_id=result.upload.id, filename=result.upload.filename)
    return result


# The multipart framing around the file (boundaries, part headers, the tags field) is not the user's bytes.
MULTIPART_SLACK = 16 * 1024


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


def _limit() -> int:
    raw = request.args.get("limit", str(current_app.config["PAGE_SIZE"]))
    try:
        limit = int(raw)
    except ValueError:
        raise BadRequest("limit must be a whole number from 1 to 200.", code="invalid_limit") from None
    if not 1 <= limit <= 200:
        raise BadRequest("limit must be a whole number from 1 to 200.", code="invalid_limit")
    return limit


def query_from_args(args) -> Query:
    """A search from query-string arguments (the API and the search page share it)."""
    def listed(name: str) -> list[str]:
        # Repeated parameters, or one comma-separated field from the search form.
        return [part for value in args.getlist(name) for part in value.split(",") if part.strip()]

    return build_query(tags=listed("tag"), any_tags=listed("any_tag"), not_tags=listed("not_tag"),
                       kind=args.get("kind"), start=args.get("from"), end=args.get("to"), q=args.get("q"))


def find_uploads(user_id: str, query: Query, *, limit: int, cursor: str | None) -> Page:
    """The plain newest-first listing, or a search through the index."""
    if query.is_plain and not query.kind:
        return catalog().list_uploads(user_id, limit=limit, cursor=cursor)
    return search(catalog(), user_id, query, limit=limit, cursor=cursor)


@bp.get("/uploads")
@login_required
def list_uploads():
    """The user's uploads, newest first, optionally narrowed by tags, kind, dates and text."""
    page = find_uploads(owner().id, query_from_args(request.args), limit=_limit(), cursor=request.args.get("cursor"))
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


def trash_owned(upload) -> None:
    """Move the signed-in user's upload to the trash, with its audit entry; one already there stays as it is."""
    if not upload.trashed:
        catalog().set_trashed(upload.user_id, upload.id, now_iso())
        audit.record_request(catalog(), owner(), "trash", upload_id=upload.id, filename=upload.filename)


@bp.post("/uploads/<upload_id>/restore")
@login_required
def restore_upload(upload_id: str):
    """Bring an upload back from the trash."""
    return jsonify(upload_json(restore_owned(owned_upload(upload_id))))


def restore_owned(upload):
    """Bring the signed-in user's upload back from the trash, with its audit entry; a live one is left as it is."""
    if not upload.trashed:
        return upload
    restored = restore_from_trash(catalog(), upload)
    audit.record_request(catalog(), owner(), "restore", upload_id=upload.id, filename=upload.filename)
    return restored


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
    except BackendError as exc:
        return jsonify({"status": "unavailable", "error": {"code": exc.code, "message": exc.message}}), 503
    return jsonify({"status": "ok"})
