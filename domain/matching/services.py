"""Match suggestions: for a waiting vraaggezin the available steungezinnen of the same gemeente,
ranked, each with a score and a plain-Dutch explanation per criterion (``scoring``); and the
reverse, for a steungezin the waiting vraaggezinnen. The platform suggests and explains, the
coordinator decides ("elke koppeling is maatwerk").

- A steungezin is a candidate when it is beschikbaar, or gekoppeld with room for one more family,
  not anonymised, and its postcode point is known. A vraaggezin is a candidate when it is
  wachtend without an open koppeling and not anonymised (without a postcode point its distance is
  "not known" rather than the family being left out).
- The VOG status of the steungezin goes with every suggestion: a blocker (an adult without a valid
  VOG) is shown, never hidden. It does not lower the score — a koppeling may be proposed while a
  VOG is on its way; the proefperiode waits for it — but among equal scores a steungezin whose VOGs
  are in order comes first.
- A pair the coordinator marked "niet geschikt" (``MatchExclusion``, with a reason) is left out of
  the ranking and listed separately with that reason (``not_suitable_for``), so that the mark can
  be undone.

Bounded queries: the candidates in one query, their members with their VOG records in another
(a handful per page, whatever the number of families), and scored in Python.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial

from sqlalchemy import Select, and_, exists, func, select

from domain.audit.services import Actor, record
from domain.families.models import Family, FamilyKind, FamilyMember, FamilyStatus, MemberRole
from domain.families.records import age_of
from domain.families.support_types import support_labels
from domain.koppelingen.models import OPEN_STATUSES, Koppeling, MatchExclusion
from domain.matching.scoring import (
    ADULT_AGE,
    Criterion,
    Profile,
    availability_items,
    explain,
    fits_of,
    match_weights,
    total_score,
)
from domain.vog.models import VogRecord
from domain.vog.services import VogBlocker, blockers_from, is_valid, needs_vog, vog_blockers
from tenants.db import db
from tenants.models import DEFAULT_TENANT_SETTINGS, Tenant

REASON_MAX_LENGTH = 2000
AVAILABLE_STATUSES = (FamilyStatus.BESCHIKBAAR, FamilyStatus.GEKOPPELD)


class MatchError(ValueError):
    """A mark that cannot be made; the message says why, in Dutch. ``field`` names a form field."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class Suggestion:
    """One candidate family with its score and the reasons for it.

    The numbers are computed for every candidate; the words (``criteria``, ``vog_blockers``) when
    first read, so a page that shows the best twenty does not write out two thousand explanations.
    """

    __slots__ = ("_blockers", "_criteria", "_explain", "_vog_blockers", "distance_km", "family", "has_vog_blocker",
                 "score", "total_weight", "waiting_since")

    def __init__(self, family: Profile, score: int, distance_km: float | None, has_vog_blocker: bool,
                 total_weight: float, waiting_since: datetime | None,
                 explain_: Callable[[], tuple[Criterion, ...]], blockers: Callable[[], tuple[VogBlocker, ...]]):
        self.family = family  # the candidate: a steungezin for a vraaggezin, or the other way round
        self.score = score  # 0–100
        self.distance_km = distance_km
        self.has_vog_blocker = has_vog_blocker  # the steungezin has an adult without a valid VOG
        self.total_weight = total_weight
        self.waiting_since = waiting_since  # a vraaggezin: since when it waits
        self._explain, self._blockers = explain_, blockers
        self._criteria: tuple[Criterion, ...] | None = None
        self._vog_blockers: tuple[VogBlocker, ...] | None = None

    @property
    def criteria(self) -> tuple[Criterion, ...]:
        """Every criterion with its fit and a plain-Dutch explanation."""
        if self._criteria is None:
            self._criteria = self._explain()
        return self._criteria

    @property
    def vog_blockers(self) -> tuple[VogBlocker, ...]:
        """The steungezin's adults without a valid VOG and what is missing (in the reverse view: the one
        steungezin's)."""
        if self._vog_blockers is None:
            self._vog_blockers = self._blockers()
        return self._vog_blockers

    def __repr__(self) -> str:
        return f"Suggestion(family={self.family.id}, score={self.score})"


@dataclass(frozen=True)
class NotSuitable:
    """A family marked "niet geschikt" for the family on the page, and why."""

    family_id: int
    name: str
    status: str
    place: str | None
    reason: str
    marked_by_label: str | None
    marked_at: datetime


def weights_for(tenant: Tenant) -> dict[str, float]:
    return match_weights(tenant.setting("match_weights"), DEFAULT_TENANT_SETTINGS["match_weights"])


# --- suggestions -------------------------------------------------------------------------------------


def suggestions_for(vraag: Family, *, today: date, tenant: Tenant) -> list[Suggestion]:
    """The available steungezinnen of the vraaggezin's gemeente, best fit first ("niet geschikt" left out)."""
    if vraag.kind != FamilyKind.VRAAG:
        raise MatchError("Suggesties voor steungezinnen zijn er alleen voor een vraaggezin.")
    weights, labels = weights_for(tenant), support_labels()
    own = own_profile(vraag, today)
    conditions = (
        Family.tenant_id == tenant.id, Family.kind == FamilyKind.STEUN, Family.status.in_(AVAILABLE_STATUSES),
        Family.anonymised_at.is_(None), Family.latitude.is_not(None), Family.longitude.is_not(None),
    )
    rows = _candidate_rows(conditions)
    members = _members_by_family(select(Family.id).where(*conditions))  # with their VOG
    excluded = set(db.session.scalars(select(MatchExclusion.steun_family_id)
                                      .where(MatchExclusion.vraag_family_id == vraag.id)))
    suggestions = []
    total = sum(weights.values())
    for row in rows:
        if row.id in excluded:
            continue
        household = members.get(row.id, [])
        steun = _profile(row, household, today)
        if steun.remaining_capacity <= 0:
            continue
        fits, km = fits_of(own, steun)
        suggestions.append(Suggestion(
            steun, total_score(fits, weights), km, _blocked(household, today), total, None,
            partial(explain, own, steun, weights, labels, km), partial(_blockers_of, household, today),
        ))
    suggestions.sort(key=lambda s: (-s.score, s.has_vog_blocker, _far(s.distance_km), s.family.id))
    return suggestions


def families_for(steun: Family, *, today: date, tenant: Tenant) -> list[Suggestion]:
    """The reverse view: the waiting vraaggezinnen of the gemeente that fit this steungezin, best first."""
    if steun.kind != FamilyKind.STEUN:
        raise MatchError("Passende vraaggezinnen zijn er alleen voor een steungezin.")
    weights, labels = weights_for(tenant), support_labels()
    own = own_profile(steun, today)
    blockers = tuple(vog_blockers(steun, today=today))
    open_koppeling = exists().where(Koppeling.vraag_family_id == Family.id, Koppeling.tenant_id == Family.tenant_id,
                                    Koppeling.status.in_(OPEN_STATUSES))
    conditions = (
        Family.tenant_id == tenant.id, Family.kind == FamilyKind.VRAAG, Family.status == FamilyStatus.WACHTEND,
        Family.anonymised_at.is_(None), ~open_koppeling,
    )
    rows = _candidate_rows(conditions)
    members = _members_by_family(select(Family.id).where(*conditions))
    total = sum(weights.values())
    excluded = set(db.session.scalars(select(MatchExclusion.vraag_family_id)
                                      .where(MatchExclusion.steun_family_id == steun.id)))
    suggestions = []
    for row in rows:
        if row.id in excluded:
            continue
        vraag = _profile(row, members.get(row.id, []), today)
        fits, km = fits_of(vraag, own)
        suggestions.append(Suggestion(
            vraag, total_score(fits, weights), km, bool(blockers), total, row.waiting_since,
            partial(explain, vraag, own, weights, labels, km), partial(tuple, blockers),
        ))
    suggestions.sort(key=lambda s: (-s.score, s.waiting_since, s.family.id))  # among equals: waiting longest first
    return suggestions


def _vog(member):
    """A member row carries its VOG's columns (``_member_columns``): the row is its own VOG record."""
    return member if member.status is not None else None


def _blocked(members: list, today: date) -> bool:
    """Whether an adult lacks a valid VOG: the same rule as ``blockers_from``, without the words."""
    return any(needs_vog(member, today) and not is_valid(_vog(member), today) for member in members)


def _blockers_of(members: list, today: date) -> tuple[VogBlocker, ...]:
    return tuple(blockers_from(members, {member.id: member for member in members if _vog(member)}, today))


def _far(km: float | None) -> float:
    return math.inf if km is None else km


def own_profile(family: Family, today: date) -> Profile:
    """The profile of the family the page is about (one query for its members, one for its koppelingen)."""
    members = db.session.execute(_member_columns().where(FamilyMember.family_id == family.id)
                                 .order_by(FamilyMember.id)).all()
    open_count = 0
    if family.kind == FamilyKind.STEUN:
        open_count = db.session.scalar(select(func.count()).select_from(Koppeling).where(
            Koppeling.steun_family_id == family.id, Koppeling.status.in_(OPEN_STATUSES))) or 0
    experience = (family.competence or {}).get("opvoedervaring")
    return _make_profile(
        family_id=family.id, kind=family.kind, status=family.status, place=family.place, pc4=family.pc4,
        support_codes=family.support_codes, availability=family.availability,
        distance_preference=family.distance_preference, latitude=family.latitude, longitude=family.longitude,
        experience=experience, capacity=family.capacity, open_count=open_count, members=members, today=today,
    )


# --- "niet geschikt" ---------------------------------------------------------------------------------


def not_suitable_for(family: Family) -> list[NotSuitable]:
    """The families marked "niet geschikt" for this one (either side), newest mark first."""
    if family.kind == FamilyKind.VRAAG:
        own, other = MatchExclusion.vraag_family_id, MatchExclusion.steun_family_id
    else:
        own, other = MatchExclusion.steun_family_id, MatchExclusion.vraag_family_id
    rows = db.session.execute(
        select(MatchExclusion, Family.id, Family.status, Family.place)
        .join(Family, and_(Family.id == other, Family.tenant_id == MatchExclusion.tenant_id))
        .where(own == family.id, Family.anonymised_at.is_(None))
        .order_by(MatchExclusion.marked_at.desc(), MatchExclusion.id.desc())
    ).all()
    names = contact_names(row.id for row in rows)
    return [NotSuitable(row.id, names.get(row.id, f"Gezin {row.id}"), row.status, row.place, row.MatchExclusion.reason,
                        row.MatchExclusion.marked_by_label, row.MatchExclusion.marked_at) for row in rows]


def mark_not_suitable(vraag: Family, steun: Family, reason: str | None, actor: Actor) -> MatchExclusion:
    """The coordinator marks the pair "niet geschikt", with a reason: it leaves the suggestions both ways."""
    _check_pair(vraag, steun)
    reason = (reason or "").strip()
    if not reason:
        raise MatchError("Schrijf op waarom dit gezin niet geschikt is.", "reason")
    if len(reason) > REASON_MAX_LENGTH:
        raise MatchError(f"Schrijf de reden in hooguit {REASON_MAX_LENGTH} tekens.", "reason")
    existing = _exclusion(vraag, steun)
    if existing is not None:
        raise MatchError(f"Dit gezin staat al als niet geschikt gemarkeerd: {existing.reason}")
    if _open_between(vraag, steun):
        raise MatchError("Er loopt al een voorstel of koppeling tussen deze gezinnen. Stop die eerst als het "
                         "niet past.")
    exclusion = MatchExclusion(tenant_id=vraag.tenant_id, vraag_family_id=vraag.id, steun_family_id=steun.id,
                               reason=reason, marked_by_id=actor.id, marked_by_label=actor.label)
    db.session.add(exclusion)
    db.session.flush()
    record("match.marked_not_suitable", actor, object_type="family", object_id=vraag.id,
           details={"steun_family_id": steun.id, "exclusion_id": exclusion.id})
    return exclusion


def unmark(vraag: Family, steun: Family, actor: Actor) -> None:
    """Undo a "niet geschikt" mark: the pair can be suggested again."""
    _check_pair(vraag, steun)
    exclusion = _exclusion(vraag, steun)
    if exclusion is None:
        raise MatchError("Dit gezin stond niet als niet geschikt gemarkeerd.")
    exclusion_id = exclusion.id
    db.session.delete(exclusion)
    db.session.flush()
    record("match.unmarked", actor, object_type="family", object_id=vraag.id,
           details={"steun_family_id": steun.id, "exclusion_id": exclusion_id})


def _check_pair(vraag: Family, steun: Family) -> None:
    if vraag.kind != FamilyKind.VRAAG or steun.kind != FamilyKind.STEUN:
        raise MatchError("Een markering ‘niet geschikt’ gaat over een vraaggezin en een steungezin.")
    if vraag.tenant_id != steun.tenant_id:
        raise MatchError("Beide gezinnen moeten van dezelfde gemeente zijn.")
    if vraag.anonymised_at is not None or steun.anonymised_at is not None:
        raise MatchError("Een geanonimiseerd gezin kun je niet markeren.")


def _exclusion(vraag: Family, steun: Family) -> MatchExclusion | None:
    return db.session.scalar(select(MatchExclusion).where(MatchExclusion.vraag_family_id == vraag.id,
                                                          MatchExclusion.steun_family_id == steun.id))


def _open_between(vraag: Family, steun: Family) -> bool:
    return bool(db.session.scalar(select(exists().where(
        Koppeling.vraag_family_id == vraag.id, Koppeling.steun_family_id == steun.id,
        Koppeling.status.in_(OPEN_STATUSES)))))


# --- loading -------------------------------------------------------------------------------------------


def _candidate_rows(conditions) -> list:
    open_count = (select(func.count()).select_from(Koppeling)
                  .where(Koppeling.steun_family_id == Family.id, Koppeling.tenant_id == Family.tenant_id,
                         Koppeling.status.in_(OPEN_STATUSES))
                  .correlate(Family).scalar_subquery())
    return db.session.execute(select(
        Family.id, Family.kind, Family.status, Family.place, Family.pc4, Family.support_codes, Family.availability,
        Family.distance_preference, Family.latitude, Family.longitude,
        Family.competence["opvoedervaring"].astext.label("experience"), Family.capacity,
        open_count.label("open_count"),
        func.coalesce(Family.waiting_since, Family.registered_at).label("waiting_since"),
    ).where(*conditions).order_by(Family.id)).all()


def _member_columns() -> Select:
    """A member's columns and those of its VOG (NULL without one), named as ``blockers_from`` reads them."""
    return (select(FamilyMember.id, FamilyMember.family_id, FamilyMember.role, FamilyMember.first_name,
                   FamilyMember.last_name, FamilyMember.birth_year, FamilyMember.birth_date, FamilyMember.is_contact,
                   VogRecord.status, VogRecord.requested_on, VogRecord.rejected_on, VogRecord.renewal_due_on)
            .outerjoin(VogRecord, and_(VogRecord.member_id == FamilyMember.id,
                                       VogRecord.tenant_id == FamilyMember.tenant_id)))


def _members_by_family(family_ids: Select) -> dict[int, list]:
    members: dict[int, list] = defaultdict(list)
    for member in db.session.execute(_member_columns().where(FamilyMember.family_id.in_(family_ids))
                                     .order_by(FamilyMember.family_id, FamilyMember.id)):
        members[member.family_id].append(member)
    return members


def contact_names(family_ids: Iterable[int]) -> dict[int, str]:
    """The contact adult's name per family (the first adult if none is marked), in one query."""
    ids = list(set(family_ids))
    if not ids:
        return {}
    names: dict[int, str] = {}
    for member in db.session.execute(
            _member_columns().where(FamilyMember.family_id.in_(ids), FamilyMember.role == MemberRole.ADULT)
            .order_by(FamilyMember.family_id, FamilyMember.is_contact.desc(), FamilyMember.id)):
        names.setdefault(member.family_id, _full_name(member))
    return names


def _full_name(member) -> str:
    return " ".join(part for part in (member.first_name, member.last_name) if part)


def _profile(row, members: list, today: date) -> Profile:
    return _make_profile(
        family_id=row.id, kind=row.kind, status=row.status, place=row.place, pc4=row.pc4,
        support_codes=row.support_codes, availability=row.availability, distance_preference=row.distance_preference,
        latitude=row.latitude, longitude=row.longitude, experience=row.experience, capacity=row.capacity,
        open_count=row.open_count or 0, members=members, today=today,
    )


def _make_profile(*, family_id: int, kind: str, status: str, place: str | None, pc4: str, support_codes,
                  availability, distance_preference: str, latitude: float | None, longitude: float | None,
                  experience, capacity: int | None, open_count: int, members: list, today: date) -> Profile:
    adults = sorted((m for m in members if m.role == MemberRole.ADULT), key=lambda m: (not m.is_contact, m.id))
    children = [age_of(m, today) for m in members if m.role == MemberRole.CHILD]
    if kind == FamilyKind.VRAAG:  # the children who may need support: under 18, or of unknown age
        child_ages = tuple(age for age in children if age is None or age < ADULT_AGE)
    else:  # the ages the steungezin's own children have reached
        child_ages = tuple(age for age in children if age is not None)
    return Profile(
        id=family_id, kind=str(kind), status=str(status),
        name=_full_name(adults[0]) if adults else f"Gezin {family_id}", place=place, pc4=pc4,
        support_codes=frozenset(support_codes or ()),
        availability=availability_items(availability), distance_preference=str(distance_preference),
        point=(latitude, longitude) if latitude is not None and longitude is not None else None,
        child_ages=child_ages, experience_described=isinstance(experience, str) and bool(experience.strip()),
        capacity=capacity or 0, open_koppelingen=open_count,
    )
