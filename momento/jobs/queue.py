"""The rendition queue: job states, and putting an upload's rendition in the durable queue of the catalog."""
from __future__ import annotations

from ..formats import now_iso
from ..models import VIDEO, Job, Upload

QUEUE = "rendition"
PENDING, READY, FAILED = "pending", "ready", "failed"
END_OF_TIME = "9999-12-31T23:59:59Z"  # due_jobs at this time lists every job of a queue


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
