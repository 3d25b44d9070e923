"""S3's errors turned into Momento's: one place for the S3 adapter and its writer."""
from __future__ import annotations

from botocore.exceptions import ClientError

from ..errors import BackendError


def error_code(exc: ClientError) -> str:
    """The error code S3 answered with ('' when none)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def failed(what: str, exc: Exception) -> BackendError:
    """The BackendError for a failed S3 call, naming what could not be done and S3's code (never a key)."""
    detail = error_code(exc) if isinstance(exc, ClientError) else type(exc).__name__
    return BackendError(f"The object store failed to {what} ({detail}).", backend="s3",
                        operation=what.split()[0])  # read, store, delete, list, start, reach, set
