"""Accounts under a careful attacker: secrets checked while signed in spend the sign-in budget, sign-up does not
tell which emails have accounts for free, names that cannot be shown are refused, a malformed passkey is a 400."""
from __future__ import annotations

import pyotp
import pytest

from momento import create_app
from tests import corpus
from tests.conftest import Account, app_config

pytestmark = pytest.mark.usefixtures("fast_passwords")


@pytest.fixture
def limited(request, tmp_path):
    return create_app(app_config(request, tmp_path, "local", RATELIMIT_ENABLED=True, LOGIN_LIMIT="3 per 15 minutes",
                                 LOGIN_ADDRESS_LIMIT="100 per hour", REGISTER_LIMIT="3 per hour"))


def _signed_in(app, account):
    c = app.test_client()
    assert c.post("/login", data={"email": account.email, "password": account.password}).status_code == 302
    return c


def test_wrong_current_passwords_lock_the_account_as_sign_in_does(limited):
    alice = Account(limited, "alice@example.com")
    c = _signed_in(limited, alice)
    for _ in range(3):
        resp = c.post("/api/v1/account/password", json={"current": "guess", "new": "another long password"})
        assert resp.status_code == 401
    resp = c.post("/api/v1/account/password", json={"current": alice.password, "new": "another long password"})
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) > 0
    # sign-in itself shares the budget
    assert limited.test_client().post("/api/v1/auth/token", json={"email": alice.email,
                                                                  "password": alice.password}).status_code == 429


def test_the_password_page_counts_wrong_passwords_too(limited):
    bob = Account(limited, "bob@example.com")
    c = _signed_in(limited, bob)
    for _ in range(3):
        page = c.post("/account/password", data={"pw-current": "guess", "pw-new": "another long password",
                                                 "pw-confirm": "another long password"}, follow_redirects=True)
        assert "not right" in page.get_data(as_text=True).lower() or "wrong" in page.get_data(as_text=True).lower()
    page = c.post("/account/password", data={"pw-current": bob.password, "pw-new": "another long password",
                                             "pw-confirm": "another long password"}, follow_redirects=True)
    assert "try again in" in page.get_data(as_text=True)
    assert c.post("/api/v1/account/password", json={"current": bob.password,
                                                    "new": "another long password"}).status_code == 429


def test_a_right_current_password_gives_its_count_back(limited):
    alice = Account(limited, "alice@example.com")
    c = _signed_in(limited, alice)
    for i in range(5):
        new = f"long password number {i}"
        assert c.post("/api/v1/account/password", json={"current": alice.password, "new": new}).status_code == 204
        alice.password = new


def test_wrong_codes_to_turn_two_factor_off_are_limited(limited):
    alice = Account(limited, "alice@example.com")
    c = _signed_in(limited, alice)
    totp = pyotp.TOTP(c.post("/api/v1/account/2fa").json["secret"])
    assert c.post("/api/v1/account/2fa/confirm", json={"code": totp.now()}).status_code == 200
    statuses = [c.delete("/api/v1/account/2fa", json={"code": "000000"}).status_code for _ in range(4)]
    assert statuses == [400, 400, 400, 429]


def test_asking_whether_an_email_has_an_account_spends_the_sign_up_budget(limited):
    Account(limited, "alice@example.com")
    c = limited.test_client()
    form = {"email": "alice@example.com", "password": "long enough pw", "confirm": "long enough pw"}
    assert [c.post("/register", data=form).status_code for _ in range(4)] == [400, 400, 400, 429]


def test_a_mistyped_form_does_not_spend_the_sign_up_budget(limited):
    c = limited.test_client()
    for _ in range(5):
        assert c.post("/register", data={"email": "new@example.com", "password": "short",
                                         "confirm": "short"}).status_code == 400
    assert c.post("/register", data={"email": "new@example.com", "password": "long enough pw",
                                     "confirm": "long enough pw"}).status_code == 302


def test_text_that_is_not_unicode_is_refused_and_names_are_cleaned(app, alice):
    c = app.test_client()
    raw = '{"email": "%s", "password": "%s", "name": "bad\\ud800name"}' % (alice.email, alice.password)
    resp = c.post("/api/v1/auth/token", data=raw, content_type="application/json")
    assert resp.status_code == 400 and resp.json["error"]["code"]
    made = c.post("/api/v1/auth/token", json={"email": alice.email, "password": alice.password,
                                              "name": "night\x00 \u202ebackup\n  job"})
    assert made.status_code == 201 and made.json["name"] == "night backup job"
    for bad in ("\x00\u200b", "   "):
        assert c.post("/api/v1/auth/token", json={"email": alice.email, "password": alice.password,
                                                  "name": bad}).json["error"]["code"] == "invalid_name"
    search = alice.post("/api/v1/searches", json={"name": "a\u2028b", "query": {"tag": ["x"]}})
    assert search.status_code == 201 and search.json["name"] == "ab"
    signed = _signed_in(app, alice)
    assert signed.get("/account").status_code == 200


@pytest.mark.parametrize("credential", [
    {},
    {"id": "AAAA"},
    {"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {}},
    {"id": "AAAA", "rawId": "AAAA", "type": "public-key",
     "response": {"clientDataJSON": "e30", "attestationObject": "oA"}},
    "not an object",
])
def test_a_malformed_passkey_is_refused_with_a_sentence(app, alice, credential):
    c = _signed_in(app, alice)
    assert c.post("/api/v1/account/passkeys/options").status_code == 200
    resp = c.post("/api/v1/account/passkeys", json={"credential": credential})
    assert resp.status_code == 400, resp.json
    assert resp.json["error"]["code"] in ("passkey_refused", "invalid_body")
    assert "__cause__" not in resp.json["error"]["message"]


def test_account_answers_are_never_cached_and_the_gallery_may_be(app, alice):
    c = _signed_in(app, alice)
    for url in ("/account", "/api/v1/account/sessions", "/api/v1/uploads"):
        assert c.get(url).headers["Cache-Control"] == "no-store", url
    assert app.test_client().get("/login").headers["Cache-Control"] == "no-store"
    assert "no-store" not in c.get("/").headers.get("Cache-Control", "")


def test_the_otpauth_uri_spells_out_its_parameters(app, alice):
    uri = _signed_in(app, alice).post("/api/v1/account/2fa").json["otpauth_uri"]
    assert "algorithm=SHA1" in uri and "digits=6" in uri and "period=30" in uri


def test_a_typed_logout_offers_the_button(app, alice):
    c = _signed_in(app, alice)
    page = c.get("/logout")
    assert page.status_code == 200 and 'action="/logout"' in page.get_data(as_text=True)
    assert c.get("/account").status_code == 200  # a GET signed nobody out
    assert c.post("/logout").status_code == 302 and c.get("/account").status_code == 302
    assert c.get("/logout").headers["Location"].endswith("/login")


def test_closed_registration_offers_no_register_link(request, tmp_path):
    app = create_app(app_config(request, tmp_path, "local", OPEN_REGISTRATION=False))
    page = app.test_client().get("/login").get_data(as_text=True)
    assert "/register" not in page
    open_app = create_app(app_config(request, tmp_path / "open", "local"))
    assert "/register" in open_app.test_client().get("/login").get_data(as_text=True)


@pytest.mark.parametrize("new", ["\x00" * 10, "long pass\nword", "aaaaaaaaaaaa", "Alice@Example.com"])
def test_passwords_that_cannot_be_typed_or_are_guessed_at_once_are_refused(app, alice, new):
    c = _signed_in(app, alice)
    resp = c.post("/api/v1/account/password", json={"current": alice.password, "new": new})
    assert resp.status_code == 400 and resp.json["error"]["code"] == "weak_password"
    assert app.test_client().post("/api/v1/auth/token", json={"email": alice.email,
                                                              "password": alice.password}).status_code == 201


def test_ending_what_is_not_yours_on_the_account_page_is_a_404(app, alice, bob):
    theirs = _signed_in(app, bob)
    their_session = theirs.get("/api/v1/account/sessions").json["items"][0]["id"]
    their_token = theirs.get("/api/v1/auth/tokens").json["items"][0]["id"]
    c = _signed_in(app, alice)
    for url in (f"/account/sessions/{their_session}/end", "/account/sessions/garbage/end",
                f"/account/tokens/{their_token}/revoke", "/account/tokens/garbage/revoke"):
        assert c.post(url).status_code == 404, url
    assert theirs.get("/account").status_code == 200  # nothing of theirs ended
    assert bob.get("/api/v1/uploads").status_code == 200


def test_tags_may_not_pose_as_the_kind_or_the_month(app, alice):
    photo = alice.upload(corpus.jpeg(30, 20), tags="beach").json
    for tags in (["month:2019-01"], ["Kind:video"]):
        resp = alice.patch(f"/api/v1/uploads/{photo['id']}", json={"tags": tags})
        assert resp.status_code == 400 and resp.json["error"]["code"] == "reserved_tag", tags
    assert alice.upload(corpus.jpeg(31, 20), tags="month:2019-01").json["error"]["code"] == "reserved_tag"
    assert alice.patch(f"/api/v1/uploads/{photo['id']}", json={"tags": ["monthly", "year:2019"]}).status_code == 200
    assert alice.get("/api/v1/uploads?tag=kind:photo").json["items"][0]["id"] == photo["id"]  # searching stays


def test_the_account_forms_say_which_field_is_wrong(app, alice):
    c = _signed_in(app, alice)
    page = c.post("/account/password", data={}, follow_redirects=True).get_data(as_text=True)
    assert "Current password: This field is required." in page and "New password: This field is required." in page
    c.get("/account/2fa")
    page = c.post("/account/2fa", data={"code": ""}).get_data(as_text=True)
    assert "Enter the 6-digit code" in page
