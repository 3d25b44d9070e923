"""Security headers on every answer, HSTS and Secure cookies over TLS, ProxyFix for a proxy in front,
and bounds on JSON bodies (their size and their nesting)."""
from __future__ import annotations

import logging

from flask import current_app, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.middleware.proxy_fix import ProxyFix

# Pages load their scripts, styles and images from Momento only; no inline script, no framing.
PAGE_CSP = ("default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self'; "
            "script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
# Stored bytes are never a document: were a browser to render one, it gets no script and no origin.
MEDIA_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox; frame-ancestors 'none'"
OTHER_CSP = "default-src 'none'; frame-ancestors 'none'"
PERMISSIONS = "camera=(), microphone=(), geolocation=(), payment=(), usb=(), browsing-topics=()"

log = logging.getLogger(__name__)

# Answers no browser or proxy cache may keep: the API's JSON and the account pages (a token or a two-factor
# secret shown once, recovery codes, sessions). The gallery and search pages stay in the back/forward cache.
PRIVATE_PATHS = ("/api/", "/account", "/login", "/register")
JSON_BODY_LIMIT = 1024 * 1024  # the largest JSON body any route takes (a token request, a list of tags)

ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": PERMISSIONS,
    "X-Frame-Options": "DENY",  # for browsers that predate frame-ancestors
    "Cross-Origin-Opener-Policy": "same-origin",
    # Other sites may not embed people's photos, not even in an <img> that carries no cookie.
    "Cross-Origin-Resource-Policy": "same-origin",
}


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, where nesting too deep for the parser, or a string that is not Unicode text (a lone
    surrogate written as an escape, which no UTF-8 store or page can hold), is a malformed body (400), not a
    crash (500) now or when the value is shown later."""

    def loads(self, s, **kwargs):
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("The JSON is nested too deeply.") from None
        _check_text(value)
        return value


def _check_text(value) -> None:
    """ValueError when a string anywhere in a parsed JSON value holds a lone surrogate."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("The JSON holds text that is not valid Unicode.") from None


def init_app(app) -> None:
    """Trust the configured number of proxies, bound JSON bodies, and add the headers to every answer."""
    provider = BoundedJSONProvider(app)
    provider.sort_keys = app.json.sort_keys
    app.json = provider
    app.wsgi_app = SecureCookies(app.wsgi_app)
    proxies = app.config["PROXY_FIX"]
    if proxies:  # outermost, so the cookie rule sees the scheme the client used
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies)
    hsts = app.config["HSTS_MAX_AGE"]

    @app.before_request
    def bound_json_body():
        # Uploads may be gigabytes; a JSON body is read whole into memory, so it gets a small limit of its own.
        if request.is_json:
            request.max_content_length = JSON_BODY_LIMIT

    @app.after_request
    def security_headers(response):
        for name, value in ALWAYS.items():
            response.headers.setdefault(name, value)
        response.headers.setdefault("Content-Security-Policy", _csp(response))
        if request.path.startswith(PRIVATE_PATHS) and "Cache-Control" not in response.headers:
            response.headers["Cache-Control"] = "no-store"  # secrets shown once, account details: kept by no cache
        if request.is_secure and hsts:
            response.headers.setdefault("Strict-Transport-Security", f"max-age={hsts}; includeSubDomains")
        return response


def _csp(response) -> str:
    if response.mimetype == "text/html":
        return page_csp(media_origin())
    if request.path.startswith("/media/"):
        return MEDIA_CSP
    return OTHER_CSP


def page_csp(origin: str | None) -> str:
    """The pages' policy; with presigned delivery, images and media may also come from the bucket's origin."""
    if not origin:
        return PAGE_CSP
    return (PAGE_CSP.replace("img-src 'self'", f"img-src 'self' {origin}")
            .replace("media-src 'self'", f"media-src 'self' {origin}"))


def media_origin() -> str | None:
    """The bucket's origin when media are delivered by presigned URLs, else None (made once per app)."""
    if current_app.config.get("MEDIA_DELIVERY") != "presigned":
        return None
    found = current_app.extensions.get("momento-media-origin")
    if found is None:
        from ..backends import storage
        from ..errors import BackendError

        try:
            found = storage().delivery_origin() or ""
        except BackendError:  # no credentials yet: media will fail to load, the page itself still answers
            log.exception("could not work out the bucket's origin for the pages' CSP")
            return None
        current_app.extensions["momento-media-origin"] = found
    return found or None


class SecureCookies:
    """WSGI middleware: every cookie of an answer over TLS is Secure.

    At this layer it sees every cookie, including the session cookie Flask writes after the
    after_request hooks and flask-login's remember cookie, whatever order those were registered in.
    """

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        if environ.get("wsgi.url_scheme") != "https":
            return self.wsgi_app(environ, start_response)

        def start(status, headers, exc_info=None):
            return start_response(status, [(k, _secure(v) if k.lower() == "set-cookie" else v) for k, v in headers],
                                  exc_info)

        return self.wsgi_app(environ, start)


def _secure(cookie: str) -> str:
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    return cookie if "secure" in attributes else f"{cookie}; Secure"
