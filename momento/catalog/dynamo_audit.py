"""The audit trail in the DynamoDB catalog: items `<userId>#audit` / `<event ULID>` in the `index` table."""
from __future__ import annotations

from dataclasses import asdict
from typing import Optional

from ..models import AuditEvent, Page
from .cursor import decode_cursor, encode_cursor
from .dynamo_items import s, to_doc, to_item


class DynamoAudit:
    """One PutItem per event; a page is one Query on the user's audit partition, newest first."""

    @staticmethod
    def _audit_pk(user_id: str) -> dict:
        return {"pk": s(f"{user_id}#audit")}

    def add_audit_event(self, event: AuditEvent) -> None:
        """Store one event."""
        doc = {k: v for k, v in asdict(event).items() if v is not None and v != {}}
        self._call("put_item", TableName=self.tables["index"],
                   Item=self._audit_pk(event.user_id) | {"sk": s(event.id)} | to_item(doc))

    def list_audit_events(self, user_id: str, limit: int = 50, cursor: Optional[str] = None) -> Page:
        """The user's events, newest first, a page at a time."""
        answer = self._call("query", TableName=self.tables["index"], Limit=limit + 1, ScanIndexForward=False,
                            KeyConditionExpression="pk = :p AND sk < :b", ConsistentRead=True,
                            ExpressionAttributeValues={":p": s(f"{user_id}#audit"),
                                                       ":b": s(decode_cursor(cursor) or "~")})
        items = [_event(item) for item in answer.get("Items", ())]
        more, items = len(items) > limit, items[:limit]
        return Page(tuple(items), encode_cursor(items[-1].id) if more and items else None)


def _event(item: dict) -> AuditEvent:
    doc = {k: v for k, v in to_doc(item).items() if k not in ("pk", "sk")}
    doc.setdefault("details", {})
    return AuditEvent(**doc)
