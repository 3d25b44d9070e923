"""Catalog contract for sign-in sessions, API tokens, passkeys and recovery codes, on both backends (by key)."""
from __future__ import annotations

from dataclasses import replace

import pytest

from momento.errors import NotFound
from momento.models import SCOPES, ApiToken, Passkey, SignInSession, User
from tests.test_contract_catalog import backends

T0 = "2026-11-03T00:00:00Z"


def _user(catalog, n: int) -> User:
    return catalog.create_user(User(id=f"user{n}", email=f"u{n}@example.com", password_hash="x", created_at=T0))


def _session(n: int, user_id: str = "user1", expires: str = "2099-01-01T00:00:00Z") -> SignInSession:
    return SignInSession(id=f"hash{n}", user_id=user_id, created_at=f"2026-11-03T00:00:0{n}Z",
                         last_seen_at=T0, expires_at=expires, user_agent="Firefox", address="10.0.0.1")


@backends
def test_sessions_are_found_listed_touched_and_ended_by_key(catalog):
    _user(catalog, 1), _user(catalog, 2)
    for n in (1, 2, 3):
        catalog.add_session(_session(n))
    catalog.add_session(_session(4, "user2"))
    assert catalog.get_session("hash1") == _session(1)
    assert [s.id for s in catalog.list_sessions("user1")] == ["hash1", "hash2", "hash3"]
    seen = replace(_session(2), last_seen_at="2026-11-04T00:00:00Z", expires_at="2099-02-01T00:00:00Z")
    catalog.touch_session(seen)
    assert catalog.get_session("hash2") == seen
    assert catalog.delete_session("user2", "hash1") is False  # not bob's to end
    assert catalog.get_session("hash1") is not None
    assert catalog.delete_session("user1", "hash1") is True
    assert catalog.get_session("hash1") is None
    catalog.touch_session(_session(1))  # touching an ended session does not bring it back
    assert catalog.get_session("hash1") is None
    assert catalog.delete_sessions("user1", keep="hash3") == 1
    assert [s.id for s in catalog.list_sessions("user1")] == ["hash3"]
    assert catalog.delete_sessions("user1") == 1
    assert catalog.list_sessions("user1") == []
    assert [s.id for s in catalog.list_sessions("user2")] == ["hash4"]


@backends
def test_tokens_are_listed_touched_and_revoked_per_user(catalog):
    _user(catalog, 1), _user(catalog, 2)
    a = ApiToken(hash="ha", id="ida", user_id="user1", created_at=T0, name="backup", scopes=("read",),
                 expires_at="2027-01-01T00:00:00Z")
    b = ApiToken(hash="hb", id="idb", user_id="user1", created_at="2026-11-04T00:00:00Z")
    c = ApiToken(hash="hc", id="idc", user_id="user2", created_at=T0)
    for t in (a, b, c):
        catalog.add_token(t)
    assert catalog.get_token("ha") == a
    assert catalog.get_token("hb").scopes == SCOPES
    assert [t.id for t in catalog.list_tokens("user1")] == ["ida", "idb"]
    used = replace(a, last_used_at="2026-11-05T00:00:00Z")
    catalog.touch_token(used)
    assert catalog.get_token("ha") == used
    assert catalog.delete_token("user2", "ida") is False
    assert catalog.delete_token("user1", "ida") is True
    assert catalog.get_token("ha") is None
    assert catalog.revoke_tokens("user1") == 1
    assert catalog.get_token("hb") is None and catalog.list_tokens("user1") == []
    assert catalog.get_token("hc") == c


@backends
def test_passkeys_by_credential_id(catalog):
    _user(catalog, 1), _user(catalog, 2)
    key = Passkey(id="cred-1", user_id="user1", public_key="pk", sign_count=0, created_at=T0, transports=("internal",))
    catalog.add_passkey(key)
    catalog.add_passkey(replace(key, id="cred-2", user_id="user2"))
    assert catalog.get_passkey("cred-1") == key
    catalog.update_passkey(replace(key, name="Phone", sign_count=3))
    assert catalog.get_passkey("cred-1").name == "Phone" and catalog.get_passkey("cred-1").sign_count == 3
    assert [p.id for p in catalog.list_passkeys("user1")] == ["cred-1"]
    assert catalog.delete_passkey("user2", "cred-1") is False
    assert catalog.delete_passkey("user1", "cred-1") is True
    assert catalog.get_passkey("cred-1") is None and catalog.list_passkeys("user1") == []


@backends
def test_a_recovery_code_and_a_totp_step_work_once(catalog):
    user = _user(catalog, 1)
    catalog.set_two_factor("user1", {"totp_secret": "S", "recovery_codes": ("c1", "c2", "c3")})
    assert catalog.consume_recovery_code("user1", "c2") is True
    assert catalog.consume_recovery_code("user1", "c2") is False
    assert catalog.get_user("user1").recovery_codes == ("c1", "c3")
    assert catalog.consume_recovery_code("user1", "nope") is False
    assert catalog.accept_totp_step("user1", 100) is True
    assert catalog.accept_totp_step("user1", 100) is False
    assert catalog.accept_totp_step("user1", 99) is False
    assert catalog.accept_totp_step("user1", 101) is True
    # An account update made from a copy read before (sign out everywhere, a new password) brings neither the
    # used code nor the older step back, and leaves two-factor as it is.
    stale = replace(user, totp_secret="S", recovery_codes=("c1", "c2", "c3"), totp_last_step=0)
    catalog.update_user(replace(stale, signed_out_at="2026-01-01T00:00:00Z"))
    fresh = catalog.get_user("user1")
    assert (fresh.recovery_codes, fresh.totp_last_step, fresh.signed_out_at) == (("c1", "c3"), 101,
                                                                                  "2026-01-01T00:00:00Z")
    assert catalog.consume_recovery_code("user1", "c2") is False
    catalog.update_user(replace(fresh, totp_secret=None, recovery_codes=()))  # not a two-factor step: ignored
    assert catalog.get_user("user1").totp_secret == "S"


@backends
def test_two_factor_fields_are_written_alone_and_confirmed_only_from_the_pending_secret(catalog):
    """set_two_factor writes the fields it is given and nothing else (no stale copy of the others), and with
    `expect` only while the stored values are those (the secret still the one waiting for its first code,
    two-factor still off)."""
    user = _user(catalog, 1)
    after = catalog.set_two_factor("user1", {"totp_pending": "P1"})
    assert (after.totp_pending, after.totp_secret, after.email, after.quota) == ("P1", None, user.email, user.quota)
    catalog.set_two_factor("user1", {"totp_pending": "P2"})  # the setup opened again elsewhere
    assert catalog.set_two_factor("user1", {"totp_secret": "P1", "totp_pending": None},
                                  expect={"totp_pending": "P1"}) is None
    assert (catalog.get_user("user1").totp_secret, catalog.get_user("user1").totp_pending) == (None, "P2")
    on = catalog.set_two_factor("user1", {"totp_secret": "P2", "totp_pending": None, "totp_last_step": 7,
                                          "recovery_codes": ("h1", "h2")}, expect={"totp_pending": "P2"})
    assert (on.totp_secret, on.totp_pending, on.totp_last_step, on.recovery_codes) == ("P2", None, 7, ("h1", "h2"))
    assert catalog.get_user("user1") == on
    # a second confirmation of the same setup finds nothing pending
    assert catalog.set_two_factor("user1", {"totp_secret": "P2"}, expect={"totp_pending": "P2"}) is None
    # a setup begun from a copy read before two-factor went on writes nothing
    assert catalog.set_two_factor("user1", {"totp_pending": "P3"}, expect={"totp_secret": None}) is None
    assert catalog.get_user("user1").totp_pending is None
    assert (catalog.get_user("user1").totp_secret, catalog.get_user("user1").recovery_codes) == ("P2", ("h1", "h2"))
    off = catalog.set_two_factor("user1", {"totp_secret": None, "totp_pending": None, "totp_last_step": 0,
                                           "recovery_codes": ()})
    assert (off.totp_secret, off.totp_pending, off.totp_last_step, off.recovery_codes) == (None, None, 0, ())
    assert catalog.get_user("user1") == off
    with pytest.raises(ValueError):
        catalog.set_two_factor("user1", {"quota": 5})
    with pytest.raises(NotFound):
        catalog.set_two_factor("nobody", {"totp_pending": "P"})
