"""The backends operators' commands use: on aws, built with the admin role's credentials when configured."""
from __future__ import annotations

from ..aws import role_session
from ..config import role_configured
from ..backends import Backends


def admin_backends(app) -> Backends:
    """The app's own backends, unless MOMENTO_ADMIN_* names other credentials (built once per app)."""
    cfg = app.config
    if cfg["BACKEND"] != "aws" or not role_configured(cfg, "ADMIN"):
        return app.extensions["momento"]
    if "momento_admin" not in app.extensions:
        from ..catalog.dynamodb import DynamoCatalog
        from ..storage.s3 import S3Storage

        session = admin_session(cfg)
        app.extensions["momento_admin"] = Backends(S3Storage.from_app(app, session=session),
                                                   DynamoCatalog.from_app(app, session=session))
    return app.extensions["momento_admin"]


def admin_session(cfg):
    """A boto3 session for the admin role (MOMENTO_ADMIN_PROFILE, or MOMENTO_ADMIN_ACCESS_KEY_ID and its secret)."""
    return role_session(cfg, "ADMIN")
