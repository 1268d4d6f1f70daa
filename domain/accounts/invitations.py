"""Inviting staff: the admin names the person, the person chooses their own password through a link.

An invited user exists from the start (so the role and the audit trail are there), with a password
hash nobody can match and no authenticator. The invitation mail is queued in the same transaction
as the user, the token and the audit event: all of them happen, or none.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date

from domain.accounts.models import StaffUser, TenantRole, TokenPurpose
from domain.accounts.passwords import unusable_password_hash
from domain.accounts.services import AccountError, add_staff_user, check_password_strength, set_password
from domain.accounts.tokens import issue, redeem_token
from domain.audit.services import Actor, record
from domain.email.services import queue_email
from tenants.models import Tenant

INVITATION_LIFETIME = timedelta(days=7)
INVITATION_TEMPLATE = "staff_invitation"
LOCAL_TIME = ZoneInfo("Europe/Amsterdam")


@dataclass(frozen=True)
class Invitation:
    user: StaffUser
    token_id: int
    link: str


def invitation_path(tenant: Tenant, raw_token: str) -> str:
    return f"/{tenant.slug}/uitnodiging/{raw_token}"


def dutch_date(moment: datetime) -> str:
    """'14 maart 2025': the day in Dutch local time (a link valid until 00:30 is valid 'until today')."""
    return format_date(moment.astimezone(LOCAL_TIME).date(), "d MMMM y", locale="nl")


def invite_staff_user(
    tenant: Tenant,
    *,
    email: str,
    full_name: str,
    role: TenantRole | str,
    invited_by: str,
    base_url: str,
    actor: Actor,
) -> Invitation:
    """Create the user with an unusable password and mail them a 7-day invitation (caller commits)."""
    user = add_staff_user(tenant, email=email, full_name=full_name, role=role,
                          password_hash=unusable_password_hash(), totp_secret=None, actor=actor,
                          action="user.invited")
    return _send_invitation(tenant, user, invited_by=invited_by, base_url=base_url)


def reinvite(tenant: Tenant, user: StaffUser, *, invited_by: str, base_url: str, actor: Actor) -> Invitation:
    """A new link (the old one stops working) and a new mail, for someone who never accepted."""
    if user.has_password:
        raise AccountError(f"{user.full_name} heeft de uitnodiging al aangenomen.")
    if not user.active:
        raise AccountError(f"Het account van {user.full_name} is geblokkeerd; sta het eerst weer toe.")
    invitation = _send_invitation(tenant, user, invited_by=invited_by, base_url=base_url)
    record("user.reinvited", actor, object_type="staff_user", object_id=user.id,
           details={"token_id": invitation.token_id})
    return invitation


def _send_invitation(tenant: Tenant, user: StaffUser, *, invited_by: str, base_url: str) -> Invitation:
    token = issue(user, TokenPurpose.INVITATION, INVITATION_LIFETIME)
    link = base_url.rstrip("/") + invitation_path(tenant, token.raw)
    queue_email(
        tenant,
        to=user.email,
        template=INVITATION_TEMPLATE,
        context={"full_name": user.full_name, "invited_by": invited_by, "link": link,
                 "expires_on": dutch_date(token.expires_at)},
        dedupe_key=f"invitation:{token.id}",
    )
    return Invitation(user=user, token_id=token.id, link=link)


def accept_invitation(raw_token: str, password: str, *, actor: Actor) -> StaffUser:
    """Use the invitation and set the chosen password (caller commits).

    The password is checked first, so a password that is refused leaves the link usable.
    """
    check_password_strength(password)
    user = redeem_token(raw_token, TokenPurpose.INVITATION)
    set_password(user, password)
    record("user.invitation_accepted", replace(actor, id=user.id, label=user.email),
           object_type="staff_user", object_id=user.id)
    return user
