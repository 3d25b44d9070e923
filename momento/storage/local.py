"""Objects as files in a folder, with the same key layout as the S3 bucket."""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import tempfile
import time
from pathlib import Path
from typing import BinaryIO, Iterator, Optional

from ..errors import BackendError, BadRequest, ObjectMissing
from ..models import ObjectInfo, PostureCheck
from .local_debris import LocalDebris
from .keys import check_key
from .local_parts import LocalParts
from .local_sync import SyncedFolders, fsync_dir, fsync_file

CHUNK = 1024 * 1024
SCRATCH_GRACE = 3600.0  # seconds untouched before a scratch file counts as left by a process that died


def _last_write(entry: Path) -> float:
    """When anything in entry (a file, or a folder and what it holds) was last written."""
    latest = entry.lstat().st_mtime
    if entry.is_dir() and not entry.is_symlink():
        for folder, _, files in os.walk(entry):
            for name in files:
                try:
                    latest = max(latest, os.lstat(os.path.join(folder, name)).st_mtime)
                except FileNotFoundError:
                    pass
    return latest


def _unlink(path: str) -> None:
    """Remove a file that may be gone already."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class LocalStream:
    """A byte range of a file, read in chunks."""

    def __init__(self, path: Path, info: ObjectInfo, start: int, end: int):
        self.info, self.start, self.end = info, start, end
        self._file = open(path, "rb")
        self._file.seek(start)

    def __iter__(self) -> Iterator[bytes]:
        left = self.end - self.start + 1
        while left > 0:
            chunk = self._file.read(min(CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk

    def close(self) -> None:
        self._file.close()


class LocalWriter:
    """An object being written to a temporary file on the same disk, renamed into place on commit."""

    def __init__(self, storage: "LocalStorage", key: str, content_type: str, durable: bool = True):
        self.storage, self.key, self.content_type, self.durable = storage, key, content_type, durable
        self.path = storage._path(key)
        storage.tmp.mkdir(parents=True, exist_ok=True)
        self._file = tempfile.NamedTemporaryFile(dir=storage.tmp, prefix="put-", delete=False)
        self.local_path: Optional[str] = self._file.name  # decoders read the bytes here before commit
        self.size = 0

    def write(self, data: bytes) -> None:
        """Append bytes."""
        try:
            self._file.write(data)
        except OSError as exc:
            raise BackendError(f"Could not store the object: {exc.strerror or exc}",
                               backend="local", operation="put") from exc
        self.size += len(data)

    def expect(self, size: int) -> None:
        """A file is written the same whatever its announced length."""

    def flush(self) -> None:
        """Make the bytes written so far readable at local_path."""
        self._file.flush()

    def commit(self) -> ObjectInfo:
        """Rename the file into place; the object becomes visible only now (and, durable, survives a power cut)."""
        try:
            self._file.flush()
            if self.durable:
                fsync_file(self._file.fileno())
            self._file.close()
            # Keys are never rewritten with other bytes, so a random ETag is as good as a digest and costs nothing.
            meta = {"content_type": self.content_type, "etag": secrets.token_hex(16)}
            self.storage._place(self._file.name, self.path, meta, self.durable)
        except OSError as exc:
            self.abort()
            raise BackendError(f"Could not store the object: {exc.strerror or exc}",
                               backend="local", operation="put") from exc
        self.local_path = None
        return self.storage.stat(self.key)

    def abort(self) -> None:
        """Throw the bytes away; safe to call twice."""
        self._file.close()
        try:
            os.unlink(self._file.name)
        except FileNotFoundError:
            pass


class LocalStorage(LocalParts, LocalDebris):
    """Objects under `<root>/objects/<key>`; the content type sits beside each in a small sidecar."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root) / "objects"
        self.tmp = Path(root) / "tmp"
        self._synced = SyncedFolders(self.root.parent)
        self.repaired: list[PostureCheck] = []  # what create() found otherwise and set right (init --check says)

    @classmethod
    def from_app(cls, app) -> "LocalStorage":
        """A store in the app's data folder."""
        return cls(app.config["DATA_DIR"])

    def create(self) -> None:
        """Make the folders, closed to other users of the machine, and sweep stale scratch; safe to call again.
        What it had to set right is added to `repaired` (which `flask momento init` clears once it has run)."""
        for folder in (self.root, self.tmp):
            setting, existed = f"folder {folder}", folder.is_dir()
            if not existed:
                self.repaired.append(PostureCheck(setting, "exists", "missing (made as this process started)", False))
            folder.mkdir(parents=True, exist_ok=True)
            mode = folder.stat().st_mode & 0o777
            if mode & 0o007:
                folder.chmod(mode & ~0o007)
                if existed:
                    self.repaired.append(PostureCheck(setting, "no access for other users",
                                                      f"mode {mode:o} (closed as this process started)", False))
        fsync_dir(self.root.parent)
        self.sweep_scratch()

    def sweep_scratch(self, grace: float = SCRATCH_GRACE, now: Optional[float] = None) -> int:
        """Remove what a killed process left in tmp/ (half-received uploads, decode copies, rendition folders):
        entries nothing has written to for `grace` seconds, since live ones are written as they go. How many."""
        now = time.time() if now is None else now
        swept = 0
        for entry in self._scratch_entries():
            try:
                if now - _last_write(entry) < grace:
                    continue
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
                swept += 1
            except FileNotFoundError:
                continue  # its own process finished with it meanwhile
            except OSError:
                continue  # not ours to remove; the next start tries again
        return swept

    def _scratch_entries(self) -> list[Path]:
        try:
            return list(self.tmp.iterdir())
        except FileNotFoundError:
            return []

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)  # keys are built by Momento, but one must never climb out of the folder

    @staticmethod
    def _meta_path(path: Path) -> Path:
        return path.with_name(path.name + ".meta")

    def _place(self, temp: str, path: Path, meta: dict, durable: bool) -> None:
        """Rename a written (and, durable, fsync'ed) temporary file to path, its sidecar first; durable, the
        folder's new names are synced before this returns. A crash leaves at worst a sidecar without its object."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, meta_temp = tempfile.mkstemp(dir=self.tmp, prefix="meta-")
        try:
            with os.fdopen(fd, "w") as out:
                out.write(json.dumps(meta))
                out.flush()
                if durable:
                    fsync_file(out.fileno())
            os.replace(meta_temp, self._meta_path(path))
        except BaseException:
            _unlink(meta_temp)
            raise
        os.replace(temp, path)
        if durable:
            self._synced.sync([path.parent])

    def put(self, key: str, stream: BinaryIO, content_type: str, *, durable: bool = True) -> ObjectInfo:
        """Copy the stream to a temporary file, then rename it into place; durable (the default), on disk
        before this returns, else (thumbnails, renditions: they can be made again) as the kernel sees fit."""
        path = self._path(key)
        try:
            self.tmp.mkdir(parents=True, exist_ok=True)
            md5 = hashlib.md5(usedforsecurity=False)
            with tempfile.NamedTemporaryFile(dir=self.tmp, delete=False) as out:
                try:
                    while chunk := stream.read(CHUNK):
                        md5.update(chunk)
                        out.write(chunk)
                    out.flush()
                    if durable:
                        fsync_file(out.fileno())
                except BaseException:
                    os.unlink(out.name)
                    raise
            try:
                self._place(out.name, path, {"content_type": content_type, "etag": md5.hexdigest()}, durable)
            except BaseException:
                _unlink(out.name)
                raise
        except OSError as exc:
            raise BackendError(f"Could not store the object: {exc.strerror or exc}",
                               backend="local", operation="put") from exc
        return self.stat(key)

    def writer(self, key: str, content_type: str, *, durable: bool = True) -> LocalWriter:
        """Write an object as its bytes arrive."""
        return LocalWriter(self, key, content_type, durable)

    def put_bytes(self, key: str, data: bytes, content_type: str, *, durable: bool = True) -> ObjectInfo:
        """Store a small value under key."""
        import io

        return self.put(key, io.BytesIO(data), content_type, durable=durable)

    def stat(self, key: str) -> ObjectInfo:
        """Size, type and ETag of key."""
        path = self._path(key)
        try:
            st = path.stat()
        except FileNotFoundError as exc:
            raise ObjectMissing("The stored file is missing.") from exc
        except OSError as exc:
            raise BackendError(f"Could not read the object: {exc.strerror}", backend="local", operation="read") from exc
        try:
            meta = json.loads(self._meta_path(path).read_text())
        except (OSError, ValueError):
            meta = {"content_type": "application/octet-stream", "etag": f"{st.st_size:x}-{st.st_mtime_ns:x}"}
        return ObjectInfo(key=key, size=st.st_size, content_type=meta["content_type"], etag=meta["etag"], modified=st.st_mtime)

    def open(self, key: str, start: Optional[int] = None, end: Optional[int] = None) -> LocalStream:
        """Open key, or the inclusive range start..end of it."""
        info = self.stat(key)
        first = 0 if start is None else start
        last = info.size - 1 if end is None else min(end, info.size - 1)
        try:
            return LocalStream(self._path(key), info, first, last)
        except FileNotFoundError as exc:
            raise ObjectMissing("The stored file is missing.") from exc

    def delete(self, key: str) -> None:
        """Remove key and its sidecar; a missing key is fine."""
        path = self._path(key)
        for p in (path, self._meta_path(path)):
            try:
                p.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise BackendError(f"Could not delete the object: {exc.strerror}",
                                   backend="local", operation="delete") from exc

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object under prefix, in key order, walking only the folders the prefix allows."""
        folder = prefix.rpartition("/")[0]
        if folder and (".." in folder.split("/") or folder.startswith("/")):
            raise BadRequest("Invalid object key.", code="bad_key")
        yield from self._walk(self.root / folder if folder else self.root, f"{folder}/" if folder else "", prefix)

    def _walk(self, path: Path, base: str, prefix: str) -> Iterator[ObjectInfo]:
        # A folder sorts as "name/", so "a.txt" < "a/b" < "a0" as the keys themselves do (and as S3 lists).
        try:
            entries = sorted(os.scandir(path), key=lambda e: e.name + "/" if e.is_dir() else e.name)
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            raise BackendError(f"Could not list the objects: {exc.strerror}", backend="local", operation="list") from exc
        for entry in entries:
            key = base + entry.name
            if entry.is_dir():
                if (key + "/").startswith(prefix) or prefix.startswith(key + "/"):
                    yield from self._walk(Path(entry.path), key + "/", prefix)
            elif key.startswith(prefix) and not entry.name.endswith(".meta"):
                yield self.stat(key)

    def check(self) -> None:
        """Raise BackendError unless the folder is writable."""
        # os.access alone passes anything for root, a file in place of the folder included
        if not self.root.is_dir() or not os.access(self.root, os.W_OK):
            raise BackendError("The object folder is not writable.", backend="local", operation="check")

    def check_posture(self) -> list[PostureCheck]:
        """Whether the folders exist, can be written, and are closed to other users; changes nothing (what the start
        of this process had to set right comes first: the embedded backend sets itself up as it starts)."""
        checks = list(self.repaired)
        for folder in (self.root, self.tmp):
            if not folder.is_dir():
                checks.append(PostureCheck(f"folder {folder}", "exists", "missing", False))
                continue
            mode = folder.stat().st_mode & 0o777
            writable = os.access(folder, os.W_OK)
            checks.append(PostureCheck(f"folder {folder}", "writable, no access for other users",
                                       f"{'writable' if writable else 'read-only'}, mode {mode:o}",
                                       writable and not mode & 0o007))
        return checks

    def presigned_url(self, key: str, *, content_type: str, disposition: str, seconds: int) -> Optional[str]:
        """None: a folder on the server's disk has no URL of its own; the server streams its bytes."""
        return None

    def delivery_origin(self) -> Optional[str]:
        """None: nothing is delivered from anywhere but the server."""
        return None

    def scratch_dir(self) -> str:
        """A folder on the same disk for temporary files."""
        self.tmp.mkdir(parents=True, exist_ok=True)
        return str(self.tmp)
