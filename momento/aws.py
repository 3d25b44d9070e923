"""One boto3 client per adapter, created on first use from any thread; boto3 reads the endpoint itself."""
from __future__ import annotations

import threading
from typing import Any

import boto3
from boto3.exceptions import Boto3Error
from botocore.config import Config
from botocore.exceptions import BotoCoreError

from .config import ConfigError, role_keys

CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=32)


class LazyClient:
    """Holds the client of one AWS service; the first caller creates it, under a lock."""

    def __init__(self, service: str, session: Any = None, config: Config | None = None):
        self.service, self.session, self.config = service, session, config
        self._client: Any = None
        self._lock = threading.Lock()

    def get(self) -> Any:
        """The client; BotoCoreError or Boto3Error when it cannot be made (the adapter translates them)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    session = self.session or boto3.session.Session()
                    self._client = session.client(self.service, config=self.config or CLIENT_CONFIG)
        return self._client


CLIENT_ERRORS = (BotoCoreError, Boto3Error)


def role_session(cfg, role: str):
    """A boto3 session with one role's credentials: a named profile, or explicit keys; region and endpoint as usual."""
    profile_name, key_name, secret_name, token_name = role_keys(role)
    profile, key, secret = cfg.get(profile_name), cfg.get(key_name), cfg.get(secret_name)
    if profile and (key or secret):
        raise ConfigError(f"Set MOMENTO_{profile_name} or MOMENTO_{key_name}/SECRET_ACCESS_KEY, not both.")
    if not profile and not (key and secret):
        raise ConfigError(f"MOMENTO_{key_name} and MOMENTO_{secret_name} go together.")
    try:
        if profile:
            return boto3.session.Session(profile_name=str(profile))
        return boto3.session.Session(aws_access_key_id=str(key), aws_secret_access_key=str(secret),
                                     aws_session_token=cfg.get(token_name) or None)
    except BotoCoreError as exc:  # an unknown profile, mostly
        raise ConfigError(f"The {role.lower()} credentials cannot be used: {exc}") from exc
