"""Evaluations: at the end of the proefperiode and every N months, each family of a koppeling gets a
personal link to a short form; the coordinator holds a conversation and records its outcome.

``moment`` names the occasion: ``proefperiode`` (one week before it ends), ``periodiek-<n>`` (the
n-th interval after the start of the definitive phase), ``afsluiting`` (the final one at closing).
The raw link token is never stored, only its SHA-256; a link works once and expires.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from tenants.db import Base, TenantScoped, Timestamped, tenant_fk


class EvaluationRole(StrEnum):
    VRAAG = "vraag"
    STEUN = "steun"


class ConversationOutcome(StrEnum):
    POSITIEF = "positief"  # go on (after the proefperiode: may become definitief)
    TWIJFEL = "twijfel"
    NEGATIEF = "negatief"



class EvaluationRequest(Timestamped, TenantScoped, Base):
    """One family's evaluation at one moment of one koppeling: the link, and the answers once given."""

    __tablename__ = "evaluation_requests"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "koppeling_id", "moment", "family_id"),
        UniqueConstraint("tenant_id", "token_hash"),
        tenant_fk("koppeling_id", "koppelingen"),
        tenant_fk("family_id", "families"),
        # The reminder sweep: sent, unanswered, by sent date.
        Index("ix_evaluation_requests_open", "tenant_id", "sent_at", postgresql_where=text("answered_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    koppeling_id: Mapped[int] = mapped_column(Integer)
    family_id: Mapped[int] = mapped_column(Integer)
    role: Mapped[EvaluationRole] = mapped_column(String(8))
    moment: Mapped[str] = mapped_column(String(32))
    due_on: Mapped[date] = mapped_column(Date)
    token_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The answers (plain Dutch form): satisfied? continue? remarks; the vraaggezin scores its four goals 1–5.
    satisfied: Mapped[str | None] = mapped_column(String(16))  # "ja", "een_beetje", "nee"
    wants_to_continue: Mapped[bool | None] = mapped_column(Boolean)
    goal_ontlasten: Mapped[int | None] = mapped_column(SmallInteger)  # ouders ontlasten
    goal_sterker: Mapped[int | None] = mapped_column(SmallInteger)  # ouders sterker
    goal_opvoedklimaat: Mapped[int | None] = mapped_column(SmallInteger)
    goal_netwerk: Mapped[int | None] = mapped_column(SmallInteger)  # netwerk uitgebreid
    remarks: Mapped[str | None] = mapped_column(Text)


class EvaluationConversation(Timestamped, TenantScoped, Base):
    """The coordinator's evaluation conversation at a moment, and its outcome."""

    __tablename__ = "evaluation_conversations"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "koppeling_id", "moment"),
        tenant_fk("koppeling_id", "koppelingen"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    koppeling_id: Mapped[int] = mapped_column(Integer)
    moment: Mapped[str] = mapped_column(String(32))
    held_on: Mapped[date] = mapped_column(Date)
    outcome: Mapped[ConversationOutcome] = mapped_column(String(16))
    notes: Mapped[str | None] = mapped_column(Text)
    recorded_by_id: Mapped[int | None] = mapped_column(Integer)
    recorded_by_label: Mapped[str | None] = mapped_column(String(254))
