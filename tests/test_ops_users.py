"""`flask users list` and `flask users delete`: counts and bytes, closing an account, resuming after a stop."""
from __future__ import annotations

import json

from momento.accounts import audit
from momento.errors import BackendError
from tests import corpus
from tests.conftest import both_backends


def _listed(runner) -> dict[str, dict]:
    result = runner.invoke(args=["users", "list", "--json"])
    assert result.exit_code == 0, result.output
    return {row["email"]: row for row in json.loads(result.output)}


@both_backends
def test_list_counts_and_bytes(app, runner, alice, bob):
    photo = corpus.jpeg(60, 40)
    first = alice.upload(photo).json
    alice.upload(corpus.png(30, 30))
    alice.delete(f"/api/v1/uploads/{first['id']}")
    rows = _listed(runner)
    assert rows["alice@example.com"]["photos"] == 1 and rows["alice@example.com"]["trash_count"] == 1
    assert rows["alice@example.com"]["trash_bytes"] == len(photo)
    assert rows["alice@example.com"]["status"] == "active" and rows["alice@example.com"]["deleted_at"] is None
    assert rows["bob@example.com"]["photos"] == rows["bob@example.com"]["bytes"] == 0
    table = runner.invoke(args=["users", "list"]).output
    assert "alice@example.com" in table and "trash" in table


@both_backends
def test_delete_closes_the_account_and_trashes_everything(app, runner, alice, bob):
    ids = [alice.upload(corpus.jpeg(50 + i, 30)).json["id"] for i in range(3)]
    kept = bob.upload(corpus.jpeg(70, 30)).json["id"]

    refused = runner.invoke(args=["users", "delete", "alice@example.com"], input="n\n")
    assert refused.exit_code == 1 and "Aborted" in refused.output
    assert alice.get("/api/v1/uploads").status_code == 200

    result = runner.invoke(args=["users", "delete", "alice@example.com", "--json"], input="y\n")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output[result.output.index("{"):])
    assert out["trashed"] == 3 and out["deleted_at"]
    assert alice.get("/api/v1/uploads").status_code == 401  # the token stopped working at once
    catalog = app.extensions["momento"].catalog
    assert all(catalog.get_upload(alice.user.id, i).trashed for i in ids)
    row = _listed(runner)["alice@example.com"]
    assert (row["status"], row["photos"], row["trash_count"]) == ("deleted", 0, 3)
    assert bob.get(f"/api/v1/uploads/{kept}").status_code == 200

    again = runner.invoke(args=["users", "delete", "alice@example.com", "--yes"])
    assert again.exit_code == 0 and "0 upload(s) moved" in again.output
    assert runner.invoke(args=["users", "enable", "alice@example.com"]).exit_code == 1
    token = runner.invoke(args=["users", "token", "alice@example.com"])
    assert token.exit_code == 1 and "stays closed" in token.output  # not "enable it first", which cannot be done

    # purge takes the closed account's uploads once they are old enough
    purged = runner.invoke(args=["momento", "purge", "--older-than", "0", "--json"])
    assert json.loads(purged.output)["purged"] == 3
    assert [o.key for o in app.extensions["momento"].storage.list(f"user-{alice.user.id}/")] == []
    trail = [(e.action, e.actor) for e in audit.events(catalog, alice.user.id).items]
    assert trail[:5] == [("purge", "operator")] * 3 + [("account_deleted", "operator")] * 2


@both_backends
def test_delete_interrupted_then_run_again(app, runner, alice, monkeypatch):
    ids = [alice.upload(corpus.jpeg(80 + i, 30)).json["id"] for i in range(4)]
    catalog = app.extensions["momento"].catalog
    real, calls = catalog.set_trashed, []

    def flaky(user_id, upload_id, trashed_at):
        calls.append(upload_id)
        if len(calls) == 3:
            raise BackendError("The catalog failed (UpdateItem: ThrottlingException).")
        return real(user_id, upload_id, trashed_at)

    monkeypatch.setattr(catalog, "set_trashed", flaky)
    stopped = runner.invoke(args=["users", "delete", "alice@example.com", "--yes"])
    assert stopped.exit_code == 1 and "run the command again" in stopped.output
    assert sum(catalog.get_upload(alice.user.id, i).trashed for i in ids) == 2
    assert catalog.get_user(alice.user.id).disabled  # closed before anything moved

    monkeypatch.setattr(catalog, "set_trashed", real)
    resumed = runner.invoke(args=["users", "delete", "alice@example.com", "--yes"])
    assert resumed.exit_code == 0 and "2 upload(s) moved" in resumed.output
    assert all(catalog.get_upload(alice.user.id, i).trashed for i in ids)


def test_unknown_account(runner):
    result = runner.invoke(args=["users", "delete", "ghost@example.com", "--yes"])
    assert result.exit_code == 1 and "No account" in result.output
