"""Momento: a server-routed photo and video upload service."""
from __future__ import annotations

import logging
import os
import tempfile

from flask import Flask, Request

from .config import load_config


class MomentoRequest(Request):
    """Spools file parts to named files on disk, so the pipeline can hand a path to decoders."""

    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        from flask import current_app

        scratch = os.path.join(current_app.config["DATA_DIR"], "tmp")
        os.makedirs(scratch, exist_ok=True)
        return tempfile.NamedTemporaryFile("w+b", dir=scratch, prefix="part-")


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: config, extensions, backends, blueprints, CLI."""
    app = Flask(__name__, instance_relative_config=True)
    app.request_class = MomentoRequest
    load_config(app, test_config)
    app.json.sort_keys = False
    os.makedirs(app.config["DATA_DIR"], exist_ok=True)
    register_logging(app)
    register_backends(app)
    register_extensions(app)
    register_blueprints(app)
    register_cli(app)
    return app


def register_logging(app: Flask) -> None:
    """Log to stderr at INFO unless the host configured logging."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def register_backends(app: Flask) -> None:
    """The object store and catalog chosen by MOMENTO_BACKEND."""
    from . import backends

    backends.init_app(app)


def register_extensions(app: Flask) -> None:
    """Sign-in, CSRF, error pages and template helpers."""
    from .web import auth, errors, templating

    errors.init_app(app)
    auth.init_app(app)
    templating.init_app(app)


def register_blueprints(app: Flask) -> None:
    """Routes: pages, auth, API, media."""
    from .web import api, auth, media, pages

    for bp in (auth.bp, pages.bp, api.bp, api.health, media.bp):
        app.register_blueprint(bp)


def register_cli(app: Flask) -> None:
    """The `flask momento` and `flask users` groups."""
    from . import cli

    cli.init_app(app)
