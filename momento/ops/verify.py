"""Comparing the object store with the catalog, and repairing what can be repaired.

The store is listed once, in key order, so each user's objects arrive together (`user-<id>/...`); each
group is held against that user's records, read a page at a time. Found: objects without a record
(orphans, e.g. left by a crash or by a web role that may not delete), records without their original or
with an original of the wrong size, missing (or empty) thumbnails and renditions, index counters that differ
from what the records say, and on the local backend what a crash leaves beside the objects (sidecars without
their object, temporary files, the parts of a tus upload no record names).
"""
from __future__ import annotations

import itertools
import logging
import os
import re
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable, Optional

from ..catalog.indexing import index_delta
from ..errors import MomentoError, ObjectMissing
from ..media import inspect, placeholder_thumbnail, sniff
from ..media.sniff import SNIFF_BYTES
from ..models import ObjectInfo, Upload, User

log = logging.getLogger(__name__)

ORPHAN_GRACE = 3600.0  # seconds: a younger object without a record may belong to an upload in progress
_USER_FOLDER = re.compile(r"^user-([^/]+)/$")
_UPLOAD_ID = re.compile(r"^user-[^/]+/(?:photos|videos|thumbs)/([0-9A-HJKMNP-TV-Z]{26})\.")


@dataclass(frozen=True)
class Problem:
    """One thing out of step; `repaired` once --repair fixed it, `fixable` when --repair could."""

    kind: str  # orphan_object, unknown_object, missing_original, damaged_original, missing_thumbnail,
    #            missing_rendition, unfinished_purge, index_out_of_step, and the local backend's leftovers:
    #            stray_sidecar, missing_sidecar, scratch_file, stray_parts
    where: str
    detail: str
    fixable: bool
    repaired: bool = False


@dataclass
class VerifyReport:
    """Everything verify looked at and found."""

    users: int = 0
    uploads: int = 0
    objects: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """True when nothing is left out of step."""
        return all(p.repaired for p in self.problems)

    def as_dict(self) -> dict:
        """JSON-ready."""
        return {"clean": self.clean, "users": self.users, "uploads": self.uploads, "objects": self.objects,
                "problems": [asdict(p) for p in self.problems]}


def _folder(obj: ObjectInfo) -> str:
    head, sep, _ = obj.key.partition("/")
    return head + sep if sep else ""


class Verifier:
    """One verify run over a store and a catalog."""

    def __init__(self, storage, catalog, *, repair: bool = False, now: Optional[float] = None,
                 progress: Optional[Callable[[int], None]] = None):
        self.storage, self.catalog, self.repair = storage, catalog, repair
        self.now = time.time() if now is None else now
        self.progress = progress or (lambda n: None)
        self.report = VerifyReport()

    def run(self, users: Optional[list[User]] = None) -> VerifyReport:
        """Walk every folder of the store, then the users that have no objects at all."""
        users = {u.id: u for u in (self.catalog.iter_users() if users is None else users)}
        self.report.users = len(users)
        # a tus upload's object before its record exists (a finish that died and will be run again) is no orphan
        self._tus = list(self.catalog.expired_tus("9999-12-31", limit=100_000))
        self._tus_keys = {r.key for r in self._tus if r.key}
        for folder, objects in itertools.groupby(self.storage.list(""), key=_folder):
            match = _USER_FOLDER.match(folder)
            user = users.pop(match.group(1), None) if match else None
            if user:
                self._check_user(user, objects)
            else:
                self._check_strays(folder, objects)
            self.progress(1)
        for user in users.values():
            self._check_user(user, ())
            self.progress(1)
        if hasattr(self.storage, "debris"):
            self._check_debris()
        return self.report

    def _check_debris(self) -> None:
        """The local folder's leftovers of crashed writes, removed (or completed) with --repair."""
        live = {r.parts_ref for r in self._tus if r.parts_ref}
        for item in self.storage.debris(now=self.now, grace=ORPHAN_GRACE, live_parts=live):
            if self.repair:
                self.storage.clear_debris(item)
            self._found(Problem(item.kind, self.storage.where(item), item.detail, True, self.repair))

    def _found(self, problem: Problem) -> None:
        self.report.problems.append(problem)
        log.log(logging.INFO if problem.repaired else logging.WARNING, "%s %s: %s",
                problem.kind, problem.where, problem.detail)

    # objects of unknown owners
    def _check_strays(self, folder: str, objects: Iterable[ObjectInfo]) -> None:
        for obj in objects:
            self.report.objects += 1
            if folder.startswith("tus"):
                continue  # tails of resumable uploads in progress; `flask momento tus-cleanup` ends expired ones
            if folder.startswith("user-"):
                self._orphan(obj, "its account does not exist")
            else:
                self._found(Problem("unknown_object", obj.key, "outside Momento's key layout; left alone", False))

    def _orphan(self, obj: ObjectInfo, why: str) -> None:
        age = self.now - (obj.modified or self.now)
        if age < ORPHAN_GRACE:
            self._found(Problem("orphan_object", obj.key, f"{why}; only {age / 60:.0f} min old, so it may belong "
                                "to an upload in progress: left alone", False))
            return
        repaired = False
        if self.repair:
            self.storage.delete(obj.key)
            repaired = True
        self._found(Problem("orphan_object", obj.key, f"{why} ({obj.size} bytes, {age / 3600:.1f} h old)",
                            True, repaired))

    # one user's objects against the user's records
    def _check_user(self, user: User, objects: Iterable[ObjectInfo]) -> None:
        named: dict[str, tuple[str, str, bool]] = {}  # every key a record names -> (upload id, role, required)
        sizes: dict[str, int] = {}  # the originals' sizes, as recorded
        counts: Counter = Counter()
        for upload in self.catalog.iter_all_uploads(user.id):
            self.report.uploads += 1
            counts.update(index_delta(None, upload).counts)
            frozen = bool(upload.purge_started_at)  # its objects are going: none is required, none an orphan
            if frozen:
                self._found(Problem("unfinished_purge", f"{user.id}/{upload.id}",
                                    "a purge started and did not finish; run `flask momento purge`", False))
            for key in upload.object_keys:
                role = {upload.original_key: "original", upload.thumb_key: "thumbnail"}.get(key, "rendition")
                named[key] = (upload.id, role, not frozen and (role != "rendition" or upload.rendition == "ready"))
            sizes[upload.original_key] = upload.size
        present = set()
        for obj in objects:
            self.report.objects += 1
            if obj.key in sizes and obj.size != sizes[obj.key] and named[obj.key][2]:
                self._found(Problem("damaged_original", f"{user.id}/{named[obj.key][0]}",
                                    f"{obj.key} holds {obj.size} bytes, the record says {sizes[obj.key]}", False))
                present.add(obj.key)
            elif obj.key in named and obj.size == 0:
                pass  # an empty thumbnail or rendition (written without fsync before a power cut): as if missing
            elif obj.key in named:
                present.add(obj.key)
            elif obj.key not in self._tus_keys and not self._has_record_now(user, obj.key):
                self._orphan(obj, "no upload record names it")
        for key, (upload_id, role, required) in named.items():
            if required and key not in present:
                self._missing(user, upload_id, role, key)
        self._check_index(user, counts)

    def _has_record_now(self, user: User, key: str) -> bool:
        """Whether a record written since the listing began names this key (an upload that just finished)."""
        match = _UPLOAD_ID.match(key)
        upload = self.catalog.get_upload(user.id, match.group(1)) if match else None
        return upload is not None and key in upload.object_keys

    def _missing(self, user: User, upload_id: str, role: str, key: str) -> None:
        where = f"{user.id}/{upload_id}"
        if role == "original":
            self._found(Problem("missing_original", where, f"{key} is gone; the upload cannot be repaired", False))
        elif role == "rendition":
            self._found(Problem("missing_rendition", where, f"{key} is gone though the rendition is ready", False))
        else:
            upload = self.catalog.get_upload(user.id, upload_id)
            repaired = self.repair and upload is not None and self._rebuild_thumbnail(upload)
            self._found(Problem("missing_thumbnail", where, f"{key} is gone", True, bool(repaired)))

    def _rebuild_thumbnail(self, upload: Upload) -> bool:
        """Make the thumbnail again from the original (a placeholder when the original will not decode)."""
        scratch = self.storage.scratch_dir()
        fd, path = tempfile.mkstemp(prefix="verify-", dir=scratch)
        try:
            with os.fdopen(fd, "wb") as out:
                stream = self.storage.open(upload.original_key)
                try:
                    for chunk in stream:
                        out.write(chunk)
                finally:
                    stream.close()
            with open(path, "rb") as f:
                head = f.read(SNIFF_BYTES)
            try:
                thumbnail = inspect(path, sniff(head)).thumbnail
            except MomentoError as exc:
                log.warning("%s does not decode (%s); using a placeholder thumbnail", upload.original_key, exc.message)
                thumbnail = placeholder_thumbnail(upload.kind)
            self.storage.put_bytes(upload.thumb_key, thumbnail, upload.thumb_mime, durable=False)
            return True
        except ObjectMissing:
            return False  # reported as a missing original too
        finally:
            os.unlink(path)

    def _check_index(self, user: User, counts: Counter) -> None:
        wanted = {k: n for k, n in counts.items() if n > 0}
        stored = {k: n for k, n in self.catalog.term_counts(user.id).items() if n > 0}
        if wanted == stored:
            return
        differ = sorted(k for k in wanted.keys() | stored.keys() if wanted.get(k, 0) != stored.get(k, 0))
        detail = ", ".join(f"{k}: {stored.get(k, 0)} stored, {wanted.get(k, 0)} in the records" for k in differ[:5])
        detail += f" (and {len(differ) - 5} more)" if len(differ) > 5 else ""
        repaired = False
        if self.repair:
            self.catalog.rebuild_index(user.id)
            repaired = True
        self._found(Problem("index_out_of_step", f"user {user.id}", detail, True, repaired))


def verify(storage, catalog, *, repair: bool = False, now: Optional[float] = None, users: Optional[list[User]] = None,
           progress: Optional[Callable[[int], None]] = None) -> VerifyReport:
    """Compare store and catalog (for these users, or every account); with repair, fix what can be fixed."""
    return Verifier(storage, catalog, repair=repair, now=now, progress=progress).run(users)
