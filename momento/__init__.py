"""Momento: a server-routed photo and video upload service."""
from __future__ import annotations

import os

import click
from flask import Flask

from .config import ConfigError, load_config
from .memory import report_tuning, tune_allocator


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: config, extensions, backends, blueprints, CLI."""
    tune_allocator()
    app = Flask(__name__, instance_relative_config=True)
    try:
        load_config(app, test_config)
    except ConfigError as exc:
        if click.get_current_context(silent=True) is not None:  # a `flask ...` command: one line, not a traceback
            raise click.ClickException(str(exc)) from None
        raise
    app.json.sort_keys = False
    os.makedirs(app.config["DATA_DIR"], exist_ok=True)
    register_logging(app)
    register_backends(app)
    register_extensions(app)
    register_blueprints(app)
    register_cli(app)
    register_worker(app)
    return app


def register_logging(app: Flask) -> None:
    """Logs with request ids (text or JSON), the access line, metrics and GET /metrics (momento/observe/)."""
    from . import observe

    observe.init_app(app)
    report_tuning()


def register_backends(app: Flask) -> None:
    """The object store and catalog chosen by MOMENTO_BACKEND."""
    from . import backends

    backends.init_app(app)


def register_extensions(app: Flask) -> None:
    """Sign-in, CSRF, abuse limits, security headers, error pages and template helpers."""
    from .web import limits
    from .web import auth, errors, security, templating

    errors.init_app(app)
    auth.init_app(app)
    security.init_app(app)  # before the limiter, whose sign-in keys read bounded JSON bodies
    limits.init_app(app)
    templating.init_app(app)


def register_blueprints(app: Flask) -> None:
    """Routes: pages, auth, API, media."""
    from .web import account, account_api, api, auth, media, pages, passkeys, shared, shares, tus

    for bp in (auth.bp, pages.bp, api.bp, api.health, media.bp, account.bp, account_api.bp, passkeys.bp, tus.bp,
               shares.api, shares.pages, shared.bp):
        app.register_blueprint(bp)


def register_worker(app: Flask) -> None:
    """Background job threads in the server, when WORKER_THREADS asks for them."""
    from .jobs import threads as worker

    worker.init_app(app)


def register_cli(app: Flask) -> None:
    """The `flask momento` and `flask users` groups."""
    from . import cli

    cli.init_app(app)
