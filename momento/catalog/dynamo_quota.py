"""Quota reservations on DynamoDB: bytes held for uploads in progress, granted by one conditional transaction.

Items in the `index` table: `<userId>#resv` / `-` holds the user's reserved total `n`; `<userId>#resv` /
`<reservationId>` holds one upload's `n` bytes and its expiry `exp`. A reservation is a transaction that
checks the usage counters and the total are still what was read (compare-and-set) and writes both, so
parallel requests on any number of servers can never together pass a quota. Expired reservations (an
upload whose server died) are dropped by the next reservation of the same user, read by key.
"""
from __future__ import annotations

import random
import time
from typing import Any, Optional

from ..errors import BackendError
from ..models import QuotaHold
from .dynamo_items import s
from .indexing import BYTES, TRASH_BYTES

TOTAL = "-"  # sorts before every ULID, so the total comes first in the partition
ATTEMPTS = 12
SWEEP = 20  # expired reservations dropped per transaction (a transaction holds at most 100 items)


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _equals(name: str, placeholder: str, value: int) -> str:
    """A condition that the attribute still holds value (missing counts as 0)."""
    return f"(attribute_not_exists({name}) OR {name} = {placeholder})" if value == 0 else f"{name} = {placeholder}"


class DynamoQuota:
    """reserve_bytes / release_bytes for DynamoCatalog."""

    def _resv_key(self, user_id: str, sk: str) -> dict[str, Any]:
        return {"pk": s(f"{user_id}#resv"), "sk": s(sk)}

    def reserve_bytes(self, user_id: str, reservation_id: str, n: int, *, quota: Optional[int], expires_at: str,
                      now: str) -> QuotaHold:
        """Hold n more bytes under reservation_id if usage, trash and every live reservation still fit the quota."""
        table = self.tables["index"]
        for attempt in range(ATTEMPTS):
            counts = self._get("index", self._counts_key(user_id), ProjectionExpression="#b, #t",
                               ExpressionAttributeNames={"#b": BYTES, "#t": TRASH_BYTES}) or {}
            used, trash = (int(counts[a]["N"]) if a in counts else 0 for a in (BYTES, TRASH_BYTES))
            items = list(self._query("index", KeyConditionExpression="pk = :p", ConsistentRead=True,
                                     ExpressionAttributeValues={":p": s(f"{user_id}#resv")}))
            total = next((int(i["n"]["N"]) for i in items if i["sk"]["S"] == TOTAL), 0)
            expired = [i for i in items if i["sk"]["S"] not in (TOTAL, reservation_id) and "exp" in i
                       and i["exp"]["S"] <= now]
            expired = expired[:SWEEP]
            live = total - sum(int(i["n"]["N"]) for i in expired)
            hold = QuotaHold(False, used, trash, live)
            if quota is not None and hold.taken + n > quota and not expired:
                return hold
            granted = quota is None or hold.taken + n <= quota
            writes = [
                {"ConditionCheck": {"TableName": table, "Key": self._counts_key(user_id),
                                    "ConditionExpression": f"{_equals('#b', ':b', used)} AND {_equals('#t', ':t', trash)}",
                                    "ExpressionAttributeNames": {"#b": BYTES, "#t": TRASH_BYTES},
                                    "ExpressionAttributeValues": {":b": _n(used), ":t": _n(trash)}}},
                {"Update": {"TableName": table, "Key": self._resv_key(user_id, TOTAL),
                            "UpdateExpression": "SET n = :new", "ConditionExpression": _equals("n", ":old", total),
                            "ExpressionAttributeValues": {":new": _n(live + (n if granted else 0)), ":old": _n(total)}}},
                *({"Delete": {"TableName": table, "Key": self._resv_key(user_id, i["sk"]["S"]),
                              "ConditionExpression": "attribute_exists(pk)"}} for i in expired),
            ]
            if granted:
                writes.append({"Update": {"TableName": table, "Key": self._resv_key(user_id, reservation_id),
                                          "UpdateExpression": "SET #e = :e ADD n :n", "ExpressionAttributeNames": {"#e": "exp"},
                                          "ExpressionAttributeValues": {":n": _n(n), ":e": s(expires_at)}}})
            if self._transact(writes) is None:
                return QuotaHold(granted, used, trash, live + (n if granted else 0))
            time.sleep(random.uniform(0, 0.01 * (attempt + 1)))  # another request moved first: read again
        raise BackendError("The storage quota is busy with other uploads; try again.")

    def release_bytes(self, user_id: str, reservation_id: str) -> None:
        """Give the reservation's bytes back; releasing one that is gone is fine."""
        table = self.tables["index"]
        for attempt in range(ATTEMPTS):
            item = self._get("index", self._resv_key(user_id, reservation_id))
            if item is None:
                return
            held = int(item["n"]["N"])
            codes = self._transact([
                {"Delete": {"TableName": table, "Key": self._resv_key(user_id, reservation_id),
                            "ConditionExpression": "n = :n", "ExpressionAttributeValues": {":n": _n(held)}}},
                {"Update": {"TableName": table, "Key": self._resv_key(user_id, TOTAL), "UpdateExpression": "ADD n :d",
                            "ExpressionAttributeValues": {":d": _n(-held)}}},
            ])
            if codes is None:
                return
            time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
        raise BackendError("The storage quota is busy with other uploads; try again.")
