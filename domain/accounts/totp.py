"""Time-based one-time codes (RFC 6238) with replay protection."""

from __future__ import annotations

import time

import pyotp
import segno

ISSUER = "Buurtgezinnen"
STEP_SECONDS = 30


def new_secret() -> str:
    # 32 base32 characters = 160 bits; pyotp refuses secrets under 112 bits.
    return pyotp.random_base32(length=32)


def accepted_step(secret: str, code: str, last_step: int, now: float | None = None) -> int | None:
    """The time step ``code`` belongs to (one step of clock drift allowed), if it is new.

    Returns None for a wrong code and for a code of a step that was already used.
    """
    code = "".join(code.split())
    if not (code.isdigit() and len(code) == 6):
        return None
    now = time.time() if now is None else now
    totp = pyotp.TOTP(secret)
    current = int(now // STEP_SECONDS)
    for step in (current - 1, current, current + 1):
        if step > last_step and totp.at(step * STEP_SECONDS) == code:
            return step
    return None


def provisioning_uri(secret: str, account_name: str, issuer: str = ISSUER) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account_name, issuer_name=issuer)


def qr_svg_data_uri(uri: str) -> str:
    """The enrolment QR code as an inline SVG data URI (no JavaScript, allowed by the CSP)."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2)
