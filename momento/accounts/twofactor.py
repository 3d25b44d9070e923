"""Two-factor sign-in: TOTP (RFC 6238: SHA-1, 6 digits, 30 s) with pyotp, ten single-use recovery codes,
and the setup QR code drawn on the server as inline SVG (segno), so no script or outside image is needed."""
from __future__ import annotations

import hashlib
import io
import secrets
import time
from typing import Optional

import pyotp
import segno

from ..errors import BadRequest, Conflict, Unauthorized
from ..models import User

ISSUER = "Momento"
RECOVERY_CODES = 10
STEP = 30


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _normal(code) -> str:
    """A code as typed, without spaces or dashes, lower-cased (recovery codes are not case-sensitive)."""
    return "".join(ch for ch in str(code or "") if ch not in " -\t").lower()[:64]


def begin(catalog, user: User) -> tuple[str, str]:
    """A new secret waiting for its first code (two-factor stays as it was until confirmed): secret and URI."""
    secret = pyotp.random_base32()
    # only while two-factor is off as stored (not from a copy read before another window turned it on)
    if user.totp_secret or catalog.set_two_factor(user.id, {"totp_pending": secret},
                                                   expect={"totp_secret": None}) is None:
        raise Conflict("Two-factor sign-in is already on. Turn it off first (with a code) to set up another "
                       "device.", code="two_factor_on")
    return secret, uri(secret, user.email)


def uri(secret: str, email: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    # pyotp leaves out parameters at their defaults; written out, no app has to assume them (RFC 6238 as used here)
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER) + "&algorithm=SHA1&digits=6&period=30"


def qr_svg(uri: str) -> str:
    """The otpauth URI as an inline SVG QR code (no XML declaration: it goes into the page as it is)."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", xmldecl=False, scale=5, border=2, svgns=True,
                                    title="QR code for your authenticator app")
    return out.getvalue().decode()


def confirm(catalog, user: User, code) -> list[str]:
    """Turn two-factor on once a code from the pending secret checks out; the recovery codes, shown once."""
    if not user.totp_pending:
        raise BadRequest("Start the two-factor setup first.", code="no_pending_setup")
    step = _matching_step(pyotp.TOTP(user.totp_pending), _normal(code))
    if step is None:
        raise BadRequest("That code is not right. Check the time on your device and try the newest code.",
                         code="invalid_code")
    codes = [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODES)]
    # only while the secret the code came from is still the pending one (not replaced or confirmed meanwhile)
    # and two-factor is still off
    confirmed = catalog.set_two_factor(user.id, {"totp_secret": user.totp_pending, "totp_pending": None,
                                                 "totp_last_step": step,
                                                 "recovery_codes": tuple(_code_hash(_normal(c)) for c in codes)},
                                       expect={"totp_pending": user.totp_pending, "totp_secret": None})
    if confirmed is None:
        raise BadRequest("The two-factor setup changed meanwhile (in another window?). Open it again and use the "
                         "code it shows now.", code="no_pending_setup")
    return codes


def verify(catalog, user: User, code) -> bool:
    """Whether the code is a current TOTP code not used before, or an unused recovery code (used up now)."""
    if not user.totp_secret:
        return False
    typed = _normal(code)
    if typed.isdigit() and len(typed) == 6:
        totp = pyotp.TOTP(user.totp_secret)
        step = _matching_step(totp, typed)
        return step is not None and catalog.accept_totp_step(user.id, step)
    return bool(typed) and catalog.consume_recovery_code(user.id, _code_hash(typed))


def _matching_step(totp: pyotp.TOTP, code: str) -> Optional[int]:
    """The 30 s step (now, or one either side for clock drift) whose code this is."""
    now = int(time.time()) // STEP
    for step in (now, now - 1, now + 1):
        if secrets.compare_digest(totp.at(step * STEP), code):
            return step
    return None


def require(catalog, user: User, code) -> None:
    """Unauthorized `otp_required` unless two-factor is off or the code checks out."""
    if user.totp_secret and not verify(catalog, user, code):
        raise Unauthorized("This account has two-factor sign-in: send a current code from the app (or a recovery "
                           "code) as otp.", code="otp_required")


def disable(catalog, user: User, code) -> User:
    """Turn two-factor off with a current code or a recovery code."""
    if not user.totp_secret:
        raise BadRequest("Two-factor sign-in is not on.", code="two_factor_off")
    if not verify(catalog, user, code):
        raise BadRequest("That code is not right.", code="invalid_code")
    return reset(catalog, user)


def reset(catalog, user: User) -> User:
    """Two-factor off, secrets and recovery codes forgotten (the operator's reset, and disable)."""
    return catalog.set_two_factor(user.id, {"totp_secret": None, "totp_pending": None, "totp_last_step": 0,
                                            "recovery_codes": ()})
