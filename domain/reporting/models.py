"""A gemeente's yearly effect report: requested by staff, rendered to PDF by the worker.

A row is made when someone asks for a year ('wachtrij'); the outbox job sets it 'bezig', renders
the PDF and stores it with its SHA-256 ('klaar'), or keeps the error ('mislukt'). The report holds
aggregates only; the row keeps who asked (id + label, readable after the account is gone).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import DateTime, Index, Integer, LargeBinary, String, Text, UniqueConstraint, func, text
from sqlalchemy.orm import Mapped, mapped_column

from tenants.db import Base, TenantScoped


class ReportStatus(StrEnum):
    WACHTRIJ = "wachtrij"  # waiting for the worker
    BEZIG = "bezig"  # the worker is rendering it
    KLAAR = "klaar"
    MISLUKT = "mislukt"


class EffectReport(TenantScoped, Base):
    __tablename__ = "effect_reports"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        Index("ix_effect_reports_tenant_year", "tenant_id", "year"),
        # At most one report per year on its way: a second request returns the waiting/busy one.
        Index("uq_effect_reports_one_open_per_year", "tenant_id", "year", unique=True,
              postgresql_where=text("status IN ('wachtrij', 'bezig')")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    status: Mapped[ReportStatus] = mapped_column(String(16), default=ReportStatus.WACHTRIJ)
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary)
    sha256: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    requested_by_id: Mapped[int | None] = mapped_column(Integer)
    requested_by_label: Mapped[str | None] = mapped_column(String(254))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
