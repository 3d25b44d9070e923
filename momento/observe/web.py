"""The request side of observability: request ids, one access line and the HTTP metrics per request, the
uploads counted by outcome, and GET /metrics for Prometheus."""
from __future__ import annotations

import hmac
import ipaddress
import re
import time
import uuid

from flask import Blueprint, Response, abort, current_app, g, request
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4

from . import logs, metrics

bp = Blueprint("observe", __name__)

SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "<unmatched>"
# Endpoints whose error answers are refused uploads (a tus upload's end is counted where it settles).
UPLOAD_ENDPOINTS = frozenset({"api.create_upload", "tus.create"})
FORWARDING = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def start_request():
    """Take the caller's X-Request-ID when it is a sane token, else make one; start the clock. A scrape is
    answered here, before sign-in (its bearer token is not an account's), CSRF and rate limits."""
    g.request_started = time.perf_counter()
    given = request.headers.get("X-Request-ID", "")
    g.request_id = given if SANE_ID.match(given) else uuid.uuid4().hex
    if request.endpoint == "observe.scrape":
        return scrape()
    return None


def finish_request(response):
    """Send the request id back, count the request (and an upload's outcome), and write the access line."""
    if "request_id" not in g:  # a hook before ours answered first
        start_request()
    response.headers["X-Request-ID"] = g.request_id
    seconds = time.perf_counter() - g.request_started
    route = request.url_rule.rule if request.url_rule is not None else UNMATCHED
    method = request.method if request.method in METHODS else "OTHER"
    metrics.count_request(route, method, response.status_code, seconds)
    if request.endpoint in UPLOAD_ENDPOINTS:
        _count_upload(response)
    user = getattr(g, "_login_user", None)  # only when the request loaded it: no extra lookup for this line
    logs.log_access(method=method, route=route, status=response.status_code, duration_ms=seconds * 1000,
                    user=user.id if getattr(user, "is_authenticated", False) else None)
    return response


def _count_upload(response) -> None:
    """A form upload's outcome from its answer (the API's JSON: the upload, or the error's code)."""
    body = response.get_json(silent=True) if response.is_json and not response.is_streamed else None
    body = body if isinstance(body, dict) else {}
    if response.status_code >= 400:
        error = body.get("error")
        code = error.get("code") if isinstance(error, dict) else None
        metrics.count_upload(None, str(code or response.status_code))
    elif request.endpoint == "api.create_upload":
        duplicate = bool(body.get("duplicate"))
        metrics.count_upload(body.get("kind"), "duplicate" if duplicate else "stored", int(body.get("size") or 0))


def may_scrape() -> bool:
    """A loopback client (judged by the real address: ProxyFix's when set, and a forwarded request is never
    local without it), or a bearer of MOMENTO_METRICS_TOKEN when that is set."""
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        given = request.headers.get("Authorization", "")
        if given.startswith("Bearer ") and hmac.compare_digest(given[7:].strip().encode(), str(token).encode()):
            return True
    if not current_app.config.get("PROXY_FIX") and any(h in request.headers for h in FORWARDING):
        return False
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


@bp.get("/metrics")
def scrape():
    """Prometheus text format; 404 for anyone who may not see it."""
    if not may_scrape():
        abort(404)
    body = metrics.exposition(current_app.extensions["momento"].catalog)
    return Response(body, headers={"Cache-Control": "no-store"}, content_type=CONTENT_TYPE_PLAIN_0_0_4)


def init_app(app) -> None:
    """Hooks that run first and last on every request, the /metrics route, the count of backend errors and of
    bytes read back from the store."""
    app.before_request_funcs.setdefault(None, []).insert(0, start_request)
    # after_request functions run last-registered-first: at the front of the list, this one runs after the others
    app.after_request_funcs.setdefault(None, []).insert(0, finish_request)
    app.register_blueprint(bp)
    metrics.watch_backend_errors()
    metrics.watch_read_back()
