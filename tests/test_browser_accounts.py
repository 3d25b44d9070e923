"""Sign-in security in Chromium: the two-factor step, and a passkey added on /account and used on /login
through Chromium's virtual authenticator (CDP WebAuthn), with phone and desktop screenshots."""
from __future__ import annotations

import time

import pyotp
import pytest

from momento import create_app
from tests.test_browser import browser, expect, follow, page, serving, shoot, sync_api  # noqa: F401 (fixtures)

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real Momento on localhost (an IP address cannot be a WebAuthn relying party), CSRF on, strict CSP."""
    app = create_app({"TESTING": False, "SECRET_KEY": "browser-accounts-secret", "BACKEND": "local",
                      "DATA_DIR": str(tmp_path_factory.mktemp("browser-accounts")), "WTF_CSRF_ENABLED": True})
    with serving(app, host="localhost") as url:
        yield url


def register(page, email: str) -> None:
    """Sign up through the page (it signs in too)."""
    page.goto("/register")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    follow(page, page.get_by_role("button", name="Create account"))


def sign_out(page) -> None:
    """The header's sign-out button."""
    follow(page, page.get_by_role("button", name="Sign out").first)


def password_step(page, email: str) -> None:
    """The first sign-in step."""
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    follow(page, page.locator("form.stack").get_by_role("button", name="Sign in", exact=True))


def test_two_factor_asks_for_a_code_in_a_second_step(page):
    register(page, "totp@example.com")
    page.goto("/account")
    follow(page, page.get_by_role("link", name="Turn on two-factor sign-in"))
    expect(page.locator(".qr svg")).to_be_visible()
    shoot(page, "account-two-factor-setup")
    totp = pyotp.TOTP(page.locator("code.secret").inner_text())
    page.get_by_label("Code from the app").fill(totp.now())
    follow(page, page.get_by_role("button", name="Turn on"))
    expect(page.locator(".recovery-codes li")).to_have_count(10)
    shoot(page, "account-recovery-codes")
    follow(page, page.get_by_role("link", name="I have saved them"))
    shoot(page, "account")
    sign_out(page)
    password_step(page, "totp@example.com")
    expect(page.get_by_role("heading", name="One more step")).to_be_visible()
    shoot(page, "sign-in-code-step")
    page.get_by_label("Code from your authenticator app").fill(totp.at(time.time() + 30))
    follow(page, page.get_by_role("button", name="Sign in", exact=True))
    assert page.url.endswith("/")
    expect(page.get_by_role("link", name="Account")).to_be_visible()


def test_a_passkey_is_added_on_the_account_page_and_signs_in(page):
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True}})
    register(page, "passkey@example.com")
    page.goto("/account")
    page.get_by_label("Name", exact=True).fill("Test laptop")
    with page.expect_navigation():
        page.get_by_role("button", name="Add a passkey").click()
    expect(page.locator("[data-passkey-id] [data-passkey-name]")).to_have_text("Test laptop")
    shoot(page, "account-passkeys")
    sign_out(page)
    page.goto("/login?next=/account")
    shoot(page, "sign-in")
    with page.expect_navigation(url="**/account"):
        page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(page.locator("[data-passkey-id] small")).to_contain_text("last used")
