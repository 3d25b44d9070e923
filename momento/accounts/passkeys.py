"""Passkeys (WebAuthn) with py_webauthn: registration and sign-in ceremonies, as values in and out.

Sign-in is usernameless: the browser offers the passkeys it holds for this site (discoverable credentials),
and the credential id it answers with names the account. The caller keeps each challenge (the web side keeps
it in the signed session) and hands it back with the browser's answer.
"""
from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from webauthn import (base64url_to_bytes, generate_authentication_options, generate_registration_options, options_to_json,
                      verify_authentication_response, verify_registration_response)
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (AuthenticatorSelectionCriteria, PublicKeyCredentialDescriptor,
                                      ResidentKeyRequirement, UserVerificationRequirement)

from ..errors import BadRequest, NotFound, Unauthorized
from ..formats import now_iso, plain_label
from ..models import Passkey, User

NAME_MAX = 60
PASSKEYS_MAX = 20


def registration_options(user: User, existing: list[Passkey], *, rp_id: str, rp_name: str) -> tuple[str, str]:
    """Options for navigator.credentials.create() (JSON) and the challenge to keep (base64url)."""
    options = generate_registration_options(
        rp_id=rp_id, rp_name=rp_name, user_id=user.id.encode(), user_name=user.email, user_display_name=user.email,
        authenticator_selection=AuthenticatorSelectionCriteria(resident_key=ResidentKeyRequirement.REQUIRED,
                                                               user_verification=UserVerificationRequirement.PREFERRED),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=_bytes(p.id)) for p in existing])
    return options_to_json(options), bytes_to_base64url(options.challenge)


def register(catalog, user: User, credential: Any, challenge: str, *, rp_id: str, origin: str, name: Any) -> Passkey:
    """Check the browser's answer to registration_options and store the new passkey."""
    if len(catalog.list_passkeys(user.id)) >= PASSKEYS_MAX:
        raise BadRequest(f"An account holds at most {PASSKEYS_MAX} passkeys; remove one first.", code="too_many_passkeys")
    try:
        verified = verify_registration_response(credential=_credential(credential), expected_challenge=_bytes(challenge),
                                                expected_rp_id=rp_id, expected_origin=origin)
    except (WebAuthnException, ValueError, TypeError, KeyError, AttributeError):  # every way an answer can be wrong
        raise BadRequest("The passkey could not be added: the browser's answer did not check out. Try again.",
                         code="passkey_refused") from None
    transports = credential.get("response", {}).get("transports") if isinstance(credential, dict) else None
    passkey = Passkey(id=bytes_to_base64url(verified.credential_id), user_id=user.id,
                      public_key=bytes_to_base64url(verified.credential_public_key),
                      sign_count=verified.sign_count, created_at=now_iso(), name=parse_name(name),
                      transports=tuple(t for t in transports or () if isinstance(t, str))[:8])
    catalog.add_passkey(passkey)
    return passkey


def authentication_options(*, rp_id: str) -> tuple[str, str]:
    """Options for navigator.credentials.get() with no allow-list (the browser offers its passkeys), and the
    challenge to keep."""
    options = generate_authentication_options(rp_id=rp_id, user_verification=UserVerificationRequirement.PREFERRED)
    return options_to_json(options), bytes_to_base64url(options.challenge)


def authenticate(catalog, credential: Any, challenge: str, *, rp_id: str, origin: str) -> User:
    """The enabled account whose passkey signed this challenge; Unauthorized otherwise."""
    refused = Unauthorized("That passkey is not known here, or its answer did not check out.", code="passkey_refused")
    raw_id = credential.get("id") if isinstance(credential, dict) else None
    passkey = catalog.get_passkey(raw_id) if isinstance(raw_id, str) and 0 < len(raw_id) <= 1400 else None
    if passkey is None:
        raise refused
    try:
        verified = verify_authentication_response(
            credential=_credential(credential), expected_challenge=_bytes(challenge), expected_rp_id=rp_id,
            expected_origin=origin, credential_public_key=_bytes(passkey.public_key),
            credential_current_sign_count=passkey.sign_count)
    except (WebAuthnException, ValueError, TypeError, KeyError, AttributeError):
        raise refused from None
    user = catalog.get_user(passkey.user_id)
    if user is None or user.disabled or user.deleted_at:
        raise Unauthorized("This account is disabled.", code="account_disabled")
    catalog.update_passkey(replace(passkey, sign_count=verified.new_sign_count, last_used_at=now_iso()))
    return user


def rename(catalog, user: User, credential_id: str, name: Any) -> Passkey:
    """Give one of the user's passkeys a new name."""
    passkey = catalog.get_passkey(credential_id)
    if passkey is None or passkey.user_id != user.id:
        raise _not_found()
    passkey = replace(passkey, name=parse_name(name))
    catalog.update_passkey(passkey)
    return passkey


def remove(catalog, user: User, credential_id: str) -> None:
    """Remove one of the user's passkeys; NotFound when it is not theirs."""
    if not catalog.delete_passkey(user.id, credential_id):
        raise _not_found()


def parse_name(name: Any) -> str:
    """A passkey's name for people ('Passkey' when none)."""
    if name is not None and not isinstance(name, str):
        raise BadRequest(f"Give the passkey a name of at most {NAME_MAX} characters.", code="invalid_name")
    label = plain_label(name or "")
    if len(label) > NAME_MAX:
        raise BadRequest(f"Give the passkey a name of at most {NAME_MAX} characters.", code="invalid_name")
    return label or "Passkey"


def to_json(passkey: Passkey) -> dict[str, Any]:
    """A passkey as the API lists it (no key material)."""
    return {"id": passkey.id, "name": passkey.name, "created_at": passkey.created_at,
            "last_used_at": passkey.last_used_at}


def _not_found() -> NotFound:
    """The answer for another account's passkey, or none."""
    return NotFound("No such passkey.")


def _credential(credential: Any) -> str:
    """The browser's answer as the JSON py_webauthn parses."""
    if not isinstance(credential, dict):
        raise ValueError("the credential is not an object")
    return json.dumps(credential)


def _bytes(text: str) -> bytes:
    """base64url text to bytes."""
    return base64url_to_bytes(text)
