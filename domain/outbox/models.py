"""Outbox rows: one per piece of background work, in the tenant it belongs to."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, Integer, String, Text, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from tenants.db import Base, TenantScoped, Timestamped


class JobStatus(StrEnum):
    PENDING = "pending"  # waiting for its due time, or for a retry
    QUEUED = "queued"  # handed to Celery; comes back if no worker claims it before lease_until
    RUNNING = "running"  # claimed by a worker; comes back if it is not finished before lease_until
    DONE = "done"
    FAILED = "failed"  # parked: permanent error, or out of attempts; last_error says why


# Rows the relay must look at: not yet finished.
OPEN_STATUSES = (JobStatus.PENDING, JobStatus.QUEUED, JobStatus.RUNNING)


class OutboxJob(Timestamped, TenantScoped, Base):
    __tablename__ = "outbox_jobs"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        # A second enqueue of the same thing (same dedupe key) is a no-op.
        UniqueConstraint("tenant_id", "dedupe_key"),
        # The relay's query: open rows by due time; small because finished rows drop out.
        Index("ix_outbox_jobs_open_due", "due_at", postgresql_where=text("status IN ('pending', 'queued', 'running')")),
        Index("ix_outbox_jobs_tenant_status", "tenant_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    dedupe_key: Mapped[str] = mapped_column(String(200))
    status: Mapped[JobStatus] = mapped_column(String(16), default=JobStatus.PENDING)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=8)
    last_error: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
