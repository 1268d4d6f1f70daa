"""A family registers itself (or is registered by a professional) through the public form.

``register_family`` checks everything first and writes nothing when anything is wrong: it raises
``RegistrationError`` with a Dutch message per form field. When all is well it writes, in the
caller's transaction, the family, its members, the consents (with the version of the text that
was shown), the first status-history entry and audit event, a note for the coordinator when
something needs a look, and the confirmation mail(s) through the outbox. The caller commits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import select

from domain.audit.services import Actor
from domain.email.services import queue_email
from domain.families import status
from domain.families.models import (
    Consent,
    ConsentKind,
    Family,
    FamilyKind,
    FamilyMember,
    FamilyNote,
    FamilyStatus,
    MemberRole,
    ReferralSource,
    SupportType,
)
from domain.geo.geocoder import Geocoder, Location, Pc4Geocoder, PostcodeError
from domain.vog.services import ensure_vog_records
from tenants.db import db
from tenants.models import Tenant

# The consent texts as shown on the form. Change a text → change its version, so each consent
# record says exactly which words the family agreed to.
CONSENT_VERSION = "aanmelding-2026-11"
PROCESSING_CONSENT_TEXT = (
    "Ik geef Buurtgezinnen toestemming om de gegevens op dit formulier te bewaren en te gebruiken. "
    "De coördinator gebruikt ze alleen om ons gezin te leren kennen en een passend gezin te zoeken. "
    "Buurtgezinnen deelt de gegevens niet met anderen zonder onze toestemming. Ik kan deze toestemming "
    "altijd intrekken; dan verwijdert Buurtgezinnen onze gegevens."
)
CONTACT_CONSENT_TEXT = (
    "Buurtgezinnen mag ons ook later mailen of bellen, bijvoorbeeld als er nieuws is of om te vragen "
    "hoe het gaat."
)
REFERRAL_CONSENT_TEXT = (
    "Het gezin weet dat ik het aanmeld bij Buurtgezinnen en heeft daar toestemming voor gegeven."
)

FORM_LABEL = "aanmeldformulier"
LOCAL_TIME = ZoneInfo("Europe/Amsterdam")
MAX_ADULTS = 3
MAX_CHILDREN = 6
OLDEST_YEAR = 1900
ADULT_AGE = 18
YOUNGEST_PARENT_AGE = 12  # a birth year that makes an "adult" younger than this is a typing error
OLDEST_CHILD_AGE = 30  # a "child" older than this is most likely a typing error

_PHONE_ALLOWED = re.compile(r"^[0-9+()\-\s.]{6,32}$")


class RegistrationError(ValueError):
    """The registration cannot be accepted; ``errors`` maps form field names to Dutch messages."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{key}: {message}" for key, message in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class PersonInput:
    first_name: str = ""
    last_name: str = ""
    birth_year: int | None = None

    @property
    def is_empty(self) -> bool:
        return not (self.first_name.strip() or self.last_name.strip() or self.birth_year)


@dataclass(frozen=True)
class RegistrationData:
    """What the form sends, already parsed to types; rows may be empty (they are skipped)."""

    kind: FamilyKind
    adults: list[PersonInput]  # the first one is the contact adult
    children: list[PersonInput]
    street_address: str = ""
    postcode: str = ""
    place: str = ""
    email: str = ""
    phone: str = ""
    referral_source: str = ReferralSource.SELF.value
    referrer_name: str = ""
    referrer_organisation: str = ""
    referrer_email: str = ""
    by_professional: bool = False  # a referrer fills in the form for the family (vraaggezin only)
    referral_consent: bool = False  # the referrer confirms the family agreed
    wish: str = ""
    support_codes: list[str] = field(default_factory=list)
    availability: str = ""
    consent_processing: bool = False
    consent_contact: bool = False
    language: str = "nl"


@dataclass(frozen=True)
class RegistrationResult:
    family: Family
    emails_queued: int
    notes: list[str]


def default_geocoder() -> Geocoder:
    """The geocoder the settings choose (``GEOCODER``): offline PC4 table, or PDOK."""
    settings = current_app.extensions.get("settings") if current_app else None
    if settings is not None and getattr(settings, "geocoder", "pc4") == "pdok":
        from domain.geo.pdok import PdokGeocoder

        return PdokGeocoder()
    return Pc4Geocoder()


def check_registration(tenant: Tenant, data: RegistrationData, *, geocoder: Geocoder | None = None,
                       today: date | None = None) -> None:
    """Raise RegistrationError if ``data`` could not be registered; writes nothing."""
    known_codes = set(db.session.scalars(select(SupportType.code).where(SupportType.active.is_(True))))
    _check(tenant, data, today or _today(), geocoder or default_geocoder(), known_codes)


def register_family(
    tenant: Tenant,
    data: RegistrationData,
    actor: Actor,
    *,
    geocoder: Geocoder | None = None,
    today: date | None = None,
) -> RegistrationResult:
    """Check ``data`` and write the registration in the current transaction (the caller commits)."""
    today = today or _today()
    geocoder = geocoder or default_geocoder()
    known_codes = set(db.session.scalars(select(SupportType.code).where(SupportType.active.is_(True))))
    location, adults, children, notes = _check(tenant, data, today, geocoder, known_codes)

    referrer = _referrer_label(data)
    family = Family(
        tenant_id=tenant.id,
        kind=data.kind,
        status=FamilyStatus.AANGEMELD,
        email=_clean_email(data.email) or None,
        phone=_clean(data.phone) or None,
        street_address=_clean(data.street_address),
        postcode=location.postcode,
        pc4=location.pc4,
        place=_clean(data.place) or location.place,
        latitude=location.latitude,
        longitude=location.longitude,
        referral_source=ReferralSource(data.referral_source),
        referrer_name=referrer,
        referrer_email=_clean_email(data.referrer_email) or None,
        registration_wish=_clean(data.wish) or None,
        registration_availability=_clean(data.availability) or None,
        # A first draft for the intake: the coordinator confirms or changes them there.
        support_codes=[code for code in data.support_codes if code in known_codes],
    )
    db.session.add(family)
    db.session.flush()

    for index, adult in enumerate(adults):
        db.session.add(FamilyMember(
            tenant_id=tenant.id, family_id=family.id, role=MemberRole.ADULT, first_name=_clean(adult.first_name),
            last_name=_clean(adult.last_name), birth_year=adult.birth_year, is_contact=index == 0,
        ))
    for child in children:
        db.session.add(FamilyMember(
            tenant_id=tenant.id, family_id=family.id, role=MemberRole.CHILD, first_name=_clean(child.first_name),
            last_name=None, birth_year=child.birth_year, is_contact=False,
        ))

    given_by = referrer if data.by_professional else "gezin"
    db.session.add(Consent(tenant_id=tenant.id, family_id=family.id, kind=ConsentKind.PROCESSING,
                           text_version=CONSENT_VERSION, given_by=given_by))
    if data.consent_contact:
        db.session.add(Consent(tenant_id=tenant.id, family_id=family.id, kind=ConsentKind.CONTACT,
                               text_version=CONSENT_VERSION, given_by=given_by))
    if data.by_professional:
        db.session.add(Consent(tenant_id=tenant.id, family_id=family.id, kind=ConsentKind.REFERRAL,
                               text_version=CONSENT_VERSION, given_by=referrer))

    if notes:
        db.session.add(FamilyNote(tenant_id=tenant.id, family_id=family.id, author_id=None, author_label=FORM_LABEL,
                                  body="Let op bij deze aanmelding:\n" + "\n".join(f"- {n}" for n in notes)))

    status.record_registration(family, Actor(id=None, label=referrer if data.by_professional else FORM_LABEL,
                                             ip=actor.ip, extra=actor.extra))
    db.session.flush()
    ensure_vog_records(family, today=today)  # steungezin: every adult needs a VOG
    queued = _queue_confirmations(tenant, family, data, adults[0], referrer)
    return RegistrationResult(family=family, emails_queued=queued, notes=notes)


# --- checks ------------------------------------------------------------------------------------------


def _check(tenant: Tenant, data: RegistrationData, today: date, geocoder: Geocoder, known_codes: set[str]):
    errors: dict[str, str] = {}
    notes: list[str] = []
    year = today.year
    steun = data.kind == FamilyKind.STEUN

    adults: list[PersonInput] = []
    for index, adult in enumerate(data.adults[:MAX_ADULTS]):
        prefix = f"adults-{index}-"
        if index > 0 and adult.is_empty:
            continue
        who = "je" if index == 0 and not data.by_professional else "de volwassene"
        if not adult.first_name.strip():
            errors[prefix + "first_name"] = (
                "Vul de voornaam in van de contactpersoon." if index == 0 else "Vul de voornaam in.")
        if not adult.last_name.strip():
            errors[prefix + "last_name"] = (
                "Vul de achternaam in van de contactpersoon." if index == 0 else "Vul de achternaam in.")
        if adult.birth_year is None:
            if steun:
                errors[prefix + "birth_year"] = (
                    "Vul het geboortejaar in. Elke volwassene in een steungezin vraagt later een VOG aan.")
        else:
            message = _year_problem(adult.birth_year, year)
            age = year - adult.birth_year
            if message:
                errors[prefix + "birth_year"] = message
            elif steun and age < ADULT_AGE:
                errors[prefix + "birth_year"] = (
                    "In een steungezin zijn de volwassenen 18 jaar of ouder. "
                    "Jongere gezinsleden vul je in bij de kinderen.")
            elif age < YOUNGEST_PARENT_AGE:
                errors[prefix + "birth_year"] = (
                    f"Dan is {who} nog maar {age} jaar. Klopt het jaartal? Kinderen vul je hieronder in.")
        adults.append(adult)
    if not adults:  # no rows at all: the contact adult is still required
        errors.setdefault("adults-0-first_name", "Vul de voornaam in van de contactpersoon.")

    children: list[PersonInput] = []
    for index, child in enumerate(data.children[:MAX_CHILDREN]):
        prefix = f"children-{index}-"
        if child.is_empty:
            continue
        if not child.first_name.strip():
            errors[prefix + "first_name"] = "Vul de voornaam van het kind in."
        if child.birth_year is None:
            errors[prefix + "birth_year"] = "Vul het geboortejaar van het kind in."
        else:
            message = _year_problem(child.birth_year, year)
            age = year - child.birth_year
            if message:
                errors[prefix + "birth_year"] = message
            elif age > OLDEST_CHILD_AGE:
                errors[prefix + "birth_year"] = (
                    f"Dan is dit kind al {age} jaar. Klopt het jaartal? Volwassenen vul je hierboven in.")
            elif age >= ADULT_AGE and not steun:
                name = child.first_name.strip() or "Een kind"
                notes.append(f"{name} is {age - 1} of {age} jaar: volwassen. Bespreek bij de intake of "
                             "de steun ook over dit kind gaat.")
        children.append(child)
    if not steun and not children:
        errors["children-0-first_name"] = (
            "Vul minstens één kind in. Buurtgezinnen helpt gezinnen met kinderen.")

    if not data.street_address.strip():
        errors["street_address"] = "Vul de straat en het huisnummer in."
    if not data.place.strip():
        errors["place"] = "Vul de woonplaats in."
    location: Location | None = None
    if not data.postcode.strip():
        errors["postcode"] = "Vul de postcode in, zoals 9201 AB."
    else:
        try:
            location = geocoder.locate(data.postcode)
        except PostcodeError as error:
            errors["postcode"] = str(error)
    if location is not None and location.gemeentecode.removeprefix("GM") != tenant.gemeentecode:
        notes.append(f"Postcode {location.postcode} ligt volgens onze gegevens in gemeente "
                     f"{location.gemeentenaam or 'onbekend'}, niet in {tenant.name}. Kijk of het gezin hier past.")

    email = data.email.strip()
    if email and _email_problem(email):
        errors["email"] = "Dit e-mailadres klopt niet. Schrijf het zoals naam@voorbeeld.nl."
    phone = data.phone.strip()
    if phone and (not _PHONE_ALLOWED.match(phone) or not 10 <= sum(c.isdigit() for c in phone) <= 15):
        errors["phone"] = "Dit telefoonnummer klopt niet. Schrijf het zoals 06 12345678."
    if not email and not phone:
        message = "Vul een e-mailadres of een telefoonnummer in, zodat de coördinator contact kan opnemen."
        errors["email"] = message
        errors["phone"] = message

    try:
        source = ReferralSource(data.referral_source)
    except ValueError:
        errors["referral_source"] = "Kies hoe je bij Buurtgezinnen terecht bent gekomen."
        source = None
    referrer_email = data.referrer_email.strip()
    if referrer_email and _email_problem(referrer_email):
        errors["referrer_email"] = "Dit e-mailadres klopt niet. Schrijf het zoals naam@voorbeeld.nl."
    if data.by_professional:
        if steun:
            errors["by_professional"] = "Een steungezin meldt zich zelf aan."
        if source == ReferralSource.SELF:
            errors["referral_source"] = "Kies waar je werkt, of kies ‘anders’."
        if not data.referrer_name.strip():
            errors["referrer_name"] = "Vul je naam in."
        if not data.referrer_organisation.strip():
            errors["referrer_organisation"] = "Vul de naam van je organisatie in."
        if not referrer_email:
            errors["referrer_email"] = "Vul je e-mailadres in. Je krijgt een bevestiging."
        if not data.referral_consent:
            errors["referral_consent"] = "Meld een gezin alleen aan als het gezin daar toestemming voor gaf."

    unknown = [code for code in data.support_codes if code not in known_codes]
    if unknown:
        errors["support_codes"] = "Kies uit de vormen van steun in de lijst."
    if len(data.wish) > 4000:
        errors["wish"] = "Schrijf hier hoogstens 4000 tekens."
    if len(data.availability) > 2000:
        errors["availability"] = "Schrijf hier hoogstens 2000 tekens."
    if not data.consent_processing:
        errors["consent_processing"] = (
            "Zonder deze toestemming kunnen we de aanmelding niet bewaren. Zet een vinkje als je akkoord bent.")

    if errors:
        raise RegistrationError(errors)
    assert location is not None
    return location, adults, children, notes


def _today() -> date:
    return datetime.now(LOCAL_TIME).date()


def _year_problem(birth_year: int, this_year: int) -> str | None:
    if birth_year > this_year:
        return f"Dit jaartal ligt in de toekomst. Vul een geboortejaar in van {this_year} of eerder."
    if birth_year < OLDEST_YEAR:
        return f"Vul een geboortejaar in van {OLDEST_YEAR} of later."
    return None


def _email_problem(address: str) -> bool:
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return True
    return False


def _clean(value: str) -> str:
    return " ".join((value or "").split())


def _clean_email(value: str) -> str:
    value = (value or "").strip()
    if not value:
        return ""
    return validate_email(value, check_deliverability=False).normalized


def _referrer_label(data: RegistrationData) -> str | None:
    name, organisation = _clean(data.referrer_name), _clean(data.referrer_organisation)
    if name and organisation:
        return f"{name} ({organisation})"[:200]
    return (name or organisation)[:200] or None


# --- mail ---------------------------------------------------------------------------------------------


def _queue_confirmations(tenant: Tenant, family: Family, data: RegistrationData, contact: PersonInput,
                         referrer: str | None) -> int:
    language = data.language if data.language in {"nl", "en"} else "nl"
    base = {
        "kind": str(family.kind),
        "contact_name": _clean(contact.first_name),
        "referrer": referrer or "",
        "by_professional": data.by_professional,
    }
    queued = 0
    if family.email:
        mail = queue_email(tenant, to=family.email, template="registration_confirmation",
                           context={**base, "recipient": "gezin"},
                           dedupe_key=f"registration:{tenant.id}:{family.id}:gezin", language=language)
        queued += mail is not None
    if data.by_professional and family.referrer_email:
        mail = queue_email(tenant, to=family.referrer_email, template="registration_confirmation",
                           context={**base, "recipient": "verwijzer"},
                           dedupe_key=f"registration:{tenant.id}:{family.id}:verwijzer", language=language)
        queued += mail is not None
    return queued
