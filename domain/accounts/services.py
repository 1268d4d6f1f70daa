"""Account operations: creating users, checking passwords and codes, enrolling TOTP."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select

from domain.accounts import totp
from domain.accounts.models import NationalRole, NationalUser, StaffUser, TenantRole
from domain.accounts.passwords import MIN_PASSWORD_LENGTH, hash_password, needs_rehash, password_matches
from domain.audit.services import Actor, record
from tenants.db import db
from tenants.models import Tenant

Account = StaffUser | NationalUser


class AccountError(ValueError):
    """Input that cannot become an account; the message is fit to show."""


def normalise_email(email: str) -> str:
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise AccountError(f"{email!r} is geen geldig e-mailadres.") from None


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"Een wachtwoord heeft minstens {MIN_PASSWORD_LENGTH} tekens.")


def find_staff_user(email: str) -> StaffUser | None:
    """Look up by e-mail inside the current tenant (the session must act for it)."""
    return db.session.scalar(select(StaffUser).where(func.lower(StaffUser.email) == email.strip().lower()))


def find_national_user(email: str) -> NationalUser | None:
    return db.session.scalar(
        select(NationalUser).where(func.lower(NationalUser.email) == email.strip().lower())
    )


def create_staff_user(
    tenant: Tenant,
    *,
    email: str,
    full_name: str,
    role: TenantRole | str,
    password: str,
    totp_secret: str | None = None,
    actor: Actor,
) -> StaffUser:
    check_password_strength(password)
    return add_staff_user(tenant, email=email, full_name=full_name, role=role, password_hash=hash_password(password),
                          totp_secret=totp_secret, actor=actor, action="user.created")


def add_staff_user(
    tenant: Tenant,
    *,
    email: str,
    full_name: str,
    role: TenantRole | str,
    password_hash: str,
    totp_secret: str | None,
    actor: Actor,
    action: str,
) -> StaffUser:
    """Validate and add a staff user with a ready password hash; audited as ``action``."""
    email = normalise_email(email)
    role = _parse_role(role, TenantRole)
    if not full_name.strip():
        raise AccountError("De naam ontbreekt.")
    if find_staff_user(email) is not None:
        raise AccountError(f"Er is al een account met e-mailadres {email}.")
    user = StaffUser(
        tenant_id=tenant.id,
        email=email,
        full_name=full_name.strip(),
        role=role,
        password_hash=password_hash,
        totp_secret=totp_secret,
        session_token=secrets.token_urlsafe(24),
    )
    db.session.add(user)
    db.session.flush()
    record(action, actor, object_type="staff_user", object_id=user.id,
           details={"email": email, "role": role.value})
    return user


def set_password(user: Account, password: str) -> None:
    """A new password chosen by the user; every running session of theirs ends."""
    check_password_strength(password)
    user.password_hash = hash_password(password)
    user.session_token = secrets.token_urlsafe(24)


def create_national_user(
    *, email: str, full_name: str, role: NationalRole | str, password: str,
    totp_secret: str | None = None, actor: Actor,
) -> NationalUser:
    email = normalise_email(email)
    role = _parse_role(role, NationalRole)
    check_password_strength(password)
    if find_national_user(email) is not None:
        raise AccountError(f"Er is al een landelijk account met e-mailadres {email}.")
    user = NationalUser(
        email=email,
        full_name=full_name.strip(),
        role=role,
        password_hash=hash_password(password),
        totp_secret=totp_secret,
        session_token=secrets.token_urlsafe(24),
    )
    db.session.add(user)
    db.session.flush()
    record("user.created", actor, object_type="national_user", object_id=user.id,
           details={"email": email, "role": role.value})
    return user


def _parse_role(role, enum):
    try:
        return enum(role)
    except ValueError:
        allowed = ", ".join(r.value for r in enum)
        raise AccountError(f"Onbekende rol {role!r}; kies uit {allowed}.") from None


def check_password(user: Account | None, password: str) -> bool:
    """True when ``user`` exists, is active and ``password`` is right; same cost either way."""
    ok = password_matches(user.password_hash if user else None, password)
    if ok and user is not None and needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return ok and user is not None and user.active


def verify_code(user: Account, code: str) -> bool:
    """Check a TOTP code of an enrolled user and burn its time step."""
    if user.totp_secret is None:
        return False
    step = totp.accepted_step(user.totp_secret, code, user.totp_last_step)
    if step is None:
        return False
    user.totp_last_step = step
    return True


def start_enrolment(user: Account) -> str:
    if user.pending_totp_secret is None:
        user.pending_totp_secret = totp.new_secret()
        db.session.flush()
    return user.pending_totp_secret


def confirm_enrolment(user: Account, code: str) -> bool:
    if user.pending_totp_secret is None:
        return False
    step = totp.accepted_step(user.pending_totp_secret, code, 0)
    if step is None:
        return False
    user.totp_secret, user.pending_totp_secret = user.pending_totp_secret, None
    user.totp_last_step = step
    return True


def mark_logged_in(user: Account) -> None:
    user.last_login_at = datetime.now(UTC)


def change_role(user: StaffUser, role: TenantRole | str, *, actor: Actor) -> None:
    new_role = _parse_role(role, TenantRole)
    if new_role == user.role:
        return
    old = user.role
    user.role = new_role
    # A new role is a new authority: end the sessions that were granted under the old one.
    user.session_token = secrets.token_urlsafe(24)
    record("user.role_changed", actor, object_type="staff_user", object_id=user.id,
           details={"from": str(old), "to": new_role.value})


def set_active(user: StaffUser, active: bool, *, actor: Actor) -> None:
    if user.active == active:
        return
    user.active = active
    user.session_token = secrets.token_urlsafe(24)
    record("user.activated" if active else "user.deactivated", actor,
           object_type="staff_user", object_id=user.id)


def reset_totp(user: StaffUser, *, actor: Actor) -> None:
    """A tenant admin makes the user enrol a new authenticator at the next login."""
    user.totp_secret = None
    user.pending_totp_secret = None
    user.session_token = secrets.token_urlsafe(24)
    record("user.totp_reset", actor, object_type="staff_user", object_id=user.id)
