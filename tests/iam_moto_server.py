"""A moto server, in its own process, that can enforce IAM the way AWS does for the calls Momento makes.

Run as `python -m tests.iam_moto_server`: prints the server's URL, then serves until stdin closes. It
starts without enforcement (so the test can create buckets, tables and IAM users with any keys); a POST
of "0" to /moto-api/reset-auth turns enforcement on for every later request. That setting is global
to the moto process, which is why this server runs apart from the session's shared moto server.

Two corrections make moto's IAM checks match AWS's for Momento's calls:
- moto checks every DynamoDB action against the resource "*", so a statement scoped to a table ARN
  never matches; here each action is checked against its table's ARN, and the items of
  TransactWriteItems / TransactGetItems count as PutItem, UpdateItem, DeleteItem, ConditionCheckItem and
  GetItem on their own tables, as AWS authorises them.
- moto names HeadBucket's action "s3:HeadBucket"; AWS authorises it as s3:ListBucket.
"""
from __future__ import annotations

import logging
import sys
from urllib.parse import urlparse

from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.dynamodb.responses import DynamoHandler
from moto.iam.access_control import IAMRequest
from moto.s3 import responses as s3_responses
from moto.server import ThreadedMotoServer

_TRANSACT = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem",
             "Get": "GetItem"}


def table_actions(action: str, body: dict) -> list[tuple[str, str]]:
    """(IAM action, table name) pairs a DynamoDB request needs, as AWS evaluates them."""
    if action in ("TransactWriteItems", "TransactGetItems"):
        return [(_TRANSACT[kind], spec["TableName"]) for item in body.get("TransactItems", [])
                for kind, spec in item.items()]
    if action in ("BatchGetItem", "BatchWriteItem"):
        return [(action, table) for table in body.get("RequestItems", {})]
    if "TableName" in body:
        return [(action, body["TableName"])]
    return [(action, "*")]  # ListTables and the like: not scoped to a table


def _authorize_per_table(self, resource: str = "*") -> None:
    if ActionAuthenticatorMixin.request_count < settings.INITIAL_NO_AUTH_ACTION_COUNT:
        ActionAuthenticatorMixin.request_count += 1
        return
    path = self.raw_path + (f"?{urlparse(self.uri).query}" if urlparse(self.uri).query else "")
    for action, table in table_actions(self._get_action(), self.body or {}):
        arn = f"arn:aws:dynamodb:{self.region}:{self.current_account}:table/{table}" if table != "*" else "*"
        request = IAMRequest(account_id=self.current_account, method=self.method, path=path, data=self.data,
                             body=self.raw_body, headers=self.headers, action=action)
        request.check_signature()
        request.check_action_permitted(arn)


def patch_moto() -> None:
    """Apply both corrections."""
    DynamoHandler._authenticate_and_authorize_normal_action = _authorize_per_table
    s3_responses.ACTION_MAP["BUCKET"]["HEAD"]["DEFAULT"] = "ListBucket"


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    patch_moto()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    print(f"http://{host}:{port}", flush=True)
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
