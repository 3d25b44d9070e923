"""The audit trail: what happened to each account, by whom, when and from where, newest first.

Recording is best effort: a catalog that fails to take an event logs a warning and the action itself
stands (an upload is not lost because its audit line was).
"""
from __future__ import annotations

import getpass
import logging
from typing import Any, Optional

from ulid import ULID

from ..errors import BackendError
from ..formats import now_iso
from ..models import AuditEvent, Page, User

log = logging.getLogger(__name__)

# action -> how the account page says it
ACTIONS = {
    "account_created": "Account created",
    "sign_in": "Signed in",
    "sign_in_failed": "Failed sign-in",
    "sign_in_locked": "Sign-in paused after too many failed attempts",
    "sign_out": "Signed out",
    "token_created": "API token created",
    "token_revoked": "API token revoked",
    "upload": "Uploaded",
    "trash": "Moved to the trash",
    "restore": "Restored from the trash",
    "purge": "Deleted for good",
    "trash_emptied": "Trash emptied",
    "account_disabled": "Account disabled",
    "account_enabled": "Account enabled",
    "account_deleted": "Account closed",
    "quota_changed": "Storage quota changed",
    "share_created": "Share link created",
    "share_revoked": "Share link revoked",
    "share_unlocked": "Share link opened with its password",
    "session_ended": "Signed out a session",
    "signed_out_everywhere": "Signed out everywhere",
    "password_changed": "Password changed",
    "two_factor_on": "Two-factor sign-in turned on",
    "two_factor_off": "Two-factor sign-in turned off",
    "recovery_code_used": "Signed in with a recovery code",
    "passkey_added": "Passkey added",
    "passkey_removed": "Passkey removed",
}
_REASONS = {"bad_credentials": "wrong password", "account_disabled": "the account is disabled"}
USER_AGENT_MAX = 300


def record(catalog, user_id: str, action: str, *, actor: str = "user", ip: Optional[str] = None,
           user_agent: Optional[str] = None, **details: Any) -> Optional[AuditEvent]:
    """Store one event for the account; None (and a warning in the log) when the catalog failed."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    event = AuditEvent(user_id=user_id, id=str(ULID()), at=now_iso(), action=action, actor=actor, ip=ip,
                       user_agent=(user_agent or None) and user_agent[:USER_AGENT_MAX],
                       details={k: v for k, v in details.items() if v is not None})
    try:
        catalog.add_audit_event(event)
    except BackendError as exc:
        log.warning("audit event %s for %s not recorded: %s", action, user_id, exc.message)
        return None
    return event


def record_request(catalog, user: User, action: str, **details: Any) -> Optional[AuditEvent]:
    """Store an event done by the signed-in account in this request (its address and browser included)."""
    from flask import request

    return record(catalog, user.id, action, ip=request.remote_addr, user_agent=request.user_agent.string,
                  **details)


def record_operator(catalog, user: User, action: str, **details: Any) -> Optional[AuditEvent]:
    """Store an event an operator caused from the command line (the OS account that ran it is kept)."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (containers)
        who = None
    return record(catalog, user.id, action, actor="operator", operator=who, **details)


def events(catalog, user_id: str, *, limit: int = 50, cursor: Optional[str] = None) -> Page:
    """The account's events, newest first, a page at a time."""
    return catalog.list_audit_events(user_id, limit=limit, cursor=cursor)


def describe(event: AuditEvent) -> str:
    """One line for people: 'Uploaded IMG_0001.jpg'."""
    text = ACTIONS.get(event.action, event.action)
    d = event.details
    if d.get("filename"):
        text += f" {d['filename']}"
    if d.get("name") and event.action in ("token_created", "token_revoked", "passkey_added", "passkey_removed"):
        text += f" “{d['name']}”"
    if event.action == "sign_in_failed" and d.get("reason"):
        text += f" ({_REASONS.get(d['reason'], d['reason'].replace('_', ' '))})"
    if event.action == "quota_changed":
        text += f" to {d.get('quota', 'the default')}"
    if event.actor == "operator":
        text += " by an operator"
    return text


def to_json(event: AuditEvent, email: Optional[str] = None) -> dict[str, Any]:
    """An event as the CLI prints it."""
    body = {"id": event.id, "at": event.at, "user_id": event.user_id, "action": event.action,
            "actor": event.actor, "ip": event.ip, "user_agent": event.user_agent, "details": event.details}
    if email is not None:
        body = {"email": email} | body
    return body
