"""The `flask momento` and `flask users` commands, through Flask's CLI runner, on both backends."""
from __future__ import annotations

import json

from tests.conftest import both_backends


@both_backends
def test_init_is_idempotent(app, runner, backends):
    first = runner.invoke(args=["momento", "init"])
    assert first.exit_code == 0, first.output
    assert "ready" in first.output
    second = runner.invoke(args=["momento", "init"])
    assert second.exit_code == 0, second.output
    backends.storage.check()
    backends.catalog.check()


@both_backends
def test_migrate_status(app, runner):
    result = runner.invoke(args=["momento", "migrate", "--status", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert rows[0]["id"] == "0001_schema" and rows[0]["applied_at"] != "pending"
    again = runner.invoke(args=["momento", "migrate"])
    assert again.exit_code == 0 and "Nothing to apply" in again.output


@both_backends
def test_users_commands(app, runner, client):
    made = runner.invoke(args=["users", "create", "Op@Example.com", "--password", "longenough", "--admin"])
    assert made.exit_code == 0, made.output
    dup = runner.invoke(args=["users", "create", "op@example.com", "--password", "longenough"])
    assert dup.exit_code != 0 and "already exists" in dup.output
    weak = runner.invoke(args=["users", "create", "weak@example.com", "--password", "short"])
    assert weak.exit_code != 0
    prompted = runner.invoke(args=["users", "create", "p@example.com"], input="longenough\nlongenough\n")
    assert prompted.exit_code == 0, prompted.output

    listed = json.loads(runner.invoke(args=["users", "list", "--json"]).output)
    assert [u["email"] for u in listed] == ["op@example.com", "p@example.com"]
    assert listed[0]["admin"] is True and listed[0]["photos"] == 0
    table = runner.invoke(args=["users", "list"]).output
    assert "op@example.com" in table and "admin" in table

    token = runner.invoke(args=["users", "token", "op@example.com"]).output.strip()
    assert client.get("/api/v1/uploads", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert runner.invoke(args=["users", "disable", "op@example.com"]).exit_code == 0
    assert client.get("/api/v1/uploads", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert runner.invoke(args=["users", "token", "op@example.com"]).exit_code != 0
    missing = runner.invoke(args=["users", "disable", "ghost@example.com"])
    assert missing.exit_code != 0 and "No account" in missing.output


def test_every_command_has_help(runner):
    for args in (["momento", "init"], ["momento", "migrate"], ["users", "create"], ["users", "list"],
                 ["users", "disable"], ["users", "enable"], ["users", "token"]):
        result = runner.invoke(args=args + ["--help"])
        assert result.exit_code == 0 and "Usage" in result.output


def test_numbers_out_of_reason_are_usage_errors(app, runner):
    for args in (["momento", "purge", "--older-than", "nan"], ["momento", "purge", "--older-than", "inf"],
                 ["momento", "purge", "--older-than", "1e9"], ["momento", "status", "--max-age", "nan"]):
        result = runner.invoke(args=args)
        assert result.exit_code == 2 and result.exception is not None and "Traceback" not in result.output, args
    assert runner.invoke(args=["momento", "purge", "--older-than", "36500"]).exit_code == 0
