"""Helpers the blueprints share: the signed-in owner, owned uploads, searches from a request, the form upload."""
from __future__ import annotations

from typing import Optional

from flask import current_app, request
from flask_login import current_user
from flask_wtf import FlaskForm
from ulid import ULID

from ..accounts import audit
from ..formats import now_iso
from ..backends import backends, catalog
from ..errors import BadRequest, NotFound
from ..formats import is_ulid
from .limits import upload_limiter
from ..media.tags import parse_tag_field
from ..models import Page, Upload, User
from ..search import Query, build_query
from ..accounts.quota import effective_quota
from ..sharing.searches import owned_search, run_query, saved_query
from ..uploads.admission import Budgets, admit
from ..uploads.commit import IngestResult, Limits, restore_from_trash
from ..uploads.incoming import IncomingUpload
from .receive import receive

# The multipart framing around the file (boundaries, part headers, the tags field) is not the user's bytes.
MULTIPART_SLACK = 16 * 1024


class PageForm(FlaskForm):
    """A page's form, read from the form body only: a JSON body (a list, say) is not a page's form."""

    def __init__(self, *args, **kwargs):
        if not args and "formdata" not in kwargs:
            kwargs["formdata"] = request.form if request.method in ("POST", "PUT", "PATCH", "DELETE") else None
        super().__init__(*args, **kwargs)


def owner() -> User:
    """The signed-in account (routes that call this are login_required)."""
    return current_user.user


def owned_upload(upload_id: str) -> Upload:
    """The signed-in user's upload with this id; 404 for anything else, whoever owns it."""
    upload = catalog().get_upload(owner().id, upload_id) if is_ulid(upload_id) else None
    if upload is None:
        raise NotFound("No upload with that id.")
    return upload


def user_quota(user: User) -> Optional[int]:
    """The account's limit in bytes under the current app's default (MOMENTO_DEFAULT_QUOTA), or None for no limit."""
    return effective_quota(user, current_app.config["DEFAULT_QUOTA_BYTES"])


def upload_budgets() -> Budgets:
    """The app's quota default, upload rate and daily allowance, for admission."""
    return Budgets.from_config(current_app.config, upload_limiter())


def receive_upload() -> IngestResult:
    """The form front door (the API and the upload page): admit, stream the `file` part in, commit.

    Before a byte is read, the declared size is reserved against the quota and the daily allowance; a body
    that grows past it (or declared none) claims more as its bytes arrive.
    """
    b, config, user = backends(), current_app.config, owner()
    limits = Limits.from_config(config)
    declared = max(0, (request.content_length or 0) - MULTIPART_SLACK)
    admission = admit(b.catalog, user, upload_budgets(), declared=declared, reservation_id=str(ULID()))

    def start(filename: str | None) -> IncomingUpload:
        return IncomingUpload(b.storage, b.catalog, user, filename=filename, limits=limits, on_size=admission.need)

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
        admission.settle(kept)
    if not result.duplicate:
        audit.record_request(b.catalog, user, "upload", upload_id=result.upload.id, filename=result.upload.filename)
    return result


def page_limit() -> int:
    """The `limit` argument: 1 to 200, the app's page size when absent; 400 otherwise."""
    raw = request.args.get("limit", str(current_app.config["PAGE_SIZE"]))
    try:
        limit = int(raw)
    except ValueError:
        raise BadRequest("limit must be a whole number from 1 to 200.", code="invalid_limit") from None
    if not 1 <= limit <= 200:
        raise BadRequest("limit must be a whole number from 1 to 200.", code="invalid_limit")
    return limit


FILTERS = ("tag", "any_tag", "not_tag", "q", "kind", "from", "to")  # what a search request may narrow by


def query_from_args(args) -> Query:
    """A search from query-string arguments (the API and the search page share it)."""
    def listed(name: str) -> list[str]:
        # Repeated parameters, or one comma-separated field from the search form.
        return [part for value in args.getlist(name) for part in value.split(",") if part.strip()]

    return build_query(tags=listed("tag"), any_tags=listed("any_tag"), not_tags=listed("not_tag"),
                       kind=args.get("kind"), start=args.get("from"), end=args.get("to"), q=args.get("q"))


def request_query(args) -> Query:
    """The search a request asks for: the signed-in user's saved search `search=<id>`, else the arguments."""
    if args.get("search"):
        mixed = [name for name in FILTERS if args.get(name)]
        if mixed:
            raise BadRequest(f"A saved search runs as it was saved: send search alone (with cursor and limit), "
                             f"or the filters ({', '.join(mixed)}) alone.", code="invalid_query")
        return saved_query(owned_search(catalog(), owner().id, args.get("search")))
    return query_from_args(args)


def find_uploads(user_id: str, query: Query, *, limit: int, cursor: str | None) -> Page:
    """The plain newest-first listing, or a search through the index."""
    return run_query(catalog(), user_id, query, limit=limit, cursor=cursor)


def trash_owned(upload: Upload) -> None:
    """Move the signed-in user's upload to the trash, with its audit entry; one already there stays as it is."""
    if not upload.trashed:
        catalog().set_trashed(upload.user_id, upload.id, now_iso())
        audit.record_request(catalog(), owner(), "trash", upload_id=upload.id, filename=upload.filename)


def restore_owned(upload: Upload) -> Upload:
    """Bring the signed-in user's upload back from the trash, with its audit entry; a live one is left as it is."""
    if not upload.trashed:
        return upload
    restored = restore_from_trash(catalog(), upload)
    audit.record_request(catalog(), owner(), "restore", upload_id=upload.id, filename=upload.filename)
    return restored
