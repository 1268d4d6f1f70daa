"""How well a steungezin fits a vraaggezin: one fit (0–1) and one plain-Dutch sentence per criterion.

Pure: no database. ``services`` loads both families' profiles, scores every candidate with
``fits_of`` and ``total_score`` and writes the words (``explain``) for the ones that are read; the
benchmark's bare baseline calls the numeric ``*_fit`` functions on rows of its own query.

The criteria and their weights (per gemeente, ``match_weights``; missing keys take the default):

- steun: which of the support types the vraaggezin wants the steungezin offers;
- beschikbaarheid: which of the moments the vraaggezin needs (day parts, weekend, overnight) the
  steungezin can do;
- afstand: the distance between the two postcode points, judged against the vraaggezin's wish:
  near is good for "dichtbij"; for "buiten de eigen buurt" it reverses (within about 2 km is poor,
  further is better up to a sane maximum); without a preference near is a little better;
- leeftijden: whether the steungezin raised children of the vraaggezin's children's ages (its own
  children's ages), and whether its competentieprofiel describes experience with upbringing;
- ruimte: how much of the steungezin's capacity is still free.

The score is the weighted mean of the fits, 0–100. The VOG is not a criterion: it is shown with
every suggestion (a blocker is never hidden) and only breaks ties.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from domain.families.intake import DAYPARTS, WEEKDAYS
from domain.geo.geocoder import distance_km

# (key in match_weights, label)
CRITERIA = (
    ("steun", "Steun"),
    ("beschikbaarheid", "Beschikbaarheid"),
    ("afstand", "Afstand"),
    ("leeftijden", "Leeftijden en ervaring"),
    ("ruimte", "Ruimte"),
)
CRITERION_LABELS = dict(CRITERIA)
MAX_WEIGHT = 100

WEEKEND, OVERNIGHT = "weekend", "overnacht"
SLOT_LABELS = {f"{day}-{part}": f"{day_label}{part_label}"
               for day, day_label in WEEKDAYS for part, part_label in DAYPARTS}
SLOT_LABELS |= {WEEKEND: "weekend", OVERNIGHT: "logeren (een nacht blijven slapen)"}
SLOT_ORDER = {slot: index for index, slot in enumerate(SLOT_LABELS)}

NEAR, OUTSIDE, NO_PREFERENCE = "dichtbij", "buiten_eigen_buurt", "geen_voorkeur"
# "dichtbij": full marks up to NEAR_KM, nothing from FAR_KM on.
NEAR_KM, FAR_KM = 2.0, 15.0
REASONABLY_NEAR_KM = 5.0  # only for the words
# "buiten de eigen buurt": nothing up to OWN_AREA_KM (the own buurt), full marks from OUTSIDE_KM to
# OUTSIDE_MAX_KM, then less again (travelling gets long) down to TOO_FAR_FIT at TOO_FAR_KM.
OWN_AREA_KM, OUTSIDE_KM, OUTSIDE_MAX_KM, TOO_FAR_KM, TOO_FAR_FIT = 1.0, 4.0, 15.0, 30.0, 0.5
# No preference: a little better nearby, NO_PREFERENCE_FLOOR from NO_PREFERENCE_KM on.
NO_PREFERENCE_KM, NO_PREFERENCE_FLOOR = 20.0, 0.5
# Children's ages: the share of children whose age the steungezin raised counts for AGES_SHARE,
# experience described in the competentieprofiel for EXPERIENCE_SHARE.
AGES_SHARE, EXPERIENCE_SHARE = 0.8, 0.2
ADULT_AGE = 18
UNKNOWN = 0.5  # the fit of a criterion we cannot judge yet (nothing filled in)

GOOD, PARTLY = 0.75, 0.4


def match_weights(raw: Any, defaults: Mapping[str, float]) -> dict[str, float]:
    """The gemeente's weights, each a number from 0 to MAX_WEIGHT; a missing or bad one takes the default.
    All zero would make every score equal: then the defaults count."""
    weights = {key: float(defaults[key]) for key, _ in CRITERIA}
    if isinstance(raw, Mapping):
        for key in weights:
            value = raw.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= MAX_WEIGHT:
                weights[key] = float(value)
    if not sum(weights.values()):
        weights = {key: float(defaults[key]) for key, _ in CRITERIA}
    return weights


# --- profiles --------------------------------------------------------------------------------------


def availability_items(availability: Mapping[str, Any] | None) -> frozenset[str]:
    """{"ma": ["middag"], "weekend": true, …} → {"ma-middag", "weekend"}"""
    availability = availability or {}
    items = {f"{day}-{part}" for day, _ in WEEKDAYS for part in availability.get(day) or []
             if f"{day}-{part}" in SLOT_LABELS}
    items |= {key for key in (WEEKEND, OVERNIGHT) if availability.get(key)}
    return frozenset(items)


@dataclass(frozen=True, slots=True)
class Profile:
    """What matching knows of one family."""

    id: int
    kind: str
    status: str
    name: str  # the contact adult's name
    place: str | None
    pc4: str
    support_codes: frozenset[str]
    availability: frozenset[str]  # availability_items()
    distance_preference: str
    point: tuple[float, float] | None
    # Vraaggezin: its children under 18 (None: age unknown). Steungezin: the known ages of its own children.
    child_ages: tuple[int | None, ...]
    experience_described: bool  # steungezin: opvoedervaring filled in in the competentieprofiel
    capacity: int
    open_koppelingen: int

    @property
    def remaining_capacity(self) -> int:
        return max(0, self.capacity - self.open_koppelingen)


# --- the criteria, as numbers ---------------------------------------------------------------------


def support_fit(wanted: frozenset[str], offered: frozenset[str]) -> float:
    if not wanted:
        return UNKNOWN
    return len(wanted & offered) / len(wanted)


def availability_fit(needed: frozenset[str], available: frozenset[str]) -> float:
    if not needed:
        return UNKNOWN
    return len(needed & available) / len(needed)


def distance_fit(km: float | None, preference: str) -> float:
    if km is None:
        return UNKNOWN
    if preference == NEAR:
        return _between(km, NEAR_KM, FAR_KM, 1.0, 0.0)
    if preference == OUTSIDE:
        if km <= OUTSIDE_MAX_KM:
            return _between(km, OWN_AREA_KM, OUTSIDE_KM, 0.0, 1.0)
        return _between(km, OUTSIDE_MAX_KM, TOO_FAR_KM, 1.0, TOO_FAR_FIT)
    return _between(km, 0.0, NO_PREFERENCE_KM, 1.0, NO_PREFERENCE_FLOOR)


def ages_fit(children: tuple[int | None, ...], raised: tuple[int, ...], experience_described: bool) -> float:
    known = [age for age in children if age is not None]
    if not known:
        return UNKNOWN
    oldest = max(raised, default=-1)
    covered = sum(1 for age in known if age <= oldest) / len(known)
    return AGES_SHARE * covered + (EXPERIENCE_SHARE if experience_described else 0.0)


def room_fit(remaining: int, capacity: int) -> float:
    return remaining / capacity if capacity > 0 else 0.0


def total_score(fits: Mapping[str, float], weights: Mapping[str, float]) -> int:
    return round(100 * sum(weights[key] * fits[key] for key in weights) / sum(weights.values()))


def _between(x: float, x0: float, x1: float, y0: float, y1: float) -> float:
    """y0 up to x0, y1 from x1, a straight line between."""
    if x <= x0:
        return y0
    if x >= x1:
        return y1
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def distance_between(a: Profile, b: Profile) -> float | None:
    if a.point is None or b.point is None:
        return None
    return distance_km(a.point, b.point)


# --- the criteria, in words --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Criterion:
    key: str
    weight: float
    fit: float  # 0–1
    known: bool  # False: not enough filled in to judge (the fit is then neutral)
    explanation: str

    @property
    def label(self) -> str:
        return CRITERION_LABELS[self.key]

    @property
    def verdict(self) -> str:
        """In words, so that meaning never depends on colour."""
        if not self.known:
            return "nog niet bekend"
        if self.fit >= GOOD:
            return "past goed"
        if self.fit >= PARTLY:
            return "past deels"
        return "past niet"

    def points(self, total_weight: float) -> int:
        return round(100 * self.weight * self.fit / total_weight)

    def max_points(self, total_weight: float) -> int:
        return round(100 * self.weight / total_weight)


def join_dutch(items: Iterable[str]) -> str:
    """["a", "b", "c"] → "a, b en c"."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " en " + items[-1]


def km_text(km: float) -> str:
    return f"{km:.1f}".replace(".", ",") + " km"


def _support(vraag: Profile, steun: Profile, labels: Mapping[str, str], weight: float) -> Criterion:
    wanted, offered = vraag.support_codes, steun.support_codes
    fit = support_fit(wanted, offered)

    def names(codes: Iterable[str]) -> str:
        return join_dutch(sorted((labels.get(code, code) for code in codes), key=str.lower))

    if not wanted:
        text = "Het vraaggezin heeft nog niet ingevuld welke steun het zoekt."
        if offered:
            text += f" Het steungezin biedt: {names(offered)}."
        return Criterion("steun", weight, fit, False, text)
    if not offered:
        return Criterion("steun", weight, fit, True,
                         f"Het steungezin heeft nog niet ingevuld welke steun het biedt. Gezocht: {names(wanted)}.")
    both, missing = wanted & offered, wanted - offered
    if not missing:
        text = f"Biedt alle gezochte steun: {names(both)}."
    elif not both:
        text = f"Biedt niets van de gezochte steun ({names(wanted)})."
    else:
        text = f"Biedt {len(both)} van de {len(wanted)} gezochte soorten steun: {names(both)}. Niet: {names(missing)}."
    return Criterion("steun", weight, fit, True, text)


def _availability(vraag: Profile, steun: Profile, weight: float) -> Criterion:
    needed, available = vraag.availability, steun.availability
    fit = availability_fit(needed, available)

    def names(items: Iterable[str]) -> str:
        return join_dutch(SLOT_LABELS[item] for item in sorted(items, key=SLOT_ORDER.__getitem__))

    if not needed:
        return Criterion("beschikbaarheid", weight, fit, False,
                         "Het vraaggezin heeft nog niet ingevuld wanneer het steun nodig heeft.")
    if not available:
        return Criterion("beschikbaarheid", weight, fit, True,
                         f"Het steungezin heeft nog niet ingevuld wanneer het kan. Gevraagd: {names(needed)}.")
    both, missing = needed & available, needed - available
    if not missing:
        text = f"Kan op alle gevraagde momenten: {names(both)}."
    elif not both:
        text = f"Kan op geen van de gevraagde momenten ({names(needed)})."
    else:
        text = f"Kan op {len(both)} van de {len(needed)} gevraagde momenten: {names(both)}. Niet: {names(missing)}."
    return Criterion("beschikbaarheid", weight, fit, True, text)


def _distance(km: float | None, preference: str, weight: float) -> Criterion:
    fit = distance_fit(km, preference)
    if km is None:
        return Criterion("afstand", weight, fit, False,
                         "De afstand is niet bekend: van een van de gezinnen kennen we de postcode niet.")
    where = f"De gezinnen wonen {km_text(km)} van elkaar."
    if preference == NEAR:
        if km <= NEAR_KM:
            judgement = "Het vraaggezin wil steun dichtbij: dat past."
        elif km <= REASONABLY_NEAR_KM:
            judgement = "Het vraaggezin wil steun dichtbij: dit is nog redelijk dichtbij."
        elif km < FAR_KM:
            judgement = "Het vraaggezin wil steun dichtbij: dit is verder weg."
        else:
            judgement = "Het vraaggezin wil steun dichtbij: dit is te ver."
    elif preference == OUTSIDE:
        if km <= OWN_AREA_KM * 2:
            judgement = ("Het vraaggezin wil juist steun buiten de eigen buurt: dit is waarschijnlijk dezelfde "
                         "buurt.")
        elif km < OUTSIDE_KM:
            judgement = "Het vraaggezin wil steun buiten de eigen buurt: dit is er net buiten."
        elif km <= OUTSIDE_MAX_KM:
            judgement = "Het vraaggezin wil steun buiten de eigen buurt: dat past, en het is nog goed te reizen."
        else:
            judgement = "Het vraaggezin wil steun buiten de eigen buurt, maar dit is ver reizen."
    else:
        judgement = "Het vraaggezin heeft geen voorkeur; dichterbij is wel makkelijker."
    return Criterion("afstand", weight, fit, True, f"{where} {judgement}")


def _ages(vraag: Profile, steun: Profile, weight: float) -> Criterion:
    children, raised = vraag.child_ages, steun.child_ages
    fit = ages_fit(children, raised, steun.experience_described)
    known = sorted(age for age in children if age is not None)
    experience = (" In het competentieprofiel staat hun opvoedervaring." if steun.experience_described
                  else " In het competentieprofiel staat nog geen opvoedervaring.")
    if not known:
        text = ("Van de kinderen van het vraaggezin is de leeftijd nog niet bekend." if children
                else "Van het vraaggezin zijn nog geen kinderen vastgelegd.")
        return Criterion("leeftijden", weight, fit, False, text + experience)
    text = f"Kinderen van het vraaggezin: {_ages_text(known)}."
    if not raised:
        text += " Het steungezin heeft geen eigen kinderen vastgelegd."
    else:
        covered = sum(1 for age in known if age <= max(raised))
        own = f" Eigen kinderen van het steungezin: {_ages_text(sorted(raised))}"
        if covered == len(known):
            text += own + ("; zij kennen deze leeftijd." if len(known) == 1 else "; zij kennen deze leeftijden.")
        elif covered == 0:
            text += own + "; zo oud waren hun eigen kinderen nog niet."
        else:
            text += own + f"; zij kennen {covered} van deze {len(known)} leeftijden."
    return Criterion("leeftijden", weight, fit, True, text + experience)


def _ages_text(ages: list[int]) -> str:
    return join_dutch(str(age) for age in ages) + (" jaar" if ages else "")


def _room(steun: Profile, weight: float) -> Criterion:
    remaining, capacity = steun.remaining_capacity, steun.capacity
    fit = room_fit(remaining, capacity)
    gezin = "gezin" if remaining == 1 else "gezinnen"
    if remaining <= 0:
        text = "Het steungezin heeft nu geen ruimte voor nog een gezin."
    elif steun.open_koppelingen == 0:
        text = f"Het steungezin steunt nog niemand en heeft ruimte voor {remaining} {gezin}."
    else:
        supported = "gezin" if steun.open_koppelingen == 1 else "gezinnen"
        text = (f"Het steungezin steunt al {steun.open_koppelingen} {supported} en heeft ruimte voor nog "
                f"{remaining} {gezin}.")
    return Criterion("ruimte", weight, fit, True, text)


def fits_of(vraag: Profile, steun: Profile) -> tuple[dict[str, float], float | None]:
    """The fit per criterion (0–1) and the distance in km (None when a point is missing): numbers only."""
    km = distance_between(vraag, steun)
    return {
        "steun": support_fit(vraag.support_codes, steun.support_codes),
        "beschikbaarheid": availability_fit(vraag.availability, steun.availability),
        "afstand": distance_fit(km, vraag.distance_preference),
        "leeftijden": ages_fit(vraag.child_ages, steun.child_ages, steun.experience_described),
        "ruimte": room_fit(steun.remaining_capacity, steun.capacity),
    }, km


def explain(vraag: Profile, steun: Profile, weights: Mapping[str, float], labels: Mapping[str, str],
            km: float | None) -> tuple[Criterion, ...]:
    """Every criterion with its fit and its explanation in plain Dutch."""
    return (
        _support(vraag, steun, labels, weights["steun"]),
        _availability(vraag, steun, weights["beschikbaarheid"]),
        _distance(km, vraag.distance_preference, weights["afstand"]),
        _ages(vraag, steun, weights["leeftijden"]),
        _room(steun, weights["ruimte"]),
    )
