"""Saved searches and share links in the DynamoDB catalog, in the `index` table, always read by key.

Saved searches: `<userId>#search` / `<search ULID>`. A share lives at `share#<token sha256>` / `share` (one
GetItem per visit, its view counter beside it), and the owner's list points to it from `<userId>#share` /
`<share ULID>`; both are written and deleted in one transaction.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Any, Optional

from botocore.exceptions import ClientError

from ..errors import Conflict, NotFound
from ..models import SavedSearch, Share
from .dynamo_items import s, to_doc, to_item

SHARE_SK = "share"


def _saved(item: dict[str, Any]) -> SavedSearch:
    doc = to_doc(item)
    return SavedSearch(user_id=doc["user_id"], id=doc["sk"], name=doc["name"], query=doc.get("query") or {},
                       created_at=doc["created_at"])


def _share(item: dict[str, Any]) -> Share:
    doc = {k: v for k, v in to_doc(item).items() if k not in ("pk", "sk")}
    doc["upload_ids"] = tuple(doc.get("upload_ids") or ())
    doc["allow_download"] = bool(doc.get("allow_download"))
    doc["views"] = int(doc.get("views") or 0)
    return Share(**doc)


class DynamoShares:
    """PutItem / GetItem / Query on the user's partitions; the share item is found by its token's hash."""

    @staticmethod
    def _search_key(user_id: str, search_id: str) -> dict[str, Any]:
        return {"pk": s(f"{user_id}#search"), "sk": s(search_id)}

    @staticmethod
    def _share_key(token_hash: str) -> dict[str, Any]:
        return {"pk": s(f"share#{token_hash}"), "sk": s(SHARE_SK)}

    @staticmethod
    def _owner_key(user_id: str, share_id: str) -> dict[str, Any]:
        return {"pk": s(f"{user_id}#share"), "sk": s(share_id)}

    # saved searches
    def put_saved_search(self, saved: SavedSearch) -> SavedSearch:
        """Store a new saved search, or replace the user's one with this id."""
        doc = {"user_id": saved.user_id, "name": saved.name, "created_at": saved.created_at,
               "query": dict(saved.query)}
        self._call("put_item", TableName=self.tables["index"],
                   Item=self._search_key(saved.user_id, saved.id) | to_item(doc))
        return saved

    def get_saved_search(self, user_id: str, search_id: str) -> Optional[SavedSearch]:
        """The user's saved search with this id, or None."""
        item = self._get("index", self._search_key(user_id, search_id))
        return _saved(item) if item else None

    def list_saved_searches(self, user_id: str) -> list[SavedSearch]:
        """The user's saved searches, newest first (one Query on their partition)."""
        items = self._query("index", KeyConditionExpression="pk = :p", ScanIndexForward=False, ConsistentRead=True,
                            ExpressionAttributeValues={":p": s(f"{user_id}#search")})
        return [_saved(item) for item in items]

    def delete_saved_search(self, user_id: str, search_id: str) -> None:
        """Forget a saved search; a missing one is fine."""
        self._call("delete_item", TableName=self.tables["index"], Key=self._search_key(user_id, search_id))

    # shares
    def put_share(self, share: Share) -> Share:
        """Store the share and the owner's pointer to it at once; Conflict when either exists."""
        doc = asdict(share) | {"upload_ids": list(share.upload_ids), "views": 0}
        new = "attribute_not_exists(pk)"
        codes = self._transact([
            {"Put": {"TableName": self.tables["index"], "ConditionExpression": new,
                     "Item": self._share_key(share.token_hash) | to_item(doc)}},
            {"Put": {"TableName": self.tables["index"], "ConditionExpression": new,
                     "Item": self._owner_key(share.user_id, share.id) | {"hash": s(share.token_hash)}}},
        ])
        if codes:
            raise Conflict("This share exists already.", code="share_exists")
        return share

    def share_by_hash(self, token_hash: str) -> Optional[Share]:
        """The share whose token has this sha256, or None (one GetItem)."""
        item = self._get("index", self._share_key(token_hash))
        return _share(item) if item else None

    def get_share(self, user_id: str, share_id: str) -> Optional[Share]:
        """The user's share with this id, or None (the pointer, then the share)."""
        pointer = self._get("index", self._owner_key(user_id, share_id))
        return self.share_by_hash(pointer["hash"]["S"]) if pointer else None

    def list_shares(self, user_id: str) -> list[Share]:
        """The user's shares, newest first: a Query on the pointers, then the shares a hundred at a time."""
        pointers = list(self._query("index", KeyConditionExpression="pk = :p", ScanIndexForward=False,
                                    ConsistentRead=True, ExpressionAttributeValues={":p": s(f"{user_id}#share")}))
        found = {sh.id: sh for sh in map(_share, self._batch_get("index", [
            self._share_key(p["hash"]["S"]) for p in pointers]))}
        return [found[p["sk"]["S"]] for p in pointers if p["sk"]["S"] in found]

    def delete_share(self, user_id: str, share_id: str) -> None:
        """Remove the share and its pointer at once (its link stops at once); NotFound when absent."""
        pointer = self._get("index", self._owner_key(user_id, share_id))
        if pointer is None:
            raise NotFound("No share with that id.")
        self._transact([
            {"Delete": {"TableName": self.tables["index"], "Key": self._share_key(pointer["hash"]["S"])}},
            {"Delete": {"TableName": self.tables["index"], "Key": self._owner_key(user_id, share_id)}},
        ])

    def count_share_view(self, token_hash: str) -> None:
        """Add one to a share's views (an atomic ADD; a share revoked meanwhile is not brought back)."""
        try:
            self._call("update_item", expect=("ConditionalCheckFailedException",), TableName=self.tables["index"],
                       Key=self._share_key(token_hash), UpdateExpression="ADD #v :one",
                       ConditionExpression="attribute_exists(pk)", ExpressionAttributeNames={"#v": "views"},
                       ExpressionAttributeValues={":one": {"N": "1"}})
        except ClientError:
            pass
