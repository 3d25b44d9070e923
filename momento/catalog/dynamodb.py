"""The DynamoDB catalog: users, tokens and uploads in four tables, always read by key, never in bulk."""
from __future__ import annotations

import random
import time
from typing import Any, Iterator, Optional

from botocore.exceptions import BotoCoreError, ClientError

from ..aws import CLIENT_ERRORS, LazyClient
from ..errors import BackendError, Conflict, DuplicateUpload, EmailTaken, NotFound
from ..models import TWO_FACTOR_FIELDS, Job, Page, PostureCheck, Upload, User
from .cursor import decode_cursor, encode_cursor
from .dynamo_audit import DynamoAudit
from .dynamo_index import TRANSACTION_LIMIT, DynamoIndex
from .dynamo_jobs import DynamoJobs
from .dynamo_quota import DynamoQuota
from .dynamo_shares import DynamoShares
from .dynamo_sessions import DynamoSessions
from .dynamo_status import DynamoQueueStatus
from .dynamo_tus import DynamoTus
from .dynamo_items import error_code, s, to_doc, to_item, to_upload, to_user, updates
from .records import upload_to_dict, user_to_dict

FAILED = "ConditionalCheckFailedException"
CANCELLED = "TransactionCanceledException"
CONFLICT_TRIES = 8  # a write that met another: pauses of up to 20 ms, 40 ms, ... 1 s, about 2.5 s at most in all


def pause(attempt: int) -> float:
    """Seconds to wait before try `attempt` + 2 of a write that met another: random, doubling, at most 1 s."""
    return random.uniform(0, min(1.0, 0.02 * 2 ** attempt))


# table -> key attributes, hash first; every key attribute is a string
TABLES = {
    "users": ("pk",),
    "uploads": ("userId", "uploadId"),
    "index": ("pk", "sk"),
    "meta": ("pk",),
}
TTL_TABLES = ("users", "index")  # their items may carry `expires` (epoch seconds)
USERS_PARTITION = "users"  # index partition listing every account by email, for iter_users
MIGRATIONS = "migrations"  # meta item whose `applied` map holds migration id -> applied_at

class DynamoCatalog(DynamoIndex, DynamoJobs, DynamoAudit, DynamoTus, DynamoQuota, DynamoQueueStatus, DynamoShares,
                     DynamoSessions):
    """Users, tokens and uploads in DynamoDB; one lazily created client per instance."""

    def __init__(self, prefix: str = "momento-", *, session: Any = None):
        self.prefix = prefix
        self.tables = {name: f"{prefix}{name}" for name in TABLES}
        self._clients = LazyClient("dynamodb", session)

    @classmethod
    def from_app(cls, app, session: Any = None) -> "DynamoCatalog":
        """A catalog on the app's tables (through session's credentials when given)."""
        return cls(app.config.get("TABLE_PREFIX", "momento-"), session=session)

    @property
    def client(self) -> Any:
        """The DynamoDB client, created on first use; the endpoint comes from boto3's own settings."""
        try:
            return self._clients.get()
        except CLIENT_ERRORS as exc:
            raise BackendError(f"The catalog could not start ({type(exc).__name__}).",
                               backend="dynamodb", operation="connect") from exc

    def _call(self, operation: str, *, expect: tuple[str, ...] = (), **kwargs: Any) -> dict[str, Any]:
        """One client call; errors become BackendError, except the codes in expect (re-raised). A write refused
        because a transaction held its item at that moment (not applied) is made again after a short random
        pause; botocore retries throttling and server errors itself."""
        attempt = 0
        while True:
            try:
                return getattr(self.client, operation)(**kwargs)
            except ClientError as exc:
                if error_code(exc) in expect:
                    raise
                if error_code(exc) != "TransactionConflictException" or attempt + 1 == CONFLICT_TRIES:
                    raise BackendError(f"The catalog failed ({operation}: {error_code(exc)}).",
                                       backend="dynamodb", operation=operation) from exc
            except BotoCoreError as exc:
                raise BackendError(f"The catalog failed ({operation}: {type(exc).__name__}).",
                                   backend="dynamodb", operation=operation) from exc
            time.sleep(pause(attempt))
            attempt += 1

    def _transact(self, items: list[dict[str, Any]]) -> Optional[list[str]]:
        """Run a transaction; None when it committed, else each item's cancellation code (a condition failed).

        Transactions that touch one item at the same time cancel each other (TransactionConflict, nothing
        applied): several videos of one person finishing together all list that person on the rendition queue.
        Those run again after a short random pause, as _call does for single writes.
        """
        attempt = 0
        while True:
            try:
                self._call("transact_write_items", expect=(CANCELLED,), TransactItems=items)
                return None
            except ClientError as exc:
                codes = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
                if "ConditionalCheckFailed" in codes:
                    return codes
                if "TransactionConflict" not in codes or attempt + 1 == CONFLICT_TRIES:
                    raise BackendError(f"The catalog failed (transaction: {', '.join(codes)}).",
                                       backend="dynamodb", operation="transact_write_items") from exc
            time.sleep(pause(attempt))
            attempt += 1

    def _get(self, table: str, key: dict[str, Any], **kwargs: Any) -> Optional[dict[str, Any]]:
        return self._call("get_item", TableName=self.tables[table], Key=key, ConsistentRead=True, **kwargs).get("Item")

    def _query(self, table: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every item a Query matches, page after page."""
        while True:
            answer = self._call("query", TableName=self.tables[table], **kwargs)
            yield from answer.get("Items", ())
            if "LastEvaluatedKey" not in answer:
                return
            kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def _query_page(self, limit: int, **args: Any) -> tuple[list[dict[str, Any]], bool]:
        """The first `limit` items a (filtered) Query matches, and whether there are more.

        Limit counts the items read before a FilterExpression, so a page of sparse matches comes back short:
        read on, with a wider Limit each time, until the page is full or the partition ends.
        """
        items: list[dict[str, Any]] = []
        page_limit = limit + 1
        while len(items) <= limit:
            answer = self._call("query", Limit=page_limit, **args)
            items.extend(answer.get("Items", ()))
            if "LastEvaluatedKey" not in answer:
                break
            args["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
            page_limit = min(page_limit * 2, 1000)
        return items[:limit], len(items) > limit

    # schema and migrations
    def create_schema(self) -> None:
        """Create the four tables (on-demand billing) and wait until they are active; safe to call again."""
        for name, keys in TABLES.items():
            try:
                self._call(
                    "create_table", expect=("ResourceInUseException",), TableName=self.tables[name],
                    BillingMode="PAY_PER_REQUEST",
                    KeySchema=[{"AttributeName": k, "KeyType": t} for k, t in zip(keys, ("HASH", "RANGE"))],
                    AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in keys],
                )
            except ClientError:
                pass  # it exists already
        try:
            waiter = self.client.get_waiter("table_exists")
            for table in self.tables.values():
                waiter.wait(TableName=table, WaiterConfig={"Delay": 2, "MaxAttempts": 60})
        except (BotoCoreError, ClientError) as exc:
            raise BackendError(f"The catalog tables did not become active ({exc}).",
                               backend="dynamodb", operation="create_schema") from exc
        for name in TTL_TABLES:  # sessions, expiring tokens and job failures leave by themselves
            try:
                self._call("update_time_to_live", expect=("ValidationException",), TableName=self.tables[name],
                           TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
            except ClientError:
                pass  # enabled already

    def check(self) -> None:
        """Raise BackendError unless the uploads table answers."""
        self._call("describe_table", TableName=self.tables["uploads"])

    def check_schema(self) -> list[PostureCheck]:
        """Whether each table exists with the keys create_schema gives it; changes nothing."""
        checks = []
        for name, keys in TABLES.items():
            expected = "keys " + ", ".join(keys)
            try:
                table = self._call("describe_table", expect=("ResourceNotFoundException",),
                                   TableName=self.tables[name])["Table"]
            except ClientError:
                checks.append(PostureCheck(f"table {self.tables[name]}", expected, "missing", False))
                continue
            actual = tuple(k["AttributeName"] for k in sorted(table["KeySchema"], key=lambda k: k["KeyType"]))
            billing = table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
            note = "" if billing == "PAY_PER_REQUEST" else f"billing mode {billing} (init makes on-demand tables)"
            checks.append(PostureCheck(f"table {self.tables[name]}", expected, "keys " + ", ".join(actual),
                                       actual == keys, note))
        return checks

    def applied_migrations(self) -> dict[str, str]:
        """Ids of the applied migrations and when each was applied (one item, one read)."""
        item = self._get("meta", {"pk": s(MIGRATIONS)})
        return {k: str(v) for k, v in to_doc(item).get("applied", {}).items()} if item else {}

    def record_migration(self, migration_id: str, applied_at: str) -> None:
        """Add the migration to the map, creating the item the first time."""
        key, names = {"pk": s(MIGRATIONS)}, {"#applied": "applied", "#id": migration_id}
        for _ in range(3):  # another process may create the item between our two attempts
            try:
                self._call("update_item", expect=(FAILED,), TableName=self.tables["meta"], Key=key,
                           UpdateExpression="SET #applied.#id = :at", ConditionExpression="attribute_exists(#applied)",
                           ExpressionAttributeNames=names, ExpressionAttributeValues={":at": s(applied_at)})
                return
            except ClientError:
                pass
            try:
                self._call("put_item", expect=(FAILED,), TableName=self.tables["meta"],
                           Item=key | to_item({"applied": {migration_id: applied_at}}),
                           ConditionExpression="attribute_not_exists(pk)")
                return
            except ClientError:
                pass
        raise BackendError("The catalog could not record the migration.", backend="dynamodb", operation="record_migration")

    # users
    def create_user(self, user: User) -> User:
        """Add the account, its email and its listing entry at once; EmailTaken when the email is in use."""
        email = user.email.lower()
        new = "attribute_not_exists(pk)"
        codes = self._transact([
            {"Put": {"TableName": self.tables["users"], "ConditionExpression": new,
                     "Item": {"pk": s(f"user#{user.id}")} | to_item(user_to_dict(user))}},
            {"Put": {"TableName": self.tables["users"], "ConditionExpression": new,
                     "Item": {"pk": s(f"email#{email}"), "userId": s(user.id)}}},
            {"Put": {"TableName": self.tables["index"], "ConditionExpression": new,
                     "Item": {"pk": s(USERS_PARTITION), "sk": s(email), "userId": s(user.id)}}},
        ])
        if codes and codes[1:] == ["None", "None"]:
            raise Conflict("An account with this id exists.", code="user_exists")
        if codes:
            raise EmailTaken()
        return user

    def get_user(self, user_id: str) -> Optional[User]:
        """The account with this id, or None."""
        item = self._get("users", {"pk": s(f"user#{user_id}")})
        return to_user(item) if item else None

    def get_user_by_email(self, email: str) -> Optional[User]:
        """The account with this email, or None."""
        item = self._get("users", {"pk": s(f"email#{email.lower()}")})
        return self.get_user(item["userId"]["S"]) if item else None

    def update_user(self, user: User) -> User:
        """Store changed account fields (the email and the two-factor ones stay: set_two_factor writes those);
        NotFound when absent."""
        kept = ("id", "email") + TWO_FACTOR_FIELDS
        changes = {k: v for k, v in user_to_dict(user).items() if k not in kept}
        try:
            answer = self._call("update_item", expect=(FAILED,), TableName=self.tables["users"],
                                Key={"pk": s(f"user#{user.id}")}, ConditionExpression="attribute_exists(pk)",
                                ReturnValues="ALL_NEW", **updates(changes))
        except ClientError as exc:
            raise NotFound("No such account.") from exc
        return to_user(answer["Attributes"])

    def iter_users(self) -> Iterator[User]:
        """Every account, by email: the listing partition, then the accounts a hundred at a time."""
        entries = self._query("index", KeyConditionExpression="pk = :p",
                              ExpressionAttributeValues={":p": s(USERS_PARTITION)}, ConsistentRead=True)
        batch: list[str] = []
        for entry in entries:
            batch.append(entry["userId"]["S"])
            if len(batch) == 100:
                yield from self._users(batch)
                batch = []
        yield from self._users(batch)

    def _users(self, user_ids: list[str]) -> Iterator[User]:
        """These accounts, in this order (BatchGetItem answers in any order)."""
        found = {u.id: u for u in map(to_user, self._batch_get("users", [{"pk": s(f"user#{i}")} for i in user_ids]))}
        return (found[i] for i in user_ids if i in found)

    # uploads
    def put_upload(self, upload: Upload, job: Optional[Job] = None) -> Upload:
        """Write the upload, its sha256 entry, its index entries and `job` (queued with it) in one transaction;
        DuplicateUpload when the sha exists."""
        doc = upload_to_dict(upload)
        key = {"userId": s(doc.pop("user_id")), "uploadId": s(doc.pop("id"))}
        codes = self._transact([
            {"Put": {"TableName": self.tables["uploads"], "Item": key | to_item(doc) | {"rev": {"N": "0"}},
                     "ConditionExpression": "attribute_not_exists(uploadId)"}},
            {"Put": {"TableName": self.tables["index"], "Item": self._sha_key(upload.user_id, upload.sha256) | {
                "uploadId": s(upload.id)}, "ConditionExpression": "attribute_not_exists(pk)"}},
            *self._index_writes(None, upload),
            *(self._job_writes(job) if job is not None else ()),
        ])
        if codes and codes[1] == "ConditionalCheckFailed":
            entry = self._get("index", self._sha_key(upload.user_id, upload.sha256))
            if entry is None:  # deleted since: the caller may simply try again
                raise BackendError("The catalog changed during the upload; try again.",
                                   backend="dynamodb", operation="put_upload")
            if entry["uploadId"]["S"] == upload.id and self.get_upload(upload.user_id, upload.id) is not None:
                return upload  # an earlier try of this very transaction was applied after all
            raise DuplicateUpload(entry["uploadId"]["S"])
        if codes:
            raise BackendError("The catalog refused the upload: its id is taken.",
                               backend="dynamodb", operation="put_upload")
        return upload

    @staticmethod
    def _sha_key(user_id: str, sha256: str) -> dict[str, Any]:
        return {"pk": s(f"{user_id}#sha"), "sk": s(sha256)}

    @staticmethod
    def _upload_key(user_id: str, upload_id: str) -> dict[str, Any]:
        return {"userId": s(user_id), "uploadId": s(upload_id)}

    def get_upload(self, user_id: str, upload_id: str) -> Optional[Upload]:
        """The user's upload with this id, or None."""
        item = self._get("uploads", self._upload_key(user_id, upload_id))
        return to_upload(item) if item else None

    def find_by_sha256(self, user_id: str, sha256: str) -> Optional[Upload]:
        """The user's upload with these bytes, or None."""
        entry = self._get("index", self._sha_key(user_id, sha256))
        return self.get_upload(user_id, entry["uploadId"]["S"]) if entry else None

    def list_uploads(self, user_id: str, *, kind: Optional[str] = None, trashed: bool = False,
                     limit: int = 50, cursor: Optional[str] = None) -> Page:
        """The user's uploads, newest first; reads on until limit+1 items pass the filter."""
        after = decode_cursor(cursor)
        names = {"#trashed": "trashed_at"}
        values = {":u": s(user_id)}
        condition = "userId = :u"
        if after:
            condition += " AND uploadId < :after"
            values[":after"] = s(after)
        filters = ["attribute_exists(#trashed)" if trashed else "attribute_not_exists(#trashed)"]
        if kind:
            filters.append("#kind = :kind")
            names["#kind"], values[":kind"] = "kind", s(kind)
        args = {"TableName": self.tables["uploads"], "KeyConditionExpression": condition,
                "FilterExpression": " AND ".join(filters), "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values, "ScanIndexForward": False, "ConsistentRead": True}
        items, more = self._query_page(limit, **args)
        uploads = [to_upload(item) for item in items]
        return Page(tuple(uploads), encode_cursor(uploads[-1].id) if more and uploads else None)

    def _get_with_rev(self, user_id: str, upload_id: str) -> tuple[Upload, int]:
        item = self._get("uploads", self._upload_key(user_id, upload_id))
        if item is None:
            raise NotFound("No such upload.")
        return to_upload(item), int(item.get("rev", {"N": "0"})["N"])

    def _update_upload(self, user_id: str, upload_id: str, changes: dict[str, Any]) -> Upload:
        """Change fields and move the index in one transaction, guarded by the item's revision."""
        for _ in range(5):
            old, rev = self._get_with_rev(user_id, upload_id)
            if old.purge_started_at:  # purge is deleting its objects: it must not come back or change
                raise NotFound("No such upload.")
            new = old.evolve(**changes)
            if new == old:
                return old
            steps = [(old, new)]
            if len(self._index_writes(old, new)) + 1 > TRANSACTION_LIMIT:
                # Too many index items for one transaction: pass through the tags both sides share.
                mid = old.evolve(tags=tuple(t for t in old.tags if t in new.tags))
                steps = [(old, mid), (mid, new)]
            try:
                for a, b in steps:
                    self._commit_change(a, b, rev)
                    rev += 1
                return new
            except _Stale:
                continue
        raise BackendError("The upload kept changing while it was being updated; try again.",
                           backend="dynamodb", operation="update_upload")

    def _commit_change(self, old: Upload, new: Upload, rev: int) -> None:
        fields = {k: v for k, v in upload_to_dict(new).items()
                  if k not in ("user_id", "id") and upload_to_dict(old).get(k) != v}
        update = updates({**fields, "rev": rev + 1})
        update["ExpressionAttributeNames"]["#rev"] = "rev"
        update.setdefault("ExpressionAttributeValues", {})[":oldrev"] = {"N": str(rev)}
        codes = self._transact([
            {"Update": {"TableName": self.tables["uploads"], "Key": self._upload_key(new.user_id, new.id),
                        "ConditionExpression": "attribute_exists(uploadId) AND (#rev = :oldrev OR "
                                               "(attribute_not_exists(#rev) AND :oldrev = :zero))",
                        **update | {"ExpressionAttributeValues": update["ExpressionAttributeValues"] | {
                            ":zero": {"N": "0"}}}}},
            *self._index_writes(old, new),
        ])
        if codes:
            raise _Stale()

    def set_tags(self, user_id: str, upload_id: str, tags: tuple[str, ...]) -> Upload:
        """Replace an upload's user tags and their index entries; NotFound when absent."""
        return self._update_upload(user_id, upload_id, {"tags": tuple(tags)})

    def set_auto_tags(self, user_id: str, upload_id: str, auto_tags: tuple[str, ...]) -> Upload:
        """Replace an upload's automatic tags (retag)."""
        return self._update_upload(user_id, upload_id, {"auto_tags": tuple(auto_tags)})

    def set_trashed(self, user_id: str, upload_id: str, trashed_at: Optional[str], *,
                    emptied_at: Optional[str] = None) -> Upload:
        """Move an upload to the trash (out of every index) or back, emptied or not; NotFound when absent."""
        return self._update_upload(user_id, upload_id, {"trashed_at": trashed_at, "emptied_at": emptied_at})

    def set_rendition(self, user_id: str, upload_id: str, state: str, error: Optional[str] = None) -> Upload:
        """Record a video's rendition state (and why it failed); NotFound when absent."""
        return self._update_upload(user_id, upload_id, {"rendition": state, "rendition_error": error})

    def begin_purge(self, user_id: str, upload_id: str, trashed_before: str, started_at: str) -> Optional[Upload]:
        """Freeze an upload trashed at or before trashed_before for purging; None when it is not eligible."""
        for _ in range(5):
            try:
                old, rev = self._get_with_rev(user_id, upload_id)
            except NotFound:
                return None
            if old.purge_started_at:
                return old
            if not old.purgeable(trashed_before):
                return None
            new = old.evolve(purge_started_at=started_at)
            try:
                self._commit_change(old, new, rev)  # guarded by the revision, like every other change
                return new
            except _Stale:
                continue
        raise BackendError("The upload kept changing while purge started; try again.",
                           backend="dynamodb", operation="begin_purge")

    def delete_upload(self, user_id: str, upload_id: str) -> None:
        """Remove the upload, its sha256 entry and its index entries at once; a missing upload is fine."""
        for _ in range(5):
            try:
                upload, rev = self._get_with_rev(user_id, upload_id)
            except NotFound:
                return
            codes = self._transact([
                {"Delete": {"TableName": self.tables["uploads"], "Key": self._upload_key(user_id, upload_id),
                            "ConditionExpression": "#rev = :rev OR (attribute_not_exists(#rev) AND :rev = :zero)",
                            "ExpressionAttributeNames": {"#rev": "rev"},
                            "ExpressionAttributeValues": {":rev": {"N": str(rev)}, ":zero": {"N": "0"}}}},
                {"Delete": {"TableName": self.tables["index"], "Key": self._sha_key(user_id, upload.sha256),
                            # never free an entry that names another upload
                            "ConditionExpression": "attribute_not_exists(pk) OR uploadId = :id",
                            "ExpressionAttributeValues": {":id": s(upload_id)}}},
                *self._index_writes(upload, None),
            ])
            if not codes:
                return
            if codes[0] == "None":  # the sha entry names another upload: remove only this one
                self._commit_delete_without_sha(upload, rev)
                return
        raise BackendError("The upload kept changing while it was being deleted; try again.",
                           backend="dynamodb", operation="delete_upload")

    def _commit_delete_without_sha(self, upload: Upload, rev: int) -> None:
        codes = self._transact([
            {"Delete": {"TableName": self.tables["uploads"], "Key": self._upload_key(upload.user_id, upload.id)}},
            *self._index_writes(upload, None),
        ])
        if codes:
            raise BackendError("The upload could not be deleted; try again.", backend="dynamodb", operation="delete_upload")

    def iter_all_uploads(self, user_id: str) -> Iterator[Upload]:
        """Every upload of a user, live or trashed, newest first (batch commands only)."""
        items = self._query("uploads", KeyConditionExpression="userId = :u", ScanIndexForward=False,
                            ConsistentRead=True, ExpressionAttributeValues={":u": s(user_id)})
        return (to_upload(item) for item in items)


class _Stale(Exception):
    """Another writer changed the upload between our read and our transaction."""
