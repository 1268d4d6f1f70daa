"""Signed and sealed agreements in the demo: per demo gemeente a koppeling in proefperiode whose
afsprakenovereenkomst both families signed, and the gemeente's signed samenwerkingsovereenkomst.

Everything goes through the real domain functions — ``create_agreement``, ``send_for_signing``,
``check_identity`` (date of birth for the families, the e-mailed code for the gemeente and the
stichting), ``sign`` with the typed name, ``start_proefperiode`` — with IP ``127.0.0.1`` and user
agent ``demo``. The worker's jobs (``document.render``, ``document.finalise``) are run here, in the
same transaction, by calling their handlers directly on the job rows, which are then marked done:
a worker that picks them up later finds nothing to do. The mails of the flow (links, codes, the
sealed PDF) are queued like in real use and land in the demo's mail sink.

Idempotent: the koppeling is made only when its vraaggezin (a fixed demo family per gemeente,
recognised by its e-mail address) does not exist yet, and the contract only when the gemeente has
no contract at all.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from domain.accounts.models import StaffUser
from domain.audit.services import Actor
from domain.demo.families import DEMO_EMAIL_DOMAIN, Person, Plan, _adult, _ascii, _create, _timeline, gemeente_pc4s
from domain.documents.finalising import FINALISE_JOB
from domain.documents.models import Contract, Document, DocumentKind, DocumentSigner
from domain.documents.services import RENDER_JOB, RENDER_JOB_KIND, create_agreement, create_contract_document
from domain.documents.signing import (
    CODE_TEMPLATE,
    Party,
    check_identity,
    default_parties,
    send_code,
    send_for_signing,
    sign,
    signers_of,
)
from domain.email.models import OutboundEmail
from domain.families.models import Family, FamilyKind, FamilyMember, FamilyStatus
from domain.families.records import local_today
from domain.families.support_types import support_labels
from domain.koppelingen.services import propose, record_proposal_answer, start_kennismaking, start_proefperiode
from domain.outbox.models import JobStatus, OutboxJob
from domain.outbox.services import JobHandler, utcnow
from domain.vog.models import VogRecord, VogStatus
from domain.vog.services import ensure_vog_records, is_valid, record_received, request_vog
from tenants.db import db

IP = "127.0.0.1"
UA = "demo"
# Who signs the samenwerkingsovereenkomsten for the stichting in the demo (the national office).
STICHTING_SIGNER = Party("stichting", "Hanneke Verburg", "landelijk@example.org")
STICHTING_SENDER = "landelijk@example.org"


@dataclass(frozen=True)
class DemoAgreement:
    """The two families of a gemeente's demo koppeling and what the families and the gemeente agreed."""

    vraag_adults: tuple[tuple[str, str, bool], ...]  # (first name, last name, woman)
    vraag_children: tuple[tuple[str, int, bool], ...]  # (first name, age, girl)
    steun_adults: tuple[tuple[str, str, bool], ...]
    schedule: str
    location: str
    huisregels: str
    vervoer: str
    koppelingen_target: int
    budget_eur: int


AGREEMENTS = {
    "smallingerland": DemoAgreement(
        vraag_adults=(("Nynke", "Bergsma", True),), vraag_children=(("Sietske", 8, True), ("Douwe", 5, False)),
        steun_adults=(("Aukje", "Kingma", True), ("Hylke", "Kingma", False)),
        schedule="Elke woensdagmiddag na school tot 18.00 uur, en één zaterdag per maand.",
        location="Bij het steungezin thuis in Drachten.",
        huisregels="Bij de familie Kingma eten de kinderen mee om 17.30 uur. Geen schermen aan tafel.",
        vervoer="Aukje haalt de kinderen op woensdag op van school; Nynke haalt ze om 18.00 uur op.",
        koppelingen_target=12, budget_eur=55_000),
    "aalsmeer": DemoAgreement(
        vraag_adults=(("Samira", "Bakkali", True),), vraag_children=(("Yasmina", 10, True), ("Amin", 6, False)),
        steun_adults=(("Marjolein", "Eigenhuis", True), ("Frank", "Eigenhuis", False)),
        schedule="Elke dinsdag na school tot 19.00 uur, met avondeten.",
        location="Bij het steungezin thuis in Aalsmeer.",
        huisregels="Het gezin Eigenhuis kookt halal als de kinderen mee-eten.",
        vervoer="De kinderen fietsen samen met Marjolein vanaf school; Samira haalt ze op.",
        koppelingen_target=8, budget_eur=42_500),
    "purmerend": DemoAgreement(
        vraag_adults=(("Kevin", "Groot", False),), vraag_children=(("Luuk", 9, False),),
        steun_adults=(("Annemiek", "Schilder", True), ("Rob", "Schilder", False)),
        schedule="Om de week een weekend logeren, van zaterdag 10.00 uur tot zondag 17.00 uur.",
        location="Bij het steungezin thuis in Purmerend, Weidevenne.",
        huisregels="Luuk slaapt in de logeerkamer; om 20.30 uur naar bed.",
        vervoer="Kevin brengt en haalt Luuk met de auto.",
        koppelingen_target=15, budget_eur=67_500),
    "midden-groningen": DemoAgreement(
        vraag_adults=(("Jolien", "Brons", True), ("Marco", "Brons", False)),
        vraag_children=(("Fenna", 7, True), ("Thijs", 4, False)),
        steun_adults=(("Grietje", "Kamminga", True), ("Roelf", "Kamminga", False)),
        schedule="Elke donderdagmiddag van 14.00 tot 18.00 uur.",
        location="Bij het steungezin thuis in Hoogezand.",
        huisregels="Buiten spelen mag in de tuin; de hond blijft in de bench als de kinderen er net zijn.",
        vervoer="Grietje haalt Fenna en Thijs op van school en de opvang.",
        koppelingen_target=10, budget_eur=48_000),
}


def seed_demo_documents(tenant_id: int, slug: str, gemeentecode: str, gemeente_name: str) -> list[str]:
    """The demo koppeling with its sealed afsprakenovereenkomst and the sealed samenwerkingsovereenkomst
    of one demo gemeente (the session acts for it), where missing. Returns a line per thing made."""
    spec = AGREEMENTS.get(slug)
    if spec is None:
        return []
    created = []
    coordinator = db.session.scalar(select(StaffUser).where(StaffUser.email == f"coordinator@{slug}.example.org"))
    if coordinator is None:
        return []
    actor = Actor(id=coordinator.id, label=coordinator.email, ip=IP, extra={"user_agent": UA})
    if db.session.scalar(select(Family.id).where(Family.email == _vraag_email(spec))) is None:
        _seed_koppeling(spec, tenant_id, slug, gemeentecode, coordinator, actor)
        created.append(f"ondertekende koppeling in {slug}")
    if db.session.scalar(select(Contract.id).limit(1)) is None:
        _seed_contract(spec, tenant_id, slug, gemeente_name)
        created.append(f"ondertekende samenwerkingsovereenkomst van {slug}")
    db.session.flush()
    return created


def _vraag_email(spec: DemoAgreement) -> str:
    first, last, _ = spec.vraag_adults[0]
    return f"{_ascii(first)}.{_ascii(last)}@{DEMO_EMAIL_DOMAIN}"


# --- the koppeling ------------------------------------------------------------------------------------


def _seed_koppeling(spec: DemoAgreement, tenant_id: int, slug: str, gemeentecode: str, coordinator: StaffUser,
                    actor: Actor) -> None:
    rng = random.Random(f"buurtgezinnen-demo-documenten-{slug}")  # noqa: S311 - demo data, not security
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    today = local_today()
    year = now.year
    pc4s = gemeente_pc4s(gemeentecode)
    labels = support_labels()
    codes = sorted(labels)

    def adults(rows, low, high):
        return [_adult(rng, first, last, year, low, high) for first, last, _ in rows]

    vraag_plan = Plan(FamilyKind.VRAAG, FamilyStatus.WACHTEND, adults(spec.vraag_adults, 27, 42),
                      [Person(first, None, year - age, girl=girl) for first, age, girl in spec.vraag_children],
                      "ouders" if len(spec.vraag_adults) > 1 else ("moeder" if spec.vraag_adults[0][2] else "vader"))
    steun_plan = Plan(FamilyKind.STEUN, FamilyStatus.BESCHIKBAAR, adults(spec.steun_adults, 52, 64), [],
                      "senioren" if len(spec.steun_adults) > 1 else "alleen")
    for plan in (vraag_plan, steun_plan):
        _timeline(plan, rng, now)
        _create(plan, rng, now, tenant_id, slug, pc4s, codes, labels, coordinator.id, coordinator.full_name)
    vraag = db.session.scalar(select(Family).where(Family.email == _vraag_email(spec)))
    steun_first, steun_last, _ = spec.steun_adults[0]
    steun = db.session.scalar(select(Family).where(
        Family.email == f"{_ascii(steun_first)}.{_ascii(steun_last)}@{DEMO_EMAIL_DOMAIN}",
        Family.kind == FamilyKind.STEUN))
    _valid_vogs(steun, today, actor)

    koppeling = propose(vraag, steun, actor, coordinator_id=coordinator.id,
                        support_codes=list(vraag.support_codes)[:2], schedule=spec.schedule,
                        location=spec.location, today=today)
    for side in ("vraag", "steun"):
        record_proposal_answer(koppeling, side, today, actor, today=today)
    start_kennismaking(koppeling, actor)
    document = create_agreement(koppeling, DocumentKind.AFSPRAKEN_PROEFPERIODE,
                                {"huisregels": spec.huisregels, "vervoer": spec.vervoer}, actor)
    _run_now(f"{RENDER_JOB_KIND}:{document.id}:1", RENDER_JOB)
    send_for_signing(document, default_parties(document), "parallel", actor)
    for signer in signers_of(document):
        birth_date = db.session.scalar(select(FamilyMember.birth_date).where(FamilyMember.id == signer.member_id))
        check_identity(signer, birth_date, IP, UA)
        sign(signer, signer.name, True, None, IP, UA)
    _finalise_now(document)
    start_proefperiode(koppeling, actor, start_on=today, today=today)


def _valid_vogs(steun: Family, today: date, actor: Actor) -> None:
    """Every adult of the demo steungezin has a VOG, received two days ago (whatever the random demo
    VOGs said)."""
    ensure_vog_records(steun, today=today, actor=actor)
    for vog in db.session.scalars(select(VogRecord).where(VogRecord.family_id == steun.id)):
        if is_valid(vog, today):
            continue
        if vog.status not in (VogStatus.AANGEVRAAGD, VogStatus.ONTVANGEN):
            request_vog(vog, today - timedelta(days=21), "JUSTIS-DEMO", actor, today=today)
        record_received(vog, today - timedelta(days=2), today - timedelta(days=1), actor, today=today)


# --- the contract -------------------------------------------------------------------------------------


def _seed_contract(spec: DemoAgreement, tenant_id: int, slug: str, gemeente_name: str) -> None:
    today = local_today()
    contact = db.session.scalar(select(StaffUser).where(StaffUser.email == f"gemeente@{slug}.example.org"))
    contact_name = contact.full_name if contact else f"Contactpersoon gemeente {gemeente_name}"
    contract = Contract(tenant_id=tenant_id, starts_on=date(today.year, 1, 1), ends_on=date(today.year + 1, 12, 31),
                        koppelingen_target=spec.koppelingen_target, budget_eur=spec.budget_eur,
                        contact_name=contact_name, contact_email=f"gemeente@{slug}.example.org")
    db.session.add(contract)
    db.session.flush()
    sender = Actor(label=STICHTING_SENDER, ip=IP, extra={"user_agent": UA})
    document = create_contract_document(contract, sender)
    _run_now(f"{RENDER_JOB_KIND}:{document.id}:1", RENDER_JOB)
    send_for_signing(document, default_parties(document, stichting=STICHTING_SIGNER), "parallel", sender)
    for signer in signers_of(document):
        send_code(signer, IP, UA)
        check_identity(signer, _code_sent_to(signer), IP, UA)
        sign(signer, signer.name, True, None, IP, UA)
    _finalise_now(document)


def _code_sent_to(signer: DocumentSigner) -> str:
    """The code just mailed to a gemeente or stichting signer, as they would read it in the mail."""
    mail = db.session.scalar(select(OutboundEmail).where(OutboundEmail.template == CODE_TEMPLATE,
                                                         OutboundEmail.to_address == signer.email)
                             .order_by(OutboundEmail.id.desc()).limit(1))
    return mail.context["code"]


# --- the worker's jobs, run here ------------------------------------------------------------------------


def _finalise_now(document: Document) -> None:
    _run_now(f"document-finalise:{document.id}", FINALISE_JOB)


def _run_now(dedupe_key: str, handler: JobHandler) -> None:
    """Run an outbox job of this transaction right away, as the worker would, and mark it done."""
    job = db.session.scalar(select(OutboxJob).where(OutboxJob.dedupe_key == dedupe_key).with_for_update())
    if job is None:
        raise LookupError(f"no outbox job {dedupe_key!r}")
    handler.run(job)
    job.status = JobStatus.DONE
    job.attempts += 1
    job.finished_at = utcnow()
    job.lease_until = None
    db.session.flush()
