"""Configuration: defaults, then MOMENTO_* environment variables, then test overrides."""
from __future__ import annotations

import os
from datetime import timedelta

from limits import parse_many

from .errors import MomentoError
from .media.budget import DEFAULT_BUDGET
from .media.taggers import available_taggers

MiB = 1024 * 1024

DEFAULTS = {
    "BACKEND": "local",
    "DATA_DIR": None,  # the instance folder
    "BUCKET": "momento-uploads",
    "TABLE_PREFIX": "momento-",
    "KMS_KEY_ID": None,
    "MAX_PHOTO_BYTES": 50 * MiB,
    "MAX_VIDEO_BYTES": 2048 * MiB,
    "MAX_PIXELS": None,  # Pillow's own limit
    "DECODE_BUDGET_BYTES": DEFAULT_BUDGET,  # memory one photo's decode may hold (momento/media/budget.py)
    "DECODES_AT_ONCE": 2,  # decodes one server process runs together; more uploads wait for a slot
    "OPEN_REGISTRATION": True,
    "DEFAULT_QUOTA": "none",
    "RATELIMIT_STORAGE_URI": "memory://",
    "PAGE_SIZE": 50,
    "MEDIA_DELIVERY": None,  # "presigned" (/media answers 302 to S3) or "proxy" (the server streams); None: by backend
    "PRESIGN_SECONDS": 300,  # lifetime of a presigned media URL
    "WORKER_THREADS": None,  # background job threads per server process: 1 on local, 0 on aws and in tests
    "RENDITION_SECONDS": 600,  # wall-clock limit of one video rendition job
    "RENDITION_MAX_PIXELS": 10**12,  # ceiling of one rendition's pixels decoded plus encoded (~2 h of 1080p30)
    "TAGGERS": "color,faces",  # content taggers run on each thumbnail (momento/media/taggers.py)
    "LOG_FORMAT": "text",  # or "json": one object a line (momento/observe/logs.py)
    "METRICS_TOKEN": None,  # a bearer of it may read /metrics from anywhere (loopback clients may without it)
    # Flask and Werkzeug request limits
    "MAX_FORM_MEMORY_SIZE": 500 * 1024,
    "MAX_FORM_PARTS": 100,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "WTF_CSRF_CHECK_DEFAULT": False,  # checked in one before_request hook, skipped for Bearer tokens
    "WTF_CSRF_TIME_LIMIT": None,
    # Credentials of the admin role (aws) for init, migrate, verify, purge and the other commands; the web
    # server never sets them. A profile name, or an access key pair (and session token).
    "ADMIN_PROFILE": None,
    "ADMIN_ACCESS_KEY_ID": None,
    "ADMIN_SECRET_ACCESS_KEY": None,
    "ADMIN_SESSION_TOKEN": None,
    # Optional split of the object permissions (aws): the web server writes objects with the uploader's
    # credentials and reads them with the reader's, so that neither key alone can both read and overwrite
    # photos; its own credentials then need no object permission. Both or neither, each a profile or a key pair.
    "UPLOADER_PROFILE": None,
    "UPLOADER_ACCESS_KEY_ID": None,
    "UPLOADER_SECRET_ACCESS_KEY": None,
    "UPLOADER_SESSION_TOKEN": None,
    "READER_PROFILE": None,
    "READER_ACCESS_KEY_ID": None,
    "READER_SECRET_ACCESS_KEY": None,
    "READER_SESSION_TOKEN": None,
}

# What `flask momento stats` estimates a month with: us-east-1 list prices in USD, each overridable
# (MOMENTO_PRICE_S3_GB_MONTH=0.0245 ...), and how often a stored upload is looked at in a month.
PRICES = {
    "PRICE_S3_GB_MONTH": 0.023,  # S3 Standard storage, first 50 TB
    "PRICE_S3_PUT_PER_1000": 0.005,  # PUT, COPY, POST, LIST requests
    "PRICE_S3_GET_PER_1000": 0.0004,  # GET, HEAD and other requests
    "PRICE_DYNAMODB_WRITE_PER_MILLION": 0.625,  # on-demand write request units
    "PRICE_DYNAMODB_READ_PER_MILLION": 0.125,  # on-demand read request units
    "PRICE_DYNAMODB_GB_MONTH": 0.25,  # table storage
    "COST_VIEWS_PER_UPLOAD": 4,  # thumbnail or original views per stored upload and month (an assumption)
}
DEFAULTS.update(PRICES)

# Abuse limits, quotas and TLS behind a proxy (momento/limits.py, momento/quota.py, momento/web/security.py).
HARDENING = {
    "RATELIMIT_ENABLED": None,  # None: on, except under TESTING (tests that test limits turn them on)
    "LOGIN_LIMIT": "10 per 15 minutes",  # failed sign-ins per account, page and token API together
    "LOGIN_ADDRESS_LIMIT": "50 per 15 minutes",  # failed sign-ins per client address
    "REGISTER_LIMIT": "5 per hour",  # accounts created per client address
    "UPLOAD_LIMIT": "300 per minute",  # uploads per user
    "SHARE_LIMIT": "600 per minute",  # requests to shared pages and their media per client address
    "SHARE_PASSWORD_LIMIT": "10 per 15 minutes",  # wrong passwords per share link
    "SHARE_PASSWORD_ADDRESS_LIMIT": "30 per 15 minutes",  # wrong share passwords per client address
    "UPLOAD_BYTES_PER_DAY": "50GB",  # bytes uploaded per user and day ("none": no limit)
    "PROXY_FIX": 0,  # how many proxies in front set X-Forwarded-For/-Proto/-Host (0: trust none)
    "HSTS_MAX_AGE": 365 * 24 * 3600,  # Strict-Transport-Security on answers served over TLS (0: none)
}
DEFAULTS.update(HARDENING)

# Resumable uploads (tus, momento/resumable.py): how long an unfinished one is kept, the size of the parts its
# bytes are stored in (S3's smallest is 5 MiB), and how many parts one PATCH sends at once.
RESUMABLE = {"TUS_EXPIRY_HOURS": 24, "TUS_PART_SIZE": 8 * MiB, "TUS_PARTS_IN_FLIGHT": 2}
DEFAULTS.update(RESUMABLE)


# settings holding a Flask-Limiter rate string ("10 per 15 minutes"; "none" turns the limit off)
RATE_SETTINGS = ("LOGIN_LIMIT", "LOGIN_ADDRESS_LIMIT", "REGISTER_LIMIT", "UPLOAD_LIMIT", "SHARE_LIMIT",
                 "SHARE_PASSWORD_LIMIT", "SHARE_PASSWORD_ADDRESS_LIMIT")

# Sign-in sessions on the server (momento/accounts/sessions.py) and passkeys (momento/accounts/passkeys.py):
# a session idles out after SESSION_IDLE_HOURS, one with "keep me signed in" after REMEMBER_DAYS; the WebAuthn
# relying party is the request's host unless set (behind a proxy that rewrites Host, set both).
SIGN_IN = {"SESSION_IDLE_HOURS": 12, "REMEMBER_DAYS": 30, "WEBAUTHN_RP_ID": None, "WEBAUTHN_ORIGIN": None,
           "WEBAUTHN_RP_NAME": "Momento"}
DEFAULTS.update(SIGN_IN)




def rate_string(value) -> str:
    """A setting as Flask-Limiter reads it: '' when off; ValueError when it cannot be parsed."""
    text = "" if value is None else str(value).strip()
    if text.lower() in ("", "none", "off", "0"):
        return ""
    parse_many(text)  # raises ValueError for what Flask-Limiter would refuse at the first request
    return text


def role_keys(role: str) -> tuple[str, ...]:
    """The settings that name one role's credentials: MOMENTO_<ROLE>_PROFILE, or a key pair (and session token)."""
    return tuple(f"{role}_{name}" for name in ("PROFILE", "ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "SESSION_TOKEN"))


def role_configured(cfg, role: str) -> bool:
    """Whether any of a role's credential settings is set."""
    return any(cfg.get(name) for name in role_keys(role))


class ConfigError(MomentoError):
    """The configuration cannot work; raised at start-up."""


def load_config(app, test_config: dict | None) -> None:
    """Fill app.config from defaults, the environment and test overrides; fail fast."""
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("MOMENTO")
    if test_config:
        app.config.from_mapping(test_config)
    cfg = app.config
    cfg["BACKEND"] = str(cfg["BACKEND"]).lower()
    if cfg["BACKEND"] not in ("local", "aws"):
        raise ConfigError(f"MOMENTO_BACKEND must be 'local' or 'aws', not {cfg['BACKEND']!r}.")
    if role_configured(cfg, "UPLOADER") != role_configured(cfg, "READER"):
        raise ConfigError("Set both MOMENTO_UPLOADER_* and MOMENTO_READER_* credentials, or neither.")
    if not cfg.get("DATA_DIR"):
        cfg["DATA_DIR"] = app.instance_path
    cfg["DATA_DIR"] = os.path.abspath(str(cfg["DATA_DIR"]))
    for name in ("MAX_PHOTO_BYTES", "MAX_VIDEO_BYTES", "DECODE_BUDGET_BYTES"):
        cfg[name] = _positive_int(cfg, name)
    cfg["DECODES_AT_ONCE"] = _positive_int(cfg, "DECODES_AT_ONCE", "decodes")
    if cfg.get("MAX_PIXELS") is not None:
        cfg["MAX_PIXELS"] = _positive_int(cfg, "MAX_PIXELS")
    cfg["OPEN_REGISTRATION"] = _flag(cfg["OPEN_REGISTRATION"])
    for name in PRICES:
        cfg[name] = _non_negative(cfg, name)
    cfg["WORKER_THREADS"] = _worker_threads(cfg)
    cfg["RENDITION_MAX_PIXELS"] = _positive_int(cfg, "RENDITION_MAX_PIXELS", "pixels")
    cfg["RENDITION_SECONDS"] = _non_negative(cfg, "RENDITION_SECONDS")
    if not cfg["RENDITION_SECONDS"] > 0:
        raise ConfigError("MOMENTO_RENDITION_SECONDS must be more than zero.")
    for name, unit in (("TUS_EXPIRY_HOURS", "hours"), ("TUS_PART_SIZE", "bytes"), ("TUS_PARTS_IN_FLIGHT", "parts")):
        cfg[name] = _positive_int(cfg, name, unit)
    for name in ("SESSION_IDLE_HOURS", "REMEMBER_DAYS"):
        cfg[name] = _positive_int(cfg, name, "hours" if name.endswith("HOURS") else "days")
    cfg["PERMANENT_SESSION_LIFETIME"] = timedelta(days=cfg["REMEMBER_DAYS"])
    if cfg["TUS_PART_SIZE"] < 5 * MiB:
        raise ConfigError("MOMENTO_TUS_PART_SIZE must be at least 5 MiB (5242880), S3's smallest part.")
    _hardening(cfg)
    _delivery(cfg)
    try:
        cfg["CONTENT_TAGGERS"] = tuple(available_taggers(cfg.get("TAGGERS") or ()))
    except ValueError as exc:
        raise ConfigError(f"MOMENTO_TAGGERS: {exc}") from None
    # The whole request may carry one file of the largest kind plus its form fields.
    cfg.setdefault("MAX_CONTENT_LENGTH", None)
    if cfg["MAX_CONTENT_LENGTH"] is None:
        cfg["MAX_CONTENT_LENGTH"] = max(cfg["MAX_PHOTO_BYTES"], cfg["MAX_VIDEO_BYTES"]) + MiB
    if cfg.get("SECRET_KEY") is not None:
        cfg["SECRET_KEY"] = str(cfg["SECRET_KEY"])
    if not cfg.get("SECRET_KEY"):
        if app.debug or cfg.get("TESTING"):
            cfg["SECRET_KEY"] = "dev-only-not-secret"
        else:
            raise ConfigError(
                "MOMENTO_SECRET_KEY is not set. Set it to a long random string, for example:\n"
                "  export MOMENTO_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )


def _hardening(cfg) -> None:
    """Parse the limit, quota and proxy settings (sizes like 20GB, rates like '10 per 15 minutes')."""
    from .formats import parse_size

    if cfg["RATELIMIT_ENABLED"] is None:
        cfg["RATELIMIT_ENABLED"] = not cfg.get("TESTING")
    cfg["RATELIMIT_ENABLED"] = _flag(cfg["RATELIMIT_ENABLED"])
    for name in RATE_SETTINGS:
        try:
            cfg[name] = rate_string(cfg[name])
        except ValueError:
            raise ConfigError(f"MOMENTO_{name} must read like '10 per 15 minutes' or 'none', not {cfg[name]!r}.") from None
    for name, target in (("DEFAULT_QUOTA", "DEFAULT_QUOTA_BYTES"), ("UPLOAD_BYTES_PER_DAY", "UPLOAD_BYTES_PER_DAY_BYTES")):
        try:
            cfg[target] = parse_size(cfg[name])
        except ValueError:
            raise ConfigError(f"MOMENTO_{name} must be a size like 500MB or 20GB, or none, not {cfg[name]!r}.") from None
    for name in ("PROXY_FIX", "HSTS_MAX_AGE"):
        value = cfg[name]
        value = int(value) if isinstance(value, bool) or str(value).strip().isdigit() else value
        if not isinstance(value, int) or value < 0:
            raise ConfigError(f"MOMENTO_{name} must be a whole number of 0 or more, not {cfg[name]!r}.")
        cfg[name] = value


def _delivery(cfg) -> None:
    """How media reach browsers: presigned S3 URLs by default on aws (only there), else through the server."""
    mode = str(cfg["MEDIA_DELIVERY"] or ("presigned" if cfg["BACKEND"] == "aws" else "proxy")).strip().lower()
    if mode not in ("presigned", "proxy"):
        raise ConfigError(f"MOMENTO_MEDIA_DELIVERY must be 'presigned' or 'proxy', not {cfg['MEDIA_DELIVERY']!r}.")
    if mode == "presigned" and cfg["BACKEND"] != "aws":
        raise ConfigError("MOMENTO_MEDIA_DELIVERY=presigned needs MOMENTO_BACKEND=aws: "
                          "the local backend's files have no URL of their own. Use proxy.")
    cfg["MEDIA_DELIVERY"] = mode
    cfg["PRESIGN_SECONDS"] = _positive_int(cfg, "PRESIGN_SECONDS", "seconds")
    if cfg["PRESIGN_SECONDS"] > 7 * 24 * 3600:
        raise ConfigError("MOMENTO_PRESIGN_SECONDS may be at most 604800 (7 days), S3's longest.")


def _positive_int(cfg, name: str, unit: str = "bytes") -> int:
    raw = cfg[name]
    try:
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            raise ValueError(raw)
        value = int(raw)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"MOMENTO_{name} must be a whole number of {unit}, not {raw!r}.") from None
    if value <= 0:
        raise ConfigError(f"MOMENTO_{name} must be a whole number of {unit} above zero, not {raw!r}.")
    return value


def _worker_threads(cfg) -> int:
    # A single machine should just work; on aws, `flask momento work --follow` runs apart from the web tier.
    if cfg["WORKER_THREADS"] is None:
        return 0 if cfg.get("TESTING") or cfg["BACKEND"] == "aws" else 1
    try:
        value = int(cfg["WORKER_THREADS"])
    except (TypeError, ValueError):
        raise ConfigError(f"MOMENTO_WORKER_THREADS must be a whole number, not {cfg['WORKER_THREADS']!r}.") from None
    if value < 0:
        raise ConfigError("MOMENTO_WORKER_THREADS must be 0 or more.")
    return value


def _non_negative(cfg, name: str) -> float:
    try:
        value = float(cfg[name])
    except (TypeError, ValueError):
        raise ConfigError(f"MOMENTO_{name} must be a number, not {cfg[name]!r}.") from None
    if not value >= 0:  # also refuses NaN
        raise ConfigError(f"MOMENTO_{name} must be zero or more.")
    return value


def _flag(value) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")
