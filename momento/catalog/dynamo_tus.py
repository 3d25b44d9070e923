"""Resumable upload records in the DynamoDB catalog, in the `index` table, read by key and by Query only.

Items: `tus#<id>` / `tus` holds the record; `tus-expiry` / `<expires_at>#<id>` lists the uploads by expiry,
so that clean-up is one Query on one partition.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Optional

from botocore.exceptions import ClientError

from ..errors import Conflict
from ..models import TusUpload
from .dynamo_items import s, to_doc, to_item

FAILED = "ConditionalCheckFailedException"
EXPIRY_PARTITION = "tus-expiry"


class DynamoTus:
    """put/get/update/delete of tus records; an update is a put conditioned on the stored `rev`."""

    @staticmethod
    def _tus_key(tus_id: str) -> dict[str, Any]:
        return {"pk": s(f"tus#{tus_id}"), "sk": s("tus")}

    @staticmethod
    def _tus_expiry_key(tus: TusUpload) -> dict[str, Any]:
        return {"pk": s(EXPIRY_PARTITION), "sk": s(f"{tus.expires_at}#{tus.id}")}

    def put_tus(self, tus: TusUpload) -> TusUpload:
        """Record a new upload and its expiry entry at once; Conflict when its id is taken."""
        codes = self._transact([
            {"Put": {"TableName": self.tables["index"], "Item": self._tus_key(tus.id) | to_item(tus.to_dict()),
                     "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Put": {"TableName": self.tables["index"],
                     "Item": self._tus_expiry_key(tus) | {"tusId": s(tus.id), "userId": s(tus.user_id)}}},
        ])
        if codes:
            raise Conflict("A resumable upload with this id exists.", code="tus_exists")
        return tus

    def get_tus(self, user_id: str, tus_id: str) -> Optional[TusUpload]:
        """The user's upload with this id, or None (also for another user's)."""
        item = self._get("index", self._tus_key(tus_id))
        tus = _from_item(item) if item else None
        return tus if tus is not None and tus.user_id == user_id else None

    def update_tus(self, tus: TusUpload) -> Optional[TusUpload]:
        """Store a changed record unless its rev moved on since it was read; the stored one, or None when lost."""
        stored = replace(tus, rev=tus.rev + 1)
        try:
            self._call("put_item", expect=(FAILED,), TableName=self.tables["index"],
                       Item=self._tus_key(tus.id) | to_item(stored.to_dict()), ConditionExpression="#rev = :rev",
                       ExpressionAttributeNames={"#rev": "rev"}, ExpressionAttributeValues={":rev": {"N": str(tus.rev)}})
        except ClientError:
            return None
        return stored

    def delete_tus(self, tus: TusUpload) -> None:
        """Forget the upload and its expiry entry; missing ones are fine."""
        self._transact([
            {"Delete": {"TableName": self.tables["index"], "Key": self._tus_key(tus.id)}},
            {"Delete": {"TableName": self.tables["index"], "Key": self._tus_expiry_key(tus)}},
        ])

    def expired_tus(self, now: str, limit: int = 100) -> list[TusUpload]:
        """Uploads whose expiry is at or before now, oldest expiry first: a Query on the expiry partition."""
        entries = self._query("index", KeyConditionExpression="pk = :p AND sk < :after", ConsistentRead=True,
                              ExpressionAttributeValues={":p": s(EXPIRY_PARTITION), ":after": s(f"{now}#~")},
                              Limit=limit)
        found: list[TusUpload] = []
        for entry in entries:
            item = self._get("index", self._tus_key(entry["tusId"]["S"]))
            if item is None:  # the record went without its entry (a failed delete): drop the entry
                self._call("delete_item", TableName=self.tables["index"], Key={"pk": entry["pk"], "sk": entry["sk"]})
                continue
            found.append(_from_item(item))
            if len(found) >= limit:
                break
        return found


def _from_item(item: dict[str, Any]) -> TusUpload:
    """A record back from its item."""
    return TusUpload.from_dict({k: v for k, v in to_doc(item).items() if k not in ("pk", "sk")})
