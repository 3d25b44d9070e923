"""gunicorn's settings for Momento, found by gunicorn itself when started from this folder (`gunicorn wsgi:app`).

Options on the command line (or in GUNICORN_CMD_ARGS) win over these. Workers: GUNICORN_WORKERS or
WEB_CONCURRENCY, else one per core (at least two). The metrics of all workers are added up through
prometheus-client's multiprocess mode: PROMETHEUS_MULTIPROC_DIR (a fresh temporary folder unless set) holds each
process's counts; it is emptied when the server starts, and a worker that exits is marked dead.
"""
import multiprocessing
import os
import shutil
import tempfile

bind = ["127.0.0.1:8000"]
workers = int(os.environ.get("GUNICORN_WORKERS") or os.environ.get("WEB_CONCURRENCY") or max(2, multiprocessing.cpu_count()))
worker_class = "gthread"
# A request holds a thread from its first byte to its answer, so slow clients (uploads on slow links, headers
# trickling in) each hold one: 64 keep a worker answering beside dozens of them. Memory stays bounded by what
# each thread holds while streaming (a few MiB) and by the process's decode slots (MOMENTO_DECODES_AT_ONCE).
threads = 64
timeout = 120  # a worker silent this long is restarted; uploads stream, so a long one keeps it busy, not silent
graceful_timeout = 30
keepalive = 5
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190

# Set before any worker (or the app, with --preload) imports prometheus-client, which reads it on import; the
# second variable remembers that the folder is ours to remove (this file is read again on a reload).
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.environ["PROMETHEUS_MULTIPROC_DIR_OURS"] = \
        tempfile.mkdtemp(prefix="momento-metrics-")


def on_starting(server):
    """Once, in the master before its first worker: start the counts afresh (files of an earlier run would be
    added in)."""
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
        if name.endswith(".db"):
            os.remove(os.path.join(folder, name))


def child_exit(server, worker):
    """A worker ended: its live gauges go (its counters stay, so the totals never drop)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """The server stops: remove the metrics folder it made for itself."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder and folder == os.environ.get("PROMETHEUS_MULTIPROC_DIR_OURS"):
        shutil.rmtree(folder, ignore_errors=True)
