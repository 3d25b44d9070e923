"""Multipart objects on the local disk: parts as files in the data folder until they are joined into place.

The parts of one object live in `<data>/parts/<ref>/`, beside `objects/` and not in it, so that they are not
listed as objects (as S3 does not list the parts of an unfinished upload), and in the data folder rather than
in a process's temporary folder, so that every server sharing the data folder can add the next part.
"""
from __future__ import annotations

import errno
import hashlib
import os
import re
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Optional, Sequence

from ..errors import BackendError, BadRequest, ObjectMissing
from ..models import ObjectInfo
from .local_sync import fsync_dir, fsync_file

_REF = re.compile(r"^[0-9a-f]{32}$")
_ETAG = re.compile(r"^[0-9a-f]{16}$")
COPY = 8 * 1024 * 1024
_NO_COPY_RANGE = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM}


class LocalParts:
    """begin/put/complete/abort for LocalStorage, the local counterpart of an S3 multipart upload.

    Each part is written under a fresh name (its "ETag"), so two writers of the same part number never mix
    their bytes; complete_parts joins the parts it is named, in order, and renames the result into place.
    Every call is durable when it returns (a part's ETag is recorded, and the tus offset acknowledged, next).
    """

    @property
    def parts(self) -> Path:
        """The folder holding unfinished multipart objects."""
        return self.root.parent / "parts"

    def _folder(self, ref: str) -> Path:
        """The folder of one multipart object; BadRequest for a reference Momento did not make."""
        if not _REF.match(ref or ""):
            raise BadRequest("Invalid multipart reference.", code="bad_key")
        return self.parts / ref

    def begin_parts(self, key: str, content_type: str) -> str:
        """Start an object written in numbered parts; the reference the other calls take."""
        self._path(key)  # refuses a key that could climb out of the folder
        ref = secrets.token_hex(16)
        try:
            self.parts.mkdir(mode=0o700, parents=True, exist_ok=True)
            folder = self._folder(ref)
            folder.mkdir(mode=0o700)
            with open(folder / "content-type", "w") as out:
                out.write(content_type)
                out.flush()
                fsync_file(out.fileno())
            self._synced.sync([folder])
        except OSError as exc:
            raise BackendError(f"Could not start the object: {exc.strerror or exc}",
                               backend="local", operation="start_parts") from exc
        return ref

    def put_part(self, key: str, upload_ref: str, number: int, data: bytes) -> str:
        """Store part `number` (1-based); the ETag complete_parts must be given for it."""
        etag = secrets.token_hex(8)
        try:
            folder = self._folder(upload_ref)
            with open(folder / f"{number:05d}-{etag}", "xb") as out:
                out.write(data)
                out.flush()
                fsync_file(out.fileno())
            fsync_dir(folder)
        except FileNotFoundError as exc:
            raise ObjectMissing("The parts of this object are gone.") from exc
        except OSError as exc:
            raise BackendError(f"Could not store the part: {exc.strerror or exc}",
                               backend="local", operation="put_part") from exc
        return etag

    def complete_parts(self, key: str, upload_ref: str, parts: Sequence[tuple[int, str]]) -> ObjectInfo:
        """Join the named parts, in order, into the object at key; the object becomes visible only now."""
        folder, target = self._folder(upload_ref), self._path(key)
        md5 = hashlib.md5(usedforsecurity=False)
        try:
            content_type = (folder / "content-type").read_text()
            self.tmp.mkdir(parents=True, exist_ok=True)
            fd, joined = tempfile.mkstemp(dir=self.tmp, prefix="join-")
            try:
                with os.fdopen(fd, "wb") as out:
                    for number, etag in parts:
                        if not _ETAG.match(etag):
                            raise BadRequest("Invalid part ETag.", code="bad_part")
                        with open(folder / f"{number:05d}-{etag}", "rb") as part:
                            _copy(part.fileno(), out.fileno())
                        md5.update(etag.encode())
                    fsync_file(out.fileno())
                # Like S3's multipart ETags: a digest of the parts' ETags and their count, not of the bytes.
                meta = {"content_type": content_type, "etag": f"{md5.hexdigest()}-{len(parts)}"}
                self._place(joined, target, meta, durable=True)
            except BaseException:
                if os.path.exists(joined):
                    os.unlink(joined)
                raise
        except FileNotFoundError as exc:
            raise ObjectMissing("A part of this object is gone.") from exc
        except OSError as exc:
            raise BackendError(f"Could not store the object: {exc.strerror or exc}",
                               backend="local", operation="complete_parts") from exc
        shutil.rmtree(folder, ignore_errors=True)
        return self.stat(key)

    def abort_parts(self, key: str, upload_ref: str) -> None:
        """Throw the parts away; safe to repeat."""
        shutil.rmtree(self._folder(upload_ref), ignore_errors=True)

    def local_path(self, key: str) -> Optional[str]:
        """The object's own file: decoders read it in place."""
        path = self._path(key)
        return str(path) if path.is_file() else None


def _copy(source: int, target: int) -> None:
    """Append one open file to another, in the kernel where the file system allows it."""
    try:
        while os.copy_file_range(source, target, COPY):
            pass
        return
    except OSError as exc:
        if exc.errno not in _NO_COPY_RANGE:
            raise
    while chunk := os.read(source, COPY):  # nothing was copied yet: copy through this process
        view = memoryview(chunk)
        while view:
            view = view[os.write(target, view):]
