"""The VOG of each adult in a steungezin household: nodig → aangevraagd → ontvangen → verlopen,
or afgewezen. Every change is audited; correcting a date is the same step again from the same
state (audited as ``vog.corrected``). No copy of the certificate is kept, only the facts.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import and_, or_, select

from domain.audit.services import SYSTEM, Actor, record
from domain.families.models import Family, FamilyKind, FamilyMember, MemberRole
from domain.families.records import age_of, dutch_day, local_today
from domain.vog.models import VogRecord, VogStatus
from tenants.db import db, session_tenant
from tenants.models import Tenant

ADULT_AGE = 18
REFERENCE_MAX_LENGTH = 100
EXPIRING_WITHIN_DAYS = 60

V = VogStatus
STATUS_LABELS = {
    V.NODIG: "nodig",
    V.AANGEVRAAGD: "aangevraagd",
    V.ONTVANGEN: "ontvangen",
    V.VERLOPEN: "verlopen",
    V.AFGEWEZEN: "afgewezen",
}

FILTER_KEYS = ("alle", "ontbreekt", "aangevraagd", "verloopt", "verlopen")


def filter_labels(tenant: Tenant) -> dict[str, str]:
    """The overview's filters, key → label, with the gemeente's own overdue term."""
    return {
        "alle": "alle",
        "ontbreekt": "ontbreekt (nog niet aangevraagd)",
        "aangevraagd": f"aangevraagd, langer dan {overdue_days(tenant)} dagen geleden",
        "verloopt": f"verloopt binnen {EXPIRING_WITHIN_DAYS} dagen",
        "verlopen": "verlopen",
    }


def overdue_days(tenant: Tenant) -> int:
    return int(tenant.setting("vog_request_overdue_days"))


class VogError(ValueError):
    """A change that is not allowed; the message says why, in Dutch. ``field`` names the form field."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


# --- which adults need one -------------------------------------------------------------------------


def needs_vog(member: FamilyMember, today: date) -> bool:
    """18 or older (by birth date, else birth year); an adult of unknown age counts as an adult."""
    age = age_of(member, today)
    if age is None:
        return member.role == MemberRole.ADULT
    return age >= ADULT_AGE


def ensure_vog_records(family: Family, *, today: date | None = None, actor: Actor = SYSTEM) -> list[VogRecord]:
    """Make sure every 18+ member of a steungezin has a VOG record (status nodig). Idempotent.

    Returns the records created now. A vraaggezin, or an anonymised family, gets none.
    """
    if family.kind != FamilyKind.STEUN or family.anonymised_at is not None:
        return []
    today = today or local_today()
    db.session.flush()
    members = db.session.scalars(
        select(FamilyMember).where(FamilyMember.family_id == family.id).order_by(FamilyMember.id)
    ).all()
    existing = set(db.session.scalars(select(VogRecord.member_id).where(VogRecord.family_id == family.id)))
    created = []
    for member in members:
        if member.id in existing or not needs_vog(member, today):
            continue
        vog = VogRecord(tenant_id=family.tenant_id, family_id=family.id, member_id=member.id, status=V.NODIG)
        db.session.add(vog)
        db.session.flush()
        record("vog.needed", actor, object_type="vog", object_id=vog.id,
               details={"family_id": family.id, "member_id": member.id})
        created.append(vog)
    return created


# --- the steps -----------------------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def renewal_months(tenant_id: int) -> int:
    tenant = db.session.get(Tenant, tenant_id)
    return int(tenant.setting("vog_renewal_months"))


def _not_future(value: date | None, today: date, field: str, what: str) -> date:
    if value is None:
        raise VogError(f"Vul {what} in.", field)
    if value > today:
        raise VogError(f"{what[0].upper()}{what[1:]} ligt in de toekomst.", field)
    return value


def _apply(vog: VogRecord, target: VogStatus, values: dict, actor: Actor, action: str) -> None:
    """Write ``values``; the same state again is a correction (audited only when something changed)."""
    correction = vog.status == target
    changes = {name: [_plain(getattr(vog, name)), _plain(value)] for name, value in values.items()
               if getattr(vog, name) != value}
    if correction and not changes:
        return
    previous = str(vog.status)
    for name, value in values.items():
        setattr(vog, name, value)
    vog.status = target
    db.session.flush()
    details = {"family_id": vog.family_id, "member_id": vog.member_id, "changes": changes}
    if correction:
        record("vog.corrected", actor, object_type="vog", object_id=vog.id, details={"status": str(target), **details})
    else:
        record(action, actor, object_type="vog", object_id=vog.id, details={"from": previous, **details})


def _plain(value):
    return value.isoformat() if isinstance(value, date) else value


def request_vog(vog: VogRecord, requested_on: date | None, reference: str | None, actor: Actor, *,
                today: date | None = None) -> None:
    """nodig/afgewezen/verlopen → aangevraagd; aangevraagd → aangevraagd corrects the date or reference."""
    today = today or local_today()
    if vog.status not in (V.NODIG, V.AANGEVRAAGD, V.AFGEWEZEN, V.VERLOPEN):
        raise VogError(f"Een VOG met status ‘{STATUS_LABELS[V(vog.status)]}’ kan niet opnieuw aangevraagd worden.")
    requested_on = _not_future(requested_on, today, "requested_on", "de datum van de aanvraag")
    reference = (reference or "").strip() or None
    if reference and len(reference) > REFERENCE_MAX_LENGTH:
        raise VogError(f"Het kenmerk is hooguit {REFERENCE_MAX_LENGTH} tekens.", "reference")
    values = {"requested_on": requested_on, "request_reference": reference}
    if vog.status != V.AANGEVRAAGD:  # a new request: what belonged to the previous one goes
        values |= {"issued_on": None, "checked_on": None, "checked_by_id": None, "checked_by_label": None,
                   "rejected_on": None, "renewal_due_on": None}
    _apply(vog, V.AANGEVRAAGD, values, actor, "vog.requested")


def record_received(vog: VogRecord, issued_on: date | None, checked_on: date | None, actor: Actor, *,
                    today: date | None = None) -> None:
    """aangevraagd → ontvangen (the coordinator saw a valid VOG); ontvangen → ontvangen corrects dates."""
    today = today or local_today()
    if vog.status not in (V.AANGEVRAAGD, V.ONTVANGEN):
        raise VogError("Leg eerst vast dat de VOG is aangevraagd.")
    issued_on = _not_future(issued_on, today, "issued_on", "de datum van afgifte")
    checked_on = _not_future(checked_on, today, "checked_on", "de datum waarop je de VOG hebt gezien")
    if vog.requested_on and issued_on < vog.requested_on:
        raise VogError("De datum van afgifte ligt vóór de aanvraag.", "issued_on")
    if checked_on < issued_on:
        raise VogError("Je kunt de VOG niet gezien hebben vóór de datum van afgifte.", "checked_on")
    renewal = add_months(issued_on, renewal_months(vog.tenant_id))
    values = {"issued_on": issued_on, "checked_on": checked_on, "renewal_due_on": renewal}
    if vog.status != V.ONTVANGEN:  # a correction keeps who checked it
        values |= {"checked_by_id": actor.id, "checked_by_label": actor.label}
    _apply(vog, V.ONTVANGEN, values, actor, "vog.received")


def record_rejected(vog: VogRecord, rejected_on: date | None, actor: Actor, *, today: date | None = None) -> None:
    """aangevraagd → afgewezen (Justis gave no VOG); afgewezen → afgewezen corrects the date."""
    today = today or local_today()
    if vog.status not in (V.AANGEVRAAGD, V.AFGEWEZEN):
        raise VogError("Alleen een aangevraagde VOG kan afgewezen worden.")
    rejected_on = _not_future(rejected_on, today, "rejected_on", "de datum van de afwijzing")
    if vog.requested_on and rejected_on < vog.requested_on:
        raise VogError("De datum van de afwijzing ligt vóór de aanvraag.", "rejected_on")
    _apply(vog, V.AFGEWEZEN, {"rejected_on": rejected_on}, actor, "vog.rejected")


def mark_expired(vog: VogRecord, actor: Actor) -> None:
    """ontvangen → verlopen (the renewal date passed, or the coordinator ends it)."""
    if vog.status != V.ONTVANGEN:
        raise VogError("Alleen een ontvangen VOG kan verlopen.")
    _apply(vog, V.VERLOPEN, {}, actor, "vog.expired")


# --- the guard for proefperiode and definitive koppeling --------------------------------------------


@dataclass(frozen=True)
class VogBlocker:
    """An adult of the steungezin without a valid VOG, and what is missing, in Dutch."""

    member_id: int
    name: str
    missing: str

    def __str__(self) -> str:
        return f"{self.name}: {self.missing}"


def is_valid(vog: VogRecord | None, today: date) -> bool:
    """Received and not past its renewal date (valid through that day)."""
    return (vog is not None and vog.status == V.ONTVANGEN
            and (vog.renewal_due_on is None or vog.renewal_due_on >= today))


def vog_blockers(family: Family, *, today: date | None = None) -> list[VogBlocker]:
    """Why this steungezin cannot start a proefperiode or definitive koppeling: every adult (18+)
    without a valid VOG, with what is missing. Empty when all is in order."""
    today = today or local_today()
    members = db.session.scalars(
        select(FamilyMember).where(FamilyMember.family_id == family.id).order_by(FamilyMember.id)).all()
    records = {vog.member_id: vog for vog in db.session.scalars(
        select(VogRecord).where(VogRecord.family_id == family.id))}
    return blockers_from(members, records, today)


def blockers_from(members: Iterable, records: Mapping[int, VogRecord], today: date) -> list[VogBlocker]:
    """The blockers of one household from its members (in order) and their VOG records by member id.

    Pure: members and records may be ORM objects or rows with the same attributes, so that many
    households can be judged from two queries (match suggestions)."""
    blockers = []
    for member in members:
        vog = records.get(member.id)
        if not needs_vog(member, today) or is_valid(vog, today):
            continue
        name = " ".join(p for p in (member.first_name, member.last_name) if p)
        blockers.append(VogBlocker(member.id, name, _missing(vog, today)))
    return blockers


def _missing(vog: VogRecord | None, today: date) -> str:
    status = V(vog.status) if vog else V.NODIG
    if status == V.AANGEVRAAGD:
        return f"VOG aangevraagd op {dutch_day(vog.requested_on)}, nog niet ontvangen"
    if status == V.AFGEWEZEN:
        return f"VOG afgewezen op {dutch_day(vog.rejected_on)}"
    if status in (V.VERLOPEN, V.ONTVANGEN):
        return f"VOG verlopen (geldig tot en met {dutch_day(vog.renewal_due_on)})"
    return "VOG nog niet aangevraagd"


# --- reading -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VogRow:
    vog: VogRecord
    member: FamilyMember
    family: Family

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.member.first_name, self.member.last_name) if p)


def filter_clause(key: str, today: date, overdue_after: int):
    if key == "ontbreekt":
        return VogRecord.status == V.NODIG
    if key == "aangevraagd":
        return and_(VogRecord.status == V.AANGEVRAAGD,
                    VogRecord.requested_on < today - timedelta(days=overdue_after))
    if key == "verloopt":
        return and_(VogRecord.status == V.ONTVANGEN, VogRecord.renewal_due_on >= today,
                    VogRecord.renewal_due_on <= today + timedelta(days=EXPIRING_WITHIN_DAYS))
    if key == "verlopen":
        # Also a received VOG whose renewal date passed before a sweep marked it.
        return or_(VogRecord.status == V.VERLOPEN,
                   and_(VogRecord.status == V.ONTVANGEN, VogRecord.renewal_due_on < today))
    return None


def vog_rows(filter_key: str = "alle", *, family_id: int | None = None, today: date | None = None) -> list[VogRow]:
    """The current tenant's VOG records with their adult and family (anonymised families left out)."""
    today = today or local_today()
    query = (select(VogRecord, FamilyMember, Family)
             .join(FamilyMember, and_(FamilyMember.id == VogRecord.member_id,
                                      FamilyMember.tenant_id == VogRecord.tenant_id))
             .join(Family, and_(Family.id == VogRecord.family_id, Family.tenant_id == VogRecord.tenant_id))
             .where(Family.anonymised_at.is_(None))
             .order_by(Family.id, FamilyMember.id))
    tenant = db.session.get(Tenant, session_tenant(db.session()))
    clause = filter_clause(filter_key, today, overdue_days(tenant))
    if clause is not None:
        query = query.where(clause)
    if family_id is not None:
        query = query.where(VogRecord.family_id == family_id)
    return [VogRow(vog, member, family) for vog, member, family in db.session.execute(query)]


CSV_HEADER = ("Naam", "Gezin", "Status", "Aangevraagd op", "Kenmerk aanvraag", "Afgegeven op",
              "Gecontroleerd door", "Gecontroleerd op", "Afgewezen op", "Vernieuwen vóór")


def csv_rows(rows: list[VogRow]) -> list[tuple]:
    return [(row.name, row.family.id, STATUS_LABELS[V(row.vog.status)], row.vog.requested_on,
             row.vog.request_reference, row.vog.issued_on, row.vog.checked_by_label, row.vog.checked_on,
             row.vog.rejected_on, row.vog.renewal_due_on) for row in rows]
