"""DynamoDB writes that meet a transaction on the same item at the same moment (TransactionConflict: nothing
applied) are made again after a short random pause; a failed condition is answered at once."""
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


def failing(catalog, operation: str, errors: list, monkeypatch) -> list[int]:
    """The catalog's next `operation` calls raise `errors` in turn (then go through); counts the tries."""
    tries = [0]
    monkeypatch.setattr(dynamodb.time, "sleep", lambda seconds: None)

    def provide(params, **kwargs) -> None:
        tries[0] += 1
        if errors:
            raise errors.pop(0)

    catalog.client.meta.events.register(f"provide-client-params.dynamodb.{operation}", provide)
    return tries


def test_an_upload_whose_transaction_meets_another_is_recorded_on_a_later_try(catalog, monkeypatch):
    catalog.create_user(user(1))
    up = upload("user1", 1)
    tries = failing(catalog, "TransactWriteItems",
                    [cancelled("None", "TransactionConflict"), cancelled("TransactionConflict")], monkeypatch)
    catalog.put_upload(up)
    assert catalog.get_upload("user1", up.id) == up and tries == [3]


def test_conflicts_that_do_not_end_are_a_backend_error(catalog, monkeypatch):
    catalog.create_user(user(1))
    up = upload("user1", 1)
    tries = failing(catalog, "TransactWriteItems",
                    [cancelled("TransactionConflict") for _ in range(dynamodb.CONFLICT_TRIES)], monkeypatch)
    with pytest.raises(BackendError):
        catalog.put_upload(up)
    assert catalog.get_upload("user1", up.id) is None and tries == [dynamodb.CONFLICT_TRIES]


def test_a_failed_condition_is_answered_at_once(catalog, monkeypatch):
    catalog.create_user(user(1))
    first = upload("user1", 1)
    catalog.put_upload(first)
    tries = failing(catalog, "TransactWriteItems", [], monkeypatch)
    with pytest.raises(DuplicateUpload):
        catalog.put_upload(upload("user1", 2, sha256=first.sha256))
    assert tries == [1]


def test_an_upload_recorded_by_a_try_whose_answer_was_lost_is_not_its_own_duplicate(catalog):
    """botocore retries a transaction whose answer was a server error; when that try had been applied, the retry
    meets the upload's own record (moto ignores the request token that makes DynamoDB answer it as applied)."""
    catalog.create_user(user(1))
    up = upload("user1", 1)
    catalog.put_upload(up)
    assert catalog.put_upload(up) == up


def test_a_single_write_meeting_a_transaction_is_made_again(catalog, monkeypatch):
    """An UpdateItem on an item a transaction holds at that moment is refused (TransactionConflictException, not
    applied): it is made again, and only conflicts that do not end become a backend error."""
    catalog.create_user(user(1))
    conflict = ClientError({"Error": {"Code": "TransactionConflictException", "Message": "conflict"},
                            "ResponseMetadata": {"HTTPStatusCode": 400}}, "UpdateItem")
    tries = failing(catalog, "UpdateItem", [conflict, conflict], monkeypatch)
    assert catalog.accept_totp_step("user1", 5) is True and tries == [3]
    failing(catalog, "UpdateItem", [conflict] * dynamodb.CONFLICT_TRIES, monkeypatch)
    with pytest.raises(BackendError):
        catalog.accept_totp_step("user1", 6)
    assert catalog.get_user("user1").totp_last_step == 5
