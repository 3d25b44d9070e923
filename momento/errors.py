"""One exception family for Momento; web/errors.py maps it to HTTP."""
from __future__ import annotations

from typing import Callable


class MomentoError(Exception):
    """Base of every error Momento raises on purpose."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, fields: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.fields = fields or []


class BadRequest(MomentoError):
    """The request is malformed or a value is invalid."""


class Unauthorized(MomentoError):
    """Credentials are missing or wrong."""

    status = 401
    code = "unauthorized"


class Forbidden(MomentoError):
    """The caller may not do this (never used to hide another user's data)."""

    status = 403
    code = "forbidden"


class NotFound(MomentoError):
    """Nothing with that id belongs to the caller."""

    status = 404
    code = "not_found"


class Gone(MomentoError):
    """What was asked for existed but has run out (an expired share link)."""

    status = 410
    code = "gone"


class Conflict(MomentoError):
    """The request clashes with the current state."""

    status = 409
    code = "conflict"


class TooLarge(MomentoError):
    """The body or file is over a limit."""

    status = 413
    code = "too_large"


class Unsupported(MomentoError):
    """The bytes are not a media type Momento accepts."""

    status = 415
    code = "unsupported_media_type"


class Unprocessable(MomentoError):
    """The bytes claim a supported type but cannot be decoded."""

    status = 422
    code = "corrupt_media"


class RateLimited(MomentoError):
    """Too many requests or bytes in a window; `retry_after` seconds until the window reopens."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None):
        super().__init__(message, code=code)
        self.retry_after = max(1, int(retry_after))


class RangeNotSatisfiable(MomentoError):
    """The requested byte range is outside the object."""

    status = 416
    code = "range_not_satisfiable"

    def __init__(self, message: str, *, size: int):
        super().__init__(message)
        self.size = size


class BackendError(MomentoError):
    """Storage or catalog failed; the request may be retried.

    An adapter names its backend (s3, dynamodb, local, sqlite) and the operation that failed; such errors are
    reported to the hooks in BACKEND_ERROR_HOOKS (the metrics), so adapters need not know who counts them.
    """

    status = 503
    code = "backend_unavailable"
    backend: str | None = None
    operation: str | None = None

    def __init__(self, message: str, *, code: str | None = None, backend: str | None = None,
                 operation: str | None = None):
        super().__init__(message, code=code)
        if backend:
            self.backend, self.operation = backend, operation or "other"
            for hook in BACKEND_ERROR_HOOKS:
                hook(self)


# Called with each BackendError an adapter raises (set up by the web layer's metrics; empty elsewhere).
BACKEND_ERROR_HOOKS: list[Callable[[BackendError], None]] = []


class ObjectMissing(BackendError):
    """An object the catalog points at is not in the store."""

    status = 404
    code = "object_missing"


class DuplicateUpload(Conflict):
    """The user already has an upload with these bytes."""

    code = "duplicate"

    def __init__(self, existing_id: str):
        super().__init__("You have already uploaded this file.")
        self.existing_id = existing_id


class EmailTaken(Conflict):
    """An account with this email exists."""

    code = "email_taken"

    def __init__(self) -> None:
        super().__init__("An account with this email already exists.")
