"""The server's own worker threads: WORKER_THREADS of them run jobs inside a web server process."""
from __future__ import annotations

import atexit
import logging
import os
import threading
from typing import Optional

from .runner import POLL_SECONDS, Limits, run_jobs

log = logging.getLogger(__name__)


class ServerWorkers:
    """WORKER_THREADS threads that run jobs in a server process, started by its first request."""

    def __init__(self, backends, count: int, poll: float = POLL_SECONDS, limits: Optional[Limits] = None):
        self.backends, self.count, self.poll, self.limits = backends, count, poll, limits
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.pid: Optional[int] = None
        self._lock = threading.Lock()

    def ensure_started(self) -> None:
        """Start the threads once per process (a forked server worker starts its own)."""
        if self.pid == os.getpid():
            return
        with self._lock:
            if self.pid == os.getpid():
                return
            self.pid, self.stop = os.getpid(), threading.Event()
            self.threads = [threading.Thread(target=self._serve, name=f"momento-worker-{i}", daemon=True)
                            for i in range(self.count)]
            for thread in self.threads:
                thread.start()
            atexit.register(self.shutdown)

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                run_jobs(self.backends, follow=True, stop=self.stop, poll=self.poll, limits=self.limits)
            except Exception:  # noqa: BLE001 - a backend outage must not end the thread
                log.exception("background jobs stopped; trying again in a minute")
                self.stop.wait(60)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Ask the threads to give their jobs back and wait a little for them."""
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout)


def init_app(app) -> None:
    """Run jobs in this server when WORKER_THREADS > 0 (not in CLI commands: threads start on a request)."""
    count = app.config["WORKER_THREADS"]
    if count > 0:
        workers = ServerWorkers(app.extensions["momento"], count, limits=Limits.from_config(app.config))
        app.extensions["momento_workers"] = workers
        app.before_request(workers.ensure_started)
