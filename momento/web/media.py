"""Serving stored bytes: originals, thumbnails and renditions, with single byte ranges, or a 302 to a presigned
S3 URL (MOMENTO_MEDIA_DELIVERY=presigned) once ownership is checked."""
from __future__ import annotations

import re
from urllib.parse import quote

from flask import Blueprint, Response, current_app, redirect, request
from flask_login import login_required
from werkzeug.http import parse_range_header

from ..backends import storage
from ..errors import NotFound, ObjectMissing, RangeNotSatisfiable
from ..models import VIDEO, Upload
from .library import owned_upload

bp = Blueprint("media", __name__, url_prefix="/media")
ZERO_SUFFIX = re.compile(r"\s*bytes\s*=\s*-\s*0+\s*$", re.IGNORECASE)  # "the last 0 bytes": never satisfiable


# The only types Momento serves as themselves: browsers display them and never run script from them.
# Anything else (text/html, image/svg+xml, application/xhtml+xml, ...) goes out as an opaque download.
PASSIVE_TYPES = frozenset({
    "image/jpeg", "image/png", "image/webp", "image/gif", "image/heic", "image/heif", "image/avif",
    "video/mp4", "video/quicktime", "video/webm",
})


def _disposition(upload: Upload, suffix: str = "", attachment: bool = False) -> str:
    """RFC 6266 with an RFC 5987 UTF-8 name, and a plain-ASCII fallback with nothing that could end the quotes."""
    name = upload.filename if not suffix else f"{upload.filename.rsplit('.', 1)[0]}{suffix}"
    ascii_name = "".join(ch if " " <= ch <= "~" and ch not in '"\\' else "_" for ch in name)
    kind = "attachment" if attachment else "inline"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def serve_object(key: str, mime: str, disposition: str) -> Response:
    """Answer GET/HEAD for one object: 200, 206 for a single satisfiable range, 304, or 416."""
    if mime not in PASSIVE_TYPES:
        mime = "application/octet-stream"
        disposition = "attachment" + disposition[disposition.find(";"):] if ";" in disposition else "attachment"
    st = storage()
    if request.method == "GET" and current_app.config["MEDIA_DELIVERY"] == "presigned":
        seconds = current_app.config["PRESIGN_SECONDS"]
        url = st.presigned_url(key, content_type=mime, disposition=disposition, seconds=seconds)
        if url is not None:
            return _to_store(url, seconds)
    info = st.stat(key)
    etag = info.etag.strip('"')
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": f'"{etag}"',
        "Cache-Control": "private, max-age=3600",
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": disposition,
    }
    if request.if_none_match.contains_weak(etag):  # If-None-Match compares weakly (RFC 9110 13.1.2)
        return Response(status=304, headers=headers)
    start, end, status = 0, info.size - 1, 200
    if_range = request.headers.get("If-Range")
    bounds = byte_range(request.headers.get("Range"), info.size) if not if_range or if_range.strip('"') == etag else None
    if bounds is not None:
        start, end, status = bounds[0], bounds[1], 206
        headers["Content-Range"] = f"bytes {start}-{end}/{info.size}"
    headers["Content-Length"] = str(end - start + 1 if info.size else 0)
    if request.method == "HEAD" or info.size == 0:
        return Response(status=status, headers=headers, mimetype=mime)
    stream = st.open(key, start, end)
    resp = Response(iter(stream), status=status, headers=headers, mimetype=mime, direct_passthrough=True)
    resp.call_on_close(stream.close)
    return resp


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The first and last byte a Range header asks for, as RFC 9110 reads it: None to send the whole object (no
    header, another unit, or several ranges, which would need a multipart answer: like most servers, the whole object
    instead), RangeNotSatisfiable (416) for a range that starts past the end or a suffix of zero bytes. A suffix
    longer than the object is the whole object."""
    if header is None:
        return None
    rng = parse_range_header(header)
    if rng is None:
        if ZERO_SUFFIX.match(header):
            raise RangeNotSatisfiable("The requested range is empty.", size=size)
        return None  # malformed: ignored, as RFC 9110 lets a server do
    if rng.units != "bytes" or len(rng.ranges) != 1:
        return None
    start, stop = rng.ranges[0]
    if start < 0:  # the last -start bytes
        start, stop = max(0, size + start), size
    if start >= size:
        raise RangeNotSatisfiable("The requested range is outside the file.", size=size)
    return start, min(stop if stop is not None else size, size) - 1


def _to_store(url: str, seconds: int) -> Response:
    """302 to a presigned URL: the browser fetches the bytes (and their ranges) from S3 itself."""
    resp = redirect(url, code=302)
    # A browser may reuse the redirect only while the URL it leads to still has a good while to live.
    resp.headers["Cache-Control"] = f"private, max-age={seconds // 2}"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


@bp.route("/<upload_id>/original", methods=["GET", "HEAD"])
@login_required
def original(upload_id: str):
    """The user's bytes, exactly as uploaded."""
    upload = owned_upload(upload_id)
    attachment = request.args.get("download") == "1"
    return serve_object(upload.original_key, upload.mime, _disposition(upload, attachment=attachment))


@bp.route("/<upload_id>/thumbnail", methods=["GET", "HEAD"])
@login_required
def thumbnail(upload_id: str):
    """The small preview (a poster frame for videos)."""
    upload = owned_upload(upload_id)
    return serve_object(upload.thumb_key, upload.thumb_mime, _disposition(upload, f".thumb.{upload.thumb_ext}"))


@bp.route("/<upload_id>/playback", methods=["GET", "HEAD"])
@login_required
def playback(upload_id: str):
    """The browser-friendly rendition of a video, once made."""
    upload = owned_upload(upload_id)
    if upload.kind != VIDEO or upload.rendition != "ready":
        raise NotFound("This upload has no playback rendition.", code="no_rendition")
    try:
        return serve_object(upload.playback_key, "video/mp4", _disposition(upload, ".mp4"))
    except ObjectMissing:
        raise NotFound("This upload has no playback rendition.", code="no_rendition") from None
