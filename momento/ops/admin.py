"""The backends operators' commands use: on aws, built with the admin role's credentials when configured."""
from __future__ import annotations

from ..backends import Backends
from ..config import ConfigError

ADMIN_KEYS = ("ADMIN_PROFILE", "ADMIN_ACCESS_KEY_ID", "ADMIN_SECRET_ACCESS_KEY", "ADMIN_SESSION_TOKEN")


def admin_backends(app) -> Backends:
    """The app's own backends, unless MOMENTO_ADMIN_* names other credentials (built once per app)."""
    cfg = app.config
    if cfg["BACKEND"] != "aws" or not any(cfg.get(k) for k in ADMIN_KEYS):
        return app.extensions["momento"]
    if "momento_admin" not in app.extensions:
        from ..catalog.dynamodb import DynamoCatalog
        from ..storage.s3 import S3Storage

        session = admin_session(cfg)
        app.extensions["momento_admin"] = Backends(S3Storage.from_app(app, session=session),
                                                   DynamoCatalog.from_app(app, session=session))
    return app.extensions["momento_admin"]


def admin_session(cfg):
    """A boto3 session for the admin role: a named profile, or explicit keys; region and endpoint as usual."""
    import boto3
    from botocore.exceptions import BotoCoreError

    profile, key, secret = cfg.get("ADMIN_PROFILE"), cfg.get("ADMIN_ACCESS_KEY_ID"), cfg.get("ADMIN_SECRET_ACCESS_KEY")
    if profile and (key or secret):
        raise ConfigError("Set MOMENTO_ADMIN_PROFILE or MOMENTO_ADMIN_ACCESS_KEY_ID/SECRET_ACCESS_KEY, not both.")
    if not profile and not (key and secret):
        raise ConfigError("MOMENTO_ADMIN_ACCESS_KEY_ID and MOMENTO_ADMIN_SECRET_ACCESS_KEY go together.")
    try:
        if profile:
            return boto3.session.Session(profile_name=str(profile))
        return boto3.session.Session(aws_access_key_id=str(key), aws_secret_access_key=str(secret),
                                     aws_session_token=cfg.get("ADMIN_SESSION_TOKEN") or None)
    except BotoCoreError as exc:  # an unknown profile, mostly
        raise ConfigError(f"The admin credentials cannot be used: {exc}") from exc
