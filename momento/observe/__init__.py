"""Operations you can see: Prometheus metrics, request ids and structured logs (see docs/operations.md)."""
from __future__ import annotations


def init_app(app) -> None:
    """Logs first (so the other parts log with request ids), then the request hooks and /metrics."""
    from . import logs, web

    logs.init_app(app)
    web.init_app(app)
