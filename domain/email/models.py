"""Every outgoing e-mail, with what it is, where it goes, and how sending went."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from tenants.db import Base, TenantScoped, Timestamped


class EmailStatus(StrEnum):
    QUEUED = "queued"  # waiting for the worker (also between retries)
    SENT = "sent"
    FAILED = "failed"  # permanent: the address was refused, or attempts ran out


class OutboundEmail(Timestamped, TenantScoped, Base):
    __tablename__ = "outbound_emails"
    __table_args__ = (UniqueConstraint("tenant_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    to_address: Mapped[str] = mapped_column(String(254))
    template: Mapped[str] = mapped_column(String(100))  # templates/email/<template>.*
    language: Mapped[str] = mapped_column(String(8), default="nl")
    # What the template needs; rendered in the worker so a template fix reaches queued mail too.
    context: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    status: Mapped[EmailStatus] = mapped_column(String(16), default=EmailStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # Filled in when rendered, so staff can read what went out.
    subject: Mapped[str | None] = mapped_column(String(300))
    body_text: Mapped[str | None] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
