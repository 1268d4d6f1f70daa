"""Intake: the coordinator's visits to a family and the profile they lead to.

A visit holds the four intake questions. The profile (support types, availability, distance
preference and, for a steungezin, the competentieprofiel) lives on the family, for matching.
The first visit moves a new family from ``aangemeld`` to ``intake``; finishing the intake makes a
vraaggezin ``wachtend`` and a steungezin ``beschikbaar``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select

from domain.audit.services import Actor, record
from domain.families.assignment import assign_if_unassigned
from domain.families.models import DistancePreference, Family, FamilyKind, FamilyStatus, IntakeVisit
from domain.families.records import local_today
from domain.families.status import change_status
from domain.families.support_types import support_labels
from domain.vog.services import ensure_vog_records
from tenants.db import db

WEEKDAYS = (("ma", "maandag"), ("di", "dinsdag"), ("wo", "woensdag"), ("do", "donderdag"), ("vr", "vrijdag"))
DAYPARTS = (("ochtend", "ochtend"), ("middag", "middag"), ("avond", "avond"))
SLOTS = tuple(f"{day}-{part}" for day, _ in WEEKDAYS for part, _ in DAYPARTS)

DISTANCE_LABELS = {
    DistancePreference.NEAR: "Dichtbij",
    DistancePreference.OUTSIDE_OWN_AREA: "Bewust buiten de eigen buurt",
    DistancePreference.NONE: "Geen voorkeur",
}

INTAKE_QUESTIONS = (
    ("support_wanted", "Welke steun zoekt het gezin?"),
    ("upbringing_values", "Wat vindt het gezin belangrijk in de opvoeding?"),
    ("expectations", "Wat verwacht het gezin van het andere gezin?"),
    ("gives_back", "Wat kan het gezin zelf bieden?"),
)

# The competentieprofiel of a steungezin, as stored in Family.competence.
COMPETENCE_TEXT_KEYS = ("opvoedervaring", "motivatie", "wat_kan_het_gezin_aan")
ADULT_HOUSEMATES = "huisgenoten_18_plus"
COMPETENCE_LABELS = {
    "opvoedervaring": "Opvoedervaring",
    "motivatie": "Motivatie",
    "wat_kan_het_gezin_aan": "Wat kan het gezin aan?",
    ADULT_HOUSEMATES: "Aantal huisgenoten van 18 jaar en ouder",
}
MAX_HOUSEMATES = 20
TEXT_MAX_LENGTH = 5000


class IntakeError(ValueError):
    """Input the intake cannot take; ``field`` names the form field it belongs to, if any."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class VisitInput:
    visited_on: date
    support_wanted: str | None = None
    upbringing_values: str | None = None
    expectations: str | None = None
    gives_back: str | None = None
    notes: str | None = None


@dataclass(frozen=True)
class ProfileInput:
    support_codes: tuple[str, ...]
    availability: dict[str, Any]
    distance_preference: str
    competence: dict[str, Any] | None = None  # steungezinnen only; None leaves it as it is


def build_availability(slots: Iterable[str], *, weekend: bool, overnight: bool) -> dict[str, Any]:
    """{"ma": ["ochtend", "avond"], "di": [], …, "weekend": true, "overnacht": false}"""
    chosen = set(slots)
    unknown = chosen - set(SLOTS)
    if unknown:
        raise IntakeError("Kies dagdelen uit het rooster.", field="availability")
    grid: dict[str, Any] = {day: [part for part, _ in DAYPARTS if f"{day}-{part}" in chosen] for day, _ in WEEKDAYS}
    grid["weekend"] = bool(weekend)
    grid["overnacht"] = bool(overnight)
    return grid


def availability_slots(availability: dict[str, Any] | None) -> set[str]:
    availability = availability or {}
    return {f"{day}-{part}" for day, _ in WEEKDAYS for part in availability.get(day) or [] if f"{day}-{part}" in SLOTS}


def build_competence(opvoedervaring: str | None, motivatie: str | None, wat_kan_het_gezin_aan: str | None,
                     huisgenoten_18_plus: int | None) -> dict[str, Any]:
    return {
        "opvoedervaring": (opvoedervaring or "").strip(),
        "motivatie": (motivatie or "").strip(),
        "wat_kan_het_gezin_aan": (wat_kan_het_gezin_aan or "").strip(),
        ADULT_HOUSEMATES: huisgenoten_18_plus,
    }


def visit_count(family: Family) -> int:
    return db.session.scalar(select(func.count(IntakeVisit.id)).where(IntakeVisit.family_id == family.id)) or 0


def _clean(text: str | None, field: str) -> str | None:
    text = (text or "").strip()
    if len(text) > TEXT_MAX_LENGTH:
        raise IntakeError(f"Hooguit {TEXT_MAX_LENGTH} tekens.", field=field)
    return text or None


def _check_profile(family: Family, profile: ProfileInput) -> None:
    known = support_labels()
    unknown = [code for code in profile.support_codes if code not in known]
    if unknown:
        raise IntakeError("Kies steunvormen uit de lijst.", field="support_codes")
    try:
        DistancePreference(profile.distance_preference)
    except ValueError:
        raise IntakeError("Kies een voorkeur voor de afstand.", field="distance_preference") from None
    if _unknown_slots(profile.availability):
        raise IntakeError("Kies dagdelen uit het rooster.", field="availability")
    if profile.competence is not None:
        if family.kind != FamilyKind.STEUN:
            raise IntakeError("Een competentieprofiel hoort bij een steungezin.")
        housemates = profile.competence.get(ADULT_HOUSEMATES)
        if housemates is not None and not (isinstance(housemates, int) and 0 <= housemates <= MAX_HOUSEMATES):
            raise IntakeError(f"Vul een aantal van 0 tot en met {MAX_HOUSEMATES} in.", field=ADULT_HOUSEMATES)
        for key in COMPETENCE_TEXT_KEYS:
            _clean(profile.competence.get(key), key)


def _unknown_slots(availability: dict[str, Any]) -> set[str]:
    days = {day for day, _ in WEEKDAYS}
    parts = {part for part, _ in DAYPARTS}
    bad = {key for key in availability if key not in days | {"weekend", "overnacht"}}
    for day in days & availability.keys():
        bad |= {f"{day}-{part}" for part in availability[day] or [] if part not in parts}
    return bad


def save_intake(family: Family, visit: VisitInput | None, profile: ProfileInput, actor: Actor, *,
                today: date | None = None) -> IntakeVisit | None:
    """Record a visit (if given) and the family's profile; the first visit starts the intake.

    Everything is checked before anything is written; the caller commits or rolls back.
    """
    today = today or local_today()
    if family.status == FamilyStatus.AFGEMELD:
        raise IntakeError("Dit gezin is afgemeld. Meld het eerst opnieuw aan voordat je een intake vastlegt.")
    if visit is None and visit_count(family) == 0:
        raise IntakeError("Vul de datum van het intakebezoek in.", field="visited_on")
    texts: dict[str, str | None] = {}
    if visit is not None:
        if visit.visited_on > today:
            raise IntakeError("De datum van het bezoek ligt in de toekomst.", field="visited_on")
        for name, _ in (*INTAKE_QUESTIONS, ("notes", "")):
            texts[name] = _clean(getattr(visit, name), name)
    _check_profile(family, profile)

    new_visit = None
    if visit is not None:
        new_visit = IntakeVisit(tenant_id=family.tenant_id, family_id=family.id, visited_on=visit.visited_on,
                                coordinator_id=actor.id, **texts)
        db.session.add(new_visit)
        db.session.flush()
        assign_if_unassigned(family, actor)  # the visiting coordinator becomes the family's own
    family.support_codes = list(dict.fromkeys(profile.support_codes))
    family.availability = build_availability(availability_slots(profile.availability),
                                             weekend=bool(profile.availability.get("weekend")),
                                             overnight=bool(profile.availability.get("overnacht")))
    family.distance_preference = DistancePreference(profile.distance_preference)
    if profile.competence is not None:
        family.competence = dict(profile.competence)
    record("family.intake_saved", actor, object_type="family", object_id=family.id,
           details={"visit_id": new_visit.id if new_visit else None})
    if new_visit is not None and family.status == FamilyStatus.AANGEMELD:
        change_status(family, FamilyStatus.INTAKE, actor)
    ensure_vog_records(family, today=today, actor=actor)  # steungezin: a child in it may have turned 18
    db.session.flush()
    return new_visit


def finish_intake(family: Family, actor: Actor) -> FamilyStatus:
    """intake → wachtend (vraaggezin) or beschikbaar (steungezin)."""
    if family.status != FamilyStatus.INTAKE:
        raise IntakeError("Alleen een gezin dat in de intake zit, kan de intake afronden.")
    if visit_count(family) == 0:
        raise IntakeError("Leg eerst een intakebezoek vast.")
    target = FamilyStatus.WACHTEND if family.kind == FamilyKind.VRAAG else FamilyStatus.BESCHIKBAAR
    change_status(family, target, actor)
    db.session.flush()
    return target
