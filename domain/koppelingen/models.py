"""A koppeling: vraaggezin + steungezin + coordinator, the support agreed and its schedule.

States ``voorgesteld → kennismaking → proefperiode → definitief → afgesloten``, or ``gestopt``
from any open state with a reason. Every change is a row in ``koppeling_status_changes`` (the
timeline) and an audit event. Kennismakingen are the meetings planned before the proefperiode.
Match exclusions are the coordinator's "niet geschikt" marks, which suggestions respect.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from tenants.db import Base, TenantScoped, Timestamped, tenant_fk


class KoppelingStatus(StrEnum):
    VOORGESTELD = "voorgesteld"
    KENNISMAKING = "kennismaking"
    PROEFPERIODE = "proefperiode"
    DEFINITIEF = "definitief"
    AFGESLOTEN = "afgesloten"  # closed as planned (term ended, goal reached)
    GESTOPT = "gestopt"  # stopped early, with a reason


OPEN_STATUSES = (KoppelingStatus.VOORGESTELD, KoppelingStatus.KENNISMAKING, KoppelingStatus.PROEFPERIODE,
                 KoppelingStatus.DEFINITIEF)


class StopReason(StrEnum):
    MISMATCH = "mismatch"
    VERHUIZING = "verhuizing"
    DOEL_BEREIKT = "doel_bereikt"
    TERMIJN_VERSTREKEN = "termijn_verstreken"
    ANDERS = "anders"


class MeetingOutcome(StrEnum):
    GOED = "goed"  # both want to go on
    TWIJFEL = "twijfel"  # another meeting, or think it over
    NIET_GOED = "niet_goed"  # not a match



class Koppeling(Timestamped, TenantScoped, Base):
    __tablename__ = "koppelingen"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        tenant_fk("vraag_family_id", "families", ondelete=None),
        tenant_fk("steun_family_id", "families", ondelete=None),
        tenant_fk("coordinator_id", "staff_users", ondelete=None),
        Index("ix_koppelingen_tenant_status", "tenant_id", "status"),
        Index("ix_koppelingen_tenant_vraag", "tenant_id", "vraag_family_id"),
        Index("ix_koppelingen_tenant_steun", "tenant_id", "steun_family_id"),
        # A vraaggezin is in at most one open koppeling at a time.
        Index("uq_koppelingen_one_open_per_vraaggezin", "tenant_id", "vraag_family_id", unique=True,
              postgresql_where=text("status IN ('voorgesteld', 'kennismaking', 'proefperiode', 'definitief')")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    vraag_family_id: Mapped[int] = mapped_column(Integer)
    steun_family_id: Mapped[int] = mapped_column(Integer)
    coordinator_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[KoppelingStatus] = mapped_column(String(16), default=KoppelingStatus.VOORGESTELD)
    # What was agreed: support types (codes of support_types) and when/where, in the coordinator's words.
    support_codes: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    schedule: Mapped[str | None] = mapped_column(Text)  # e.g. "woensdagmiddag na school, om de week"
    location: Mapped[str | None] = mapped_column(Text)  # where it takes place, transport
    proposed_on: Mapped[date] = mapped_column(Date)
    # Both families said yes to the proposal (the coordinator records it): needed for kennismaking.
    vraag_agreed_on: Mapped[date | None] = mapped_column(Date)
    steun_agreed_on: Mapped[date | None] = mapped_column(Date)
    proefperiode_start_on: Mapped[date | None] = mapped_column(Date)
    proefperiode_end_on: Mapped[date | None] = mapped_column(Date)
    definitief_on: Mapped[date | None] = mapped_column(Date)
    guidance_end_on: Mapped[date | None] = mapped_column(Date)  # end of the guidance term (24 months)
    ended_on: Mapped[date | None] = mapped_column(Date)  # afgesloten or gestopt
    stop_reason: Mapped[StopReason | None] = mapped_column(String(32))
    end_note: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now())


class KoppelingStatusChange(TenantScoped, Base):
    """The timeline: one row per state change (the first row is the proposal)."""

    __tablename__ = "koppeling_status_changes"
    __table_args__ = (UniqueConstraint("tenant_id", "id"), tenant_fk("koppeling_id", "koppelingen"))

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    koppeling_id: Mapped[int] = mapped_column(Integer, index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32))  # a StopReason when gestopt
    note: Mapped[str | None] = mapped_column(Text)
    changed_by_id: Mapped[int | None] = mapped_column(Integer)
    changed_by_label: Mapped[str | None] = mapped_column(String(254))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Kennismaking(Timestamped, TenantScoped, Base):
    """A planned meeting of the two families and the coordinator; ``sequence`` counts .ics updates."""

    __tablename__ = "kennismakingen"
    __table_args__ = (UniqueConstraint("tenant_id", "id"), tenant_fk("koppeling_id", "koppelingen"))

    id: Mapped[int] = mapped_column(primary_key=True)
    koppeling_id: Mapped[int] = mapped_column(Integer, index=True)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    duration_minutes: Mapped[int] = mapped_column(Integer, default=60)
    location: Mapped[str] = mapped_column(String(200))
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[MeetingOutcome | None] = mapped_column(String(16))
    outcome_notes: Mapped[str | None] = mapped_column(Text)
    outcome_recorded_by: Mapped[str | None] = mapped_column(String(254))
    outcome_recorded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MatchExclusion(TenantScoped, Base):
    """The coordinator marked this steungezin "niet geschikt" for this vraaggezin, with a reason."""

    __tablename__ = "match_exclusions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "vraag_family_id", "steun_family_id"),
        tenant_fk("vraag_family_id", "families"),
        tenant_fk("steun_family_id", "families"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    vraag_family_id: Mapped[int] = mapped_column(Integer)
    steun_family_id: Mapped[int] = mapped_column(Integer, index=True)
    reason: Mapped[str] = mapped_column(Text)
    marked_by_id: Mapped[int | None] = mapped_column(Integer)
    marked_by_label: Mapped[str | None] = mapped_column(String(254))
    marked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
