"""Security headers on every answer, HSTS and Secure cookies over TLS, and ProxyFix for a proxy in front."""
from __future__ import annotations

from flask import request
from werkzeug.middleware.proxy_fix import ProxyFix

# Pages load their scripts, styles and images from Momento only; no inline script, no framing.
PAGE_CSP = ("default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self'; "
            "script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
# Stored bytes are never a document: were a browser to render one, it gets no script and no origin.
MEDIA_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox; frame-ancestors 'none'"
OTHER_CSP = "default-src 'none'; frame-ancestors 'none'"
PERMISSIONS = "camera=(), microphone=(), geolocation=(), payment=(), usb=(), browsing-topics=()"

ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": PERMISSIONS,
    "X-Frame-Options": "DENY",  # for browsers that predate frame-ancestors
    "Cross-Origin-Opener-Policy": "same-origin",
    # Other sites may not embed people's photos, not even in an <img> that carries no cookie.
    "Cross-Origin-Resource-Policy": "same-origin",
}


def init_app(app) -> None:
    """Trust the configured number of proxies, and add the headers to every answer."""
    proxies = app.config["PROXY_FIX"]
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies)
    hsts = app.config["HSTS_MAX_AGE"]

    @app.after_request
    def security_headers(response):
        for name, value in ALWAYS.items():
            response.headers.setdefault(name, value)
        response.headers.setdefault("Content-Security-Policy", _csp(response))
        if request.is_secure:
            if hsts:
                response.headers.setdefault("Strict-Transport-Security", f"max-age={hsts}; includeSubDomains")
            _secure_cookies(response)
        return response


def _csp(response) -> str:
    if response.mimetype == "text/html":
        return PAGE_CSP
    if request.path.startswith("/media/"):
        return MEDIA_CSP
    return OTHER_CSP


def _secure_cookies(response) -> None:
    """Mark every cookie Secure on a TLS answer (the session, flask-login's remember cookie, any other)."""
    cookies = response.headers.getlist("Set-Cookie")
    if not cookies:
        return
    response.headers.remove("Set-Cookie")
    for cookie in cookies:
        attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
        response.headers.add("Set-Cookie", cookie if "secure" in attributes else f"{cookie}; Secure")
