"""Prometheus metrics, added up over every server process by prometheus-client's multiprocess mode.

gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR before any worker starts; each process then writes its counts to
its own files there, and a scrape adds up all of them. Without that variable (tests, `flask run`) the counts are
this process's alone. No Flask here: the pipeline and the adapters' hooks count through these functions.
"""
from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily

from ..errors import BACKEND_ERROR_HOOKS, BackendError

disable_created_metrics()  # the `_created` series only double the output (multiprocess mode never has them)

# One definition per process, as prometheus-client requires (a second one with the same name is refused); kept
# in a registry of their own so a scrape shows Momento's figures and nothing of the test runner or other apps.
REGISTRY = CollectorRegistry()
UPLOADS = Counter("momento_uploads", "Uploads by kind and outcome: stored, duplicate, or the refusal's error code.",
                  ["kind", "outcome"], registry=REGISTRY)
UPLOAD_BYTES = Counter("momento_upload_bytes", "Bytes of stored uploads, by kind.", ["kind"], registry=REGISTRY)
REQUESTS = Counter("momento_http_requests", "HTTP requests answered, by route (as declared), method and status.",
                   ["route", "method", "status"], registry=REGISTRY)
DURATION = Histogram("momento_http_request_duration_seconds", "Time to answer a request (until its headers).",
                     ["route", "method"], registry=REGISTRY,
                     buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300))
BACKEND_ERRORS = Counter("momento_backend_errors", "Failures of the object store or the catalog, by operation.",
                         ["backend", "operation"], registry=REGISTRY)
READ_BACK = Counter("momento_store_read_back_bytes",
                    "Bytes read back from the object store to decode uploads it already holds, by kind.",
                    ["kind"], registry=REGISTRY)
KINDS = ("photo", "video")
for _kind in KINDS:
    READ_BACK.labels(_kind)  # shown as 0 before the first read (and always on the local backend)


def count_upload(kind: str | None, outcome: str, nbytes: int = 0) -> None:
    """One upload came to an end: stored (nbytes counted), duplicate, or refused with an error code."""
    kind = kind if kind in KINDS else "unknown"
    UPLOADS.labels(kind, outcome).inc()
    if outcome == "stored" and nbytes > 0:
        UPLOAD_BYTES.labels(kind).inc(nbytes)


def count_read_back(kind: str | None, nbytes: int) -> None:
    """Bytes read back from the object store to decode an upload it holds (a finished tus upload's copy, holes
    of a sparse copy)."""
    if nbytes > 0:
        READ_BACK.labels(kind if kind in KINDS else "unknown").inc(nbytes)


def count_request(route: str, method: str, status: int, seconds: float) -> None:
    """One answered request (route as declared by its URL rule, never with a real id in it)."""
    REQUESTS.labels(route, method, str(status)).inc()
    DURATION.labels(route, method).observe(seconds)


def count_backend_error(error: BackendError) -> None:
    """One failure an adapter reported (through momento.errors.BACKEND_ERROR_HOOKS)."""
    BACKEND_ERRORS.labels(error.backend, error.operation).inc()


def watch_backend_errors() -> None:
    """Count every BackendError an adapter raises from now on in this process (once, however often called)."""
    if count_backend_error not in BACKEND_ERROR_HOOKS:
        BACKEND_ERROR_HOOKS.append(count_backend_error)


def watch_read_back() -> None:
    """Count every read back the upload pipeline reports from now on in this process (once, however often called)."""
    from ..uploads.incoming import READ_BACK_HOOKS

    if count_read_back not in READ_BACK_HOOKS:
        READ_BACK_HOOKS.append(count_read_back)


class QueueCollector:
    """The job queues' gauges, read from the catalog at scrape time (so every worker answers the same)."""

    def __init__(self, catalog):
        self.catalog = catalog

    def collect(self):
        """momento_jobs{kind,state} and momento_job_oldest_age_seconds{kind}; nothing when the catalog fails."""
        from ..ops.queues import queue_reports

        try:
            reports = queue_reports(self.catalog)
        except BackendError:
            return  # counted by the hook; the other figures are still worth a scrape
        jobs = GaugeMetricFamily("momento_jobs", "Jobs by queue and state (due, running, failed in the last 24 h).",
                                 labels=["kind", "state"])
        oldest = GaugeMetricFamily("momento_job_oldest_age_seconds", "How long the oldest due job has waited.",
                                   labels=["kind"])
        for r in reports:
            for state, value in (("due", r.due), ("running", r.running), ("failed", r.failed_24h)):
                if value is not None:
                    jobs.add_metric([r.kind, state], value)
            oldest.add_metric([r.kind], r.oldest_age_seconds)
        yield jobs
        yield oldest


class _Scrape:
    """What one scrape shows: the counts (of every process when multiprocess) and the queue gauges."""

    def __init__(self, catalog):
        self.queues = QueueCollector(catalog)

    def collect(self):
        """Every metric family, counters first."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            combined = CollectorRegistry()
            multiprocess.MultiProcessCollector(combined)
            yield from combined.collect()
        else:
            yield from REGISTRY.collect()
        yield from self.queues.collect()


def exposition(catalog) -> bytes:
    """The Prometheus text format of everything above."""
    return generate_latest(_Scrape(catalog))
