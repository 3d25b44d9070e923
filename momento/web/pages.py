"""The pages people use: gallery, upload, detail, trash, search."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required

from ..accounts import now_iso
from ..backends import catalog
from ..errors import BadRequest
from ..media.tags import parse_tag_field
from ..search import tag_counts
from .api import find_uploads, owned_upload, query_from_args
from .auth import owner

bp = Blueprint("pages", __name__)

PAGE = 60


@bp.get("/")
@login_required
def gallery():
    """Thumbnails, newest first, a page at a time."""
    query = query_from_args(request.args)
    page = find_uploads(owner().id, query, limit=PAGE, cursor=request.args.get("cursor"))
    usage = catalog().usage(owner().id)
    return render_template("gallery.html", uploads=page.items, next_cursor=page.next_cursor, usage=usage,
                           kind=request.args.get("kind") or "")


@bp.get("/search")
@login_required
def search_page():
    """Tag chips, AND/OR/NOT, kind and dates; the query lives in the URL."""
    query = query_from_args(request.args)
    page = find_uploads(owner().id, query, limit=PAGE, cursor=request.args.get("cursor")) \
        if not query.is_plain or query.kind else None
    more_args = request.args.to_dict(flat=False) | {"cursor": page.next_cursor} if page and page.next_cursor else None
    return render_template("search.html", query=query, uploads=page.items if page else (), more_args=more_args,
                           searched=page is not None, known_tags=sorted(tag_counts(catalog(), owner().id)))


@bp.get("/upload")
@login_required
def upload():
    """The upload form (the page's script sends each file to the API)."""
    return render_template("upload.html")


@bp.get("/uploads/<upload_id>")
@login_required
def detail(upload_id: str):
    """One photo or video, its metadata and its tags."""
    return render_template("detail.html", upload=owned_upload(upload_id))


@bp.post("/uploads/<upload_id>/tags")
@login_required
def save_tags(upload_id: str):
    """Replace the tags from the detail page's form."""
    upload = owned_upload(upload_id)
    try:
        tags = parse_tag_field(request.form.get("tags", ""))
    except BadRequest as exc:
        flash(exc.message, "error")
    else:
        catalog().set_tags(upload.user_id, upload.id, tags)
        flash("Tags saved.")
    return redirect(url_for("pages.detail", upload_id=upload.id))


@bp.post("/uploads/<upload_id>/delete")
@login_required
def trash(upload_id: str):
    """Move to the trash from the detail page."""
    upload = owned_upload(upload_id)
    if not upload.trashed:
        catalog().set_trashed(upload.user_id, upload.id, now_iso())
    flash(f"{upload.filename} moved to the trash.")
    return redirect(url_for("pages.gallery"))


@bp.post("/uploads/<upload_id>/restore")
@login_required
def restore(upload_id: str):
    """Bring back from the trash."""
    upload = owned_upload(upload_id)
    if upload.trashed:
        catalog().set_trashed(upload.user_id, upload.id, None)
    flash(f"{upload.filename} restored.")
    return redirect(request.form.get("next") == "trash" and url_for("pages.trash_page")
                    or url_for("pages.detail", upload_id=upload.id))


@bp.get("/trash")
@login_required
def trash_page():
    """What the user deleted, with restore buttons."""
    page = catalog().list_uploads(owner().id, trashed=True, limit=PAGE, cursor=request.args.get("cursor"))
    return render_template("trash.html", uploads=page.items, next_cursor=page.next_cursor)
