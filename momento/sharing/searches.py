"""Saved searches: a name and the fields a search takes, kept per user, and run like any search."""
from __future__ import annotations

from typing import Any, Optional

from ulid import ULID

from ..catalog.indexing import upload_terms
from ..errors import BadRequest, NotFound
from ..formats import is_ulid, now_iso, plain_label
from ..models import Page, SavedSearch, Upload
from ..search import Query, build_query, matches_words, search

NAME_MAX = 100
MAX_TAGS = 50  # per tag group of a saved search
QUERY_KEYS = ("tag", "any_tag", "not_tag", "kind", "from", "to", "q")
LIST_KEYS = ("tag", "any_tag", "not_tag")


def query_dict(query: Query) -> dict[str, Any]:
    """A Query in the API's words (the stored form of a saved search)."""
    return {"tag": list(query.all_tags), "any_tag": list(query.any_tags), "not_tag": list(query.not_tags),
            "kind": query.kind, "from": query.start, "to": query.end, "q": query.q}


def query_from_dict(fields: Any) -> Query:
    """A Query from the API's `query` object; BadRequest for unknown keys or wrong types."""
    if fields is None:
        fields = {}
    if not isinstance(fields, dict) or set(fields) - set(QUERY_KEYS):
        raise BadRequest(f"query is an object with some of: {', '.join(QUERY_KEYS)}.", code="invalid_query")
    for key in LIST_KEYS:
        value = fields.get(key) or []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and len(v) <= 200 for v in value) \
                or len(value) > MAX_TAGS:
            raise BadRequest(f"query.{key} is a list of at most {MAX_TAGS} tags (a saved search holds no more in each "
                             "group: all, any, none).", code="invalid_query")
    for key in ("kind", "from", "to", "q"):
        if fields.get(key) is not None and not isinstance(fields[key], str):
            raise BadRequest(f"query.{key} is a string.", code="invalid_query")
    listed = {k: [fields[k]] if isinstance(fields.get(k), str) else fields.get(k) or [] for k in LIST_KEYS}
    return build_query(tags=listed["tag"], any_tags=listed["any_tag"], not_tags=listed["not_tag"],
                       kind=fields.get("kind"), start=fields.get("from"), end=fields.get("to"), q=fields.get("q"))


def clean_name(name: Any) -> str:
    """A saved search's name, trimmed; BadRequest when missing or too long."""
    label = plain_label(name) if isinstance(name, str) else ""
    if not label or len(label) > NAME_MAX:
        raise BadRequest(f"Give the search a name of 1 to {NAME_MAX} characters.", code="invalid_name",
                         fields=[("name", "invalid")])
    return label


def save_search(catalog, user_id: str, name: Any, query: Query) -> SavedSearch:
    """Keep a search under a name; BadRequest when it narrows nothing (that is the whole library)."""
    if query.is_plain and not query.kind:
        raise BadRequest("This search has nothing to look for: add tags, words, a kind or dates.",
                         code="empty_search")
    kept = query_dict(query)
    query_from_dict(kept)  # what is kept must open again, whichever door it came through
    saved = SavedSearch(user_id=user_id, id=str(ULID()), name=clean_name(name), query=kept, created_at=now_iso())
    return catalog.put_saved_search(saved)


def owned_search(catalog, user_id: str, search_id: Any) -> SavedSearch:
    """The user's saved search with this id; 404 for anything else, whoever owns it."""
    saved = catalog.get_saved_search(user_id, search_id) if is_ulid(search_id) else None
    if saved is None:
        raise NotFound("No saved search with that id.", code="search_not_found")
    return saved


def rename_search(catalog, saved: SavedSearch, name: Any) -> SavedSearch:
    """The same search under a new name."""
    return catalog.put_saved_search(SavedSearch(**{**saved.__dict__, "name": clean_name(name)}))


def saved_query(saved: SavedSearch) -> Query:
    """The Query a saved search holds."""
    return query_from_dict(saved.query)


def run_query(catalog, user_id: str, query: Query, *, limit: int, cursor: Optional[str]) -> Page:
    """The plain newest-first listing, or a search through the index (live uploads only)."""
    if query.is_plain and not query.kind:
        return catalog.list_uploads(user_id, limit=limit, cursor=cursor)
    return search(catalog, user_id, query, limit=limit, cursor=cursor)


def matches(query: Query, upload: Upload) -> bool:
    """Whether a live upload matches the query now, checked on the upload itself (the rules of momento/search.py:
    tags in full, words by the start of a tag, of a tag's value or of a filename word)."""
    if upload.trashed or upload.purge_started_at:
        return False
    terms = upload_terms(upload)
    if query.kind and upload.kind != query.kind:
        return False
    if (query.start and upload.sort_date < query.start) or (query.end and upload.sort_date > query.end):
        return False
    if any(f"t:{t}" not in terms for t in query.all_tags):
        return False
    if query.any_tags and not any(f"t:{t}" in terms for t in query.any_tags):
        return False
    if any(f"t:{t}" in terms for t in query.not_tags):
        return False
    return matches_words(query.q, terms)


def search_json(saved: SavedSearch) -> dict[str, Any]:
    """A saved search as the API shows it."""
    return {"id": saved.id, "name": saved.name, "query": saved.query, "created_at": saved.created_at}
