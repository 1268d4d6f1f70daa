"""Forgotten passwords of tenant staff: a 60-minute link by mail, and setting a new password with it.

The request always gets the same answer, whether or not the address is known. The authenticator
stays as it is: a reset link proves access to the mailbox, not to the phone, so re-enrolling an
authenticator still takes a tenant admin.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from domain.accounts.models import StaffUser, TokenPurpose
from domain.accounts.services import check_password_strength, find_staff_user, set_password
from domain.accounts.tokens import issue, redeem_token
from domain.audit.services import Actor, record
from domain.email.services import queue_email
from tenants.models import Tenant

RESET_LIFETIME = timedelta(minutes=60)
RESET_TEMPLATE = "password_reset"


def reset_path(tenant: Tenant, raw_token: str) -> str:
    return f"/{tenant.slug}/wachtwoord-herstellen/{raw_token}"


def request_password_reset(tenant: Tenant, email: str, *, base_url: str, actor: Actor) -> bool:
    """Mail a reset link if ``email`` belongs to an active user who has a password (caller commits).

    Returns whether a mail was queued; the caller must not let the visitor see the difference.
    """
    user = find_staff_user(email)
    if user is None or not user.active or not user.has_password or not tenant.is_active:
        return False
    token = issue(user, TokenPurpose.PASSWORD_RESET, RESET_LIFETIME)
    queue_email(
        tenant,
        to=user.email,
        template=RESET_TEMPLATE,
        context={"full_name": user.full_name, "link": base_url.rstrip("/") + reset_path(tenant, token.raw),
                 "expires_minutes": int(RESET_LIFETIME.total_seconds() // 60)},
        dedupe_key=f"password-reset:{token.id}",
    )
    record("password_reset.requested", replace(actor, id=user.id, label=user.email),
           object_type="staff_user", object_id=user.id, details={"token_id": token.id})
    return True


def complete_password_reset(raw_token: str, password: str, *, actor: Actor) -> StaffUser:
    """Use the link and set the new password; every session of the user ends (caller commits).

    The password is checked first, so a refused password leaves the link usable.
    """
    check_password_strength(password)
    user = redeem_token(raw_token, TokenPurpose.PASSWORD_RESET)
    set_password(user, password)  # rotates session_token
    record("password_reset.completed", replace(actor, id=user.id, label=user.email),
           object_type="staff_user", object_id=user.id)
    return user
