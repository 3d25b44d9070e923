"""The one place that turns errors into HTTP answers: JSON for the API and media, pages for people."""
from __future__ import annotations

import logging

from flask import jsonify, make_response, render_template, request
from flask_limiter import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from ..errors import BackendError, MomentoError, RangeNotSatisfiable, RateLimited
from ..formats import human_bytes_binary

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    409: "conflict", 410: "gone", 413: "too_large", 415: "unsupported_media_type", 416: "range_not_satisfiable",
    422: "unprocessable", 429: "rate_limited", 431: "headers_too_large",
}


def wants_json() -> bool:
    """Whether the caller is a script or the page's JavaScript rather than a person's browser tab."""
    path = request.path
    if path.startswith(("/api/", "/media/", "/healthz")):
        return True
    if path.startswith("/s/") and (path.endswith("/items") or "/media/" in path):  # a share's JSON and bytes
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def error_response(status: int, code: str, message: str, fields=None):
    """A JSON error or an error page with this status."""
    if wants_json():
        body = {"error": {"code": code, "message": message}}
        if fields:
            body["error"]["fields"] = [{"field": f, "reason": r} for f, r in fields]
        return jsonify(body), status
    # A Response, not a string, so handlers can add headers whichever form the answer takes.
    return make_response(render_template("error.html", status=status, code=code, message=message)), status


def init_app(app) -> None:
    """Register the handlers."""

    @app.errorhandler(MomentoError)
    def momento_error(exc: MomentoError):
        message = exc.message
        if exc.status >= 500:
            log.warning("backend error: %s", exc.message)
            if "try again" not in message.lower():  # a backend hiccup: say what a person can do about it
                message += " Please try again in a moment."
        resp = error_response(exc.status, exc.code, message, exc.fields)
        if exc.status == 503:
            resp[0].headers["Retry-After"] = "1"
        if isinstance(exc, RangeNotSatisfiable):
            resp[0].headers["Content-Range"] = f"bytes */{exc.size}"
        if isinstance(exc, RateLimited):
            resp[0].headers["Retry-After"] = str(exc.retry_after)
        return resp

    @app.errorhandler(RateLimitExceeded)
    def rate_limit_exceeded(exc: RateLimitExceeded):
        from .limits import current_retry_after

        # exc.response is the page a limit chose to show (the sign-in form with its lock-out message)
        resp = exc.response if exc.response is not None else error_response(429, "rate_limited", exc.description)[0]
        resp.headers["Retry-After"] = str(current_retry_after())
        return resp, 429

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        return error_response(400, "csrf_failed", "The form expired or came from elsewhere. Reload the page and try again.")

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(exc):
        limit = request.max_content_length  # this request's own (a JSON body's is smaller than an upload's)
        return error_response(413, "request_too_large",
                              f"The request is larger than the {human_bytes_binary(limit)} this server accepts for it."
                              if limit else "The request is too large.")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        code = _HTTP_CODES.get(exc.code or 500, "error")
        resp = error_response(exc.code or 500, code, exc.description or exc.name)
        if exc.code == 429 and getattr(exc, "retry_after", None):
            resp[0].headers["Retry-After"] = str(exc.retry_after)
        if exc.code == 405 and exc.valid_methods:
            resp[0].headers["Allow"] = ", ".join(exc.valid_methods)
        return resp

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        if limiter_storage_failed(exc):  # Redis (or the like) down: a backend's 503, counted, not a crash
            return momento_error(BackendError(
                "The rate-limit storage does not answer, so nothing that is counted (sign-in, uploads) can be done "
                "right now.", backend="ratelimit", operation="count"))
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "Something went wrong on our side. Please try again.")


def limiter_storage_failed(exc: BaseException) -> bool:
    """Whether an exception is the rate-limit storage failing (limits' StorageError, or its client's own error:
    Redis, Valkey, Memcached, MongoDB)."""
    from limits.errors import StorageError

    module = type(exc).__module__ or ""
    return isinstance(exc, StorageError) or module.split(".")[0] in ("redis", "valkey", "pymemcache", "pymongo")
