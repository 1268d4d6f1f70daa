"""Demo tenants and users. Idempotent: running it again changes nothing."""

from __future__ import annotations

from dataclasses import dataclass

from domain.accounts.models import NationalRole, TenantRole
from domain.accounts.services import (
    create_national_user,
    create_staff_user,
    find_national_user,
    find_staff_user,
)
from domain.audit.services import SYSTEM
from domain.demo.documents import seed_demo_documents
from domain.demo.families import assign_demo_coordinator, seed_demo_families
from domain.documents.templates import ensure_default_templates
from tenants.db import db
from tenants.models import Tenant
from tenants.services import create_tenant, tenant_by_slug, use_tenant

DEMO_PASSWORD = "demo-wachtwoord"  # noqa: S105 - demo mode only, documented in the README
DEMO_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # noqa: S105 - demo mode only


@dataclass(frozen=True)
class DemoTenant:
    slug: str
    name: str
    gemeentecode: str


DEMO_TENANTS = (
    DemoTenant("smallingerland", "Smallingerland", "0090"),
    DemoTenant("aalsmeer", "Aalsmeer", "0358"),
    DemoTenant("purmerend", "Purmerend", "0439"),
    DemoTenant("midden-groningen", "Midden-Groningen", "1952"),
)

DEMO_STAFF = (
    ("coordinator", "Coördinator", TenantRole.COORDINATOR),
    ("beheer", "Beheerder", TenantRole.TENANT_ADMIN),
    ("gemeente", "Contactpersoon gemeente", TenantRole.GEMEENTE_VIEWER),
)

DEMO_NATIONAL = (
    ("landelijk@example.org", "Landelijk bureau", NationalRole.NATIONAL_ADMIN),
    ("analist@example.org", "Analist landelijk bureau", NationalRole.NATIONAL_ANALYST),
)


def seed_demo() -> list[str]:
    """Create what is missing of the demo set; returns a line per thing created."""
    created: list[str] = []
    for demo in DEMO_TENANTS:
        tenant = _ensure_tenant(demo, created)
        use_tenant(tenant)
        for local_part, label, role in DEMO_STAFF:
            email = f"{local_part}@{demo.slug}.example.org"
            if find_staff_user(email) is None:
                create_staff_user(
                    tenant, email=email, full_name=f"{label} {demo.name}", role=role,
                    password=DEMO_PASSWORD, totp_secret=DEMO_TOTP_SECRET, actor=SYSTEM,
                )
                created.append(f"gebruiker {email}")
        if made := seed_demo_families(tenant.id, demo.slug, demo.gemeentecode):
            created.append(f"{made} demogezinnen in {demo.slug}")
        if assigned := assign_demo_coordinator(demo.slug):
            created.append(f"{assigned} demogezinnen in {demo.slug} aan de coördinator toegewezen")
    use_tenant(None)
    if added := ensure_default_templates():
        created.append(f"{added} standaardteksten voor documenten")
    for demo in DEMO_TENANTS:  # signed and sealed agreements, once the texts are there
        use_tenant(tenant := tenant_by_slug(demo.slug))
        created.extend(seed_demo_documents(tenant.id, demo.slug, demo.gemeentecode, demo.name))
    use_tenant(None)
    for email, name, role in DEMO_NATIONAL:
        if find_national_user(email) is None:
            create_national_user(email=email, full_name=name, role=role, password=DEMO_PASSWORD,
                                 totp_secret=DEMO_TOTP_SECRET, actor=SYSTEM)
            created.append(f"landelijke gebruiker {email}")
    db.session.commit()
    return created


def _ensure_tenant(demo: DemoTenant, created: list[str]) -> Tenant:
    tenant = tenant_by_slug(demo.slug)
    if tenant is None:
        tenant = create_tenant(slug=demo.slug, name=demo.name, gemeentecode=demo.gemeentecode)
        created.append(f"gemeente {demo.slug}")
    return tenant
