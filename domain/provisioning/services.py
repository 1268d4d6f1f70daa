"""Provisioning by the national office: a new gemeente (tenant) from the CBS list with its first
tenant admin invited by e-mail, and suspending, reactivating and archiving a gemeente.

Everything here happens in one transaction that the caller commits; after a ``ProvisioningError``
the caller rolls back, so a refused or failed provisioning leaves no tenant, user, token or mail.
The national office's actions are recorded in the national audit trail (no tenant context); the
invitation itself is also recorded in the new gemeente's own trail (``user.invited``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select

from domain.accounts.invitations import Invitation, invite_staff_user
from domain.accounts.models import TenantRole
from domain.accounts.services import AccountError
from domain.audit.services import Actor, record
from domain.geo.gemeenten import CbsGemeente, cbs_gemeente, cbs_gemeenten
from tenants.db import db
from tenants.models import Tenant, TenantStatus
from tenants.services import TenantError, create_tenant, set_tenant_status, use_tenant

STATUS_LABELS = {TenantStatus.ACTIVE: "actief", TenantStatus.SUSPENDED: "gepauzeerd",
                 TenantStatus.ARCHIVED: "gearchiveerd"}
# The moves the national office may make; an archived gemeente stays archived.
TRANSITIONS: dict[TenantStatus, frozenset[TenantStatus]] = {
    TenantStatus.ACTIVE: frozenset({TenantStatus.SUSPENDED, TenantStatus.ARCHIVED}),
    TenantStatus.SUSPENDED: frozenset({TenantStatus.ACTIVE, TenantStatus.ARCHIVED}),
    TenantStatus.ARCHIVED: frozenset(),
}


class ProvisioningError(ValueError):
    """Input the national office must correct; ``field`` names the form field it belongs to."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def slug_for(name: str) -> str:
    """'Súdwest-Fryslân' -> 'sudwest-fryslan', "'s-Hertogenbosch" -> 's-hertogenbosch'."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-")


def gemeenten_without_tenant() -> list[CbsGemeente]:
    """The CBS gemeenten that have no tenant yet (whatever its status), by name."""
    taken = set(db.session.scalars(select(Tenant.gemeentecode)))
    return [row for row in cbs_gemeenten() if row.code not in taken]


@contextmanager
def _acting_for(tenant_id: int | None) -> Iterator[None]:
    use_tenant(tenant_id)
    try:
        yield
    finally:
        use_tenant(None)


def provision_gemeente(gemeentecode: str, admin_name: str, admin_email: str, *, base_url: str,
                       actor: Actor) -> tuple[Tenant, Invitation]:
    """Create the gemeente's tenant and invite its first tenant admin (caller commits; all or nothing)."""
    use_tenant(None)
    gemeente = cbs_gemeente(gemeentecode)
    if gemeente is None:
        raise ProvisioningError(f"Gemeentecode {gemeentecode.strip()!r} staat niet in de lijst van het CBS.",
                                "gemeente")
    existing = db.session.scalar(select(Tenant).where(Tenant.gemeentecode == gemeente.code))
    if existing is not None:
        raise ProvisioningError(f"Gemeente {gemeente.name} staat al op het platform (/{existing.slug}/).",
                                "gemeente")
    admin_name = (admin_name or "").strip()
    if not admin_name:
        raise ProvisioningError("Vul de naam van de beheerder in.", "admin_name")
    try:
        admin_email = validate_email((admin_email or "").strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise ProvisioningError("Dit e-mailadres klopt niet. Schrijf het als naam@voorbeeld.nl.",
                                "admin_email") from None
    try:
        tenant = create_tenant(slug=slug_for(gemeente.name), name=gemeente.name, gemeentecode=gemeente.code)
        with _acting_for(tenant.id):
            invitation = invite_staff_user(tenant, email=admin_email, full_name=admin_name,
                                           role=TenantRole.TENANT_ADMIN, invited_by="Stichting Buurtgezinnen",
                                           base_url=base_url, actor=actor)
    except (TenantError, AccountError) as error:
        raise ProvisioningError(str(error), "gemeente" if isinstance(error, TenantError) else "admin_email") \
            from error
    record("tenant.created", actor, object_type="tenant", object_id=tenant.id,
           details={"slug": tenant.slug, "gemeentecode": tenant.gemeentecode, "gemeente": tenant.name})
    record("tenant.admin_invited", actor, object_type="tenant", object_id=tenant.id,
           details={"user_id": invitation.user.id, "token_id": invitation.token_id})
    return tenant, invitation


def change_status(tenant: Tenant, status: TenantStatus | str, actor: Actor) -> None:
    """Suspend, reactivate or archive ``tenant`` (caller commits); nonsense moves are refused."""
    try:
        status = TenantStatus(status)
    except ValueError:
        raise ProvisioningError(f"Onbekende status {status!r}.") from None
    current = TenantStatus(tenant.status)
    if status == current:
        raise ProvisioningError(f"Gemeente {tenant.name} is al {STATUS_LABELS[current]}.")
    if status not in TRANSITIONS[current]:
        raise ProvisioningError(f"Gemeente {tenant.name} is gearchiveerd en kan niet meer "
                                f"{STATUS_LABELS[status]} worden.")
    use_tenant(None)
    set_tenant_status(tenant, status)
    record(f"tenant.{status.value}", actor, object_type="tenant", object_id=tenant.id,
           details={"slug": tenant.slug, "from": current.value, "to": status.value})
