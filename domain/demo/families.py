"""Demo families per demo gemeente: vraaggezinnen and steungezinnen in every stage of the flow.

Deterministic (one ``random.Random`` per gemeente, seeded by its slug; dates count back from the
day of seeding) and idempotent: a gemeente that already has demo families is left alone. Written
through the ORM in the tenant's context; no e-mail is sent. All people are invented; postcodes are
real PC4 areas of the gemeente with invented letters, placed at the PC4 point.
"""

from __future__ import annotations

import csv
import random
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select, update

from domain.accounts.models import StaffUser
from domain.audit.services import Actor
from domain.families.intake import DAYPARTS, WEEKDAYS, build_availability, build_competence
from domain.families.listings import PUBLICATION_CONSENT_VERSION, validate_listing
from domain.families.models import (
    Consent,
    ConsentKind,
    DistancePreference,
    Family,
    FamilyKind,
    FamilyMember,
    FamilyStatus,
    FamilyStatusChange,
    IntakeVisit,
    MemberRole,
    PublicListing,
    ReferralSource,
)
from domain.families.support_types import ensure_default_support_types, support_labels
from domain.geo.geocoder import DATA_FILE, Pc4Geocoder
from domain.vog.services import ensure_vog_records, record_received, request_vog
from tenants.db import db

DEMO_EMAIL_DOMAIN = "demo-gezin.example.org"
PROCESSING_CONSENT_VERSION = "verwerking-v1"
S = FamilyStatus

# Per gemeente: streets (invented addresses, real-sounding) and wijk labels for the town PC4s.
STREETS = {
    "smallingerland": ["Noorderbuurt", "Zuiderdwarsvaart", "Moleneind", "Torenstraat", "Hoofdstraat",
                       "Schoolstraat", "Merelstraat", "Lavendelhof", "Splitting", "Fonteinkruid"],
    "aalsmeer": ["Ophelialaan", "Zwarteweg", "Stommeerweg", "Hornweg", "Kudelstaartseweg", "Mijnsheerlijkheid",
                 "Machineweg", "Clematisstraat", "Uiterweg", "Dorpsstraat"],
    "purmerend": ["Gorslaan", "Waterlandlaan", "Purmersteenweg", "Jaagweg", "Nieuwstraat", "Middenweg",
                  "Rijperweg", "Zuiderweg", "Vooruitstraat", "Kamperfoeliestraat"],
    "midden-groningen": ["Hoofdstraat", "Kieldiep", "Noorderstraat", "Meint Veningastraat", "Kerkstraat",
                         "Molenstraat", "Borgweg", "Poststraat", "Oude Dijk", "Stationsweg"],
}
WIJKEN = {
    "9201": "Drachten, De Drait", "9202": "Drachten, Noorderhoek", "9203": "Drachten, De Wiken",
    "9204": "Drachten, Himsterhout", "9205": "Drachten, De Wetering", "9206": "Drachten, De Singels",
    "9207": "Drachten, Drachtstervaart", "1431": "Aalsmeer-Dorp", "1432": "Aalsmeer-Oost",
    "1441": "Purmerend, Centrum", "1442": "Purmerend, Overwhere", "1443": "Purmerend, Gors",
    "1444": "Purmerend, Wheermolen", "1445": "Purmerend, Weidevenne", "1446": "Purmerend, Purmer-Noord",
    "1447": "Purmerend, Purmer-Zuid", "1448": "Purmerend, Weidevenne",
}
REFERRERS = {
    ReferralSource.BUURTTEAM: "Buurtteam", ReferralSource.CONSULTATIEBUREAU: "Consultatiebureau",
    ReferralSource.SCHOOL: "Intern begeleider basisschool", ReferralSource.HUISARTS: "Praktijkondersteuner huisarts",
}

GIRLS = ["Emma", "Julia", "Sophie", "Tess", "Zoë", "Sara", "Evi", "Lisa", "Nina", "Lotte", "Saar", "Fenna", "Isa",
         "Yara", "Lieke", "Anouk", "Femke", "Nova", "Mila", "Noor", "Amira", "Elin", "Jasmijn", "Liv"]
BOYS = ["Daan", "Sem", "Finn", "Luuk", "Jesse", "Thijs", "Lars", "Milan", "Noah", "Levi", "Bram", "Ruben", "Stijn",
        "Sven", "Teun", "Jurre", "Gijs", "Mats", "Owen", "Adam", "Ilyas", "Wessel", "Hidde", "Siem"]
WOMEN = ["Sandra", "Linda", "Esther", "Monique", "Sanne", "Ilse", "Petra", "Mirjam", "Anja", "Wendy", "Nicole",
         "Jolanda", "Samira", "Yasmina", "Marloes", "Jantine", "Hilde", "Ingrid", "Tamara", "Romy", "Natasja", "Gerda"]
MEN = ["Mark", "Dennis", "Jeroen", "Erik", "Martijn", "Sander", "Bas", "Mohamed", "Hans", "Peter", "Wim", "Henk",
       "Gerrit", "Jelle", "Sjoerd", "Rutger", "Niels", "Kees", "Tjeerd", "Harm", "Vincent", "Hakan"]
SURNAMES = ["de Vries", "Jansen", "Visser", "Smit", "Meijer", "Mulder", "Dekker", "Brouwer", "Dijkstra", "Hoekstra",
            "Postma", "Bouma", "Wiersma", "Zijlstra", "Veenstra", "Kuiper", "Dijkema", "Oosterhuis", "Wolters",
            "Hendriks", "Peters", "Willems", "Vermeulen", "Schouten", "Jacobs", "van Vliet", "Verhoeven",
            "Timmermans", "de Bruijn", "El Amrani", "Yilmaz", "Öztürk", "Pinas", "Martens", "Hofstra", "Tjoelker",
            "Algra", "Sikkema", "van Leeuwen", "Koopmans", "Haverkamp", "Scholten", "Nijboer", "Bosma", "Terpstra",
            "Boukhari", "Sedney", "van Wijk", "Sprenger", "Langeveld"]

SITUATIONS_SINGLE_MOTHER = [
    "Moeder staat er sinds de scheiding alleen voor. Ze werkt drie dagen in de zorg en familie woont ver weg, "
    "dus als het tegenzit is er niemand om even op terug te vallen. Thuis is het vrolijk en druk, maar moeder "
    "merkt dat ze weinig rust en aandacht overhoudt voor {kids}.",
    "Moeder heeft een chronische ziekte en is snel moe. Op slechte dagen lukt het haar niet om met {kids} "
    "naar buiten te gaan of naar de club te brengen. Ze doet het met heel veel liefde, maar de emmer "
    "loopt soms over.",
    "Moeder is een paar jaar geleden naar Nederland gekomen en heeft hier nog weinig mensen om zich heen. Ze "
    "volgt een opleiding en wil {kids} graag laten opgroeien met vriendjes en nieuwe ervaringen in de buurt.",
]
SITUATIONS_SINGLE_FATHER = [
    "Vader zorgt sinds een jaar alleen voor {kids} en werkt daarnaast in ploegendienst. Hij regelt veel "
    "zelf, maar de middagen na school en de vakanties zijn lastig rond te krijgen.",
    "Vader is na een lange ziekte weer aan het werk. Hij wil er graag voor {kids} zijn, maar merkt dat "
    "zijn energie nog snel op is. Een vaste plek om even ontspannen kind te kunnen zijn zou helpen.",
]
SITUATIONS_TWO_PARENTS = [
    "Beide ouders werken en een van de ouders heeft extra zorg nodig na een ongeluk. Daardoor schiet de "
    "aandacht voor {kids} er weleens bij in. Familie woont niet in de buurt.",
    "Het gezin is vorig jaar verhuisd en kent nog bijna niemand in de buurt. Vader werkt veel buiten de deur "
    "en moeder zit midden in een zware periode. Ze zoeken mensen om zich heen, voor {kids} én voor "
    "henzelf.",
    "Een van de ouders heeft een burn-out en de ander vangt thuis veel op. Het gezin zoekt wat lucht, en "
    "een plek voor {kids} om gewoon kind te zijn.",
]
INTERESTS_YOUNG = ["buiten spelen", "knutselen", "voorlezen", "dieren", "bouwen met blokken", "zingen",
                   "de speeltuin", "kleuren"]
INTERESTS_OLDER = ["voetbal", "tekenen", "zwemmen", "dansen", "paardrijden", "gamen", "koken", "fietsen",
                   "muziek maken", "lezen"]
PARTICULARS = [
    "Het gezin heeft een kat en is gewend aan dieren.",
    "Er is een allergie voor noten in het gezin.",
    "Vaste afspraken en een voorspelbaar ritme helpen dit gezin.",
    "Het gezin eet halal.",
    "Het gezin heeft geen auto; een steungezin op fietsafstand is fijn.",
    None,
]
LOOKING_FOR = {
    "opvang": "{kids} één middag in de week na school wil opvangen",
    "logeren": "{kids} af en toe een weekend wil laten logeren",
    "huiswerkplek": "een rustige plek biedt om huiswerk te maken",
    "sport_zwemles": "kan helpen met brengen naar sport of zwemles",
    "ouderavond": "af en toe mee wil naar een ouderavond",
    "verjaardag": "wil meehelpen bij het vieren van een verjaardag",
    "uitje": "samen met {kids} iets leuks wil ondernemen",
    "luisterend_oor": "ook een luisterend oor wil zijn voor de ouder",
}
REASONS_VRAAG = [
    "Het gezin is verhuisd naar een andere gemeente.",
    "Het gaat beter; het gezin heeft steun gevonden in de eigen familie.",
    "Het gezin krijgt nu hulp via het buurtteam en ziet er voorlopig van af.",
]
REASONS_STEUN = [
    "Door een nieuwe baan hebben we er op dit moment geen tijd voor.",
    "We gaan verhuizen en stoppen daarom met aanmelden.",
]
COUNT_WORDS = {1: "een", 2: "twee", 3: "drie", 4: "vier"}


@dataclass
class Person:
    first_name: str
    last_name: str | None
    birth_year: int
    birth_date: date | None = None
    girl: bool = False


@dataclass
class Plan:
    kind: FamilyKind
    status: FamilyStatus
    adults: list[Person]
    children: list[Person]
    household: str  # "moeder", "vader", "ouders", "stel", "senioren", "alleen"
    history: list[tuple[FamilyStatus, datetime]] = field(default_factory=list)
    reason: str | None = None
    listed: bool = False


def seed_demo_families(tenant_id: int, slug: str, gemeentecode: str) -> int:
    """Create the demo families of one gemeente (the session must act for it). Returns how many were made."""
    ensure_default_support_types(tenant_id)
    if db.session.scalar(select(Family.id).where(Family.email.like(f"%@{DEMO_EMAIL_DOMAIN}")).limit(1)):
        return 0
    rng = random.Random(f"buurtgezinnen-demo-{slug}")  # noqa: S311 - demo data, not security
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    pc4s = gemeente_pc4s(gemeentecode)
    if not pc4s:
        raise ValueError(f"geen PC4-gebieden voor GM{gemeentecode}")
    labels = support_labels()
    codes = sorted(labels)
    coordinator = db.session.scalar(select(StaffUser).where(StaffUser.email == f"coordinator@{slug}.example.org"))
    coordinator_label = coordinator.full_name if coordinator else "Coördinator"
    coordinator_id = coordinator.id if coordinator else None
    names = _NamePool(rng)
    plans = _plans(rng, names, now)
    for plan in plans:
        _create(plan, rng, now, tenant_id, slug, pc4s, codes, labels, coordinator_id, coordinator_label)
    db.session.flush()
    return len(plans)


def assign_demo_coordinator(slug: str) -> int:
    """Give the demo families of a gemeente seeded before families had a coordinator the demo
    coordinator of that gemeente. Only while none of them has one, so a coordinator a demo user
    later changed or removed stays as it is. Returns how many families were assigned."""
    demo = Family.email.like(f"%@{DEMO_EMAIL_DOMAIN}")
    coordinator = db.session.scalar(select(StaffUser).where(StaffUser.email == f"coordinator@{slug}.example.org"))
    if coordinator is None or db.session.scalar(
            select(Family.id).where(demo, Family.coordinator_id.is_not(None)).limit(1)) is not None:
        return 0
    result = db.session.execute(update(Family).where(demo, Family.tenant_id == coordinator.tenant_id,
                                                     Family.coordinator_id.is_(None))
                                .values(coordinator_id=coordinator.id).execution_options(synchronize_session=False))
    return result.rowcount or 0


class _NamePool:
    """Draws names without repeating last names within a gemeente."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.surnames = rng.sample(SURNAMES, len(SURNAMES))

    def surname(self) -> str:
        return self.surnames.pop()

    def first(self, pool: list[str], taken: set[str]) -> str:
        choice = self.rng.choice([name for name in pool if name not in taken])
        taken.add(choice)
        return choice


def _plans(rng: random.Random, names: _NamePool, now: datetime) -> list[Plan]:
    year = now.year
    n_vraag, n_steun = rng.randint(9, 11), rng.randint(6, 7)
    vraag_statuses = [S.AANGEMELD, S.AANGEMELD, S.INTAKE, *[S.WACHTEND] * (n_vraag - 6), S.GEKOPPELD, S.GEKOPPELD,
                      S.AFGEMELD]
    steun_statuses = [S.AANGEMELD, S.BESCHIKBAAR, S.BESCHIKBAAR, S.GEKOPPELD, S.GEKOPPELD, S.AFGEMELD]
    if n_steun == 7:
        steun_statuses.insert(1, S.INTAKE)
    plans: list[Plan] = []
    for status in vraag_statuses:
        household = rng.choices(["moeder", "vader", "ouders"], weights=[5, 2, 3])[0]
        taken: set[str] = set()
        surname = names.surname()
        adults = []
        if household in ("moeder", "ouders"):
            adults.append(_adult(rng, names.first(WOMEN, taken), surname, year, 24, 44))
        if household in ("vader", "ouders"):
            adults.append(_adult(rng, names.first(MEN, taken), surname, year, 26, 48))
        children = []
        for _ in range(rng.choices([1, 2, 3], weights=[3, 5, 2])[0]):
            girl = rng.random() < 0.5
            children.append(Person(names.first(GIRLS if girl else BOYS, taken), None, year - rng.randint(1, 13),
                                   girl=girl))
        children.sort(key=lambda c: c.birth_year, reverse=True)
        plans.append(Plan(FamilyKind.VRAAG, status, adults, children, household))
    for status in steun_statuses:
        household = rng.choices(["stel", "senioren", "alleen"], weights=[5, 3, 1])[0]
        taken = set()
        surname = names.surname()
        low, high = (58, 70) if household == "senioren" else (32, 52)
        adults = [_adult(rng, names.first(WOMEN, taken), surname, year, low, high)]
        if household != "alleen":
            adults.append(_adult(rng, names.first(MEN, taken), surname, year, low, high))
        children = []
        if household == "stel":
            for _ in range(rng.randint(1, 3)):
                girl = rng.random() < 0.5
                children.append(Person(names.first(GIRLS if girl else BOYS, taken), None,
                                       year - rng.randint(3, 16), girl=girl))
        plans.append(Plan(FamilyKind.STEUN, status, adults, children, household))
    for plan in plans:
        _timeline(plan, rng, now)
    # 3 or 4 of the longest waiting vraaggezinnen are listed, and one gekoppeld ("Gevonden!").
    waiting = sorted((p for p in plans if p.kind == FamilyKind.VRAAG and p.status == S.WACHTEND),
                     key=lambda p: p.history[-1][1])
    for plan in waiting[: min(len(waiting), rng.randint(3, 4))]:
        plan.listed = True
    next(p for p in plans if p.kind == FamilyKind.VRAAG and p.status == S.GEKOPPELD).listed = True
    return plans


def _adult(rng: random.Random, first: str, last: str, year: int, low: int, high: int) -> Person:
    birth_year = year - rng.randint(low, high)
    birth_date = date(birth_year, rng.randint(1, 12), rng.randint(1, 28))
    return Person(first, last, birth_year, birth_date)


def _at(now: datetime, rng: random.Random, days_ago: int) -> datetime:
    return (now - timedelta(days=days_ago)).replace(hour=rng.randint(8, 17), minute=rng.choice([0, 15, 30, 45]))


def _timeline(plan: Plan, rng: random.Random, now: datetime) -> None:
    """The statuses the family went through, with dates, ending in its current status."""
    settled = S.WACHTEND if plan.kind == FamilyKind.VRAAG else S.BESCHIKBAAR
    if plan.status == S.AANGEMELD:
        plan.history = [(S.AANGEMELD, _at(now, rng, rng.randint(2, 7)))]
    elif plan.status == S.INTAKE:
        registered = rng.randint(18, 35)
        plan.history = [(S.AANGEMELD, _at(now, rng, registered)),
                        (S.INTAKE, _at(now, rng, registered - rng.randint(4, 9)))]
    elif plan.status in (S.WACHTEND, S.BESCHIKBAAR):
        settled_days = rng.randint(95, 270) if rng.random() < 0.75 else rng.randint(14, 60)
        intake_days = settled_days + rng.randint(10, 25)
        plan.history = [(S.AANGEMELD, _at(now, rng, intake_days + rng.randint(4, 10))),
                        (S.INTAKE, _at(now, rng, intake_days)), (settled, _at(now, rng, settled_days))]
    elif plan.status == S.GEKOPPELD:
        matched = rng.randint(30, 120)
        settled_days = matched + rng.randint(40, 150)
        intake_days = settled_days + rng.randint(10, 25)
        plan.history = [(S.AANGEMELD, _at(now, rng, intake_days + rng.randint(4, 10))),
                        (S.INTAKE, _at(now, rng, intake_days)), (settled, _at(now, rng, settled_days)),
                        (S.GEKOPPELD, _at(now, rng, matched))]
    else:  # afgemeld, after intake
        closed = rng.randint(20, 90)
        intake_days = closed + rng.randint(15, 60)
        plan.history = [(S.AANGEMELD, _at(now, rng, intake_days + rng.randint(4, 10))),
                        (S.INTAKE, _at(now, rng, intake_days)), (S.AFGEMELD, _at(now, rng, closed))]
        plan.reason = rng.choice(REASONS_VRAAG if plan.kind == FamilyKind.VRAAG else REASONS_STEUN)


def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


def gemeente_pc4s(gemeentecode: str) -> list[str]:
    """The PC4 areas of a gemeente ("0090" or "GM0090") in the bundled GeoNames table."""
    code = "GM" + gemeentecode.removeprefix("GM")
    with DATA_FILE.open(encoding="utf-8", newline="") as handle:
        return sorted(row["pc4"] for row in csv.DictReader(handle) if row["gemeentecode"] == code)


def _create(plan: Plan, rng: random.Random, now: datetime, tenant_id: int, slug: str, pc4s: list[str],
            codes: list[str], labels: dict[str, str], coordinator_id: int | None, coordinator_label: str) -> None:
    contact = plan.adults[0]
    pc4 = rng.choice(pc4s)
    letters = rng.choice("ABCEGHJKLMNPRTVWXZ") + rng.choice("ABCEGHJKLMNPRTVWXZ")
    location = Pc4Geocoder().locate(f"{pc4} {letters}")
    registered_at = plan.history[0][1]
    past_intake = plan.status != S.AANGEMELD
    wanted = rng.sample(codes, rng.randint(1, 3) if plan.kind == FamilyKind.VRAAG else rng.randint(2, 4))
    family = Family(
        tenant_id=tenant_id, kind=plan.kind, status=plan.status, status_reason=plan.reason,
        email=f"{_ascii(contact.first_name)}.{_ascii(contact.last_name or '')}@{DEMO_EMAIL_DOMAIN}",
        phone=f"06-{rng.randint(10_000_000, 99_999_999)}",
        street_address=f"{rng.choice(STREETS[slug])} {rng.randint(1, 180)}{rng.choice(['', '', '', 'a', 'b'])}",
        postcode=location.postcode, pc4=location.pc4, place=location.place,
        latitude=location.latitude, longitude=location.longitude,
        referral_source=_referral(rng, plan), registration_wish=_wish(plan, wanted, labels),
        registration_availability=rng.choice(["Vooral doordeweeks na school.", "Het liefst in het weekend.",
                                              "Woensdagmiddag en af en toe een weekend.", "Flexibel, in overleg."]),
        support_codes=wanted if past_intake else [],
        availability=_availability(rng) if past_intake else {},
        distance_preference=rng.choice(list(DistancePreference)) if past_intake else DistancePreference.NONE,
        competence=_competence(rng, plan) if past_intake and plan.kind == FamilyKind.STEUN else {},
        registered_at=registered_at,
        waiting_since=plan.history[-1][1] if plan.status == S.WACHTEND else None,
        closed_at=plan.history[-1][1] if plan.status == S.AFGEMELD else None,
        coordinator_id=coordinator_id,
    )
    if family.referral_source in REFERRERS:
        family.referrer_name = f"{REFERRERS[family.referral_source]} {location.place}"
    db.session.add(family)
    db.session.flush()
    for adult in plan.adults:
        db.session.add(FamilyMember(tenant_id=tenant_id, family_id=family.id, role=MemberRole.ADULT,
                                    first_name=adult.first_name, last_name=adult.last_name,
                                    birth_year=adult.birth_year, birth_date=adult.birth_date if past_intake else None,
                                    is_contact=adult is contact))
    for child in plan.children:
        db.session.add(FamilyMember(tenant_id=tenant_id, family_id=family.id, role=MemberRole.CHILD,
                                    first_name=child.first_name, birth_year=child.birth_year))
    previous = None
    for index, (status, at) in enumerate(plan.history):
        public_form = index == 0 and family.referral_source == ReferralSource.SELF
        db.session.add(FamilyStatusChange(
            tenant_id=tenant_id, family_id=family.id, from_status=previous, to_status=status,
            reason=plan.reason if status == S.AFGEMELD else None,
            changed_by_id=None if public_form else coordinator_id,
            changed_by_label=None if public_form else coordinator_label, changed_at=at,
        ))
        previous = status
    db.session.add(Consent(tenant_id=tenant_id, family_id=family.id, kind=ConsentKind.PROCESSING,
                           text_version=PROCESSING_CONSENT_VERSION, given_by="gezin", given_at=registered_at))
    if past_intake:
        visit_day = plan.history[1][1] + timedelta(days=rng.randint(2, 6))
        visit_day = min(visit_day, now - timedelta(days=1))
        db.session.add(IntakeVisit(tenant_id=tenant_id, family_id=family.id, visited_on=visit_day.date(),
                                   coordinator_id=coordinator_id, **_intake_answers(rng, plan, wanted, labels)))
    if plan.listed:
        consented_at = plan.history[-1][1] + timedelta(days=rng.randint(1, 5))
        if plan.status == S.GEKOPPELD:
            consented_at = plan.history[2][1] + timedelta(days=rng.randint(1, 5))
        db.session.add(Consent(tenant_id=tenant_id, family_id=family.id, kind=ConsentKind.PUBLICATION,
                               text_version=PUBLICATION_CONSENT_VERSION,
                               given_by=f"{coordinator_label} namens het gezin", given_at=consented_at))
        db.session.flush()
        texts = _listing_texts(rng, plan, wanted, now, location.pc4, location.place)
        errors = validate_listing(family, texts)
        if errors:  # the demo must obey the same rules as a coordinator
            raise ValueError(f"demo listing of {slug} breaks the rules: {errors}")
        db.session.add(PublicListing(tenant_id=tenant_id, family_id=family.id, published_at=consented_at, **texts))
    db.session.flush()
    if plan.kind == FamilyKind.STEUN and plan.status != S.AFGEMELD:
        _demo_vogs(family, rng, now.date(), Actor(id=coordinator_id, label=coordinator_label))


def _demo_vogs(family: Family, rng: random.Random, today: date, actor: Actor) -> None:
    """VOGs in every stage: most received (some due for renewal soon), some requested, some missing."""
    for vog in ensure_vog_records(family, today=today):
        roll = rng.random()
        if roll < 0.2:
            continue  # still nodig
        requested = today - timedelta(days=rng.randint(3, 40) if roll < 0.45 else rng.randint(200, 1080))
        request_vog(vog, requested, f"JUSTIS-{rng.randint(100000, 999999)}", actor, today=today)
        if roll >= 0.45:
            issued = requested + timedelta(days=rng.randint(10, 28))
            record_received(vog, issued, issued + timedelta(days=rng.randint(1, 5)), actor, today=today)


def _referral(rng: random.Random, plan: Plan) -> ReferralSource:
    if plan.kind == FamilyKind.STEUN:
        return ReferralSource.SELF
    return rng.choice([ReferralSource.SELF, ReferralSource.BUURTTEAM, ReferralSource.BUURTTEAM,
                       ReferralSource.CONSULTATIEBUREAU, ReferralSource.SCHOOL, ReferralSource.HUISARTS])


def _wish(plan: Plan, wanted: list[str], labels: dict[str, str]) -> str:
    if plan.kind == FamilyKind.STEUN:
        return ("Wij willen graag iets betekenen voor een gezin in de buurt, bijvoorbeeld: "
                + ", ".join(labels.get(c, c).lower() for c in wanted) + ".")
    wishes = [LOOKING_FOR.get(c, c).format(kids="de kinderen") for c in wanted[:2]]
    return "Wij zoeken een gezin dat " + " en ".join(wishes) + "."


def _availability(rng: random.Random) -> dict:
    # The same shape the intake form stores (domain.families.intake.build_availability).
    slots = [f"{day}-{part}" for day in rng.sample([d for d, _ in WEEKDAYS], rng.randint(1, 3))
             for part in rng.sample([p for p, _ in DAYPARTS], rng.randint(1, 2))]
    return build_availability(slots, weekend=rng.random() < 0.5, overnight=rng.random() < 0.35)


def _competence(rng: random.Random, plan: Plan) -> dict:
    experience = ("eigen kinderen, nu uit huis; oppas voor de kleinkinderen" if plan.household == "senioren"
                  else "eigen kinderen in de basisschoolleeftijd" if plan.household == "stel"
                  else "jarenlang leidster op een kinderdagverblijf")
    # The same keys the intake form stores (domain.families.intake.build_competence).
    return build_competence(
        opvoedervaring=experience,
        motivatie=rng.choice(["Wij hebben het zelf goed en willen graag iets terugdoen voor de buurt.",
                              "Onze kinderen zijn groot; we missen de drukte en hebben tijd over.",
                              "Opvoeden doen we samen: wij hadden vroeger ook mensen om ons heen."]),
        wat_kan_het_gezin_aan=", ".join(rng.sample(["geduldig", "structuur bieden", "humor", "praktisch",
                                                    "goed luisteren", "sportief", "creatief", "rustig huis"], 3)),
        huisgenoten_18_plus=len(plan.adults),
    )


def _intake_answers(rng: random.Random, plan: Plan, wanted: list[str], labels: dict[str, str]) -> dict:
    if plan.kind == FamilyKind.VRAAG:
        return {
            "support_wanted": "Het gezin zoekt iemand die "
            + " en ".join(LOOKING_FOR.get(c, c).format(kids="de kinderen") for c in wanted) + ".",
            "upbringing_values": rng.choice(["Duidelijke regels, veel knuffels en op tijd naar bed.",
                                             "Respect voor elkaar en buiten spelen in plaats van schermen.",
                                             "Eerlijkheid, en dat de kinderen zich veilig voelen."]),
            "expectations": rng.choice(["Een vast gezicht, iemand die afspraken nakomt.",
                                        "Dat het steungezin de kinderen neemt zoals ze zijn.",
                                        "Geen bemoeienis met alles, wel een warme plek voor de kinderen."]),
            "gives_back": rng.choice(["Moeder kookt graag en wil een keer voor het steungezin koken.",
                                      "Vader is handig en helpt graag met klussen.",
                                      "Oppassen op de huisdieren als het steungezin op vakantie is."]),
        }
    return {
        "support_wanted": "Het steungezin biedt: " + ", ".join(labels.get(c, c).lower() for c in wanted) + ".",
        "upbringing_values": rng.choice(["Rust, regelmaat en samen eten aan tafel.",
                                         "Veel buiten zijn, en kinderen serieus nemen."]),
        "expectations": rng.choice(["Open contact met de ouders en heldere afspraken.",
                                    "Dat de ouders laten weten wat hun kinderen nodig hebben."]),
        "gives_back": "Voldoening; het contact met een ander gezin als verrijking.",
    }


def _kids_word(children: list[Person]) -> str:
    if len(children) > 1:
        return "de kinderen"
    return "het meisje" if children[0].girl else "de jongen"


def _children_title(children: list[Person], this_year: int) -> str:
    ages = [str(this_year - c.birth_year) for c in children]
    ages_text = ages[0] if len(ages) == 1 else ", ".join(ages[:-1]) + " en " + ages[-1]
    n = len(children)
    if all(c.girl for c in children):
        noun = "dochter" if n == 1 else "meisjes"
    elif not any(c.girl for c in children):
        noun = "zoon" if n == 1 else "jongens"
    else:
        noun = "kinderen"
    return f"{COUNT_WORDS[n]} {noun} ({ages_text})"


def _listing_texts(rng: random.Random, plan: Plan, wanted: list[str], now: datetime, pc4: str,
                   place: str) -> dict[str, str | None]:
    parent = {"moeder": "Moeder", "vader": "Vader", "ouders": "Ouders"}[plan.household]
    title = f"{parent} met {_children_title(plan.children, now.year)}"
    kids = _kids_word(plan.children)
    situation = rng.choice({"moeder": SITUATIONS_SINGLE_MOTHER, "vader": SITUATIONS_SINGLE_FATHER,
                            "ouders": SITUATIONS_TWO_PARENTS}[plan.household])
    young = any(now.year - c.birth_year < 6 for c in plan.children)
    older = any(now.year - c.birth_year >= 6 for c in plan.children)
    likes = (rng.sample(INTERESTS_YOUNG, 2) if young else []) + (rng.sample(INTERESTS_OLDER, 2) if older else [])
    verb = " houdt van " if len(plan.children) == 1 else " houden van "
    interests = (kids[0].upper() + kids[1:] + verb + ", ".join(likes[:-1]) + " en " + likes[-1] + ". "
                 + rng.choice(["Het gezin gaat graag naar het park of de bibliotheek.",
                               "Samen een spelletje doen vinden ze allemaal leuk.",
                               "Op zaterdag wordt er thuis vaak gebakken."]))
    pronoun = "ze" if len(plan.children) > 1 else "haar" if plan.children[0].girl else "hem"
    wishes = [LOOKING_FOR.get(code, code).format(kids=kids if index == 0 else pronoun).replace("met ze ", "met hen ")
              for index, code in enumerate(wanted[:2])]
    looking_for = ("Wij zoeken een gezin dat " + " en ".join(wishes) + ". "
                   + rng.choice(["Het liefst een gezin in de buurt, op fietsafstand.",
                                 "Een gezin met kinderen om mee te spelen zou fijn zijn, maar ouders van wie de "
                                 "kinderen al uit huis zijn zijn net zo welkom.",
                                 "Vooral een warm en rustig gezin, waar {kids} even tot rust {can} komen."])
                   .format(kids=kids, can="kan" if len(plan.children) == 1 else "kunnen"))
    situation = situation.format(kids=kids)
    area = WIJKEN.get(pc4, place)
    return {"title": title[:120], "situation": situation, "interests": interests, "looking_for": looking_for,
            "particulars": rng.choice(PARTICULARS), "area_label": area}
