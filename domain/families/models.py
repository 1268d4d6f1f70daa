"""A family (vraaggezin or steungezin), its household, intake visits, consent and public listing.

Location is kept at postcode level: the full postcode for the coordinator's visits and letters,
and the point of its PC4 area for matching — no finer coordinates (data minimisation).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from tenants.db import Base, TenantScoped, Timestamped, tenant_fk


class FamilyKind(StrEnum):
    VRAAG = "vraag"  # asks for support
    STEUN = "steun"  # offers support (volunteers)


class FamilyStatus(StrEnum):
    AANGEMELD = "aangemeld"
    INTAKE = "intake"
    WACHTEND = "wachtend"  # vraaggezin, after intake: waiting for a steungezin
    BESCHIKBAAR = "beschikbaar"  # steungezin, after intake: available for a match
    GEKOPPELD = "gekoppeld"
    AFGEMELD = "afgemeld"  # with a reason


class ReferralSource(StrEnum):
    SELF = "zelf"
    BUURTTEAM = "buurtteam"
    CONSULTATIEBUREAU = "consultatiebureau"
    SCHOOL = "school"
    HUISARTS = "huisarts"
    OTHER = "anders"


class DistancePreference(StrEnum):
    NEAR = "dichtbij"
    OUTSIDE_OWN_AREA = "buiten_eigen_buurt"  # deliberately not in the own neighbourhood
    NONE = "geen_voorkeur"


class MemberRole(StrEnum):
    ADULT = "volwassene"
    CHILD = "kind"


class ConsentKind(StrEnum):
    PROCESSING = "verwerking"  # required to register at all
    CONTACT = "contact"  # may be contacted by e-mail/phone
    PUBLICATION = "publicatie"  # an anonymised profile may be published
    REFERRAL = "doorverwijzing"  # a referrer registered the family with its consent



class Family(Timestamped, TenantScoped, Base):
    __tablename__ = "families"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        Index("ix_families_tenant_kind_status", "tenant_id", "kind", "status"),
        Index("ix_families_tenant_pc4", "tenant_id", "pc4"),
        Index("ix_families_tenant_coordinator", "tenant_id", "coordinator_id"),
        # The family's own coordinator: whose task list its tasks are on. Staff are deactivated,
        # never deleted, so no ON DELETE rule is needed.
        tenant_fk("coordinator_id", "staff_users", ondelete=None),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[FamilyKind] = mapped_column(String(8))
    status: Mapped[FamilyStatus] = mapped_column(String(16), default=FamilyStatus.AANGEMELD)
    status_reason: Mapped[str | None] = mapped_column(Text)  # why afgemeld
    # Contact details of the family (the contact adult's name lives with the members).
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))
    street_address: Mapped[str | None] = mapped_column(String(200))  # street and number, for visits
    postcode: Mapped[str] = mapped_column(String(7))  # "9201 AB"
    pc4: Mapped[str] = mapped_column(String(4))
    place: Mapped[str | None] = mapped_column(String(100))
    # Point of the PC4 area (GeoNames), enough to rank by distance.
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    referral_source: Mapped[ReferralSource] = mapped_column(String(32))
    referrer_name: Mapped[str | None] = mapped_column(String(200))  # person/organisation that referred
    referrer_email: Mapped[str | None] = mapped_column(String(254))
    # What they ask or offer, in their own words at registration.
    registration_wish: Mapped[str | None] = mapped_column(Text)
    registration_availability: Mapped[str | None] = mapped_column(Text)
    # Filled in at intake by the coordinator.
    support_codes: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    availability: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    distance_preference: Mapped[DistancePreference] = mapped_column(String(32), default=DistancePreference.NONE)
    competence: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)  # competentieprofiel (steun)
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Since when a vraaggezin waits for a steungezin (set on entering wachtend).
    waiting_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    anonymised_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    coordinator_id: Mapped[int | None] = mapped_column(Integer)
    # A steungezin: how many vraaggezinnen it can support at the same time.
    capacity: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))


class FamilyMember(TenantScoped, Base):
    __tablename__ = "family_members"
    __table_args__ = (UniqueConstraint("tenant_id", "id"), tenant_fk("family_id", "families"))

    id: Mapped[int] = mapped_column(primary_key=True)
    family_id: Mapped[int] = mapped_column(Integer, index=True)
    role: Mapped[MemberRole] = mapped_column(String(16))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))  # adults only
    birth_year: Mapped[int | None] = mapped_column(Integer)
    # Adults: recorded at intake, used later to confirm a signer's identity.
    birth_date: Mapped[date | None] = mapped_column(Date)
    is_contact: Mapped[bool] = mapped_column(Boolean, default=False)


class FamilyStatusChange(TenantScoped, Base):
    __tablename__ = "family_status_changes"
    __table_args__ = (UniqueConstraint("tenant_id", "id"), tenant_fk("family_id", "families"))

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    family_id: Mapped[int] = mapped_column(Integer, index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    changed_by_id: Mapped[int | None] = mapped_column(Integer)  # staff user; None for the public form
    changed_by_label: Mapped[str | None] = mapped_column(String(254))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class FamilyNote(Timestamped, TenantScoped, Base):
    __tablename__ = "family_notes"
    __table_args__ = (UniqueConstraint("tenant_id", "id"), tenant_fk("family_id", "families"))

    id: Mapped[int] = mapped_column(primary_key=True)
    family_id: Mapped[int] = mapped_column(Integer, index=True)
    author_id: Mapped[int | None] = mapped_column(Integer)
    author_label: Mapped[str | None] = mapped_column(String(254))
    body: Mapped[str] = mapped_column(Text)


class Consent(TenantScoped, Base):
    """A consent as given: what, which text version, when, by whom; withdrawn keeps the record."""

    __tablename__ = "family_consents"
    __table_args__ = (UniqueConstraint("tenant_id", "id"), tenant_fk("family_id", "families"))

    id: Mapped[int] = mapped_column(primary_key=True)
    family_id: Mapped[int] = mapped_column(Integer, index=True)
    kind: Mapped[ConsentKind] = mapped_column(String(32))
    text_version: Mapped[str] = mapped_column(String(32))
    given_by: Mapped[str] = mapped_column(String(200))  # "gezin", or the referrer / coordinator who recorded it
    given_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IntakeVisit(Timestamped, TenantScoped, Base):
    __tablename__ = "intake_visits"
    __table_args__ = (UniqueConstraint("tenant_id", "id"), tenant_fk("family_id", "families"))

    id: Mapped[int] = mapped_column(primary_key=True)
    family_id: Mapped[int] = mapped_column(Integer, index=True)
    visited_on: Mapped[date] = mapped_column(Date)
    coordinator_id: Mapped[int | None] = mapped_column(Integer)
    # The four intake questions.
    support_wanted: Mapped[str | None] = mapped_column(Text)
    upbringing_values: Mapped[str | None] = mapped_column(Text)
    expectations: Mapped[str | None] = mapped_column(Text)
    gives_back: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)


class SupportType(TenantScoped, Base):
    """The forms support takes, per gemeente, seeded with the ones in the articles."""

    __tablename__ = "support_types"
    __table_args__ = (UniqueConstraint("tenant_id", "id"), UniqueConstraint("tenant_id", "code"))

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class PublicListing(Timestamped, TenantScoped, Base):
    """An anonymised profile of a vraaggezin, written by the coordinator, shown only with consent."""

    __tablename__ = "public_listings"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "family_id"),
        tenant_fk("family_id", "families"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    family_id: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(120))  # e.g. "Moeder met twee jongens (4 en 7)"
    situation: Mapped[str] = mapped_column(Text)  # in general words
    interests: Mapped[str | None] = mapped_column(Text)
    looking_for: Mapped[str] = mapped_column(Text)  # "Wij zoeken een gezin dat …"
    particulars: Mapped[str | None] = mapped_column(Text)  # bijzonderheden
    area_label: Mapped[str | None] = mapped_column(String(100))  # a place or wijk, never a postcode
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
