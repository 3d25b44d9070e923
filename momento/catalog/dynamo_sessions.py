"""Sign-in sessions, API tokens, passkeys and recovery codes in the DynamoDB catalog, always read by key.

Each record is an item of the `users` table found by its key (`session#<sha256 of the cookie's id>`,
`token#<sha256 of the secret>`, `passkey#<credential id>`), and has an entry in the user's partition of the
`index` table (`<userId>#sessions` / hash, `<userId>#tokens` / token id, `<userId>#passkeys` / credential id),
so an account's records are listed and ended with a Query, never a Scan. Sessions and expiring tokens carry
`expires` (epoch seconds), the attribute DynamoDB's TTL deletes by; reads judge expiry themselves.
"""
from __future__ import annotations

from typing import Any, Optional

from botocore.exceptions import ClientError

from ..errors import Conflict, NotFound
from ..formats import parse_iso
from ..models import ApiToken, Passkey, SignInSession, User
from .dynamo_items import s, to_doc, to_item, to_user, updates
from .records import record_from_dict, record_to_dict, two_factor_changes

FAILED = "ConditionalCheckFailedException"
_PREFIX = {SignInSession: "session#", ApiToken: "token#", Passkey: "passkey#"}
_LISTING = {SignInSession: "sessions", ApiToken: "tokens", Passkey: "passkeys"}


def _expires(when: Optional[str]) -> dict[str, Any]:
    return {"expires": {"N": str(int(parse_iso(when).timestamp()))}} if when else {}


class DynamoSessions:
    """Sessions, tokens and passkeys: an item by key plus a listing entry in the user's partition."""

    @staticmethod
    def _main_key(kind, key: str) -> dict[str, Any]:
        return {"pk": s(_PREFIX[kind] + key)}

    @staticmethod
    def _listing_key(kind, user_id: str, sk: str) -> dict[str, Any]:
        return {"pk": s(f"{user_id}#{_LISTING[kind]}"), "sk": s(sk)}

    def _add_record(self, kind, key: str, sk: str, record, expires_at: Optional[str]) -> bool:
        """Write the record and its listing entry at once; False when the key is taken."""
        ttl = _expires(expires_at)
        codes = self._transact([
            {"Put": {"TableName": self.tables["users"], "ConditionExpression": "attribute_not_exists(pk)",
                     "Item": self._main_key(kind, key) | to_item(record_to_dict(record)) | ttl}},
            {"Put": {"TableName": self.tables["index"], "Item": self._listing_key(kind, record.user_id, sk)
                     | {"ref": s(key)} | ttl}},
        ])
        return codes is None

    def _get_record(self, kind, key: str):
        item = self._get("users", self._main_key(kind, key))
        return self._get_record_from_item(kind, key, item) if item else None

    def _store_record(self, kind, key: str, record, expires_at: Optional[str] = None) -> None:
        """Rewrite a record's fields if the record still exists (a touch must not resurrect an ended one)."""
        doc = {k: v for k, v in record_to_dict(record).items() if k not in ("id", "hash")}
        if expires_at:
            doc["expires"] = int(parse_iso(expires_at).timestamp())
        try:
            self._call("update_item", expect=(FAILED,), TableName=self.tables["users"],
                       Key=self._main_key(kind, key), ConditionExpression="attribute_exists(pk)", **updates(doc))
        except ClientError:
            pass

    def _listing(self, kind, user_id: str) -> list[dict[str, Any]]:
        return list(self._query("index", KeyConditionExpression="pk = :p", ConsistentRead=True,
                                ExpressionAttributeValues={":p": s(f"{user_id}#{_LISTING[kind]}")}))

    def _list_records(self, kind, user_id: str) -> list:
        """The user's records of a kind: one Query on the listing, one BatchGet of the items; stale entries go."""
        entries = self._listing(kind, user_id)
        keys = [self._main_key(kind, e["ref"]["S"]) for e in entries]
        found = {}
        for item in self._batch_get("users", keys):
            key = item["pk"]["S"][len(_PREFIX[kind]):]
            found[key] = self._get_record_from_item(kind, key, item)
        for entry in entries:
            if entry["ref"]["S"] not in found:  # its item expired by TTL
                self._call("delete_item", TableName=self.tables["index"], Key={"pk": entry["pk"], "sk": entry["sk"]})
        return sorted(found.values(), key=lambda r: r.created_at)

    @staticmethod
    def _get_record_from_item(kind, key: str, item: dict):
        doc = to_doc(item)
        doc.setdefault("user_id", doc.get("userId"))  # tokens made before names and scopes
        if kind is ApiToken:
            doc.setdefault("hash", key)
            doc.setdefault("id", key[:16])
        return record_from_dict(kind, doc)

    def _delete_record(self, kind, user_id: str, key: str, sk: str) -> bool:
        """Delete the item (only if it is the user's) and its listing entry; whether the item existed."""
        try:
            self._call("delete_item", expect=(FAILED,), TableName=self.tables["users"], Key=self._main_key(kind, key),
                       ConditionExpression="attribute_exists(pk) AND (user_id = :u OR userId = :u)",
                       ExpressionAttributeValues={":u": s(user_id)})
            existed = True
        except ClientError:
            existed = False
        self._call("delete_item", TableName=self.tables["index"], Key=self._listing_key(kind, user_id, sk))
        return existed

    def _delete_all(self, kind, user_id: str, keep: Optional[str] = None) -> int:
        ended = 0
        for entry in self._listing(kind, user_id):
            key = entry["ref"]["S"]
            if key != keep:
                ended += self._delete_record(kind, user_id, key, entry["sk"]["S"])
        return ended

    # sessions
    def add_session(self, session: SignInSession) -> None:
        """Store a new sign-in session."""
        if not self._add_record(SignInSession, session.id, session.id, session, session.expires_at):
            raise Conflict("This session exists already.", code="session_exists")

    def get_session(self, session_hash: str) -> Optional[SignInSession]:
        """The session with this id hash (expired ones too: the caller judges), or None."""
        return self._get_record(SignInSession, session_hash)

    def touch_session(self, session: SignInSession) -> None:
        """Store a session's new last_seen_at and expires_at, if it still exists."""
        self._store_record(SignInSession, session.id, session, session.expires_at)

    def list_sessions(self, user_id: str) -> list[SignInSession]:
        """The user's sessions, oldest first."""
        return self._list_records(SignInSession, user_id)

    def delete_session(self, user_id: str, session_hash: str) -> bool:
        """End one of the user's sessions; whether it existed."""
        return self._delete_record(SignInSession, user_id, session_hash, session_hash)

    def delete_sessions(self, user_id: str, keep: Optional[str] = None) -> int:
        """End every session of the user but `keep`; how many ended."""
        return self._delete_all(SignInSession, user_id, keep)

    # tokens
    def add_token(self, token: ApiToken) -> None:
        """Remember an API token by its hash."""
        if not self._add_record(ApiToken, token.hash, token.id, token, token.expires_at):
            raise Conflict("This token exists already.", code="token_exists")

    def get_token(self, token_hash: str) -> Optional[ApiToken]:
        """The token with this hash, or None."""
        return self._get_record(ApiToken, token_hash)

    def touch_token(self, token: ApiToken) -> None:
        """Store a token's new last_used_at, if it still exists, and (for a token of before names) its listing."""
        self._store_record(ApiToken, token.hash, token, token.expires_at)
        if self._get("users", self._main_key(ApiToken, token.hash)):
            self._call("put_item", TableName=self.tables["index"],
                       Item=self._listing_key(ApiToken, token.user_id, token.id) | {"ref": s(token.hash)}
                       | _expires(token.expires_at))

    def list_tokens(self, user_id: str) -> list[ApiToken]:
        """The user's tokens, oldest first."""
        return self._list_records(ApiToken, user_id)

    def revoke_token(self, token_hash: str) -> None:
        """Forget a token; an unknown one is fine."""
        token = self.get_token(token_hash)
        if token is not None:
            self._delete_record(ApiToken, token.user_id, token_hash, token.id)

    def delete_token(self, user_id: str, token_id: str) -> bool:
        """Forget the user's token with this id; whether it existed."""
        entry = self._get("index", self._listing_key(ApiToken, user_id, token_id))
        return bool(entry) and self._delete_record(ApiToken, user_id, entry["ref"]["S"], token_id)

    def revoke_tokens(self, user_id: str) -> int:
        """Forget every token of the user; how many."""
        return self._delete_all(ApiToken, user_id)

    def upgrade_tokens(self) -> int:
        """Tokens made before names and scopes need no bulk rewrite here (a Scan is never allowed): they read
        as having every scope, and get their listing entry the first time they are used (touch_token)."""
        return 0

    # passkeys
    def add_passkey(self, passkey: Passkey) -> None:
        """Store a new passkey; Conflict when its credential id is registered already."""
        if not self._add_record(Passkey, passkey.id, passkey.id, passkey, None):
            raise Conflict("This passkey is registered already.", code="passkey_exists")

    def get_passkey(self, credential_id: str) -> Optional[Passkey]:
        """The passkey with this credential id, or None."""
        return self._get_record(Passkey, credential_id)

    def update_passkey(self, passkey: Passkey) -> None:
        """Store a passkey's new name, counter or last use."""
        self._store_record(Passkey, passkey.id, passkey)

    def list_passkeys(self, user_id: str) -> list[Passkey]:
        """The user's passkeys, oldest first."""
        return self._list_records(Passkey, user_id)

    def delete_passkey(self, user_id: str, credential_id: str) -> bool:
        """Remove one of the user's passkeys; whether it existed."""
        return self._delete_record(Passkey, user_id, credential_id, credential_id)

    # two-factor
    def consume_recovery_code(self, user_id: str, code_hash: str) -> bool:
        """Atomically remove one unused recovery code of the user; whether it was there."""
        user = self.get_user(user_id)
        if user is None or code_hash not in user.recovery_codes:
            return False
        i = user.recovery_codes.index(code_hash)
        try:  # the condition makes a second use of the same code (in parallel) fail
            self._call("update_item", expect=(FAILED,), TableName=self.tables["users"],
                       Key={"pk": s(f"user#{user_id}")}, UpdateExpression=f"REMOVE recovery_codes[{i}]",
                       ConditionExpression=f"recovery_codes[{i}] = :h", ExpressionAttributeValues={":h": s(code_hash)})
        except ClientError:
            return False
        return True

    def set_two_factor(self, user_id: str, changes: dict, *,
                       expect: Optional[dict[str, Optional[str]]] = None) -> Optional[User]:
        """Write these two-factor fields and nothing else (one conditional UpdateItem); with `expect`, only while
        each stored value is the one given (None: none). The account after, or None when that condition failed;
        NotFound when absent."""
        args = updates(two_factor_changes(changes))
        conditions = ["attribute_exists(pk)"]
        for i, (name, value) in enumerate(two_factor_changes(expect or {}).items()):
            args["ExpressionAttributeNames"][f"#c{i}"] = name
            if value is None:
                conditions.append(f"attribute_not_exists(#c{i})")
            else:
                conditions.append(f"#c{i} = :c{i}")
                args["ExpressionAttributeValues"] = args.get("ExpressionAttributeValues", {}) | {f":c{i}": s(value)}
        try:
            answer = self._call("update_item", expect=(FAILED,), TableName=self.tables["users"],
                                Key={"pk": s(f"user#{user_id}")}, ConditionExpression=" AND ".join(conditions),
                                ReturnValues="ALL_NEW", **args)
        except ClientError:
            if self.get_user(user_id) is None:
                raise NotFound("No such account.") from None
            return None
        return to_user(answer["Attributes"])

    def accept_totp_step(self, user_id: str, step: int) -> bool:
        """Atomically record that a code of this 30 s step was used, unless one of it or later was."""
        try:
            self._call("update_item", expect=(FAILED,), TableName=self.tables["users"],
                       Key={"pk": s(f"user#{user_id}")}, UpdateExpression="SET totp_last_step = :s",
                       ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(totp_last_step) "
                                           "OR totp_last_step < :s)",
                       ExpressionAttributeValues={":s": {"N": str(step)}})
        except ClientError:
            return False
        return True
