"""Login URLs: ``/<slug>/login`` for tenant staff, ``/landelijk/login`` for the national office."""

from __future__ import annotations

from flask import Blueprint, g

from domain.accounts.models import NationalUser, StaffUser
from domain.accounts.services import find_national_user, find_staff_user
from tenants.models import TenantStatus
from web.auth.flow import LoginFlow, register_login_views
from web.auth.links import register_link_views
from web.tenancy import tenant_blueprint

tenant_auth = tenant_blueprint("auth", __name__, "")
national_auth = Blueprint("national_auth", __name__, url_prefix="/landelijk")


def _tenant_closed_message() -> str | None:
    if g.tenant.status == TenantStatus.SUSPENDED:
        return f"Gemeente {g.tenant.name} is tijdelijk niet actief op dit platform. Inloggen kan nu niet."
    return None


register_login_views(
    tenant_auth,
    LoginFlow(
        model=StaffUser,
        find_account=find_staff_user,
        endpoint_prefix="auth",
        home_endpoint="staff.home",
        realm_key=lambda: g.tenant.slug,
        tenant_id=lambda: g.tenant.id,
        closed_message=_tenant_closed_message,
        issuer=lambda: f"Buurtgezinnen {g.tenant.name}",
    ),
)
# Invitation and forgotten-password links: tenant staff only (the national office is not in scope).
register_link_views(tenant_auth)

register_login_views(
    national_auth,
    LoginFlow(
        model=NationalUser,
        find_account=find_national_user,
        endpoint_prefix="national_auth",
        home_endpoint="national.home",
        realm_key=lambda: "landelijk",
        tenant_id=lambda: 0,
        closed_message=lambda: None,
        issuer=lambda: "Buurtgezinnen landelijk",
    ),
)
