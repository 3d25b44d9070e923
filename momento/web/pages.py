"""The pages people use: gallery, upload, detail, trash, search."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import login_required
from ulid import ULID

from ..accounts import audit
from ..backends import catalog
from ..errors import BadRequest
from ..media.tags import parse_tag_field
from ..models import Upload
from ..formats import iso, now_iso
from ..search import COUNT_CAP, Query, by_date, count, explain, tag_counts
from ..sharing.searches import owned_search, query_dict
from .browse import ADDED, TAKEN, Context, month_index, neighbours
from .library import (find_uploads, owned_upload, owner, query_from_args, request_query, restore_owned, trash_owned,
                      user_quota)

bp = Blueprint("pages", __name__)

PAGE = 60  # tiles per page of the gallery, search and trash (GALLERY_PAGE_SIZE in the config overrides it)
PURGE_AFTER_DAYS = 30  # `flask momento purge --older-than`'s default; PURGE_AFTER_DAYS in the config says otherwise


def page_size() -> int:
    """How many tiles a page of the grid shows."""
    return int(current_app.config.get("GALLERY_PAGE_SIZE") or PAGE)


def known_tags(*, editable: bool = False, counts: Optional[dict[str, int]] = None) -> list[str]:
    """The user's tags, most used first, for autocomplete; `editable` leaves out automatic ones (year:2024…)."""
    counts = tag_counts(catalog(), owner().id) if counts is None else counts
    return sorted((t for t in counts if not (editable and ":" in t)), key=lambda t: (-counts[t], t))


@bp.get("/")
@login_required
def gallery():
    """Thumbnails, newest taken first (or newest added first), a page at a time, months packed together, with an
    index of years and months to jump to."""
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
    counts = tag_counts(catalog(), owner().id)
    usage = catalog().usage(owner().id)
    context = Context.from_args(request.args)
    return render_template("gallery.html", uploads=page.items, next_cursor=page.next_cursor, usage=usage,
                           quota=user_quota(owner()), order=order, added_at=added_at,
                           nav=gallery_nav(order, query.kind), kind=request.args.get("kind") or "",
                           link_args={k: v for k, v in gallery_nav(order, query.kind).items() if v} | context.args,
                           jumped=bool(cursor),
                           years=month_index(counts) if order == TAKEN and query.is_plain else [],
                           known_tags=known_tags(editable=True, counts=counts),
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
    """Tag chips, AND/OR/NOT, kind, dates and words, or a saved search; the query lives in the URL. Says how many
    it found, and when it found nothing, which part found nothing and what the search finds without each part."""
    query = request_query(request.args)
    saved = owned_search(catalog(), owner().id, request.args["search"]) if request.args.get("search") else None
    cursor = request.args.get("cursor")
    page = find_uploads(owner().id, query, limit=page_size(), cursor=cursor) \
        if not query.is_plain or query.kind else None
    more_args = request.args.to_dict(flat=False) | {"cursor": page.next_cursor} if page and page.next_cursor else None
    total = hints = None
    if page is not None and not cursor:
        total = count(catalog(), owner().id, query) if page.items else 0
        hints = [] if page.items else [(h, query_args(h.without)) for h in explain(catalog(), owner().id, query)]
    return render_template("search.html", query=query, uploads=page.items if page else (), more_args=more_args,
                           searched=page is not None, known_tags=known_tags(), chips=search_chips(query),
                           saved=saved, query_fields=query_dict(query), total=total, cap=COUNT_CAP, hints=hints,
                           link_args=Context("search", Context.from_args(request.args).args).link_args)


def query_args(query: Query) -> dict[str, list[str]]:
    """The query-string arguments of a search (the search page's link to it): the saved search's fields, as lists,
    dates by the day."""
    fields = query_dict(query)
    for name in ("from", "to"):
        fields[name] = (fields[name] or "")[:10]
    return {name: value if isinstance(value, list) else [value] for name, value in fields.items() if value}


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
    """One photo or video, its metadata and its tags, with its neighbours in the list it was opened from (the
    gallery in its order, a search, a saved search, the trash) and the way back there."""
    upload = owned_upload(upload_id)
    context = Context.from_args(request.args, upload)
    newer, older = neighbours(upload, context)
    return render_template("detail.html", upload=upload, newer=newer, older=older, context=context,
                           known_tags=known_tags(editable=True))


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
    return redirect(url_for("pages.detail", upload_id=upload.id, **Context.from_args(request.args).link_args))


@bp.post("/uploads/<upload_id>/delete")
@login_required
def trash(upload_id: str):
    """Move to the trash from the detail page."""
    upload = owned_upload(upload_id)
    trash_owned(upload)
    flash(f"{upload.filename} moved to the trash.")
    return redirect(Context.from_args(request.args).back_url())


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
    """What the user deleted: names, when, and how long until purge deletes each for good; restore or empty."""
    page = catalog().list_uploads(owner().id, trashed=True, limit=page_size(), cursor=request.args.get("cursor"))
    return render_template("trash.html", uploads=page.items, next_cursor=page.next_cursor, purge_days=purge_days(),
                           days_left=days_left)


def purge_days() -> int:
    """After how many days in the trash the operator's purge deletes an upload."""
    return int(current_app.config.get("PURGE_AFTER_DAYS") or PURGE_AFTER_DAYS)


def days_left(upload: Upload) -> Optional[int]:
    """Whole days before the purge may delete this upload (0: at its next run)."""
    if not upload.trashed_at:
        return None
    trashed = datetime.strptime(upload.trashed_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    return max(0, purge_days() - (datetime.now(timezone.utc) - trashed).days)


@bp.post("/trash/empty")
@login_required
def empty_trash():
    """Mark everything in the trash for the next purge run (the web server itself never deletes objects)."""
    marked, cursor = 0, None
    while True:
        page = catalog().list_uploads(owner().id, trashed=True, limit=200, cursor=cursor)
        for upload in page.items:
            if not upload.emptied and not upload.purge_started_at:
                catalog().set_trashed(upload.user_id, upload.id, upload.trashed_at, emptied_at=now_iso())
                marked += 1
        if not (cursor := page.next_cursor):
            break
    if marked:
        audit.record_request(catalog(), owner(), "trash_emptied", count=marked)
    flash(f"{marked} item{'s' if marked != 1 else ''} marked for deletion: the next purge run deletes "
          f"{'them' if marked != 1 else 'it'} for good. Until then you can still restore.")
    return redirect(url_for("pages.trash_page"))
