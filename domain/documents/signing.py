"""Sending a document to its parties and signing it without an account.

The steps, each an audit event on the document (``object_type`` "document") with the signer, their
role, the document's SHA-256, IP address and user agent:

- ``document.sent`` (once, by the coordinator or national admin) and ``document.link_sent`` per
  signer whose link went out (in ``volgorde`` the next one when the previous signed);
- ``document.opened`` (the first time a link is opened);
- ``document.identity_checked`` (date of birth, an e-mailed code, or in person with the
  coordinator as witness) and ``document.identity_failed`` for a wrong answer;
- ``document.signed`` / ``document.declined``; ``document.completed`` when the last one signed,
  together with the ``document.finalise`` outbox job that makes and seals the final PDF.

Links. A signer row keeps only the SHA-256 of its token (``domain.accounts.tokens.hash_token``);
the raw token exists only in the mail (and in the outbox's copy of it until sent). A link works
until ``expires_at`` (``SIGNING_LINK_DAYS`` after it was sent) and, once the signer signed or
declined, only shows that. A token is looked up within the gemeente of the URL, so another
gemeente's token is unknown (404).

Reminders (``reminders_due`` / ``send_reminder``, run by the sweep in
``domain.sweeps.document_reminders``) go out every ``REMINDER_EVERY_DAYS`` after a signer's link
was sent, until they signed, declined, or the link expired. A reminder needs the link again, and
the raw token is not stored, so the reminder **rotates** the token: a new raw token goes into the
reminder, its hash replaces the old one, and the older mail's link stops working (its page says to
use the newest mail). A token derived from the secret key would let the old link keep working, but
then anyone with the key and the database could rebuild every open link, and changing the key would
silently break them. The expiry is not moved. The rotation is one conditional UPDATE per signer, so
a concurrent sweep or a signature that just came in sends nothing.

The hash that was sent. Sending records the document's SHA-256 in the append-only audit trail
(``document.sent``); signing compares the document's current SHA-256, and the hash of its current
PDF bytes, with that record and refuses when either differs ("Het document is veranderd sinds het
verstuurd is"). The app role cannot change an audit event, so the record of what was sent cannot
be edited along with the PDF.

The typed name. The signer types their full name and it must match the name on the signer row,
ignoring case, accents and extra spaces. The page shows that name ("Typ je naam zoals hier: …"), so
nobody has to guess; a name that does not match means someone else is typing or the name on record
is wrong, and in both cases the coordinator should know before it counts as a signature.

Identity. A family's adult confirms their date of birth as recorded at intake (``member_id``); when
it is not known, the coordinator lets them sign on the coordinator's device (``sign_in_person``:
the coordinator vouches, and is named as witness in the audit event). Gemeente and stichting
signers get a 6-digit code by e-mail, valid ``CODE_MINUTES``. Wrong answers are counted in the
audit trail: ``MAX_ATTEMPTS`` wrong codes and a new code is needed; ``MAX_ATTEMPTS`` wrong dates of
birth and the link is locked until the coordinator sends a new one or lets them sign in person.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import func, or_, select, update

from domain.accounts.models import StaffUser, TenantRole
from domain.accounts.tokens import hash_token
from domain.audit.models import AuditEvent
from domain.audit.services import SYSTEM, Actor, record
from domain.documents.models import Contract, Document, DocumentKind, DocumentSigner, DocumentStatus
from domain.email.services import queue_email
from domain.families.models import Family, FamilyMember, MemberRole
from domain.families.records import LOCAL_TIME, dutch_day
from domain.koppelingen.models import Koppeling
from domain.outbox.services import enqueue
from tenants.db import db
from tenants.models import Tenant

S = DocumentStatus

SIGNING_LINK_DAYS = 14
REMINDER_EVERY_DAYS = 7
CODE_MINUTES = 15
CODE_DIGITS = 6
MAX_ATTEMPTS = 5  # wrong answers per code, or per link for a date of birth
MAX_CODES_PER_LINK = 5
IN_PERSON_MINUTES = 60
NAME_MAX_LENGTH = 200
REASON_MAX_LENGTH = 2000
DRAWING_MAX_BYTES = 20 * 1024
TOKEN_MAX_LENGTH = 200
USER_AGENT_MAX_LENGTH = 300
BATCH = 500  # reminders per gemeente and sweep run; the rest is due in the next run

ORDERS = ("parallel", "volgorde")
FAMILY_ROLES = ("vraaggezin", "steungezin")
ROLES = (*FAMILY_ROLES, "gemeente", "stichting")
ROLE_LABELS = {"vraaggezin": "vraaggezin", "steungezin": "steungezin", "gemeente": "gemeente",
               "stichting": "Stichting Buurtgezinnen"}

REQUEST_TEMPLATE = "document_sign_request"
REMINDER_TEMPLATE = "document_sign_reminder"
CODE_TEMPLATE = "document_sign_code"
DECLINED_TEMPLATE = "document_declined"
STOPPED_TEMPLATE = "document_signing_stopped"
FINALISE_JOB = "document.finalise"

CHANGED = ("Het document is veranderd sinds het verstuurd is. Er is niets ondertekend. Neem contact op met je "
           "coördinator.")

# SVG path data of a drawn signature: absolute moveto/lineto with plain numbers, nothing else
# (no other commands, no letters, no markup), in the pad's 0–9999 coordinate space.
_POINT = r"\d{1,4}(?:\.\d{1,2})? \d{1,4}(?:\.\d{1,2})?"
DRAWING_PATTERN = re.compile(rf"M{_POINT}(?: [ML]{_POINT})*")

LINK_MESSAGES = {
    "unknown": "Deze link kennen we niet. Controleer of je de hele link uit de e-mail hebt gebruikt.",
    "used": "Je hebt dit document al ondertekend. Je hoeft niets meer te doen.",
    "expired": "Deze link is verlopen. Vraag je coördinator om een nieuwe link.",
    "withdrawn": "Dit document is ingetrokken. Je hoeft het niet meer te ondertekenen.",
    "declined": "Dit document wordt niet ondertekend, omdat iemand het heeft geweigerd. Je coördinator neemt "
                "contact met je op.",
    "completed": "Dit document is al door iedereen ondertekend. Je hoeft niets meer te doen.",
    "locked": "Je hebt te vaak een verkeerde geboortedatum ingevuld. Deze link werkt daarom niet meer. Neem "
              "contact op met je coördinator.",
}


# --- errors -----------------------------------------------------------------------------------------


class SigningError(ValueError):
    """A step that is not allowed (for staff, or a problem with the document); ``field`` names a field."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class SigningLinkError(LookupError):
    """The link cannot be used. ``reason``: unknown (also another gemeente's), used, expired,
    withdrawn, declined, completed or locked; the message says it in plain Dutch."""

    def __init__(self, reason: str):
        super().__init__(LINK_MESSAGES[reason])
        self.reason = reason


class SigningFormError(ValueError):
    """The signer's answers do not add up; ``errors`` maps a field name to a message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


class IdentityError(SigningFormError):
    """A wrong date of birth or code. The failed attempt is recorded: the caller commits it."""


# --- parties --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Party:
    role: str  # vraaggezin, steungezin, gemeente, stichting
    name: str
    email: str | None
    family_id: int | None = None
    member_id: int | None = None


def utcnow() -> datetime:
    return datetime.now(UTC)


def _full_name(member: FamilyMember) -> str:
    return " ".join(part for part in (member.first_name, member.last_name) if part)


def _contact_adult(family_id: int) -> FamilyMember | None:
    return db.session.scalar(
        select(FamilyMember)
        .where(FamilyMember.family_id == family_id, FamilyMember.role == MemberRole.ADULT)
        .order_by(FamilyMember.is_contact.desc(), FamilyMember.id)
        .limit(1))


def default_parties(document: Document, *, stichting: Party | None = None) -> list[Party]:
    """Who signs ``document`` unless the sender says otherwise.

    An afsprakenovereenkomst: the contact adult of the vraaggezin, then of the steungezin (their
    date of birth confirms it is them; the family's e-mail address gets the link). A
    samenwerkingsovereenkomst: the gemeente's contact of the contract, then the stichting (``stichting``,
    a name and e-mail address given by the national admin).
    """
    if document.kind == DocumentKind.SAMENWERKING:
        contract = db.session.get(Contract, document.contract_id) if document.contract_id else None
        if contract is None:
            raise SigningError("Bij dit document hoort geen samenwerkingsovereenkomst.")
        parties = [Party("gemeente", contract.contact_name, contract.contact_email)]
        if stichting is not None:
            parties.append(Party("stichting", stichting.name, stichting.email))
        return parties
    koppeling = db.session.get(Koppeling, document.koppeling_id) if document.koppeling_id else None
    if koppeling is None:
        raise SigningError("Bij dit document hoort geen koppeling.")
    parties = []
    for role, family_id in (("vraaggezin", koppeling.vraag_family_id), ("steungezin", koppeling.steun_family_id)):
        family = db.session.get(Family, family_id)
        adult = _contact_adult(family_id)
        if family is None or adult is None or family.anonymised_at is not None:
            continue
        parties.append(Party(role, _full_name(adult), family.email or None, family.id, adult.id))
    return parties


def _clean_party(party: Party) -> Party:
    if party.role not in ROLES:
        raise SigningError(f"Onbekende rol {party.role!r}.")
    name = " ".join((party.name or "").split())
    if not name or len(name) > NAME_MAX_LENGTH:
        raise SigningError(f"Iedere ondertekenaar heeft een naam nodig (hooguit {NAME_MAX_LENGTH} tekens).")
    email = (party.email or "").strip() or None
    if email is not None:
        try:
            email = validate_email(email, check_deliverability=False).normalized
        except EmailNotValidError:
            raise SigningError(f"Het e-mailadres van {name} klopt niet.") from None
    if party.role in FAMILY_ROLES:
        if party.member_id is None or party.family_id is None:
            raise SigningError(f"Van {name} weten we niet welk gezinslid tekent.")
    elif email is None:
        raise SigningError(f"Van {name} is geen e-mailadres bekend; dat is nodig voor de code.")
    return Party(party.role, name, email, party.family_id, party.member_id)


# --- links and mail -------------------------------------------------------------------------------------


def signing_link(tenant: Tenant, raw_token: str) -> str:
    base_url = current_app.extensions["settings"].base_url.rstrip("/")
    return f"{base_url}/{tenant.slug}/ondertekenen/{raw_token}"


def local_day(moment: datetime) -> date:
    return moment.astimezone(LOCAL_TIME).date()


def _tenant_of(row: Any) -> Tenant:
    tenant = db.session.get(Tenant, row.tenant_id)
    assert tenant is not None
    return tenant


def _sender_name(document: Document) -> str | None:
    """The coordinator of the koppeling (who families know), if any."""
    if document.koppeling_id is None:
        return None
    coordinator_id = db.session.scalar(select(Koppeling.coordinator_id).where(Koppeling.id == document.koppeling_id))
    if coordinator_id is None:
        return None
    return db.session.scalar(select(StaffUser.full_name).where(StaffUser.id == coordinator_id))


def _link_mail(tenant: Tenant, document: Document, signer: DocumentSigner, raw: str, template: str,
               key: str) -> None:
    if not signer.email:
        return
    queue_email(tenant, to=signer.email, template=template, dedupe_key=key, context={
        "name": signer.name, "title": document.title, "link": signing_link(tenant, raw),
        "expires_on": dutch_day(local_day(signer.expires_at)), "coordinator": _sender_name(document),
        "family": signer.role in FAMILY_ROLES,
    })


def _new_token(signer: DocumentSigner) -> str:
    raw = secrets.token_urlsafe(32)
    signer.token_hash = hash_token(raw)
    return raw


def _issue(tenant: Tenant, document: Document, signer: DocumentSigner, now: datetime, actor: Actor) -> str:
    """A fresh link for ``signer`` (mailed when they have an address); returns the raw token."""
    raw = _new_token(signer)
    signer.sent_at = now
    signer.expires_at = now + timedelta(days=SIGNING_LINK_DAYS)
    signer.reminded_at = None
    db.session.flush()
    _link_mail(tenant, document, signer, raw, REQUEST_TEMPLATE, f"document-sign:{signer.id}:{signer.token_hash[:16]}")
    _event("document.link_sent", actor, document, signer, mailed=bool(signer.email))
    return raw


def _event(action: str, actor: Actor, document: Document, signer: DocumentSigner | None = None,
           **details: Any) -> None:
    base: dict[str, Any] = {"sha256": document.sha256, "ip": actor.ip,
                            "user_agent": actor.extra.get("user_agent")}
    if signer is not None:
        base |= {"signer_id": signer.id, "role": signer.role}
    record(action, actor, object_type="document", object_id=document.id, details=base | details)


def signer_actor(ip: str | None, user_agent: str | None, signer: DocumentSigner | None = None) -> Actor:
    label = f"{signer.name} ({ROLE_LABELS.get(signer.role, signer.role)})" if signer else "ondertekenaar"
    return Actor(label=label[:254], ip=ip or None,
                 extra={"user_agent": (user_agent or "")[:USER_AGENT_MAX_LENGTH] or None})


# --- sending ------------------------------------------------------------------------------------------


def signers_of(document: Document) -> list[DocumentSigner]:
    return list(db.session.scalars(select(DocumentSigner).where(DocumentSigner.document_id == document.id)
                                   .order_by(DocumentSigner.position, DocumentSigner.id)))


def pdf_sha256(document: Document) -> str | None:
    return hashlib.sha256(document.pdf).hexdigest() if document.pdf else None


def send_for_signing(document: Document, parties: list[Party], order: str, actor: Actor, *,
                     now: datetime | None = None) -> list[DocumentSigner]:
    """Send a rendered document (status klaar) to its parties, in the caller's transaction.

    Every party becomes a signer with its own link (``SIGNING_LINK_DAYS``), mailed when it has an
    address (a family without one signs on the coordinator's device). In ``volgorde`` only the first
    gets a link now; the next one when the previous signed. Raises SigningError and changes nothing
    when the document is not ready, the order is unknown or a party is incomplete.
    """
    now = now or utcnow()
    if document.status != S.KLAAR or not document.pdf or not document.sha256:
        raise SigningError("Alleen een document dat klaar is (met een PDF) kun je versturen.")
    if pdf_sha256(document) != document.sha256:
        raise SigningError("De PDF klopt niet met zijn vingerafdruk (SHA-256). Maak het document opnieuw.")
    if order not in ORDERS:
        raise SigningError("Kies of iedereen tegelijk tekent of na elkaar.", "order")
    cleaned = [_clean_party(party) for party in parties]
    if not cleaned:
        raise SigningError("Er is niemand om te ondertekenen.")
    if db.session.scalar(select(func.count()).select_from(DocumentSigner)
                         .where(DocumentSigner.document_id == document.id)):
        raise SigningError("Dit document is al verstuurd.")
    tenant = _tenant_of(document)
    signers = []
    for position, party in enumerate(cleaned):
        signer = DocumentSigner(tenant_id=document.tenant_id, document_id=document.id, position=position,
                                role=party.role, name=party.name, email=party.email, family_id=party.family_id,
                                member_id=party.member_id)
        db.session.add(signer)
        signers.append(signer)
    db.session.flush()
    document.status = S.VERZONDEN
    document.signing_order = order
    document.sent_at = now
    document.completed_at = None
    db.session.flush()
    _event("document.sent", actor, document, order=order, signers=[s.id for s in signers],
           kind=str(document.kind))
    for signer in signers if order == "parallel" else signers[:1]:
        _issue(tenant, document, signer, now, actor)
    return signers


def sent_sha256(document: Document) -> str | None:
    """The document's SHA-256 as recorded when it was sent (the latest ``document.sent`` event)."""
    details = db.session.scalar(
        select(AuditEvent.details)
        .where(AuditEvent.action == "document.sent", AuditEvent.object_type == "document",
               AuditEvent.object_id == document.id)
        .order_by(AuditEvent.id.desc()).limit(1))
    return (details or {}).get("sha256")


def resend_link(document: Document, signer: DocumentSigner, actor: Actor, *, now: datetime | None = None) -> None:
    """A new link for a signer who lost theirs, whose link expired or got locked (the old one stops)."""
    now = now or utcnow()
    _require_open_turn(document, signer)
    if not signer.email:
        raise SigningError(f"Van {signer.name} is geen e-mailadres bekend. Laat hen hier ondertekenen.")
    _issue(_tenant_of(document), document, signer, now, actor)


def _require_open_turn(document: Document, signer: DocumentSigner) -> None:
    if signer.document_id != document.id:
        raise SigningError("Deze ondertekenaar hoort niet bij dit document.")
    if document.status != S.VERZONDEN:
        raise SigningError("Dit document wacht niet (meer) op handtekeningen.")
    if signer.signed_at is not None or signer.declined_at is not None:
        raise SigningError(f"{signer.name} heeft al ondertekend of geweigerd.")
    if document.signing_order == "volgorde":
        earlier = [s for s in signers_of(document) if s.position < signer.position and s.signed_at is None]
        if earlier:
            raise SigningError(f"Eerst moet {earlier[0].name} ondertekenen (de volgorde is vastgelegd).")


def sign_in_person(document: Document, signer: DocumentSigner, coordinator_actor: Actor, *,
                   now: datetime | None = None) -> str:
    """"Hier laten ondertekenen": a fresh link for ``signer`` that the coordinator's browser opens.

    The coordinator vouches for who is signing: the identity counts as checked, with the coordinator
    as witness in the audit event. The mailed link stops working (the token is rotated); this link
    works ``IN_PERSON_MINUTES`` (or until the mailed link would have expired, if later).
    """
    now = now or utcnow()
    _require_open_turn(document, signer)
    raw = _new_token(signer)
    if signer.sent_at is None:
        signer.sent_at = now
    signer.expires_at = max(signer.expires_at or now, now + timedelta(minutes=IN_PERSON_MINUTES))
    signer.identity_checked_at = now
    signer.code_hash = signer.code_expires_at = None
    db.session.flush()
    _event("document.identity_checked", coordinator_actor, document, signer, method="in_person",
           witness={"id": coordinator_actor.id, "label": coordinator_actor.label}, link=signer.token_hash[:16])
    return signing_link(_tenant_of(document), raw)


# --- the signer's steps --------------------------------------------------------------------------------------


def _find(tenant: Tenant, raw_token: str, *, lock: bool = False) -> tuple[DocumentSigner, Document]:
    if not raw_token or len(raw_token) > TOKEN_MAX_LENGTH:
        raise SigningLinkError("unknown")
    query = select(DocumentSigner).where(DocumentSigner.tenant_id == tenant.id,
                                         DocumentSigner.token_hash == hash_token(raw_token))
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    signer = db.session.scalar(query)
    if signer is None or signer.sent_at is None:
        raise SigningLinkError("unknown")
    document = db.session.get(Document, signer.document_id)
    if document is None or document.tenant_id != tenant.id:
        raise SigningLinkError("unknown")
    return signer, document


def _check_state(signer: DocumentSigner, document: Document, now: datetime) -> None:
    if document.status == S.INGETROKKEN:
        raise SigningLinkError("withdrawn")
    if signer.signed_at is not None:
        raise SigningLinkError("used")
    if signer.declined_at is not None or document.status == S.GEWEIGERD:
        raise SigningLinkError("declined")
    if document.status in (S.ONDERTEKEND, S.VERZEGELD):
        raise SigningLinkError("completed")
    if document.status != S.VERZONDEN:
        raise SigningLinkError("unknown")
    if signer.expires_at is None or signer.expires_at <= now:
        raise SigningLinkError("expired")
    if (signer.member_id is not None and signer.identity_checked_at is None
            and _failures(document, signer, link=signer.token_hash[:16]) >= MAX_ATTEMPTS):
        raise SigningLinkError("locked")


def check_link(tenant: Tenant, raw_token: str, *, now: datetime | None = None) -> DocumentSigner:
    """The signer of a still-usable link, without recording anything; raises SigningLinkError."""
    signer, document = _find(tenant, raw_token)
    _check_state(signer, document, now or utcnow())
    return signer


def open_link(tenant: Tenant, raw_token: str, ip: str | None, ua: str | None, *,
              now: datetime | None = None) -> DocumentSigner:
    """The signer of a link that can still be used; the first opening is recorded (``opened_at``)."""
    now = now or utcnow()
    signer, document = _find(tenant, raw_token)
    _check_state(signer, document, now)
    if signer.opened_at is None:
        signer.opened_at = now
        db.session.flush()
        _event("document.opened", signer_actor(ip, ua, signer), document, signer)
    return signer


def document_of(signer: DocumentSigner) -> Document:
    document = db.session.get(Document, signer.document_id)
    assert document is not None
    return document


def identity_method(signer: DocumentSigner) -> str:
    """``geboortedatum`` (a family's adult with a known date of birth), ``code`` (gemeente, stichting)
    or ``coordinator`` (a family's adult whose date of birth is unknown: sign in person)."""
    return identity_method_for(signer.role, signer.member_id)


def identity_method_for(role: str, member_id: int | None) -> str:
    if role not in FAMILY_ROLES:
        return "code"
    birth_date = db.session.scalar(select(FamilyMember.birth_date).where(FamilyMember.id == member_id))
    return "geboortedatum" if birth_date else "coordinator"


def _failures(document: Document, signer: DocumentSigner, **scope: str) -> int:
    return db.session.scalar(
        select(func.count()).select_from(AuditEvent)
        .where(AuditEvent.action == "document.identity_failed", AuditEvent.object_type == "document",
               AuditEvent.object_id == document.id,
               AuditEvent.details.contains({"signer_id": signer.id, **scope}))) or 0


def _code_hash(signer: DocumentSigner, code: str) -> str:
    # Keyed, so a copy of the database alone does not give the (short) codes away.
    key = current_app.config["SECRET_KEY"].encode("utf-8")
    return hmac.new(key, f"document-code:{signer.id}:{code}".encode(), hashlib.sha256).hexdigest()


def send_code(signer: DocumentSigner, ip: str | None = None, ua: str | None = None, *,
              now: datetime | None = None) -> None:
    """Mail a 6-digit code to a gemeente or stichting signer (valid ``CODE_MINUTES``); an earlier code
    stops working. At most ``MAX_CODES_PER_LINK`` codes per link."""
    now = now or utcnow()
    document = document_of(signer)
    _check_state(signer, document, now)
    if identity_method(signer) != "code" or not signer.email:
        raise SigningError("Voor jou is er geen code: je bevestigt wie je bent met je geboortedatum.")
    sent = db.session.scalar(
        select(func.count()).select_from(AuditEvent)
        .where(AuditEvent.action == "document.code_sent", AuditEvent.object_type == "document",
               AuditEvent.object_id == document.id,
               AuditEvent.details.contains({"signer_id": signer.id, "link": signer.token_hash[:16]}))) or 0
    if sent >= MAX_CODES_PER_LINK:
        raise SigningFormError({"code": "Je hebt al te veel codes aangevraagd. Neem contact op met je coördinator."})
    code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
    signer.code_hash = _code_hash(signer, code)
    signer.code_expires_at = now + timedelta(minutes=CODE_MINUTES)
    db.session.flush()
    queue_email(_tenant_of(signer), to=signer.email, template=CODE_TEMPLATE,
                dedupe_key=f"document-code:{signer.id}:{signer.code_hash[:16]}",
                context={"name": signer.name, "title": document.title, "code": code, "minutes": CODE_MINUTES})
    _event("document.code_sent", signer_actor(ip, ua, signer), document, signer, link=signer.token_hash[:16])


def parse_birth_date(day: str, month: str, year: str) -> date | None:
    try:
        return date(int(year), int(month), int(day))
    except (TypeError, ValueError):
        return None


def check_identity(signer: DocumentSigner, answer: date | str | None, ip: str | None = None,
                   ua: str | None = None, *, now: datetime | None = None) -> None:
    """Confirm who is signing: a family adult's date of birth, or the e-mailed code.

    Right: ``identity_checked_at`` is set and audited. Wrong: raises IdentityError after recording
    the failed attempt (the caller commits that, and nothing else changed). Raises SigningFormError
    for an empty or impossible answer (not counted), SigningLinkError when the link cannot be used.
    """
    now = now or utcnow()
    document = document_of(signer)
    _check_state(signer, document, now)
    actor = signer_actor(ip, ua, signer)
    method = identity_method(signer)
    if method == "coordinator":
        raise SigningFormError({"birth_date": "We kennen je geboortedatum niet, dus we kunnen niet controleren "
                                              "wie je bent. Vraag je coördinator om samen te ondertekenen."})
    if method == "geboortedatum":
        if not isinstance(answer, date):
            raise SigningFormError({"birth_date": "Vul je geboortedatum in: dag, maand en jaar in cijfers."})
        birth_date = db.session.scalar(select(FamilyMember.birth_date).where(FamilyMember.id == signer.member_id))
        if answer != birth_date:
            link = signer.token_hash[:16]
            _event("document.identity_failed", actor, document, signer, method=method, link=link)
            left = MAX_ATTEMPTS - _failures(document, signer, link=link)
            message = "Deze geboortedatum klopt niet. Probeer het opnieuw."
            if left <= 0:
                message = LINK_MESSAGES["locked"]
            elif left <= 2:
                message += f" Je kunt het nog {left} keer proberen."
            raise IdentityError({"birth_date": message})
    else:
        code = re.sub(r"\s", "", answer if isinstance(answer, str) else "")
        if not re.fullmatch(rf"\d{{{CODE_DIGITS}}}", code):
            raise SigningFormError({"code": f"Vul de code van {CODE_DIGITS} cijfers uit de e-mail in."})
        if signer.code_hash is None or signer.code_expires_at is None:
            raise SigningFormError({"code": "Vraag eerst een code aan."})
        if signer.code_expires_at <= now:
            raise SigningFormError({"code": "Deze code is verlopen. Vraag een nieuwe code aan."})
        scope = {"code": signer.code_hash[:16]}
        if _failures(document, signer, **scope) >= MAX_ATTEMPTS:
            raise SigningFormError({"code": "Je hebt te vaak een verkeerde code ingevuld. Vraag een nieuwe code aan."})
        if not hmac.compare_digest(_code_hash(signer, code), signer.code_hash):
            _event("document.identity_failed", actor, document, signer, method=method, **scope)
            if _failures(document, signer, **scope) >= MAX_ATTEMPTS:
                raise IdentityError({"code": "Deze code klopt niet, en je hebt het te vaak geprobeerd. Vraag een "
                                             "nieuwe code aan."})
            raise IdentityError({"code": "Deze code klopt niet. Controleer de code in de e-mail."})
        signer.code_hash = signer.code_expires_at = None
    signer.identity_checked_at = now
    db.session.flush()
    _event("document.identity_checked", actor, document, signer, method=method)


def _normal_name(value: str) -> str:
    decomposed = unicodedata.normalize("NFKD", value)
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(plain.casefold().split())


def clean_drawing(drawing: str | None) -> str | None:
    """SVG path data of a drawn signature (``M x y L x y …``, ≤ 20 KB), or None; raises otherwise."""
    drawing = (drawing or "").strip()
    if not drawing:
        return None
    if len(drawing.encode("utf-8")) > DRAWING_MAX_BYTES or not DRAWING_PATTERN.fullmatch(drawing):
        raise SigningFormError({"drawing": "De getekende handtekening kunnen we niet gebruiken. Wis hem en teken "
                                           "opnieuw, of onderteken zonder tekening."})
    return drawing


def sign(signer: DocumentSigner, typed_name: str | None, agreed: bool, drawing: str | None, ip: str | None,
         ua: str | None, *, now: datetime | None = None) -> DocumentSigner:
    """Sign, in the caller's transaction: the identity checked, the tick, the typed full name (as on
    the signer row), an optional drawing. Refused when the document changed since it was sent. The
    last signature completes the document and enqueues ``document.finalise``; in ``volgorde`` a
    signature sends the next signer's link."""
    now = now or utcnow()
    # Lock the document first: of two last signatures at once, exactly one sees all signed.
    document = db.session.scalar(select(Document).where(Document.id == signer.document_id).with_for_update()
                                 .execution_options(populate_existing=True))
    signer = db.session.scalar(select(DocumentSigner).where(DocumentSigner.id == signer.id).with_for_update()
                               .execution_options(populate_existing=True))
    if document is None or signer is None:
        raise SigningLinkError("unknown")
    _check_state(signer, document, now)
    if signer.identity_checked_at is None:
        raise SigningError("Bevestig eerst wie je bent.")
    errors: dict[str, str] = {}
    if agreed is not True:
        errors["agreed"] = "Zet een vinkje als je het document hebt gelezen en akkoord gaat."
    typed = " ".join((typed_name or "").split())
    if not typed:
        errors["typed_name"] = f"Typ je volledige naam: {signer.name}."
    elif len(typed) > NAME_MAX_LENGTH or _normal_name(typed) != _normal_name(signer.name):
        errors["typed_name"] = f"Deze naam is anders dan de naam op het document. Typ: {signer.name}."
    try:
        drawing = clean_drawing(drawing)
    except SigningFormError as error:
        errors |= error.errors
    if errors:
        raise SigningFormError(errors)
    current = pdf_sha256(document)
    if current is None or current != document.sha256 or document.sha256 != sent_sha256(document):
        raise SigningError(CHANGED)
    actor = signer_actor(ip, ua, signer)
    signer.signed_at = now
    signer.typed_name = typed
    signer.drawing = drawing
    signer.signed_sha256 = document.sha256
    signer.ip = ip or None
    signer.user_agent = (ua or "")[:USER_AGENT_MAX_LENGTH] or None
    signer.code_hash = signer.code_expires_at = None
    db.session.flush()
    _event("document.signed", actor, document, signer, typed_name=typed, drawn=drawing is not None)
    signers = signers_of(document)
    waiting = [s for s in signers if s.signed_at is None]
    if not waiting:
        document.status = S.ONDERTEKEND
        document.completed_at = now
        db.session.flush()
        _event("document.completed", SYSTEM, document, signers=[s.id for s in signers])
        enqueue(FINALISE_JOB, {"document_id": document.id}, document.tenant_id,
                dedupe_key=f"document-finalise:{document.id}")
    elif document.signing_order == "volgorde":
        following = waiting[0]
        if following.sent_at is None:
            _issue(_tenant_of(document), document, following, now, SYSTEM)
    return signer


def decline(signer: DocumentSigner, reason: str | None, ip: str | None, ua: str | None, *,
            now: datetime | None = None) -> DocumentSigner:
    """Decline with a reason: the document becomes ``geweigerd`` and nobody can sign it any more.
    The coordinator (else the gemeente's admins) gets the reason by e-mail; the other parties who got
    a link hear that it will not be signed (without the reason)."""
    now = now or utcnow()
    document = db.session.scalar(select(Document).where(Document.id == signer.document_id).with_for_update()
                                 .execution_options(populate_existing=True))
    signer = db.session.scalar(select(DocumentSigner).where(DocumentSigner.id == signer.id).with_for_update()
                               .execution_options(populate_existing=True))
    if document is None or signer is None:
        raise SigningLinkError("unknown")
    _check_state(signer, document, now)
    reason = (reason or "").strip().replace("\r\n", "\n")
    if not reason:
        raise SigningFormError({"reason": "Schrijf kort op waarom je niet ondertekent."})
    if len(reason) > REASON_MAX_LENGTH:
        raise SigningFormError({"reason": f"Je tekst is te lang. Gebruik niet meer dan {REASON_MAX_LENGTH} tekens."})
    signer.declined_at = now
    signer.decline_reason = reason
    signer.ip = ip or None
    signer.user_agent = (ua or "")[:USER_AGENT_MAX_LENGTH] or None
    document.status = S.GEWEIGERD
    db.session.flush()
    _event("document.declined", signer_actor(ip, ua, signer), document, signer)
    tenant = _tenant_of(document)
    for person in _responsible_staff(document):
        queue_email(tenant, to=person.email, template=DECLINED_TEMPLATE,
                    dedupe_key=f"document-declined:{document.id}:{person.id}",
                    context={"full_name": person.full_name, "title": document.title, "name": signer.name,
                             "role": ROLE_LABELS.get(signer.role, signer.role), "reason": reason,
                             "link": _staff_link(tenant, document)})
    for other in signers_of(document):
        if other.id != signer.id and other.email and other.sent_at is not None:
            queue_email(tenant, to=other.email, template=STOPPED_TEMPLATE,
                        dedupe_key=f"document-stopped:{document.id}:{other.id}",
                        context={"name": other.name, "title": document.title, "coordinator": _sender_name(document)})
    return signer


def _responsible_staff(document: Document) -> list[Any]:
    staff = db.session.execute(
        select(StaffUser.id, StaffUser.email, StaffUser.full_name, StaffUser.role)
        .where(StaffUser.active.is_(True), StaffUser.role.in_([TenantRole.COORDINATOR, TenantRole.TENANT_ADMIN]))
        .order_by(StaffUser.id)).all()
    coordinator_id = None
    if document.koppeling_id is not None:
        coordinator_id = db.session.scalar(select(Koppeling.coordinator_id)
                                           .where(Koppeling.id == document.koppeling_id))
    chosen = [person for person in staff if person.id == coordinator_id]
    return chosen or [person for person in staff if person.role == TenantRole.TENANT_ADMIN]


def _staff_link(tenant: Tenant, document: Document) -> str:
    base_url = current_app.extensions["settings"].base_url.rstrip("/")
    if document.koppeling_id is not None:
        return f"{base_url}/{tenant.slug}/app/koppelingen/{document.koppeling_id}"
    return f"{base_url}/{tenant.slug}/app/"


# --- reminders (the sweep) -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reminder:
    signer_id: int
    document_id: int
    sent_at: datetime
    period: int  # 1 for the first reminder (REMINDER_EVERY_DAYS after sending), 2 for the next …

    @property
    def period_start(self) -> datetime:
        return self.sent_at + timedelta(days=REMINDER_EVERY_DAYS * self.period)

    @property
    def key(self) -> str:
        return f"document-reminder:{self.signer_id}:{int(self.sent_at.timestamp())}:{self.period}"


def reminders_due(tenant: Tenant, now: datetime) -> list[Reminder]:
    """Signers of documents out for signing whose latest reminder period has come and who were not
    reminded in it: not signed, not declined, link not expired, with an e-mail address."""
    every = timedelta(days=REMINDER_EVERY_DAYS)
    rows = db.session.execute(
        select(DocumentSigner.id, DocumentSigner.document_id, DocumentSigner.sent_at, DocumentSigner.reminded_at)
        .join(Document, (Document.tenant_id == DocumentSigner.tenant_id) & (Document.id == DocumentSigner.document_id))
        .where(DocumentSigner.tenant_id == tenant.id, Document.status == S.VERZONDEN,
               DocumentSigner.sent_at <= now - every, DocumentSigner.signed_at.is_(None),
               DocumentSigner.declined_at.is_(None), DocumentSigner.expires_at > now,
               DocumentSigner.email.is_not(None), DocumentSigner.token_hash.is_not(None))
        .order_by(DocumentSigner.sent_at, DocumentSigner.id)
        .limit(BATCH))
    due = []
    for signer_id, document_id, sent_at, reminded_at in rows:
        reminder = Reminder(signer_id, document_id, sent_at, (now - sent_at) // every)
        if reminded_at is None or reminded_at < reminder.period_start:
            due.append(reminder)
    return due


def send_reminder(tenant: Tenant, reminder: Reminder, now: datetime) -> Any | None:
    """Rotate the signer's token and mail the new link; None when someone else did it first or the
    signer signed meanwhile (then nothing changed)."""
    savepoint = db.session.begin_nested()
    raw = secrets.token_urlsafe(32)
    changed = db.session.scalar(
        update(DocumentSigner)
        .where(DocumentSigner.id == reminder.signer_id, DocumentSigner.tenant_id == tenant.id,
               DocumentSigner.signed_at.is_(None), DocumentSigner.declined_at.is_(None),
               DocumentSigner.expires_at > now, DocumentSigner.sent_at == reminder.sent_at,
               or_(DocumentSigner.reminded_at.is_(None), DocumentSigner.reminded_at < reminder.period_start))
        .values(token_hash=hash_token(raw), reminded_at=now)
        .returning(DocumentSigner.id)
        .execution_options(synchronize_session=False))
    if changed is None:
        savepoint.rollback()
        return None
    signer = db.session.get(DocumentSigner, reminder.signer_id, populate_existing=True)
    document = db.session.get(Document, reminder.document_id)
    if signer is None or document is None or document.status != S.VERZONDEN or not signer.email:
        savepoint.rollback()
        return None
    context = {"name": signer.name, "title": document.title, "link": signing_link(tenant, raw),
               "expires_on": dutch_day(local_day(signer.expires_at)), "coordinator": _sender_name(document),
               "family": signer.role in FAMILY_ROLES}
    email = queue_email(tenant, to=signer.email, template=REMINDER_TEMPLATE, context=context, dedupe_key=reminder.key)
    if email is None:  # this period's reminder went out before: keep the link it carried
        savepoint.rollback()
        return None
    _event("document.reminded", SYSTEM, document, signer, period=reminder.period)
    savepoint.commit()
    return email


# --- for the staff pages -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignerProgress:
    signer: DocumentSigner
    state: str  # wacht, verstuurd, geopend, identiteit, ondertekend, geweigerd, verlopen
    can_act: bool  # "Hier laten ondertekenen" / a new link make sense now
    method: str


STATE_LABELS = {
    "wacht": "wacht op zijn beurt", "verstuurd": "link verstuurd", "geopend": "link geopend",
    "identiteit": "identiteit bevestigd", "ondertekend": "ondertekend", "geweigerd": "geweigerd",
    "verlopen": "link verlopen", "geen_link": "nog geen link",
}


def progress(document: Document, now: datetime | None = None) -> list[SignerProgress]:
    now = now or utcnow()
    signers = signers_of(document)
    found = []
    for signer in signers:
        if signer.signed_at:
            state = "ondertekend"
        elif signer.declined_at:
            state = "geweigerd"
        elif signer.sent_at is None:
            state = "wacht"
        elif signer.expires_at and signer.expires_at <= now:
            state = "verlopen"
        elif signer.identity_checked_at:
            state = "identiteit"
        elif signer.opened_at:
            state = "geopend"
        else:
            state = "verstuurd"
        turn = document.signing_order != "volgorde" or all(
            s.signed_at for s in signers if s.position < signer.position)
        can_act = (document.status == S.VERZONDEN and signer.signed_at is None and signer.declined_at is None
                   and turn)
        found.append(SignerProgress(signer, state, can_act, identity_method(signer)))
    return found


def documents_of_koppeling(koppeling_id: int) -> list[Document]:
    return list(db.session.scalars(select(Document).where(Document.koppeling_id == koppeling_id)
                                   .order_by(Document.id)))
