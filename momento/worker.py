"""Background work from the durable job queue (video renditions), run by `flask momento work` or server threads."""
from __future__ import annotations

import atexit
import logging
import os
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Optional

from .accounts import now_iso
from .errors import NotFound
from .media.renditions import MIME, Budget, BudgetExceeded, transcode
from .models import VIDEO, Job, Upload

log = logging.getLogger(__name__)

QUEUE = "rendition"
PENDING, READY, FAILED = "pending", "ready", "failed"
MAX_ATTEMPTS = 3
RETRY_DELAY = timedelta(seconds=30)  # then 4x longer after each failed attempt
POLL_SECONDS = 5.0  # how often a following worker looks at an empty queue
PEEK = 5  # due jobs read at once; one is run, then the queue is read again so that users take turns
END_OF_TIME = "9999-12-31T23:59:59Z"  # due_jobs at this time lists every job of a queue


@dataclass(frozen=True)
class Outcome:
    """What became of one claimed job: ready, retry, failed (for good), dropped or released."""

    job: Job
    result: str
    seconds: float
    error: Optional[str] = None


class Summary(Counter):
    """How many jobs of a run came to each result (ready, retry, failed, dropped, released)."""

    def add(self, outcome: Outcome) -> None:
        """Count one outcome."""
        self[outcome.result] += 1


@dataclass(frozen=True)
class Limits:
    """What one job may take: wall-clock seconds, and the ceiling of a rendition's pixels (decoded + encoded)."""

    seconds: float = 600.0
    max_pixels: int = 10**12

    @classmethod
    def from_config(cls, config) -> "Limits":
        """MOMENTO_RENDITION_SECONDS and MOMENTO_RENDITION_MAX_PIXELS."""
        return cls(float(config["RENDITION_SECONDS"]), int(config["RENDITION_MAX_PIXELS"]))


@dataclass(frozen=True)
class Handler:
    """How a queue's jobs run (returning an outcome name) and what giving up on one means (with a reason)."""

    run: Callable[[Any, Job, Callable[[Any], None], Limits], str]
    give_up: Callable[[Any, Job, str], None]


class _Released(Exception):
    """The worker gave the job back (shutting down) or lost its lease to another worker."""


def _later(delta: timedelta) -> str:
    """A time `delta` from now, written like now_iso()."""
    return (datetime.now(timezone.utc) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def rendition_job(upload: Upload) -> Job:
    """The job that makes an upload's rendition; its id is the upload's, so queueing twice is harmless."""
    now = now_iso()
    return Job(queue=QUEUE, id=upload.id, user_id=upload.user_id, upload_id=upload.id, created_at=now,
               not_before=now)


def enqueue_rendition(catalog, upload: Upload) -> Job:
    """Queue the rendition of an upload whose record says pending."""
    return catalog.put_job(rendition_job(upload))


def requeue_pending(catalog, users=None) -> int:
    """Queue renditions for live videos left pending without a job (a queue write that failed); how many."""
    queued = {job.upload_id for job in catalog.due_jobs(QUEUE, END_OF_TIME, limit=10**9)}
    count = 0
    for user in users if users is not None else catalog.iter_users():
        for upload in catalog.iter_all_uploads(user.id):
            if upload.kind == VIDEO and upload.rendition == PENDING and not upload.trashed \
                    and upload.id not in queued:
                enqueue_rendition(catalog, upload)
                count += 1
    return count


def run_jobs(backends, queue: str = QUEUE, *, follow: bool = False, lease: timedelta = timedelta(minutes=30),
             limit: Optional[int] = None, retry_delay: Optional[timedelta] = None,
             on_start: Optional[Callable[[Job], None]] = None, on_done: Optional[Callable[[Outcome], None]] = None,
             stop: Optional[threading.Event] = None, poll: float = POLL_SECONDS,
             limits: Optional[Limits] = None) -> Summary:
    """Claim and run due jobs until none is left (waiting for the retries of this run), or for ever with follow.

    One job at a time, reading the queue again after each: it hands out turns across users (due_jobs), so a
    user's job waits for at most one job of each user ahead of it, each bounded by `limits`.
    """
    handler = HANDLERS[queue]
    limits = limits or Limits()
    catalog = backends.catalog
    retry_delay = RETRY_DELAY if retry_delay is None else retry_delay
    summary = Summary()
    retrying: dict[str, str] = {}  # job id -> not_before, for retries this run waits for
    stop = stop or threading.Event()
    while not stop.is_set() and (limit is None or summary.total() < limit):
        due = catalog.due_jobs(queue, now_iso(), limit=PEEK)
        if not due:
            wait = _next_wait(retrying, follow, poll)
            if wait is None:
                break
            stop.wait(wait)
            continue
        for job in due:
            if stop.is_set() or (limit is not None and summary.total() >= limit):
                break
            retrying.pop(job.id, None)
            claimed = catalog.claim_job(job, lease_until=_later(lease))
            if claimed is None:
                continue  # another worker took it
            if on_start is not None:
                on_start(claimed)
            outcome = _run_one(backends, handler, claimed, lease, retry_delay, stop, limits)
            if outcome.result == "retry":
                retrying[claimed.id] = outcome.job.not_before
            summary.add(outcome)
            if on_done is not None:
                on_done(outcome)
            break  # whose turn it is now may have changed
    return summary


def _next_wait(retrying: dict[str, str], follow: bool, poll: float) -> Optional[float]:
    """Seconds to wait for more work, or None when a run without follow is over."""
    if follow:
        return poll
    now = now_iso()
    for job_id in [j for j, at in retrying.items() if at < now]:
        del retrying[job_id]  # due yet not listed: another worker holds it now
    if not retrying:
        return None
    first = datetime.strptime(min(retrying.values()), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    return max(1.0, min(poll, (first - datetime.now(timezone.utc)).total_seconds() + 1))


def _run_one(backends, handler, job: Job, lease: timedelta, retry_delay: timedelta,
             stop: threading.Event, limits: Limits) -> Outcome:
    """Run a claimed job and record what came of it in the queue."""
    catalog = backends.catalog
    started = time.monotonic()
    keeper = _LeaseKeeper(catalog, job, lease, stop)
    try:
        result = handler.run(backends, job, keeper, limits)
    except _Released as why:
        return Outcome(keeper.job, "released", time.monotonic() - started, str(why))
    except KeyboardInterrupt:
        keeper.release()
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of one job is recorded on it, never fatal to the run
        return _failed(catalog, handler.give_up, keeper.job, exc, retry_delay, time.monotonic() - started)
    catalog.finish_job(keeper.job)
    return Outcome(keeper.job, result, time.monotonic() - started)


def _failed(catalog, give_up, job: Job, exc: Exception, retry_delay: timedelta, seconds: float) -> Outcome:
    """Schedule a retry with backoff, or after MAX_ATTEMPTS (or past its budget) give up on the job and drop it."""
    error = f"{type(exc).__name__}: {exc}"[:500]
    if isinstance(exc, BudgetExceeded):  # trying again would cost as much again: give up at once
        log.error("job %s/%s went past its budget, given up: %s", job.queue, job.id, exc)
        give_up(catalog, job, str(exc))
        catalog.record_job_failure(replace(job, error=str(exc)), now_iso())
        catalog.finish_job(job)
        return Outcome(job, FAILED, seconds, str(exc))
    if job.attempts < MAX_ATTEMPTS:
        log.warning("job %s/%s failed (attempt %d), will retry: %s", job.queue, job.id, job.attempts, error)
        again = catalog.put_job(replace(job, lease_until=None, error=error,
                                        not_before=_later(retry_delay * 4 ** (job.attempts - 1))))
        return Outcome(again, "retry", seconds, error)
    log.error("job %s/%s failed for good after %d attempts: %s", job.queue, job.id, job.attempts, error)
    give_up(catalog, job, f"It could not be made after {job.attempts} attempts ({type(exc).__name__}).")
    catalog.record_job_failure(replace(job, error=error), now_iso())
    catalog.finish_job(job)
    return Outcome(job, FAILED, seconds, error)


class _LeaseKeeper:
    """Renews the claim while a long job runs (called with progress), and gives it back on shutdown."""

    def __init__(self, catalog, job: Job, lease: timedelta, stop: threading.Event):
        self.catalog, self.job, self.lease, self.stop = catalog, job, lease, stop
        self.renew_at = time.monotonic() + lease.total_seconds() / 2

    def __call__(self, _progress: Any = None) -> None:
        """Raise _Released when the worker stops or lost the job; renew the lease past its half-life."""
        if self.stop.is_set():
            self.release()
            raise _Released("the worker is stopping")
        if time.monotonic() < self.renew_at:
            return
        # claim_job counts an attempt; a renewal is the same attempt, so hand it one fewer.
        renewed = self.catalog.claim_job(replace(self.job, attempts=self.job.attempts - 1),
                                         lease_until=_later(self.lease))
        if renewed is None:
            raise _Released("another worker took the job over")
        self.job = renewed
        self.renew_at = time.monotonic() + self.lease.total_seconds() / 2

    def release(self) -> None:
        """Put the job back as due now, without counting this attempt."""
        try:
            self.catalog.put_job(replace(self.job, lease_until=None, attempts=self.job.attempts - 1))
        except Exception:  # noqa: BLE001 - the lease runs out by itself
            log.exception("could not give back job %s", self.job.id)


def make_rendition(backends, job: Job, keeper: Callable[[Any], None], limits: Limits = Limits()) -> str:
    """Transcode a pending video's original into its playback object; 'dropped' when nothing is to be done.

    BudgetExceeded when the video needs more work than its record says it can hold, or past limits.seconds.
    """
    storage, catalog = backends.storage, backends.catalog
    upload = catalog.get_upload(job.user_id, job.upload_id)
    if upload is None or upload.trashed or upload.kind != VIDEO or upload.rendition != PENDING:
        return "dropped"
    budget = Budget.for_video(duration=upload.duration, width=upload.width, height=upload.height, size=upload.size,
                              pixel_ceiling=limits.max_pixels, seconds=limits.seconds)

    def progress(done: Any) -> None:
        """Keep the lease, and stop at the deadline (downloading counts too)."""
        keeper(done)
        budget.check_time()
    with tempfile.TemporaryDirectory(prefix="rendition-", dir=_scratch(storage)) as tmp:
        source = os.path.join(tmp, f"original.{upload.ext}")
        _download(storage, upload.original_key, source, progress)
        target = os.path.join(tmp, "playback.mp4")
        transcode(source, target, rotation=upload.extra.get("rotation"), on_progress=progress, budget=budget)
        keeper(None)
        with open(target, "rb") as f:
            storage.put(upload.playback_key, f, MIME)
    try:
        catalog.set_rendition(upload.user_id, upload.id, READY)
    except NotFound:  # purged while we worked
        storage.delete(upload.playback_key)
        return "dropped"
    return READY


def rendition_failed(catalog, job: Job, reason: str) -> None:
    """Show the rendition as failed, and why (the original still plays where the browser can)."""
    try:
        catalog.set_rendition(job.user_id, job.upload_id, FAILED, reason)
    except NotFound:
        pass


HANDLERS = {QUEUE: Handler(make_rendition, rendition_failed)}


def _download(storage, key: str, path: str, keeper: Callable[[Any], None]) -> None:
    """Copy an object to a local file a chunk at a time."""
    stream = storage.open(key)
    try:
        with open(path, "wb") as out:
            for chunk in stream:
                out.write(chunk)
                keeper(None)
    finally:
        stream.close()


def _scratch(storage) -> str:
    scratch = getattr(storage, "scratch_dir", None)
    return scratch() if scratch else tempfile.gettempdir()


# --- threads inside the web server ----------------------------------------------------------------

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
