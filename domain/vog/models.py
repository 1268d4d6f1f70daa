"""A VOG (Verklaring Omtrent het Gedrag) per adult of a steungezin household.

Only the facts are kept: when it was requested (and Justis' reference), when it was issued, who
checked it and when, and when it is due for renewal. No copy of the certificate is stored.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, DateTime, Index, Integer, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from tenants.db import Base, TenantScoped, Timestamped, tenant_fk


class VogStatus(StrEnum):
    NODIG = "nodig"
    AANGEVRAAGD = "aangevraagd"
    ONTVANGEN = "ontvangen"
    VERLOPEN = "verlopen"
    AFGEWEZEN = "afgewezen"



class VogRecord(Timestamped, TenantScoped, Base):
    __tablename__ = "vog_records"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "member_id"),
        tenant_fk("family_id", "families"),
        tenant_fk("member_id", "family_members"),
        # For the reminder sweeps: requests not yet received, and renewals coming up.
        Index("ix_vog_records_tenant_status_requested", "tenant_id", "status", "requested_on"),
        Index("ix_vog_records_tenant_status_renewal", "tenant_id", "status", "renewal_due_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    family_id: Mapped[int] = mapped_column(Integer, index=True)
    member_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[VogStatus] = mapped_column(String(16), default=VogStatus.NODIG)
    requested_on: Mapped[date | None] = mapped_column(Date)
    request_reference: Mapped[str | None] = mapped_column(String(100))
    issued_on: Mapped[date | None] = mapped_column(Date)
    checked_by_id: Mapped[int | None] = mapped_column(Integer)
    checked_by_label: Mapped[str | None] = mapped_column(String(254))
    checked_on: Mapped[date | None] = mapped_column(Date)
    rejected_on: Mapped[date | None] = mapped_column(Date)
    renewal_due_on: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now())
