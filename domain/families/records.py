"""The coordinator's view of families: the filtered list, one family's full record, notes, and
who looked at it (personal data access is on record)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date
from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select

from domain.accounts.models import StaffUser
from domain.audit.models import AuditEvent
from domain.audit.services import Actor, record
from domain.families.models import (
    Consent,
    Family,
    FamilyKind,
    FamilyMember,
    FamilyNote,
    FamilyStatus,
    FamilyStatusChange,
    IntakeVisit,
    MemberRole,
)
from domain.families.support_types import support_labels
from tenants.access import get_for_tenant
from tenants.db import db

LOCAL_TIME = ZoneInfo("Europe/Amsterdam")
PER_PAGE = 50
VIEWED = "family.viewed"
NOTE_MAX_LENGTH = 5000

KIND_LABELS = {FamilyKind.VRAAG: "vraaggezin", FamilyKind.STEUN: "steungezin"}
SORTS = {"wacht": "langst wachtend eerst", "nieuw": "nieuwste aanmelding eerst"}

_PC4 = re.compile(r"^\d{4}$")
_POSTCODE = re.compile(r"^\d{4}\s?[A-Za-z]{0,2}$")


class NoteError(ValueError):
    """A note that cannot be saved; the message says why, in Dutch."""


@dataclass(frozen=True)
class FamilyFilters:
    kind: str | None = None
    status: str | None = None
    waiting_weeks: int | None = None  # waiting longer than this many weeks
    support_code: str | None = None
    area: str | None = None  # a PC4 ("9201") or (part of) a place name
    q: str | None = None  # (part of) any member's name, or a postcode
    coordinator_id: int | None = None  # the family's own coordinator is this staff user
    without_coordinator: bool = False  # no coordinator assigned yet
    sort: str = "wacht"


@dataclass
class FamilyRow:
    family: Family
    contact_name: str
    waiting_days: int | None
    children: int
    coordinator_name: str | None = None


@dataclass
class FamilyPage:
    rows: list[FamilyRow]
    total: int
    page: int
    pages: int


def dutch_day(day: date | None) -> str:
    """'23 november 2026', as every page and mail writes a date."""
    return format_date(day, "d MMMM y", locale="nl") if day else "onbekende datum"


def local_today() -> date:
    """Today in the Netherlands (birth dates and visit dates are Dutch calendar days)."""
    return datetime.now(LOCAL_TIME).date()


def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def waiting_reference() -> ColumnElement:
    """Since when the family waits: for a vraaggezin in ``wachtend`` since it entered that state,
    before the intake is done since it registered; other states do not wait."""
    return case(
        (Family.status.in_([FamilyStatus.AANGEMELD, FamilyStatus.INTAKE]), Family.registered_at),
        (Family.status == FamilyStatus.WACHTEND, func.coalesce(Family.waiting_since, Family.registered_at)),
        else_=None,
    )


def waiting_since(family: Family) -> datetime | None:
    if family.status in (FamilyStatus.AANGEMELD, FamilyStatus.INTAKE):
        return family.registered_at
    if family.status == FamilyStatus.WACHTEND:
        return family.waiting_since or family.registered_at
    return None


def waiting_days(family: Family, now: datetime | None = None) -> int | None:
    since = waiting_since(family)
    if since is None:
        return None
    return max(0, ((now or datetime.now(UTC)) - since).days)


def _conditions(filters: FamilyFilters, now: datetime) -> list[ColumnElement]:
    conditions: list[ColumnElement] = []
    if filters.kind:
        conditions.append(Family.kind == filters.kind)
    if filters.status:
        conditions.append(Family.status == filters.status)
    if filters.waiting_weeks is not None:
        conditions.append(waiting_reference() <= now - timedelta(weeks=filters.waiting_weeks))
    if filters.support_code:
        conditions.append(Family.support_codes.contains([filters.support_code]))
    if filters.coordinator_id is not None:
        conditions.append(Family.coordinator_id == filters.coordinator_id)
    if filters.without_coordinator:
        conditions.append(Family.coordinator_id.is_(None))
    area = (filters.area or "").strip()
    if area:
        if _PC4.match(area):
            conditions.append(Family.pc4 == area)
        else:
            conditions.append(Family.place.ilike(_like(area)))
    q = " ".join((filters.q or "").split())
    if q:
        pattern = _like(q)
        member = (
            select(FamilyMember.id)
            .where(FamilyMember.family_id == Family.id, FamilyMember.tenant_id == Family.tenant_id)
            .where(or_(
                FamilyMember.first_name.ilike(pattern),
                FamilyMember.last_name.ilike(pattern),
                func.concat_ws(" ", FamilyMember.first_name, FamilyMember.last_name).ilike(pattern),
            ))
        )
        matches = [exists(member)]
        if _POSTCODE.match(q):
            compact = q.replace(" ", "").upper()
            matches.append(func.replace(func.upper(Family.postcode), " ", "").like(_like(compact)))
        conditions.append(or_(*matches))
    return conditions


def search_families(filters: FamilyFilters, *, page: int = 1, per_page: int = PER_PAGE,
                    now: datetime | None = None) -> FamilyPage:
    """One page of the current tenant's families that match ``filters``."""
    now = now or datetime.now(UTC)
    conditions = _conditions(filters, now)
    where = and_(*conditions) if conditions else None
    count = select(func.count(Family.id))
    query = select(Family)
    if where is not None:
        count, query = count.where(where), query.where(where)
    total = db.session.scalar(count) or 0
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)
    if filters.sort == "nieuw":
        query = query.order_by(Family.registered_at.desc(), Family.id.desc())
    else:
        query = query.order_by(waiting_reference().asc().nulls_last(), Family.registered_at, Family.id)
    families = list(db.session.scalars(query.offset((page - 1) * per_page).limit(per_page)))
    members = _members_by_family([family.id for family in families])
    coordinators = _staff_names({family.coordinator_id for family in families if family.coordinator_id})
    rows = [
        FamilyRow(family, contact_name(members.get(family.id, [])), waiting_days(family, now),
                  sum(1 for m in members.get(family.id, []) if m.role == MemberRole.CHILD),
                  coordinators.get(family.coordinator_id) if family.coordinator_id else None)
        for family in families
    ]
    return FamilyPage(rows, total, page, pages)


def _staff_names(ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(db.session.execute(select(StaffUser.id, StaffUser.full_name).where(StaffUser.id.in_(ids))).all())


def _members_by_family(family_ids: list[int]) -> dict[int, list[FamilyMember]]:
    if not family_ids:
        return {}
    result: dict[int, list[FamilyMember]] = {}
    for member in db.session.scalars(
        select(FamilyMember).where(FamilyMember.family_id.in_(family_ids)).order_by(FamilyMember.id)
    ):
        result.setdefault(member.family_id, []).append(member)
    return result


def full_name(member: FamilyMember) -> str:
    return " ".join(part for part in (member.first_name, member.last_name) if part)


def contact_name(members: list[FamilyMember]) -> str:
    adults = [m for m in members if m.role == MemberRole.ADULT]
    adults.sort(key=lambda m: (not m.is_contact, m.id))
    return full_name(adults[0]) if adults else ""


def age_of(member: FamilyMember, today: date | None = None) -> int | None:
    today = today or local_today()
    if member.birth_date:
        born = member.birth_date
        return today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    if member.birth_year:
        return today.year - member.birth_year
    return None


# --- one family --------------------------------------------------------------------------------------


@dataclass
class Viewing:
    at: datetime
    who: str
    page: str


@dataclass
class FamilyRecord:
    family: Family
    adults: list[FamilyMember]
    children: list[FamilyMember]
    consents: list[Consent]
    history: list[FamilyStatusChange]
    notes: list[FamilyNote]
    visits: list[IntakeVisit]
    support_labels: dict[str, str]
    viewings: list[Viewing] = field(default_factory=list)

    @property
    def contact_name(self) -> str:
        return contact_name(self.adults)

    @property
    def waiting_days(self) -> int | None:
        return waiting_days(self.family)


def members_of(family: Family) -> list[FamilyMember]:
    return list(db.session.scalars(
        select(FamilyMember).where(FamilyMember.family_id == family.id)
        .order_by(FamilyMember.role, FamilyMember.is_contact.desc(), FamilyMember.birth_year, FamilyMember.id)
    ))


def visits_of(family: Family) -> list[IntakeVisit]:
    return list(db.session.scalars(
        select(IntakeVisit).where(IntakeVisit.family_id == family.id)
        .order_by(IntakeVisit.visited_on.desc(), IntakeVisit.id.desc())
    ))


def load_family_record(family_id: int) -> FamilyRecord:
    """Everything a coordinator sees on a family's page. Raises NotFoundError for another tenant's id."""
    family = get_for_tenant(Family, family_id)
    members = members_of(family)
    return FamilyRecord(
        family=family,
        adults=[m for m in members if m.role == MemberRole.ADULT],
        children=[m for m in members if m.role == MemberRole.CHILD],
        consents=list(db.session.scalars(
            select(Consent).where(Consent.family_id == family.id).order_by(Consent.given_at, Consent.id))),
        history=list(db.session.scalars(
            select(FamilyStatusChange).where(FamilyStatusChange.family_id == family.id)
            .order_by(FamilyStatusChange.changed_at.desc(), FamilyStatusChange.id.desc()))),
        notes=list(db.session.scalars(
            select(FamilyNote).where(FamilyNote.family_id == family.id)
            .order_by(FamilyNote.created_at.desc(), FamilyNote.id.desc()))),
        visits=visits_of(family),
        support_labels=support_labels(),
        viewings=viewings_of(family),
    )


def record_view(family: Family, actor: Actor, page: str = "detail") -> None:
    """Personal data was shown: who, when, which page."""
    record(VIEWED, actor, object_type="family", object_id=family.id, details={"page": page})


def viewings_of(family: Family, limit: int = 100) -> list[Viewing]:
    events = list(db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == VIEWED, AuditEvent.object_type == "family", AuditEvent.object_id == family.id)
        .order_by(AuditEvent.id.desc()).limit(limit)
    ))
    names = _staff_names({event.actor_id for event in events if event.actor_id is not None})
    return [
        Viewing(event.created_at,
                f"{names[event.actor_id]} ({event.actor_label})" if event.actor_id in names
                else (event.actor_label or "onbekend"),
                (event.details or {}).get("page", "detail"))
        for event in events
    ]


def add_note(family: Family, body: str, actor: Actor, author_label: str | None = None) -> FamilyNote:
    body = (body or "").strip()
    if not body:
        raise NoteError("Schrijf eerst een notitie.")
    if len(body) > NOTE_MAX_LENGTH:
        raise NoteError(f"Een notitie is hooguit {NOTE_MAX_LENGTH} tekens.")
    note = FamilyNote(tenant_id=family.tenant_id, family_id=family.id, author_id=actor.id,
                      author_label=author_label or actor.label, body=body)
    db.session.add(note)
    db.session.flush()
    record("family.note_added", actor, object_type="family", object_id=family.id, details={"note_id": note.id})
    return note
