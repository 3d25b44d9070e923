"""One boto3 client per adapter, created on first use from any thread; boto3 reads the endpoint itself."""
from __future__ import annotations

import threading
from typing import Any

import boto3
from boto3.exceptions import Boto3Error
from botocore.config import Config
from botocore.exceptions import BotoCoreError

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
