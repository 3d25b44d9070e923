"""Security headers and cookies: CSP without inline script, nosniff everywhere, HSTS and Secure over TLS,
ProxyFix on request, and media that can never be served as an active type."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from momento import create_app
from momento.models import PHOTO, Upload
from momento.web.media import PASSIVE_TYPES
from momento.web.security import PAGE_CSP
from tests import corpus
from tests.conftest import app_config

pytestmark = pytest.mark.usefixtures("fast_passwords")  # many sign-ins: hashing is not under test here

TEMPLATES = Path(__file__).resolve().parent.parent / "momento" / "templates"


def _signed_in(app, account, base_url="http://localhost"):
    c = app.test_client()
    resp = c.post("/login", data={"email": account.email, "password": account.password}, base_url=base_url)
    assert resp.status_code == 302
    return c


def test_pages_carry_a_strict_csp(app, alice):
    c = _signed_in(app, alice)
    for path in ("/", "/upload", "/search", "/trash", "/account", "/uploads/01JD3Z8Q4M5X2V7K9T1B6N0C3F"):
        resp = c.get(path)
        assert resp.status_code == (404 if path.startswith("/uploads/") else 200), path
        assert resp.mimetype == "text/html"
        csp = resp.headers["Content-Security-Policy"]
        assert csp == PAGE_CSP
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
        assert resp.headers["Referrer-Policy"] == "same-origin"
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert "camera=()" in resp.headers["Permissions-Policy"]


def test_templates_have_no_inline_script_or_style():
    """What the CSP would block: inline <script>, on* handlers, javascript: URLs, style attributes."""
    for path in TEMPLATES.glob("*.html"):
        html = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), f"inline script in {path.name}"
        assert not re.search(r"\son[a-z]+\s*=", html), f"event handler attribute in {path.name}"
        assert "javascript:" not in html.lower(), path.name
        assert not re.search(r"\sstyle\s*=", html), f"style attribute in {path.name}"
        assert "<style" not in html, f"inline stylesheet in {path.name}"


@pytest.mark.parametrize("path,status", [("/healthz", 200), ("/api/v1/uploads", 401), ("/nowhere", 404),
                                         ("/static/momento.css", 200), ("/login", 200)])
def test_nosniff_on_every_answer(client, path, status):
    resp = client.get(path)
    assert resp.status_code == status
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["Cross-Origin-Resource-Policy"] == "same-origin"


def test_no_hsts_and_no_secure_cookie_over_plain_http(app, alice):
    c = app.test_client()
    resp = c.post("/login", data={"email": alice.email, "password": alice.password})
    assert "Strict-Transport-Security" not in resp.headers
    assert all("Secure" not in v for v in resp.headers.getlist("Set-Cookie"))


def test_hsts_and_secure_cookies_over_tls(app, alice):
    c = app.test_client()
    resp = c.post("/login", data={"email": alice.email, "password": alice.password, "remember": "y"},
                  base_url="https://localhost")
    assert resp.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    cookies = resp.headers.getlist("Set-Cookie")
    assert len(cookies) >= 1  # the session cookie; "keep me signed in" makes it outlive the browser
    assert any("Expires=" in v for v in cookies)
    assert not any(v.startswith("remember_token=") for v in cookies)  # no cookie that bypasses the server
    assert all(re.search(r";\s*Secure", v) for v in cookies), cookies
    assert all("HttpOnly" in v for v in cookies)


def test_forwarded_proto_is_ignored_without_proxy_fix(client):
    resp = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in resp.headers


def test_proxy_fix_trusts_the_configured_proxy(request, tmp_path):
    app = create_app(app_config(request, tmp_path, "local", PROXY_FIX=1, RATELIMIT_ENABLED=True,
                                LOGIN_ADDRESS_LIMIT="2 per minute"))
    c = app.test_client()
    resp = c.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" in resp.headers
    # The client's own address (from X-Forwarded-For) is what the per-address limit counts.
    for _ in range(2):
        c.post("/api/v1/auth/token", json={"email": "x@example.com", "password": "nope"},
               headers={"X-Forwarded-For": "203.0.113.7"})
    blocked = c.post("/api/v1/auth/token", json={"email": "x@example.com", "password": "nope"},
                     headers={"X-Forwarded-For": "203.0.113.7"})
    assert blocked.status_code == 429
    other = c.post("/api/v1/auth/token", json={"email": "x@example.com", "password": "nope"},
                   headers={"X-Forwarded-For": "198.51.100.1"})
    assert other.status_code == 401


def test_media_disposition_is_rfc5987_with_a_safe_ascii_fallback(app, alice):
    up = alice.upload(corpus.jpeg(40, 30), filename='Été "quoted" \\ name.jpg').json
    resp = alice.get(up["urls"]["original"])
    assert resp.status_code == 200 and resp.mimetype == "image/jpeg"
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith("inline; ")
    fallback = re.search(r'filename="([^"]*)"', disposition).group(1)
    assert all(" " <= ch <= "~" for ch in fallback) and '"' not in fallback and "\\" not in fallback
    assert "filename*=UTF-8''" in disposition and "%C3%89t%C3%A9" in disposition
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in resp.headers["Content-Security-Policy"]


@pytest.mark.parametrize("mime", ["text/html", "image/svg+xml", "application/xhtml+xml", "text/xml",
                                  "application/javascript", "application/pdf", "text/plain"])
def test_an_active_type_is_never_served(app, alice, backends, mime):
    """Even if a record somehow says so (a bug, a bad migration), the bytes go out as an opaque download."""
    up = Upload(user_id=alice.user.id, id="01JD3Z8Q4M5X2V7K9T1B6N0C3F", kind=PHOTO, filename="x.html", mime=mime,
                ext="jpg", size=30, sha256="0" * 64, uploaded_at="2026-11-22T10:00:00Z", thumb_mime=mime)
    backends.storage.put_bytes(up.original_key, b"<script>alert(document.cookie)</script>", mime)
    backends.storage.put_bytes(up.thumb_key, b"<svg onload=alert(1)>", "image/svg+xml")
    backends.catalog.put_upload(up)
    for url in (f"/media/{up.id}/original", f"/media/{up.id}/thumbnail"):
        resp = alice.get(url)
        assert resp.status_code == 200
        assert resp.mimetype == "application/octet-stream", url
        assert resp.headers["Content-Disposition"].startswith("attachment;")
        assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_passive_types_are_what_momento_accepts():
    assert {"image/jpeg", "image/png", "image/webp", "image/gif", "image/heic", "video/mp4", "video/quicktime",
            "video/webm"} <= PASSIVE_TYPES
    assert not {t for t in PASSIVE_TYPES if "svg" in t or "html" in t or "xml" in t or t.startswith("text/")}

