"""Tenant resolution from the URL: ``/<slug>/…`` binds the request and its database session."""

from __future__ import annotations

from flask import Blueprint, abort, g

from tenants.models import Tenant, TenantStatus
from tenants.services import tenant_by_slug, use_tenant


def tenant_blueprint(name: str, import_name: str, url_prefix: str) -> Blueprint:
    """A blueprint whose URLs start with the tenant slug; every request is bound to that tenant."""
    bp = Blueprint(name, import_name, url_prefix="/<slug>" + url_prefix)

    @bp.url_value_preprocessor
    def bind_tenant(endpoint, values) -> None:
        slug = (values or {}).pop("slug", None)
        tenant = tenant_by_slug(slug) if slug else None
        if tenant is None or tenant.status == TenantStatus.ARCHIVED:
            abort(404)
        g.tenant = tenant
        use_tenant(tenant)

    @bp.url_defaults
    def add_slug(endpoint, values) -> None:
        if "slug" not in values and "tenant" in g:
            values["slug"] = g.tenant.slug

    return bp


def current_tenant() -> Tenant | None:
    return g.get("tenant")
