"""Public listings: anonymised profiles of vraaggezinnen, written by the coordinator.

A profile is shown on the gemeente's public page only while it is published *and* the family's
publication consent stands (checked again at read time). The texts never carry names, e-mail
addresses, street names or postcodes: ``validate_listing`` refuses them with a Dutch message
naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import exists, func, select

from domain.audit.services import Actor, record
from domain.families.models import (
    Consent,
    ConsentKind,
    Family,
    FamilyKind,
    FamilyMember,
    FamilyStatus,
    MemberRole,
    PublicListing,
)
from tenants.db import db

# The consent text the coordinator confirms on the family's behalf; bump when the text changes.
PUBLICATION_CONSENT_TEXT = (
    "Het gezin geeft toestemming voor publicatie van een geanonimiseerd profiel op de openbare pagina "
    "van Buurtgezinnen in deze gemeente, zonder namen, adres of postcode. Het gezin kan deze "
    "toestemming altijd intrekken; het profiel gaat dan direct offline."
)
PUBLICATION_CONSENT_VERSION = "publicatie-v1"

FIELD_LABELS = {
    "title": "Titel",
    "situation": "Situatie",
    "interests": "Interesses",
    "looking_for": "Wij zoeken een gezin dat …",
    "particulars": "Bijzonderheden",
    "area_label": "Plaats of wijk",
}
TEXT_FIELDS = tuple(FIELD_LABELS)
REQUIRED = ("title", "situation", "looking_for")
MAX_LENGTHS = {"title": 120, "area_label": 100, "situation": 2000, "interests": 1000,
               "looking_for": 2000, "particulars": 1000}

_FULL_POSTCODE = re.compile(r"\b[1-9][0-9]{3}\s?[A-Za-z]{2}\b")
_FOUR_DIGITS = re.compile(r"(?<![0-9])[0-9]{4}(?![0-9])")
_EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")
_HOUSE_NUMBER = re.compile(r"\s+\d.*$")
_TUSSENVOEGSELS = {"van", "de", "der", "den", "het", "ter", "ten", "te", "in", "'t", "la", "le", "du", "da", "op"}


class ListingError(ValueError):
    """A publication rule that was not met; the message is fit to show (Dutch)."""


class ListingValidationError(ListingError):
    """Texts that cannot be published; ``errors`` maps field → Dutch message naming the field."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


# --- checking the texts ------------------------------------------------------------------------------


def _members(family: Family) -> list[FamilyMember]:
    return list(db.session.scalars(select(FamilyMember).where(FamilyMember.family_id == family.id)))


def _name_terms(members: list[FamilyMember]) -> set[str]:
    """First names, full last names, and the last name without tussenvoegsel ("de Vries" → "Vries")."""
    terms: set[str] = set()
    for member in members:
        for name in (member.first_name, member.last_name):
            name = (name or "").strip()
            if len(name) < 2:
                continue
            terms.add(name)
            core = " ".join(w for w in name.split() if w.lower() not in _TUSSENVOEGSELS)
            if len(core) >= 2:
                terms.add(core)
    return terms


def _street_name(street_address: str | None) -> str | None:
    street = _HOUSE_NUMBER.sub("", (street_address or "").strip()).strip()
    return street if len(street) >= 3 else None


def _contains_word(text: str, term: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(term)}(?!\w)", text, flags=re.IGNORECASE) is not None


def validate_listing(family: Family, data: Mapping[str, str | None]) -> dict[str, str]:
    """Field → Dutch message for everything that may not be published. Empty when all is well."""
    errors: dict[str, str] = {}
    members = _members(family)
    names = sorted(_name_terms(members), key=len, reverse=True)
    street = _street_name(family.street_address)
    for field in TEXT_FIELDS:
        label = FIELD_LABELS[field]
        text = (data.get(field) or "").strip()
        if not text:
            if field in REQUIRED:
                errors[field] = f"{label}: vul dit veld in."
            continue
        if len(text) > MAX_LENGTHS[field]:
            errors[field] = f"{label}: maximaal {MAX_LENGTHS[field]} tekens."
        elif _EMAIL.search(text) or (family.email and family.email.lower() in text.lower()):
            errors[field] = f"{label}: een e-mailadres hoort niet in een openbaar profiel."
        elif _FULL_POSTCODE.search(text) or _contains_word(text, family.pc4) or (
            field == "area_label" and _FOUR_DIGITS.search(text)
        ):
            errors[field] = f"{label}: noem geen postcode; gebruik een plaats of wijk."
        elif street and _contains_word(text, street):
            errors[field] = f"{label}: noem de straat van het gezin niet."
        else:
            found = next((name for name in names if _contains_word(text, name)), None)
            if found:
                errors[field] = (f"{label}: hier staat een naam van een gezinslid (‘{found}’). "
                                 "Beschrijf het gezin zonder namen.")
    return errors


# --- consent -----------------------------------------------------------------------------------------


def publication_consent(family: Family) -> Consent | None:
    """The standing (not withdrawn) publication consent, newest first."""
    return db.session.scalar(
        select(Consent)
        .where(Consent.family_id == family.id, Consent.kind == ConsentKind.PUBLICATION,
               Consent.withdrawn_at.is_(None))
        .order_by(Consent.given_at.desc(), Consent.id.desc())
        .limit(1)
    )


def record_publication_consent(family: Family, recorded_by: str, actor: Actor) -> Consent:
    """The coordinator records, on the family's behalf, that the family agrees to publication."""
    _require_vraaggezin(family)
    existing = publication_consent(family)
    if existing is not None:
        return existing
    consent = Consent(
        tenant_id=family.tenant_id, family_id=family.id, kind=ConsentKind.PUBLICATION,
        text_version=PUBLICATION_CONSENT_VERSION, given_by=f"{recorded_by} namens het gezin"[:200],
        given_at=datetime.now(UTC),
    )
    db.session.add(consent)
    db.session.flush()
    record("consent.recorded", actor, object_type="family", object_id=family.id,
           details={"kind": ConsentKind.PUBLICATION.value, "text_version": PUBLICATION_CONSENT_VERSION})
    return consent


def withdraw_publication_consent(family: Family, actor: Actor) -> None:
    """The family no longer agrees: every standing publication consent ends, the profile goes offline."""
    now = datetime.now(UTC)
    consents = db.session.scalars(select(Consent).where(
        Consent.family_id == family.id, Consent.kind == ConsentKind.PUBLICATION, Consent.withdrawn_at.is_(None),
    )).all()
    if not consents:
        raise ListingError("Er is geen toestemming voor publicatie om in te trekken.")
    for consent in consents:
        consent.withdrawn_at = now
    record("consent.withdrawn", actor, object_type="family", object_id=family.id,
           details={"kind": ConsentKind.PUBLICATION.value})
    listing = listing_for(family)
    if listing is not None and listing.published_at is not None:
        _unpublish(family, listing, actor, reason="toestemming ingetrokken")
    db.session.flush()


# --- the profile -------------------------------------------------------------------------------------


def listing_for(family: Family) -> PublicListing | None:
    return db.session.scalar(select(PublicListing).where(PublicListing.family_id == family.id))


def _require_vraaggezin(family: Family) -> None:
    if family.kind != FamilyKind.VRAAG:
        raise ListingError("Alleen een vraaggezin kan een openbaar profiel hebben.")


def save_listing(family: Family, data: Mapping[str, str | None], actor: Actor) -> PublicListing:
    """Create or update the profile texts. Raises ListingValidationError and changes nothing on bad input.

    A published profile stays published with its new texts (they passed the same checks)."""
    _require_vraaggezin(family)
    errors = validate_listing(family, data)
    if errors:
        raise ListingValidationError(errors)
    values = {field: ((data.get(field) or "").strip() or None) for field in TEXT_FIELDS}
    listing = listing_for(family)
    created = listing is None
    if listing is None:
        listing = PublicListing(tenant_id=family.tenant_id, family_id=family.id)
        db.session.add(listing)
    for field, value in values.items():
        setattr(listing, field, value)
    db.session.flush()
    record("listing.saved", actor, object_type="family", object_id=family.id,
           details={"created": created, "published": listing.published_at is not None})
    return listing


def publish_listing(family: Family, actor: Actor) -> PublicListing:
    _require_vraaggezin(family)
    listing = listing_for(family)
    if listing is None:
        raise ListingError("Schrijf en bewaar eerst het profiel; daarna kun je het publiceren.")
    if publication_consent(family) is None:
        raise ListingError("Publiceren kan pas als het gezin toestemming heeft gegeven voor publicatie. "
                           "Leg die toestemming eerst vast.")
    if family.status == FamilyStatus.AFGEMELD or family.anonymised_at is not None:
        raise ListingError("Een afgemeld gezin krijgt geen openbaar profiel.")
    errors = validate_listing(family, {field: getattr(listing, field) for field in TEXT_FIELDS})
    if errors:
        raise ListingValidationError(errors)
    if listing.published_at is None:
        listing.published_at = datetime.now(UTC)
        db.session.flush()
        record("listing.published", actor, object_type="family", object_id=family.id,
               details={"listing_id": listing.id})
    return listing


def unpublish_listing(family: Family, actor: Actor) -> None:
    listing = listing_for(family)
    if listing is None or listing.published_at is None:
        raise ListingError("Dit profiel staat niet online.")
    _unpublish(family, listing, actor, reason="offline gehaald")


def _unpublish(family: Family, listing: PublicListing, actor: Actor, *, reason: str) -> None:
    listing.published_at = None
    db.session.flush()
    record("listing.unpublished", actor, object_type="family", object_id=family.id,
           details={"listing_id": listing.id, "reason": reason})


# --- the public page ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicProfile:
    """Exactly what the public page may show of a listing: no ids, names or addresses."""

    title: str
    children: str | None  # "kinderen van 4 en 7 jaar"
    situation: str
    interests: str | None
    looking_for: str
    particulars: str | None
    area_label: str | None
    found: bool  # the family has a steungezin now ("Gevonden!")


def _standing_publication_consent():
    return exists().where(
        Consent.tenant_id == PublicListing.tenant_id, Consent.family_id == PublicListing.family_id,
        Consent.kind == ConsentKind.PUBLICATION, Consent.withdrawn_at.is_(None),
    )


def published_profiles(today: date | None = None) -> list[PublicProfile]:
    """The current tenant's published profiles with standing consent; waiting families first, longest first."""
    today = today or datetime.now(UTC).date()
    rows = db.session.execute(
        select(PublicListing, Family)
        .join(Family, (Family.tenant_id == PublicListing.tenant_id) & (Family.id == PublicListing.family_id))
        .where(
            PublicListing.published_at.is_not(None),
            Family.kind == FamilyKind.VRAAG,
            Family.status != FamilyStatus.AFGEMELD,
            Family.anonymised_at.is_(None),
            _standing_publication_consent(),
        )
        .order_by((Family.status == FamilyStatus.GEKOPPELD).asc(), Family.waiting_since.asc().nulls_last(),
                  PublicListing.published_at.asc(), PublicListing.id.asc())
    ).all()
    family_ids = [family.id for _, family in rows]
    birth_years: dict[int, list[int]] = {}
    if family_ids:
        for family_id, birth_year in db.session.execute(
            select(FamilyMember.family_id, FamilyMember.birth_year).where(
                FamilyMember.family_id.in_(family_ids), FamilyMember.role == MemberRole.CHILD,
                FamilyMember.birth_year.is_not(None),
            )
        ):
            birth_years.setdefault(family_id, []).append(birth_year)
    return [
        PublicProfile(
            title=listing.title, children=children_phrase(birth_years.get(family.id, []), today.year),
            situation=listing.situation, interests=listing.interests, looking_for=listing.looking_for,
            particulars=listing.particulars, area_label=listing.area_label,
            found=family.status == FamilyStatus.GEKOPPELD,
        )
        for listing, family in rows
    ]


def waiting_count() -> int:
    """How many vraaggezinnen of the current tenant wait for a steungezin (status wachtend)."""
    return db.session.scalar(
        select(func.count()).select_from(Family).where(
            Family.kind == FamilyKind.VRAAG, Family.status == FamilyStatus.WACHTEND,
        )
    ) or 0


def children_phrase(birth_years: list[int], this_year: int) -> str | None:
    """Ages from birth years: "een kind van 4 jaar", "kinderen van 4 en 7 jaar", "een baby en een kind van 3 jaar"."""
    ages = sorted(max(this_year - year, 0) for year in birth_years)
    if not ages:
        return None
    babies = [age for age in ages if age == 0]
    older = [str(age) for age in ages if age > 0]
    parts = []
    if babies:
        parts.append("een baby" if len(babies) == 1 else f"{_count_word(len(babies))} baby's")
    if older:
        listed = older[0] if len(older) == 1 else ", ".join(older[:-1]) + " en " + older[-1]
        parts.append(f"een kind van {listed} jaar" if len(older) == 1 else f"kinderen van {listed} jaar")
    return " en ".join(parts)


def _count_word(n: int) -> str:
    return {2: "twee", 3: "drie", 4: "vier"}.get(n, str(n))
