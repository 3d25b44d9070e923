"""The DynamoDB catalog's search index, kept in the `index` table by the same transactions as the uploads.

Items: `<userId>#t:<tag>` or `<userId>#f:<word>` / `<uploadId>` for each term of a live upload (with its
date `d` and kind `k`), `<userId>#date` / `<date>#<uploadId>` for the date range, one counters item
`<userId>#counts` / `-` whose numeric attributes count each tag term and the usage bytes (bounded by the
tag vocabulary), and one item per filename word `<userId>#words` / `f:<word>` with its count `n` (filename
words are nearly unique per upload, so they must not grow the single counters item).
"""
from __future__ import annotations

import time
from typing import Any, Iterable, Optional

from ..errors import BackendError
from ..models import IndexEntry, Upload
from .cursor import decode_date_cursor, encode_date_cursor
from .indexing import index_delta, upload_terms, usage_from_counts
from .dynamo_items import s, to_doc, to_upload

TRANSACTION_LIMIT = 100


class DynamoIndex:
    """Index writes for transactions, and the key reads the search needs."""

    @staticmethod
    def _term_key(user_id: str, term: str, upload_id: str) -> dict[str, Any]:
        return {"pk": s(f"{user_id}#{term}"), "sk": s(upload_id)}

    @staticmethod
    def _date_key(user_id: str, date: str, upload_id: str) -> dict[str, Any]:
        return {"pk": s(f"{user_id}#date"), "sk": s(f"{date}#{upload_id}")}

    @staticmethod
    def _counts_key(user_id: str) -> dict[str, Any]:
        return {"pk": s(f"{user_id}#counts"), "sk": s("-")}

    @staticmethod
    def _word_key(user_id: str, word_term: str) -> dict[str, Any]:
        return {"pk": s(f"{user_id}#words"), "sk": s(word_term)}

    def _index_writes(self, old: Optional[Upload], new: Optional[Upload]) -> list[dict[str, Any]]:
        """TransactWriteItems entries that move the index and counters from `old` to `new`."""
        delta = index_delta(old, new)
        ref = new or old
        table = self.tables["index"]
        writes: list[dict[str, Any]] = [
            {"Delete": {"TableName": table, "Key": self._term_key(ref.user_id, t, ref.id)}} for t in sorted(delta.remove)
        ]
        writes += [{"Put": {"TableName": table, "Item": self._term_key(ref.user_id, t, ref.id) | {
            "d": s(new.sort_date), "k": s(new.kind)}}} for t in sorted(delta.add)]
        if delta.date_remove:
            writes.append({"Delete": {"TableName": table, "Key": self._date_key(ref.user_id, delta.date_remove, ref.id)}})
        if delta.date_add:
            writes.append({"Put": {"TableName": table, "Item": self._date_key(ref.user_id, delta.date_add, ref.id) | {
                "k": s(new.kind)}}})
        shared = {k: v for k, v in delta.counts.items() if not k.startswith("f:")}
        if shared:
            names = {f"#c{i}": name for i, name in enumerate(shared)}
            values = {f":n{i}": {"N": str(n)} for i, n in enumerate(shared.values())}
            writes.append({"Update": {"TableName": table, "Key": self._counts_key(ref.user_id),
                                      "UpdateExpression": "ADD " + ", ".join(f"#c{i} :n{i}" for i in range(len(names))),
                                      "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}})
        for word, n in sorted(delta.counts.items()):
            if word.startswith("f:"):
                writes.append({"Update": {"TableName": table, "Key": self._word_key(ref.user_id, word),
                                          "UpdateExpression": "ADD n :n",
                                          "ExpressionAttributeValues": {":n": {"N": str(n)}}}})
        return writes

    # reads by key, for momento.search
    def _shared_counts(self, user_id: str, projection: Optional[str] = None) -> dict[str, int]:
        extra = {}
        if projection:
            names = projection.split(",")
            extra = {"ProjectionExpression": ", ".join(f"#p{i}" for i in range(len(names))),
                     "ExpressionAttributeNames": {f"#p{i}": n for i, n in enumerate(names)}}
        item = self._get("index", self._counts_key(user_id), **extra)
        return {k: int(v) for k, v in to_doc(item or {}).items() if k not in ("pk", "sk") and int(v) > 0}

    def tag_counts(self, user_id: str) -> dict[str, int]:
        """Every tag term of the user's live uploads, with counts (one GetItem)."""
        return {k: v for k, v in self._shared_counts(user_id).items() if k.startswith("t:")}

    def word_counts(self, user_id: str, prefix: str) -> dict[str, int]:
        """Filename-word terms starting with the prefix (a Query with begins_with on the words partition)."""
        items = self._query("index", KeyConditionExpression="pk = :p AND begins_with(sk, :w)", ConsistentRead=True,
                            ExpressionAttributeValues={":p": s(f"{user_id}#words"), ":w": s(f"f:{prefix}")})
        return {i["sk"]["S"]: int(i["n"]["N"]) for i in items if int(i["n"]["N"]) > 0}

    def term_counts(self, user_id: str) -> dict[str, int]:
        """Every counter of the user (terms and usage), for admin checks."""
        return self._shared_counts(user_id) | self.word_counts(user_id, "")

    def usage(self, user_id: str) -> dict[str, int]:
        """Counts and bytes of a user's uploads, from the counters (one GetItem of five attributes)."""
        return usage_from_counts(self._shared_counts(
            user_id, "@bytes,@trash_bytes,@trash_count,t:kind:photo,t:kind:video"))

    def term_entries(self, user_id: str, term: str, before: Optional[str], limit: int, *,
                     oldest_first: bool = False) -> list[IndexEntry]:
        """Entries of one term, newest first below `before` (or oldest first above it): one Query."""
        sign, edge = (">", " ") if oldest_first else ("<", "~")
        answer = self._call("query", TableName=self.tables["index"], Limit=limit, ScanIndexForward=oldest_first,
                            KeyConditionExpression=f"pk = :p AND sk {sign} :b", ConsistentRead=True,
                            ExpressionAttributeValues={":p": s(f"{user_id}#{term}"), ":b": s(before or edge)})
        return [IndexEntry(i["sk"]["S"], i["d"]["S"], i["k"]["S"]) for i in answer.get("Items", ())]

    def term_members(self, user_id: str, term: str, upload_ids: list[str]) -> set[str]:
        """Which of these uploads carry the term (BatchGetItem, a hundred keys a call)."""
        keys = [self._term_key(user_id, term, i) for i in upload_ids]
        return {item["sk"]["S"] for item in self._batch_get("index", keys, projection="sk")}

    def date_entries(self, user_id: str, start: str, end: str) -> list[IndexEntry]:
        """Live uploads dated within [start, end] (a Query on the date partition)."""
        items = self._query("index", KeyConditionExpression="pk = :p AND sk BETWEEN :a AND :b", ConsistentRead=True,
                            ExpressionAttributeValues={":p": s(f"{user_id}#date"), ":a": s(start), ":b": s(end + "~")})
        return [self._date_entry(item) for item in items]

    def dated_page(self, user_id: str, *, cursor: Optional[str] = None, limit: int = 50, kind: Optional[str] = None,
                   oldest_first: bool = False) -> tuple[list[IndexEntry], Optional[str]]:
        """Live uploads by date, newest first (ties: higher id first), past the cursor, and the next page's
        cursor (None at the end); `oldest_first` reads the other way. Queries on the date partition."""
        place = decode_date_cursor(cursor)
        values = {":p": s(f"{user_id}#date")}
        condition = "pk = :p"
        if place:
            condition += " AND sk > :c" if oldest_first else " AND sk < :c"
            values[":c"] = s(f"{place[0]}#{place[1]}")
        args: dict[str, Any] = {"TableName": self.tables["index"], "KeyConditionExpression": condition,
                                "ExpressionAttributeValues": values, "ScanIndexForward": oldest_first,
                                "ConsistentRead": True}
        if kind:
            args |= {"FilterExpression": "#k = :k", "ExpressionAttributeNames": {"#k": "k"}}
            values[":k"] = s(kind)
        items, more = self._query_page(limit, **args)
        entries = [self._date_entry(item) for item in items]
        return entries, encode_date_cursor(entries[-1].date, entries[-1].upload_id) if more and entries else None

    @staticmethod
    def _date_entry(item: dict[str, Any]) -> IndexEntry:
        """An item of the date partition as an entry (its sort key is `<date>#<uploadId>`)."""
        date, _, upload_id = item["sk"]["S"].rpartition("#")
        return IndexEntry(upload_id, date, item["k"]["S"])

    def get_uploads(self, user_id: str, upload_ids: list[str]) -> list[Upload]:
        """These uploads, in any order (BatchGetItem)."""
        keys = [{"userId": s(user_id), "uploadId": s(i)} for i in upload_ids]
        return [to_upload(item) for item in self._batch_get("uploads", keys)]

    def _batch_get(self, table: str, keys: list[dict[str, Any]], projection: Optional[str] = None) -> list[dict]:
        """BatchGetItem in calls of a hundred keys, retrying unprocessed keys with a short backoff."""
        found: list[dict] = []
        name = self.tables[table]
        for start in range(0, len(keys), 100):
            request: dict[str, Any] = {"Keys": keys[start:start + 100], "ConsistentRead": True}
            if projection:
                request |= {"ProjectionExpression": "#p", "ExpressionAttributeNames": {"#p": projection}}
            pending = {name: request}
            for attempt in range(8):
                answer = self._call("batch_get_item", RequestItems=pending)
                found.extend(answer.get("Responses", {}).get(name, ()))
                pending = answer.get("UnprocessedKeys") or {}
                if not pending:
                    break
                time.sleep(0.05 * 2 ** attempt)
            else:
                raise BackendError("The catalog is busy; try again.", backend="dynamodb", operation="index_update")
        return found

    # admin: rebuild from the records
    def rebuild_index(self, user_id: str) -> int:
        """Rewrite a user's index items and counters from the upload records (migrations, repair)."""
        uploads = list(self.iter_all_uploads(user_id))
        wanted: dict[tuple[str, str], dict] = {}
        counts: dict[str, int] = {}
        for upload in uploads:
            for name, n in index_delta(None, upload).counts.items():
                counts[name] = counts.get(name, 0) + n
            for change in self._index_writes(None, upload):
                if "Put" in change:
                    item = change["Put"]["Item"]
                    wanted[(item["pk"]["S"], item["sk"]["S"])] = item
        for name, n in counts.items():
            if name.startswith("f:"):
                item = self._word_key(user_id, name) | {"n": {"N": str(n)}}
                wanted[(item["pk"]["S"], item["sk"]["S"])] = item
        known = set(self.term_counts(user_id)) | set(self._shared_counts(user_id))
        stale = []
        partitions = {t for t in known if t.startswith(("t:", "f:"))} | {t for u in uploads for t in upload_terms(u)}
        for part in {"date", "words"} | partitions:
            for item in self._query("index", KeyConditionExpression="pk = :p", ConsistentRead=True,
                                    ProjectionExpression="pk, sk",
                                    ExpressionAttributeValues={":p": s(f"{user_id}#{part}")}):
                if (item["pk"]["S"], item["sk"]["S"]) not in wanted:
                    stale.append({"DeleteRequest": {"Key": item}})
        shared = {k: {"N": str(v)} for k, v in counts.items() if not k.startswith("f:")}
        puts = [{"PutRequest": {"Item": item}} for item in wanted.values()]
        self._batch_write("index", stale + puts + [{"PutRequest": {"Item": self._counts_key(user_id) | shared}}])
        return len(uploads)

    def _batch_write(self, table: str, requests: Iterable[dict[str, Any]]) -> None:
        """BatchWriteItem in calls of 25, retrying unprocessed items."""
        name, requests = self.tables[table], list(requests)
        for start in range(0, len(requests), 25):
            pending = {name: requests[start:start + 25]}
            for attempt in range(8):
                answer = self._call("batch_write_item", RequestItems=pending)
                pending = answer.get("UnprocessedItems") or {}
                if not pending:
                    break
                time.sleep(0.05 * 2 ** attempt)
            else:
                raise BackendError("The catalog is busy; try again.", backend="dynamodb", operation="index_update")
