"""Audit events. The app role may INSERT and SELECT them, never UPDATE or DELETE (see migrations)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import INET, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from tenants.db import Base, TenantScoped, Timestamped


class AuditFields(Timestamped):
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # Who: kept as id + label so the event stays readable after the account is gone.
    actor_id: Mapped[int | None]
    actor_label: Mapped[str | None] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str | None] = mapped_column(String(64))
    object_id: Mapped[int | None] = mapped_column(BigInteger)
    ip: Mapped[str | None] = mapped_column(INET)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class AuditEvent(AuditFields, TenantScoped, Base):
    __tablename__ = "audit_events"
    __table_args__ = (UniqueConstraint("tenant_id", "id"),)


class NationalAuditEvent(AuditFields, Base):
    """Events of the national office (national logins, tenant provisioning)."""

    __tablename__ = "national_audit_events"
