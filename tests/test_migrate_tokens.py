"""Migration 0008: tokens made before names and scopes keep working, with every scope, and are listed."""
from __future__ import annotations

import sqlite3

from momento import create_app
from momento.accounts import register
from momento.accounts.tokens import token_hash
from tests.conftest import app_config


def test_a_token_of_the_old_layout_keeps_all_scopes(request, tmp_path):
    app = create_app(app_config(request, tmp_path, "local"))
    with app.app_context():
        user = register(app.extensions["momento"].catalog, "old@example.com", "long enough password")
    db_path = tmp_path / "data" / "momento.sqlite3"
    db = sqlite3.connect(db_path)
    # The tokens table as it was before 0008, holding one token, and 0008 not applied yet.
    db.executescript("DROP TABLE tokens; CREATE TABLE tokens (hash TEXT PRIMARY KEY, user_id TEXT NOT NULL, "
                     "created_at TEXT NOT NULL); DELETE FROM migrations WHERE id = '0009_scoped_tokens';")
    db.execute("INSERT INTO tokens VALUES (?, ?, ?)", (token_hash("mo_old"), user.id, "2025-01-01T00:00:00Z"))
    db.commit()
    db.close()
    app = create_app(app_config(request, tmp_path, "local"))  # the local backend migrates when it starts
    c = app.test_client()
    headers = {"Authorization": "Bearer mo_old"}
    assert c.get("/api/v1/uploads", headers=headers).status_code == 200
    assert c.patch("/api/v1/uploads/01JD3Z8Q4M5X2V7K9T1B6N0C3F", json={"tags": []}, headers=headers).status_code == 404
    with app.app_context():
        listed = app.extensions["momento"].catalog.list_tokens(user.id)
    assert [t.scopes for t in listed] == [("read", "upload", "write", "share")]
