"""Scoped lookups: the same answer for "does not exist" and "belongs to another tenant"."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select

from tenants.db import TenantScoped, db, session_tenant

T = TypeVar("T", bound=TenantScoped)


class NotFoundError(LookupError):
    """Raised for a missing object and for another tenant's object alike (web turns it into 404)."""


def get_for_tenant(model: type[T], object_id: int) -> T:
    tenant_id = session_tenant(db.session())
    if tenant_id is None:
        raise NotFoundError(model.__name__)
    # Explicit tenant filter on top of RLS and the ORM criteria: three walls, one answer.
    found = db.session.scalar(
        select(model).where(model.id == object_id, model.tenant_id == tenant_id)  # type: ignore[attr-defined]
    )
    if found is None:
        raise NotFoundError(model.__name__)
    return found
