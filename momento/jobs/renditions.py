"""The rendition job: a pending video's original transcoded into its browser-friendly playback object."""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import NotFound
from ..media.renditions import MIME, Budget, transcode
from ..models import VIDEO, Job
from .queue import FAILED, PENDING, READY


@dataclass(frozen=True)
class Limits:
    """What one job may take: wall-clock seconds, and the ceiling of a rendition's pixels (decoded + encoded)."""

    seconds: float = 600.0
    max_pixels: int = 10**12

    @classmethod
    def from_config(cls, config) -> "Limits":
        """MOMENTO_RENDITION_SECONDS and MOMENTO_RENDITION_MAX_PIXELS."""
        return cls(float(config["RENDITION_SECONDS"]), int(config["RENDITION_MAX_PIXELS"]))


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
    with tempfile.TemporaryDirectory(prefix="rendition-", dir=storage.scratch_dir()) as tmp:
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
