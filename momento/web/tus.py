"""The tus 1.0 endpoint (core, creation, termination, checksum, expiration) at /api/v1/tus/.

HTTP in and out only: headers parsed here, the work done by momento/resumable.py. Authentication and CSRF are
the API's (Bearer token, or the session cookie with X-CSRFToken on unsafe methods).
"""
from __future__ import annotations

import base64
import binascii
import hashlib

from flask import Blueprint, current_app, jsonify, request, url_for
from flask_login import login_required
from werkzeug.http import http_date

from ..accounts import audit
from ..backends import backends, catalog
from ..errors import BadRequest, MomentoError, Unsupported
from ..formats import parse_iso
from ..observe import metrics
from ..media.tags import parse_tag_field
from ..uploads.tus import ResumableUploads
from ..uploads.tus_patch import CHECKSUMS, BodyCut
from ..uploads.tus_record import COMPLETING, STORED, TusUpload
from .library import owner, upload_budgets
from .receive import body_reader
from .scopes import any_token
from .serialize import upload_json

bp = Blueprint("tus", __name__, url_prefix="/api/v1/tus")

VERSION = "1.0.0"
EXTENSIONS = "creation,termination,checksum,expiration"
OFFSET_STREAM = "application/offset+octet-stream"


class VersionMismatch(MomentoError):
    """The request speaks another tus version, or none."""

    status = 412
    code = "tus_version"


def uploads() -> ResumableUploads:
    """The app's resumable uploads."""
    b = backends()
    return ResumableUploads.from_config(b.storage, b.catalog, current_app.config, upload_budgets(), _count_settled)


def _count_settled(record: TusUpload) -> None:
    """An upload that ended, in the metrics: stored, duplicate, or the refusal's code."""
    outcome = "duplicate" if record.duplicate else "stored" if record.state == STORED else record.error["code"]
    metrics.count_upload(record.kind, outcome, record.length)


@bp.after_request
def tus_headers(response):
    """Every answer names the protocol version; a refused version also lists the ones spoken."""
    response.headers["Tus-Resumable"] = VERSION
    if response.status_code == 412:
        response.headers["Tus-Version"] = VERSION
    return response


def _require_version() -> None:
    """412 unless the request speaks tus 1.0.0."""
    if request.headers.get("Tus-Resumable") != VERSION:
        raise VersionMismatch(f"Send 'Tus-Resumable: {VERSION}'; this server speaks tus {VERSION} only.")


def _int_header(name: str) -> int:
    """A header holding a byte count; 400 when missing or malformed."""
    raw = request.headers.get(name, "")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19:
        raise BadRequest(f"Send {name} as a whole number of bytes.", code="invalid_header", fields=[(name, "invalid")])
    return int(raw)


def _metadata(raw: str) -> dict[str, str]:
    """Upload-Metadata: comma-separated `key base64(value)` pairs (a key alone has an empty value)."""
    found = {}
    for pair in filter(None, (p.strip() for p in raw.split(","))):
        key, _, value = pair.partition(" ")
        try:
            found[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise BadRequest(f"The Upload-Metadata value of {key!r} is not base64 of UTF-8 text.",
                             code="invalid_metadata", fields=[("Upload-Metadata", key)]) from None
    return found


def _checksum() -> tuple[str, bytes] | None:
    """Upload-Checksum as (algorithm, digest), or None; 400 for an algorithm not offered or a malformed value."""
    raw = request.headers.get("Upload-Checksum")
    if raw is None:
        return None
    algorithm, _, digest = raw.strip().partition(" ")
    if algorithm not in CHECKSUMS:
        raise BadRequest(f"Upload-Checksum algorithm {algorithm!r} is not supported; use one of "
                         f"{', '.join(CHECKSUMS)}.", code="checksum_algorithm")
    try:
        value = base64.b64decode(digest.strip(), validate=True)
    except binascii.Error:
        value = b""
    if len(value) != hashlib.new(algorithm).digest_size:  # no digest, or not one this algorithm makes
        raise BadRequest("Upload-Checksum must be '<algorithm> <base64 digest>'.", code="invalid_checksum")
    return algorithm, value


def _progress(response, record: TusUpload):
    """Where the upload stands, in tus headers (and the Upload's id once it is stored)."""
    response.headers["Upload-Offset"] = str(record.offset)
    response.headers["Upload-Expires"] = http_date(parse_iso(record.expires_at))
    if record.state == STORED and record.result_id:
        response.headers["Momento-Upload-Id"] = record.result_id
    return response


@bp.route("/", methods=["OPTIONS"], provide_automatic_options=False, strict_slashes=False)
@any_token
def discover():
    """What this server speaks (no sign-in needed: it tells nothing about anyone)."""
    response = current_app.response_class(status=204)
    response.headers.update({"Tus-Version": VERSION, "Tus-Extension": EXTENSIONS,
                             "Tus-Max-Size": str(uploads().max_size), "Tus-Checksum-Algorithm": ",".join(CHECKSUMS)})
    return response


@bp.post("/", strict_slashes=False, provide_automatic_options=False)
@login_required
def create():
    """Creation: a new upload of Upload-Length bytes, with filename and tags in Upload-Metadata."""
    _require_version()
    if "Upload-Defer-Length" in request.headers:
        raise BadRequest("Send Upload-Length; this server does not take uploads of unknown length.",
                         code="length_required")
    length = _int_header("Upload-Length")
    meta = _metadata(request.headers.get("Upload-Metadata", ""))
    tags = parse_tag_field(meta.get("tags"))
    record = uploads().create(owner(), length=length, filename=meta.get("filename") or None, tags=tags)
    response = _progress(current_app.response_class(status=201), record)
    response.headers["Location"] = url_for("tus.upload_state", tus_id=record.id)
    return response


@bp.get("/<tus_id>")
@login_required
def upload_state(tus_id: str):
    """HEAD: where to resume. GET (Momento's own): the state, and the Upload or the error once settled."""
    if request.method == "HEAD":
        _require_version()
        record = uploads().position(owner(), tus_id)
    else:
        record = uploads().find(owner(), tus_id)
    if request.method == "HEAD":
        response = _progress(current_app.response_class(status=200), record)
        response.headers["Upload-Length"] = str(record.length)
        response.headers["Cache-Control"] = "no-store"
        return response
    stored = catalog().get_upload(owner().id, record.result_id) if record.result_id else None
    body = {"state": "receiving" if record.state == COMPLETING else record.state, "offset": record.offset,
            "length": record.length, "upload": upload_json(stored) if stored else None,
            "error": {"code": record.error["code"], "message": record.error["message"]} if record.error else None,
            "duplicate": record.duplicate}
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.patch("/<tus_id>")
@login_required
def receive(tus_id: str):
    """Core: bytes from Upload-Offset on; the PATCH that brings the last byte answers once the file is stored."""
    _require_version()
    if request.mimetype != OFFSET_STREAM:
        raise Unsupported(f"Send the bytes as {OFFSET_STREAM}.", code="unsupported_content_type")
    offset, checksum, user = _int_header("Upload-Offset"), _checksum(), owner()
    record = uploads().receive(user, tus_id, offset=offset, read=body_reader(request, BodyCut),
                               content_length=request.content_length, checksum=checksum,
                               on_stored=lambda upload: audit.record_request(
                                   catalog(), user, "upload", upload_id=upload.id, filename=upload.filename))
    return _progress(current_app.response_class(status=204), record)


@bp.delete("/<tus_id>")
@login_required
def terminate(tus_id: str):
    """Termination: the upload and its bytes go."""
    _require_version()
    uploads().terminate(owner(), tus_id)
    return "", 204
