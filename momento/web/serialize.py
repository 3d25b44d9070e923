"""JSON shapes of the public API."""
from __future__ import annotations

from flask import url_for

from ..models import VIDEO, Upload, User


def upload_json(upload: Upload) -> dict:
    """An Upload as API.md describes it (only ever built for its owner, so the location may appear)."""
    urls = {
        "original": url_for("media.original", upload_id=upload.id),
        "thumbnail": url_for("media.thumbnail", upload_id=upload.id),
    }
    body = {
        "id": upload.id,
        "kind": upload.kind,
        "filename": upload.filename,
        "mime": upload.mime,
        "size": upload.size,
        "sha256": upload.sha256,
        "width": upload.width,
        "height": upload.height,
        "duration": upload.duration,
        "taken_at": upload.taken_at,
        "uploaded_at": upload.uploaded_at,
        "camera": {"make": upload.camera_make, "model": upload.camera_model}
        if (upload.camera_make or upload.camera_model) else None,
        "location": upload.gps,
        "tags": list(upload.tags),
        "auto_tags": list(upload.auto_tags),
        "trashed_at": upload.trashed_at,
        "urls": urls,
    }
    if upload.kind == VIDEO:
        body["rendition"] = upload.rendition
        if upload.rendition == "failed" and upload.rendition_error:
            body["rendition_error"] = upload.rendition_error
        if upload.rendition == "ready":
            urls["playback"] = url_for("media.playback", upload_id=upload.id)
    return body


def user_json(user: User) -> dict:
    """The public face of an account."""
    return {"id": user.id, "email": user.email}
