"""Two-factor sign-in: setup confirmed by a code, recovery codes once, the second sign-in step, the token API."""
from __future__ import annotations

import time

import pyotp
import pytest

from tests.conftest import both_backends

pytestmark = pytest.mark.usefixtures("fast_passwords")


def _signed_in(app, account):
    c = app.test_client()
    assert c.post("/login", data={"email": account.email, "password": account.password}).status_code == 302
    return c


def turn_on(client) -> tuple[pyotp.TOTP, list[str]]:
    """Two-factor on through the API; the app's TOTP and the recovery codes."""
    begun = client.post("/api/v1/account/2fa")
    assert begun.status_code == 201 and set(begun.json) == {"secret", "otpauth_uri"}
    assert begun.json["otpauth_uri"].startswith("otpauth://totp/")
    totp = pyotp.TOTP(begun.json["secret"])
    assert client.post("/api/v1/account/2fa/confirm", json={"code": "000000"}).status_code == 400
    confirmed = client.post("/api/v1/account/2fa/confirm", json={"code": totp.now()})
    assert confirmed.status_code == 200
    codes = confirmed.json["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    return totp, codes


def _next_code(totp: pyotp.TOTP) -> str:
    """A code of a later 30 s step than any used so far (each step's code works once)."""
    return totp.at(time.time() + 30)


@both_backends
def test_the_token_api_asks_for_otp_and_recovery_codes_work_once(app, alice):
    totp, codes = turn_on(_signed_in(app, alice))
    c = app.test_client()
    body = {"email": alice.email, "password": alice.password}
    for otp in (None, "123456", "nope"):
        resp = c.post("/api/v1/auth/token", json=body | ({"otp": otp} if otp else {}))
        assert resp.status_code == 401 and resp.json["error"]["code"] == "otp_required", otp
    assert c.post("/api/v1/auth/token", json=body | {"otp": _next_code(totp)}).status_code == 201
    assert c.post("/api/v1/auth/token", json=body | {"otp": _next_code(totp)}).status_code == 401  # replayed
    assert c.post("/api/v1/auth/token", json=body | {"otp": codes[0].upper()}).status_code == 201
    assert c.post("/api/v1/auth/token", json=body | {"otp": codes[0]}).status_code == 401  # used up
    assert c.post("/api/v1/auth/token", json=body | {"otp": codes[1]}).status_code == 201


@both_backends
def test_the_sign_in_page_asks_for_the_code_in_a_second_step(app, alice):
    totp, codes = turn_on(_signed_in(app, alice))
    c = app.test_client()
    first = c.post("/login?next=/trash", data={"email": alice.email, "password": alice.password})
    assert first.status_code == 302 and first.headers["Location"].endswith("/login/code")
    assert c.get("/").status_code == 302  # the password alone never signs in
    assert c.get("/api/v1/uploads").status_code == 401
    assert "authenticator app" in c.get("/login/code").get_data(as_text=True)
    assert c.post("/login/code", data={"code": "000000"}).status_code == 401
    done = c.post("/login/code", data={"code": _next_code(totp)})
    assert done.status_code == 302 and done.headers["Location"] == "/trash"
    assert c.get("/").status_code == 200
    other = app.test_client()
    other.post("/login", data={"email": alice.email, "password": alice.password})
    assert other.post("/login/code", data={"code": codes[3]}).status_code == 302
    again = app.test_client()
    again.post("/login", data={"email": alice.email, "password": alice.password})
    assert again.post("/login/code", data={"code": codes[3]}).status_code == 401


def test_turning_off_needs_a_code_and_tokens_cannot(app, alice, runner):
    c = _signed_in(app, alice)
    totp, _ = turn_on(c)
    assert alice.post("/api/v1/account/2fa").status_code == 403
    assert c.delete("/api/v1/account/2fa", json={"code": "000000"}).status_code == 400
    assert c.delete("/api/v1/account/2fa", json={"code": _next_code(totp)}).status_code == 204
    assert app.test_client().post("/api/v1/auth/token", json={"email": alice.email, "password": alice.password}
                                  ).status_code == 201
    turn_on(c)
    result = runner.invoke(args=["users", "2fa-reset", alice.email])
    assert result.exit_code == 0, result.output
    assert _signed_in(app, alice)


def test_setup_page_draws_the_qr_code_inline(app, alice):
    c = _signed_in(app, alice)
    page = c.get("/account/2fa").get_data(as_text=True)
    assert "<svg" in page and "<script" not in page.split("<main")[-1].split("</main>")[0]
    secret = page.split('<code class="secret">')[1].split("<")[0]
    assert secret == c.get("/account/2fa").get_data(as_text=True).split('<code class="secret">')[1].split("<")[0]
    done = c.post("/account/2fa", data={"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200 and done.get_data(as_text=True).count("<li><code>") == 10
    assert "Two-factor sign-in turned on" in c.get("/account").get_data(as_text=True)


@both_backends
def test_setup_and_confirmation_from_a_copy_read_before_another_windows_change(app, alice, backends):
    """Two windows of one account: a setup begun from a copy read before two-factor went on elsewhere is refused
    and leaves it on with its recovery codes, and a code confirmed from a copy whose pending secret was replaced
    meanwhile turns nothing on."""
    from momento.accounts import twofactor
    from momento.errors import BadRequest, Conflict

    catalog = backends.catalog
    before = catalog.get_user(alice.user.id)  # read by window B before window A turns two-factor on
    secret, _ = twofactor.begin(catalog, before)
    codes = twofactor.confirm(catalog, catalog.get_user(alice.user.id), pyotp.TOTP(secret).now())
    with pytest.raises(Conflict) as on:  # window B opens the setup from its old copy
        twofactor.begin(catalog, before)
    assert on.value.code == "two_factor_on"
    now = catalog.get_user(alice.user.id)
    assert now.totp_secret == secret and len(now.recovery_codes) == len(codes) == 10 and now.totp_pending is None

    twofactor.reset(catalog, now)
    first, _ = twofactor.begin(catalog, catalog.get_user(alice.user.id))
    copy = catalog.get_user(alice.user.id)  # window A's request has read the pending secret
    twofactor.begin(catalog, copy)  # window B starts the setup again: a new secret replaces it
    with pytest.raises(BadRequest) as refused:
        twofactor.confirm(catalog, copy, pyotp.TOTP(first).now())
    assert refused.value.code == "no_pending_setup"
    after = catalog.get_user(alice.user.id)
    assert after.totp_secret is None and after.totp_pending not in (None, first) and after.recovery_codes == ()


@both_backends
def test_a_second_device_is_set_up_only_after_turning_two_factor_off_with_a_code(app, alice):
    """While two-factor is on, a new secret is not handed out: a stolen session cannot move two-factor to the
    thief's app without a code from the owner's."""
    client = _signed_in(app, alice)
    totp, _ = turn_on(client)
    again = client.post("/api/v1/account/2fa")
    assert again.status_code == 409 and again.json["error"]["code"] == "two_factor_on"
    assert client.post("/api/v1/account/2fa/confirm", json={"code": totp.now()}).json["error"]["code"] in (
        "no_pending_setup",)
    assert client.delete("/api/v1/account/2fa", json={"code": _next_code(totp)}).status_code == 204
    assert client.post("/api/v1/account/2fa").status_code == 201
