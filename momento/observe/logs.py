"""Logging: every line carries the request id of the request it was written in; `MOMENTO_LOG_FORMAT=json` writes
one JSON object a line (python-json-logger). One access line per request, with its route (never its path or query
string, which may hold ids or signatures), method, status, duration and the opaque user id; never a header."""
from __future__ import annotations

import logging
import sys

from flask import g, has_request_context
from pythonjsonlogger.json import JsonFormatter

from ..config import ConfigError

FORMATS = ("text", "json")
TEXT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
access_log = logging.getLogger("momento.access")


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record: the id of the request being handled, or None outside one."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Never drops a record; only labels it."""
        if not hasattr(record, "request_id"):
            record.request_id = getattr(g, "request_id", None) if has_request_context() else None
        return True


class DevServerAccessFilter(logging.Filter):
    """Drops the development server's own request lines (`flask run`): they hold the raw path and query string
    (a share link's token, a search), and `momento.access` already writes one line per request without them.
    Its other lines (the address it listens on, errors) stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a werkzeug request line."""
        return not (isinstance(record.msg, str) and " - - [" in record.msg[:80])


def json_formatter() -> logging.Formatter:
    """One object a line: time, level, logger, message, request_id, and any extra fields of the record."""
    return JsonFormatter(["levelname", "name", "message", "request_id"], timestamp="time",
                         rename_fields={"levelname": "level", "name": "logger"})


def text_formatter() -> logging.Formatter:
    """Plain lines, the request id in brackets."""
    return logging.Formatter(TEXT)


def make_handler(stream=None, fmt: str = "text") -> logging.Handler:
    """A handler writing to stream (stderr by default) in the chosen format, labelling records with request ids."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(json_formatter() if fmt == "json" else text_formatter())
    handler.addFilter(RequestIdFilter())
    handler.momento = True  # so a second app in the same process finds it instead of adding another
    return handler


def init_app(app) -> None:
    """Log to stderr at INFO in the configured format, unless the host set up logging itself (then its handlers
    still get request ids)."""
    fmt = str(app.config.get("LOG_FORMAT") or "text").strip().lower()
    if fmt not in FORMATS:
        raise ConfigError(f"MOMENTO_LOG_FORMAT must be 'text' or 'json', not {app.config.get('LOG_FORMAT')!r}.")
    app.config["LOG_FORMAT"] = fmt
    dev_server = logging.getLogger("werkzeug")
    if not any(isinstance(f, DevServerAccessFilter) for f in dev_server.filters):
        dev_server.addFilter(DevServerAccessFilter())
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, "momento", False)]
    if ours:
        ours[0].setFormatter(json_formatter() if fmt == "json" else text_formatter())
    elif not root.handlers:
        root.addHandler(make_handler(fmt=fmt))
        root.setLevel(logging.INFO)
    else:
        for handler in root.handlers:
            if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
                handler.addFilter(RequestIdFilter())


def log_access(*, method: str, route: str, status: int, duration_ms: float, user: str | None) -> None:
    """The request's one access line."""
    access_log.info("%s %s %s %.1fms", method, route, status, duration_ms,
                    extra={"method": method, "route": route, "status": status, "duration_ms": round(duration_ms, 1),
                           "user": user})
