"""The pages people use: gallery, upload, detail, trash, search."""
from __future__ import annotations

from typing import Optional

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import login_required
from ulid import ULID

from ..backends import catalog
from ..catalog.cursor import encode_cursor
from ..errors import BadRequest
from ..media.tags import parse_tag_field
from ..models import Upload
from .library import user_quota
from ..search import Query, beside_by_date, by_date, tag_counts
from ..sharing.searches import owned_search, query_dict
from .library import find_uploads, owned_upload, owner, query_from_args, request_query, restore_owned, trash_owned
from ..formats import iso

bp = Blueprint("pages", __name__)

PAGE = 60  # tiles per page of the gallery, search and trash (GALLERY_PAGE_SIZE in the config overrides it)
TAKEN, ADDED = "taken", "added"  # the gallery's orders: by capture date (the default), by upload


def page_size() -> int:
    """How many tiles a page of the grid shows."""
    return int(current_app.config.get("GALLERY_PAGE_SIZE") or PAGE)


def known_tags(*, editable: bool = False) -> list[str]:
    """The user's tags, most used first, for autocomplete; `editable` leaves out automatic ones (year:2024…)."""
    counts = tag_counts(catalog(), owner().id)
    return sorted((t for t in counts if not (editable and ":" in t)), key=lambda t: (-counts[t], t))


@bp.get("/")
@login_required
def gallery():
    """Thumbnails, newest taken first (or newest added first), a page at a time, under month headings."""
    query, order = query_from_args(request.args), gallery_order(request.args)
    cursor = request.args.get("cursor")
    if order == TAKEN and query.is_plain:
        page = by_date(catalog(), owner().id, kind=query.kind, limit=page_size(), cursor=cursor)
    else:
        # Tags, dates or words (which the API offers and the gallery passes on) are served by the search, in
        # upload order only: the date index cannot check them while it walks, so the gallery falls back to
        # the added order, and its headings and detail links follow suit.
        order = ADDED
        page = find_uploads(owner().id, query, limit=page_size(), cursor=cursor)
    usage = catalog().usage(owner().id)
    return render_template("gallery.html", uploads=page.items, next_cursor=page.next_cursor, usage=usage,
                           quota=user_quota(owner()), order=order, added_at=added_at,
                           nav=gallery_nav(order, query.kind), kind=request.args.get("kind") or "",
                           known_tags=known_tags(editable=True),
                           saved_searches=catalog().list_saved_searches(owner().id))


def gallery_order(args) -> str:
    """The gallery's order from the query string: taken (the default) or added; BadRequest for anything else."""
    order = args.get("order") or TAKEN
    if order not in (TAKEN, ADDED):
        raise BadRequest("order must be 'taken' or 'added'.", code="invalid_order")
    return order


def gallery_nav(order: str, kind: Optional[str]) -> dict[str, Optional[str]]:
    """The query-string values that keep the gallery's order and kind in links (defaults left out)."""
    return {"order": order if order != TAKEN else None, "kind": kind or None}


def added_at(upload: Upload) -> str:
    """When the upload was added, from its id (so the added order's months follow the order exactly)."""
    return iso(ULID.from_str(upload.id).datetime)


@bp.get("/search")
@login_required
def search_page():
    """Tag chips, AND/OR/NOT, kind and dates; the query lives in the URL."""
    query = request_query(request.args)
    saved = owned_search(catalog(), owner().id, request.args["search"]) if request.args.get("search") else None
    page = find_uploads(owner().id, query, limit=page_size(), cursor=request.args.get("cursor")) \
        if not query.is_plain or query.kind else None
    more_args = request.args.to_dict(flat=False) | {"cursor": page.next_cursor} if page and page.next_cursor else None
    return render_template("search.html", query=query, uploads=page.items if page else (), more_args=more_args,
                           searched=page is not None, known_tags=known_tags(), chips=search_chips(query),
                           saved=saved, query_fields=query_dict(query))


def search_chips(query: Query) -> list[tuple[str, str, str]]:
    """(label, kind, URL of the same search without it) for each part of a search."""
    parts = [("tag", t, t, "all") for t in query.all_tags] + [("any_tag", t, f"or {t}", "any") for t in query.any_tags] \
        + [("not_tag", t, f"not {t}", "not") for t in query.not_tags]
    if query.kind:
        parts.append(("kind", query.kind, f"{query.kind}s", "kind"))
    for name, value, word in (("from", query.start, "from"), ("to", query.end, "until")):
        if value:
            parts.append((name, value[:10], f"{word} {value[:10]}", "date"))
    if query.q:
        parts.append(("q", query.q, f"“{query.q}”", "text"))
    args: dict[str, list[str]] = {}
    for name, value, _, _ in parts:
        args.setdefault(name, []).append(value)
    return [(label, kind, url_for("pages.search_page", **{k: [v for v in vs if (k, v) != (name, value)]
                                                           for k, vs in args.items()}))
            for name, value, label, kind in parts]


@bp.get("/upload")
@login_required
def upload():
    """The upload form (the page's script sends each file to the API)."""
    return render_template("upload.html", known_tags=known_tags(editable=True))


@bp.get("/uploads/<upload_id>")
@login_required
def detail(upload_id: str):
    """One photo or video, its metadata and its tags, with its neighbours in the gallery it was opened from."""
    upload = owned_upload(upload_id)
    order, kind = gallery_order(request.args), query_from_args(request.args).kind
    newer = older = None
    if not upload.trashed:
        newer, older = neighbours(upload, order, kind)
    return render_template("detail.html", upload=upload, newer=newer, older=older, nav=gallery_nav(order, kind),
                           known_tags=known_tags(editable=True))


def neighbours(upload: Upload, order: str, kind: Optional[str]) -> tuple[Optional[str], Optional[str]]:
    """The ids before and after an upload in the gallery of this order and kind (None at either end)."""
    if order == ADDED:
        return _newer(upload.user_id, upload.id, kind), _older(upload.user_id, upload.id, kind)
    return (beside_by_date(catalog(), upload, kind=kind, newer=True),
            beside_by_date(catalog(), upload, kind=kind, newer=False))


def _older(user_id: str, upload_id: str, kind: Optional[str] = None) -> Optional[str]:
    """The id after this one in the added order (newest first)."""
    page = catalog().list_uploads(user_id, kind=kind, limit=1, cursor=encode_cursor(upload_id))
    return page.items[0].id if page.items else None


def _newer(user_id: str, upload_id: str, kind: Optional[str] = None) -> Optional[str]:
    """The id before this one in the added order.

    The catalog only pages downwards, so look below an upper bound (a ULID past every id of its
    millisecond) that starts a second after this upload and widens eightfold until it holds newer
    uploads, then page down to this one: a handful of queries whatever the size of the library.
    """
    start, now = ULID.from_str(upload_id).milliseconds, ULID().milliseconds
    step = 1000
    while True:
        bound = min(start + step, now + 1000)
        cursor = encode_cursor(str(ULID.from_bytes(bound.to_bytes(6, "big") + b"\xff" * 10)))
        page = catalog().list_uploads(user_id, kind=kind, limit=PAGE, cursor=cursor)
        newer = [u.id for u in page.items if u.id > upload_id]
        if newer:
            while page.next_cursor and page.items[-1].id > upload_id:
                page = catalog().list_uploads(user_id, kind=kind, limit=PAGE, cursor=page.next_cursor)
                newer += [u.id for u in page.items if u.id > upload_id]
            return newer[-1]
        if bound > now:
            return None
        step *= 8


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
    trash_owned(upload)
    flash(f"{upload.filename} moved to the trash.")
    return redirect(url_for("pages.gallery"))


@bp.post("/uploads/<upload_id>/restore")
@login_required
def restore(upload_id: str):
    """Bring back from the trash."""
    upload = restore_owned(owned_upload(upload_id))
    flash(f"{upload.filename} restored.")
    return redirect(request.form.get("next") == "trash" and url_for("pages.trash_page")
                    or url_for("pages.detail", upload_id=upload.id))


@bp.get("/trash")
@login_required
def trash_page():
    """What the user deleted, with restore buttons."""
    page = catalog().list_uploads(owner().id, trashed=True, limit=page_size(), cursor=request.args.get("cursor"))
    return render_template("trash.html", uploads=page.items, next_cursor=page.next_cursor)
