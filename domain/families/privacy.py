"""Privacy (AVG) for families: everything held about one family (art. 15), and anonymisation after retention.

The export gathers every row about the family in the current tenant — the family, its members,
consents, status history, notes, intake visits, public listing, the e-mails sent to its address and
the audit events about it — as plain JSON-able data; the web layer shows it as JSON or as a page.

Anonymisation keeps what aggregates need (kind, status, dates, PC4 and its point, children's birth
years, support codes, availability, consent records without names) and removes or blanks everything
that points to a person or is free text that might. Audit events are append-only and stay; they
hold ids and codes, not contents.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, inspect, or_, select, update

from domain.audit.models import AuditEvent
from domain.audit.services import Actor, record
from domain.email.models import OutboundEmail
from domain.evaluations.models import EvaluationConversation, EvaluationRequest
from domain.families.models import (
    Consent,
    Family,
    FamilyMember,
    FamilyNote,
    FamilyStatusChange,
    IntakeVisit,
    MemberRole,
    PublicListing,
)
from domain.koppelingen.models import Kennismaking, Koppeling, KoppelingStatusChange, MatchExclusion
from domain.vog.models import VogRecord
from tenants.db import db

ANONYMISED_NAME = "geanonimiseerd"
ANONYMISED_ADDRESS = "geanonimiseerd@invalid"  # outbound_emails.to_address cannot be NULL
_INTERNAL_COLUMNS = {"tenant_id"}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if hasattr(value, "value") and isinstance(getattr(value, "value", None), str):  # StrEnum
        return value.value
    return value


def as_dict(row: Any, *, leave_out: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Every column of an ORM row, JSON-able, in the table's column order."""
    return {attr.key: _plain(getattr(row, attr.key)) for attr in inspect(row).mapper.column_attrs
            if attr.key not in _INTERNAL_COLUMNS and attr.key not in leave_out}


def _emails_to(address: str | None) -> list[OutboundEmail]:
    if not address:
        return []
    return list(db.session.scalars(
        select(OutboundEmail).where(func.lower(OutboundEmail.to_address) == address.lower())
        .order_by(OutboundEmail.id)
    ))


def _audit_about(family_id: int) -> list[AuditEvent]:
    return list(db.session.scalars(
        select(AuditEvent).where(or_(
            (AuditEvent.object_type == "family") & (AuditEvent.object_id == family_id),
            AuditEvent.details["family_id"].astext == str(family_id),
        )).order_by(AuditEvent.id)
    ))


def family_export(family: Family) -> dict[str, Any]:
    """Everything held about ``family`` (which the caller found in the current tenant)."""

    def rows(model, *order):
        return [as_dict(row) for row in db.session.scalars(
            select(model).where(model.family_id == family.id).order_by(*order, model.id))]

    listing = db.session.scalar(select(PublicListing).where(PublicListing.family_id == family.id))
    return {
        "family": as_dict(family),
        "members": rows(FamilyMember, FamilyMember.is_contact.desc()),
        "consents": rows(Consent, Consent.given_at),
        "status_history": rows(FamilyStatusChange, FamilyStatusChange.changed_at),
        "notes": rows(FamilyNote, FamilyNote.created_at),
        "intake_visits": rows(IntakeVisit, IntakeVisit.visited_on),
        "public_listing": as_dict(listing) if listing is not None else None,
        "vog_records": rows(VogRecord),
        "koppelingen": [as_dict(k) for k in _koppelingen_of(family.id)],
        "evaluations": [as_dict(e, leave_out=frozenset({"token_hash"})) for e in db.session.scalars(
            select(EvaluationRequest).where(EvaluationRequest.family_id == family.id).order_by(EvaluationRequest.id))],
        "match_exclusions": [as_dict(m) for m in db.session.scalars(
            select(MatchExclusion).where(_in_exclusion(family.id)).order_by(MatchExclusion.id))],
        "emails": [as_dict(email) for email in _emails_to(family.email)],
        "audit_events": [as_dict(event) for event in _audit_about(family.id)],
    }


def _koppelingen_of(family_id: int) -> list[Koppeling]:
    return list(db.session.scalars(select(Koppeling).where(
        or_(Koppeling.vraag_family_id == family_id, Koppeling.steun_family_id == family_id)).order_by(Koppeling.id)))


def _in_exclusion(family_id: int):
    return or_(MatchExclusion.vraag_family_id == family_id, MatchExclusion.steun_family_id == family_id)


def _blank_koppeling_texts(family_id: int) -> None:
    """Free texts around the family's koppelingen may describe its people: they go; the facts
    (states, dates, scores) stay for the figures."""
    db.session.execute(update(EvaluationRequest).where(EvaluationRequest.family_id == family_id)
                       .values(remarks=None))
    db.session.execute(delete(MatchExclusion).where(_in_exclusion(family_id)))
    koppeling_ids = [k.id for k in _koppelingen_of(family_id)]
    if not koppeling_ids:
        return
    db.session.execute(update(Koppeling).where(Koppeling.id.in_(koppeling_ids))
                       .values(schedule=None, location=None, end_note=None))
    db.session.execute(update(KoppelingStatusChange).where(KoppelingStatusChange.koppeling_id.in_(koppeling_ids))
                       .values(note=None))
    db.session.execute(update(Kennismaking).where(Kennismaking.koppeling_id.in_(koppeling_ids))
                       .values(location="(verwijderd)", outcome_notes=None))
    db.session.execute(update(EvaluationConversation).where(EvaluationConversation.koppeling_id.in_(koppeling_ids))
                       .values(notes=None))


def record_export(family: Family, actor: Actor, *, format: str) -> None:
    record("family.exported", actor, object_type="family", object_id=family.id, details={"format": format})


def anonymise_family(family: Family, actor: Actor, now: datetime, *, reason: str = "bewaartermijn") -> bool:
    """Remove what identifies the family; False (and nothing changed) if it was anonymised before."""
    if family.anonymised_at is not None:
        return False
    address = family.email
    family.email = None
    family.phone = None
    family.street_address = None
    family.postcode = family.pc4
    family.referrer_name = None
    family.referrer_email = None
    family.registration_wish = None
    family.registration_availability = None
    family.status_reason = None  # free text, may say why (moved, divorced …)
    family.competence = {}  # an assessment of the people
    family.anonymised_at = now

    for member in db.session.scalars(select(FamilyMember).where(FamilyMember.family_id == family.id)):
        member.first_name = ANONYMISED_NAME
        member.last_name = None
        member.birth_date = None
        if member.role != MemberRole.CHILD:
            member.birth_year = None
    for visit in db.session.scalars(select(IntakeVisit).where(IntakeVisit.family_id == family.id)):
        visit.support_wanted = visit.upbringing_values = visit.expectations = visit.gives_back = None
        visit.notes = None
    for change in db.session.scalars(select(FamilyStatusChange).where(FamilyStatusChange.family_id == family.id)):
        change.reason = None
    for consent in db.session.scalars(select(Consent).where(Consent.family_id == family.id)):
        if consent.given_by != "gezin":  # a referrer's or coordinator's name
            consent.given_by = ANONYMISED_NAME
    db.session.execute(delete(FamilyNote).where(FamilyNote.family_id == family.id))
    db.session.execute(delete(PublicListing).where(PublicListing.family_id == family.id))
    db.session.execute(delete(VogRecord).where(VogRecord.family_id == family.id))  # dates about named adults
    _blank_koppeling_texts(family.id)

    # The mails sent to the family hold its name and address; blank them unless another (not
    # anonymised) family of this gemeente still uses the same address.
    mails_blanked = 0
    if address and not db.session.scalar(select(func.count()).select_from(Family).where(
            func.lower(Family.email) == address.lower(), Family.id != family.id)):
        for email in _emails_to(address):
            email.to_address = ANONYMISED_ADDRESS
            email.context = {}
            email.subject = email.body_text = email.body_html = None
            email.last_error = None
            mails_blanked += 1

    record("family.anonymised", actor, object_type="family", object_id=family.id,
           details={"reason": reason, "emails_blanked": mails_blanked})
    return True
