"""A Momento server that kills itself (SIGKILL) just before or after one durability step, for crash tests.

    python -m tests.crash_server <data dir>      (prints the port, then serves)

MOMENTO_CRASH_AT=<kind>:<n>:<before|after> names the step: the n-th (from 1) fsync, replace or commit the server
makes while it answers requests. instrument() is also used in-process by the order-of-operations tests.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Callable

from momento.catalog.sqlite import SqliteCatalog

PART_SIZE = 1024 * 1024  # the smallest the catalog record allows, so a file of 2.5 MiB makes three
COMMITTERS = ("put_upload", "update_tus", "put_tus", "delete_tus", "add_audit_event", "put_job", "_update",
              "finish_job", "claim_job", "delete_upload", "create_user", "add_token")


def _fd_path(fd: int) -> str:
    """The path an open descriptor names."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return f"fd {fd}"


def _committer() -> str:
    """The catalog method whose transaction is committing."""
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_name in COMMITTERS:
            return frame.f_code.co_name
        frame = frame.f_back
    return "?"


def instrument(on_step: Callable[[str, str, str], None]) -> Callable[[], None]:
    """Wrap os.fsync, os.replace and SqliteCatalog._commit so that on_step(kind, detail, "before"/"after") hears
    of each; the function that undoes it."""
    real_fsync, real_replace, real_commit = os.fsync, os.replace, SqliteCatalog._commit

    def fsync(fd):
        """os.fsync, reported."""
        detail = _fd_path(fd)
        on_step("fsync", detail, "before")
        real_fsync(fd)
        on_step("fsync", detail, "after")

    def replace(src, dst, **kw):
        """os.replace, reported."""
        detail = f"{src} -> {dst}"
        on_step("replace", detail, "before")
        real_replace(src, dst, **kw)
        on_step("replace", detail, "after")

    def commit(self, db):
        """SqliteCatalog._commit, reported."""
        detail = _committer()
        on_step("commit", detail, "before")
        real_commit(self, db)
        on_step("commit", detail, "after")

    os.fsync, os.replace, SqliteCatalog._commit = fsync, replace, commit

    def undo():
        """Put the originals back."""
        os.fsync, os.replace, SqliteCatalog._commit = real_fsync, real_replace, real_commit

    return undo


def crash_at(spec: str) -> Callable[[str, str, str], None]:
    """An on_step that SIGKILLs this process at the step `kind:n:phase`."""
    kind, n, phase = spec.split(":")
    seen, lock = {"n": 0}, threading.Lock()

    def on_step(step_kind: str, detail: str, step_phase: str) -> None:
        """Count the steps of `kind`; die at the chosen one."""
        if step_kind != kind:
            return
        with lock:
            if step_phase == "before":
                seen["n"] += 1
            hit = seen["n"] == int(n) and step_phase == phase
        if hit:
            os.kill(os.getpid(), signal.SIGKILL)

    return on_step


def main() -> None:
    """Build the app on the data folder, arm the crash, serve on a free port."""
    from werkzeug.serving import make_server

    from momento import create_app

    app = create_app({"SECRET_KEY": "crash-test", "DATA_DIR": sys.argv[1], "BACKEND": "local",
                      "WTF_CSRF_ENABLED": False, "TAGGERS": ""})
    app.config["TUS_PART_SIZE"] = PART_SIZE
    server = make_server("127.0.0.1", 0, app, threaded=True)
    crash = crash_at(os.environ.get("MOMENTO_CRASH_AT", "none:0:before"))
    log = open(os.path.join(sys.argv[1], "steps.log"), "a", buffering=1)

    def on_step(kind: str, detail: str, phase: str) -> None:
        """Log the step, then maybe crash."""
        if phase == "before":
            log.write(f"{kind} {detail}\n")  # what the uncrashed scenario does, counted by the tests
        crash(kind, detail, phase)

    instrument(on_step)
    print(server.server_port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
