"""Upload and user records as plain dicts, shared by the catalog backends."""
from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

from ..models import TWO_FACTOR_FIELDS, Upload, User

_UPLOAD_FIELDS = {f.name for f in fields(Upload)}
_USER_FIELDS = {f.name for f in fields(User)}


def upload_to_dict(upload: Upload) -> dict[str, Any]:
    """Every field of an upload, tuples as lists."""
    doc = asdict(upload)
    doc["tags"] = list(upload.tags)
    doc["auto_tags"] = list(upload.auto_tags)
    return doc


def upload_from_dict(doc: dict[str, Any]) -> Upload:
    """An Upload from a stored dict, ignoring keys it does not know."""
    values = {k: v for k, v in doc.items() if k in _UPLOAD_FIELDS}
    values["tags"] = tuple(values.get("tags") or ())
    values["auto_tags"] = tuple(values.get("auto_tags") or ())
    for name in ("width", "height", "size"):
        if values.get(name) is not None:
            values[name] = int(values[name])
    if values.get("duration") is not None:
        values["duration"] = float(values["duration"])
    if values.get("gps"):
        values["gps"] = {k: float(v) for k, v in values["gps"].items()}
    values["extra"] = dict(values.get("extra") or {})
    return Upload(**values)


def user_from_dict(doc: dict[str, Any]) -> User:
    """A User from a stored dict."""
    values = {k: v for k, v in doc.items() if k in _USER_FIELDS}
    values["is_admin"] = bool(values.get("is_admin"))
    values["disabled"] = bool(values.get("disabled"))
    if values.get("quota") is not None:
        values["quota"] = int(values["quota"])
    values["totp_last_step"] = int(values.get("totp_last_step") or 0)
    values["recovery_codes"] = tuple(values.get("recovery_codes") or ())
    return User(**values)


def user_to_dict(user: User) -> dict[str, Any]:
    """Every field of a user, tuples as lists."""
    doc = asdict(user)
    doc["recovery_codes"] = list(user.recovery_codes)
    return doc


def two_factor_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """Changes to TWO_FACTOR_FIELDS as stored (tuples as lists); ValueError for any other field."""
    unknown = set(changes) - set(TWO_FACTOR_FIELDS)
    if unknown:
        raise ValueError(f"not two-factor fields: {sorted(unknown)}")
    return {k: list(v) if isinstance(v, tuple) else v for k, v in changes.items()}


def record_to_dict(value) -> dict[str, Any]:
    """A session, token or passkey as a plain dict (tuples as lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(value).items()}


def record_from_dict(cls, doc: dict[str, Any]):
    """A session, token or passkey from a stored dict, ignoring keys it does not know."""
    names = {f.name: f for f in fields(cls)}
    values = {k: (tuple(v) if isinstance(v, list) else v) for k, v in doc.items() if k in names}
    if "sign_count" in values:
        values["sign_count"] = int(values["sign_count"])
    if "remember" in values:
        values["remember"] = bool(values["remember"])
    return cls(**values)
