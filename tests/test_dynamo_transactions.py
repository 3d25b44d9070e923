"""DynamoDB transactions that meet another at the same time (TransactionConflict) or a server error are run again;
a retry after a server error keeps its ClientRequestToken, one after a conflict takes a new one."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from momento.catalog import dynamodb
from momento.errors import BackendError, DuplicateUpload
from tests.backends import backends  # noqa: F401 - the fixture
from tests.test_contract_catalog import upload, user

pytestmark = [pytest.mark.aws, pytest.mark.parametrize("backend_config", ["aws"], indirect=True)]


def cancelled(*codes: str) -> ClientError:
    return ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
                        "CancellationReasons": [{"Code": c} for c in codes],
                        "ResponseMetadata": {"HTTPStatusCode": 400}}, "TransactWriteItems")


def server_error() -> ClientError:
    return ClientError({"Error": {"Code": "InternalServerError", "Message": "boom"},
                        "ResponseMetadata": {"HTTPStatusCode": 500}}, "TransactWriteItems")


def failing(catalog, errors: list, monkeypatch) -> list[str]:
    """The catalog's next transactions raise `errors` in turn (then go through); the tokens each try carried."""
    tokens: list[str] = []
    monkeypatch.setattr(dynamodb.time, "sleep", lambda seconds: None)

    def provide(params, **kwargs) -> None:
        tokens.append(params.get("ClientRequestToken"))
        if errors:
            raise errors.pop(0)

    catalog.client.meta.events.register("provide-client-params.dynamodb.TransactWriteItems", provide)
    return tokens


def test_an_upload_whose_transaction_meets_another_is_recorded_on_a_later_try(catalog, monkeypatch):
    catalog.create_user(user(1))
    up = upload("user1", 1)
    tokens = failing(catalog, [cancelled("None", "TransactionConflict"), cancelled("TransactionConflict")],
                     monkeypatch)
    catalog.put_upload(up)
    assert catalog.get_upload("user1", up.id) == up
    assert len(tokens) == 3 and len(set(tokens)) == 3  # nothing was applied: each try is a new transaction


def test_a_server_error_is_retried_with_the_same_token_and_an_applied_try_is_not_a_duplicate(catalog, monkeypatch):
    catalog.create_user(user(1))
    up = upload("user1", 1)
    tokens = failing(catalog, [server_error()], monkeypatch)
    catalog.put_upload(up)
    assert len(tokens) == 2 and tokens[0] == tokens[1] and tokens[0]
    # a try that was applied although its answer was lost: the next try finds its own record, not a duplicate
    assert catalog.put_upload(up) == up


def test_conflicts_that_do_not_end_are_a_backend_error(catalog, monkeypatch):
    catalog.create_user(user(1))
    up = upload("user1", 1)
    failing(catalog, [cancelled("TransactionConflict") for _ in range(dynamodb.TRANSACT_TRIES)], monkeypatch)
    with pytest.raises(BackendError):
        catalog.put_upload(up)
    assert catalog.get_upload("user1", up.id) is None


def test_a_failed_condition_is_answered_at_once(catalog, monkeypatch):
    catalog.create_user(user(1))
    first = upload("user1", 1)
    catalog.put_upload(first)
    tokens = failing(catalog, [], monkeypatch)
    with pytest.raises(DuplicateUpload):
        catalog.put_upload(upload("user1", 2, sha256=first.sha256))
    assert len(tokens) == 1


def test_a_single_write_meeting_a_transaction_is_made_again(catalog, monkeypatch):
    """An UpdateItem on an item a transaction holds at that moment is refused (TransactionConflictException, not
    applied): it is made again, and only conflicts that do not end become a backend error."""
    catalog.create_user(user(1))
    monkeypatch.setattr(dynamodb.time, "sleep", lambda seconds: None)
    conflicts = [2]

    def provide(params, **kwargs) -> None:
        if conflicts[0]:
            conflicts[0] -= 1
            raise ClientError({"Error": {"Code": "TransactionConflictException", "Message": "conflict"},
                               "ResponseMetadata": {"HTTPStatusCode": 400}}, "UpdateItem")

    catalog.client.meta.events.register("provide-client-params.dynamodb.UpdateItem", provide)
    assert catalog.accept_totp_step("user1", 5) is True and conflicts == [0]
    conflicts[0] = dynamodb.TRANSACT_TRIES
    with pytest.raises(BackendError):
        catalog.accept_totp_step("user1", 6)
    assert catalog.get_user("user1").totp_last_step == 5
