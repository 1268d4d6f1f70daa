"""Tenant provisioning and resolution."""

from __future__ import annotations

import re

from sqlalchemy import select

from tenants.db import db, set_session_tenant
from tenants.models import Tenant, TenantStatus

_SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
# Slugs that would collide with platform-wide URLs.
RESERVED_SLUGS = frozenset({"landelijk", "healthz", "static", "app", "login", "api", "verifieer"})


class TenantError(ValueError):
    """Provisioning input that cannot be accepted; the message is shown to the operator."""


def tenant_by_slug(slug: str) -> Tenant | None:
    return db.session.scalar(select(Tenant).where(Tenant.slug == slug))


def list_tenants() -> list[Tenant]:
    return list(db.session.scalars(select(Tenant).order_by(Tenant.name)))


def use_tenant(tenant: Tenant | int | None) -> None:
    """Make the current database session act for ``tenant`` (or for nobody)."""
    tenant_id = tenant.id if isinstance(tenant, Tenant) else tenant
    set_session_tenant(db.session(), tenant_id)


def create_tenant(*, slug: str, name: str, gemeentecode: str) -> Tenant:
    slug = slug.strip().lower()
    gemeentecode = gemeentecode.strip().upper().removeprefix("GM")
    if not _SLUG.match(slug) or slug in RESERVED_SLUGS:
        raise TenantError(f"Ongeldige slug {slug!r}: gebruik kleine letters, cijfers en streepjes.")
    if not re.fullmatch(r"[0-9]{4}", gemeentecode):
        raise TenantError(f"Ongeldige CBS-gemeentecode {gemeentecode!r}: vier cijfers, bijvoorbeeld 0090.")
    if not name.strip():
        raise TenantError("De naam van de gemeente ontbreekt.")
    clash = db.session.scalar(
        select(Tenant).where((Tenant.slug == slug) | (Tenant.gemeentecode == gemeentecode))
    )
    if clash is not None:
        raise TenantError(f"Er bestaat al een gemeente met slug {clash.slug} of code {clash.gemeentecode}.")
    tenant = Tenant(slug=slug, name=name.strip(), gemeentecode=gemeentecode, status=TenantStatus.ACTIVE)
    db.session.add(tenant)
    db.session.flush()
    return tenant


def set_tenant_status(tenant: Tenant, status: TenantStatus) -> None:
    tenant.status = status
    db.session.flush()
