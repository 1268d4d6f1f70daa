"""Reading koppelingen for the pages: the list with the families' contact names and the next step,
one koppeling with everything its page shows, and a family's koppelingen."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import case, select

from domain.accounts.models import StaffUser
from domain.families.models import Family, FamilyMember, MemberRole
from domain.families.records import LOCAL_TIME, contact_name, dutch_day, local_today
from domain.families.support_types import support_labels
from domain.koppelingen.kennismaking import is_past, is_upcoming, meetings_of
from domain.koppelingen.models import Kennismaking, Koppeling, KoppelingStatus, KoppelingStatusChange
from domain.koppelingen.services import (
    STATUS_LABELS,
    proefperiode_outcome,
    signed_proefperiode_agreement,
    timeline,
)
from tenants.db import db

K = KoppelingStatus
LIST_LIMIT = 500
# The coordinator is asked to close or extend this long before the guidance term ends.
END_NOTICE_DAYS = 30
STATUS_ORDER = list(K)


@dataclass
class KoppelingRow:
    koppeling: Koppeling
    vraag_name: str
    steun_name: str
    coordinator_name: str | None
    next_step: str


@dataclass
class KoppelingPage:
    koppeling: Koppeling
    vraag: Family
    steun: Family
    vraag_name: str
    steun_name: str
    coordinator: StaffUser | None
    timeline: list[KoppelingStatusChange]
    meetings: list[Kennismaking]
    next_step: str
    support_labels: dict[str, str] = field(default_factory=dict)

    def upcoming(self, now: datetime | None = None) -> list[Kennismaking]:
        return [m for m in self.meetings if is_upcoming(m, now)]

    def without_outcome(self, now: datetime | None = None) -> list[Kennismaking]:
        return [m for m in self.meetings if is_past(m, now) and m.outcome is None]


def contact_names(family_ids: set[int]) -> dict[int, str]:
    """The contact adult's full name per family ("Gezin 12" when there is no adult)."""
    members: dict[int, list[FamilyMember]] = {}
    if family_ids:
        for member in db.session.scalars(select(FamilyMember).where(
                FamilyMember.family_id.in_(family_ids), FamilyMember.role == MemberRole.ADULT)):
            members.setdefault(member.family_id, []).append(member)
    return {family_id: contact_name(members.get(family_id, [])) or f"Gezin {family_id}" for family_id in family_ids}


def staff_names(ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(db.session.execute(select(StaffUser.id, StaffUser.full_name).where(StaffUser.id.in_(ids))).all())


def koppeling_rows(status: str | None = None) -> list[KoppelingRow]:
    """Every koppeling of the current tenant (open ones first, by phase), optionally of one status."""
    order = case({s.value: index for index, s in enumerate(STATUS_ORDER)}, value=Koppeling.status, else_=99)
    query = select(Koppeling).order_by(order, Koppeling.proposed_on.desc(), Koppeling.id.desc()).limit(LIST_LIMIT)
    if status is not None:
        query = query.where(Koppeling.status == status)
    koppelingen = list(db.session.scalars(query))
    names = contact_names({k.vraag_family_id for k in koppelingen} | {k.steun_family_id for k in koppelingen})
    coordinators = staff_names({k.coordinator_id for k in koppelingen if k.coordinator_id is not None})
    meetings: dict[int, list[Kennismaking]] = {}
    if koppelingen:
        for meeting in db.session.scalars(select(Kennismaking).where(
                Kennismaking.koppeling_id.in_([k.id for k in koppelingen]))
                .order_by(Kennismaking.starts_at, Kennismaking.id)):
            meetings.setdefault(meeting.koppeling_id, []).append(meeting)
    return [KoppelingRow(k, names[k.vraag_family_id], names[k.steun_family_id], coordinators.get(k.coordinator_id),
                         next_step(k, meetings.get(k.id, []))) for k in koppelingen]


def load_koppeling_page(koppeling: Koppeling) -> KoppelingPage:
    vraag = db.session.scalar(select(Family).where(Family.id == koppeling.vraag_family_id))
    steun = db.session.scalar(select(Family).where(Family.id == koppeling.steun_family_id))
    names = contact_names({vraag.id, steun.id})
    coordinator = (db.session.scalar(select(StaffUser).where(StaffUser.id == koppeling.coordinator_id))
                   if koppeling.coordinator_id is not None else None)
    meetings = meetings_of(koppeling)
    return KoppelingPage(koppeling, vraag, steun, names[vraag.id], names[steun.id], coordinator, timeline(koppeling),
                         meetings, next_step(koppeling, meetings), support_labels())


def family_koppelingen(family_id: int) -> list[KoppelingRow]:
    """A family's koppelingen (as vraaggezin or steungezin), newest first."""
    koppelingen = list(db.session.scalars(select(Koppeling).where(
        (Koppeling.vraag_family_id == family_id) | (Koppeling.steun_family_id == family_id))
        .order_by(Koppeling.proposed_on.desc(), Koppeling.id.desc())))
    names = contact_names({k.vraag_family_id for k in koppelingen} | {k.steun_family_id for k in koppelingen})
    coordinators = staff_names({k.coordinator_id for k in koppelingen if k.coordinator_id is not None})
    return [KoppelingRow(k, names[k.vraag_family_id], names[k.steun_family_id], coordinators.get(k.coordinator_id),
                         next_step(k)) for k in koppelingen]


def next_step(koppeling: Koppeling, meetings: list[Kennismaking] | None = None, *, today: date | None = None,
              now: datetime | None = None) -> str:
    """What the coordinator does next, in a few Dutch words."""
    today = today or local_today()
    now = now or datetime.now(UTC)
    status = K(koppeling.status)
    if status == K.VOORGESTELD:
        missing = [label for side, label in (("vraag", "het vraaggezin"), ("steun", "het steungezin"))
                   if getattr(koppeling, f"{side}_agreed_on") is None]
        if missing:
            return f"Akkoord op het voorstel vastleggen voor {' en '.join(missing)}"
        return "Kennismakingsfase starten"
    if status == K.KENNISMAKING:
        meetings = meetings_of(koppeling) if meetings is None else meetings
        upcoming = [m for m in meetings if is_upcoming(m, now)]
        if upcoming:
            return f"Kennismaking op {dutch_day(upcoming[0].starts_at.astimezone(LOCAL_TIME).date())}"
        if any(is_past(m, now) and m.outcome is None for m in meetings):
            return "Uitkomst van de kennismaking vastleggen"
        if not any(is_past(m, now) for m in meetings):
            return "Kennismaking plannen"
        if signed_proefperiode_agreement(koppeling) is None:
            return "Afsprakenovereenkomst laten ondertekenen"
        return "Proefperiode starten"
    if status == K.PROEFPERIODE:
        outcome = proefperiode_outcome(koppeling)
        if outcome is not None and outcome.outcome == "positief":
            return "Definitief maken"
        return f"Evaluatie van de proefperiode (proefperiode tot {dutch_day(koppeling.proefperiode_end_on)})"
    if status == K.DEFINITIEF:
        end = koppeling.guidance_end_on
        if end is not None and end <= today + timedelta(days=END_NOTICE_DAYS):
            return f"Afsluiten of verlengen (begeleiding tot {dutch_day(end)})"
        return f"Begeleiding loopt tot {dutch_day(end)}" if end else "Begeleiding loopt"
    return f"Geen: {STATUS_LABELS[status]}"
