"""The gemeenten's contracts (samenwerkingsovereenkomsten) for the national office.

A ``contracts`` row belongs to its gemeente (RLS). The national office works on one gemeente at a
time: ``acting_for(tenant_id)`` sets that gemeente's context for the writes and reads inside it,
and resets it afterwards. Listing across gemeenten goes through ``contracts_overview``, which visits
every active gemeente in its own context and takes only the contract's own fields (term, target,
budget, the gemeente's contact) and the status of its latest document: nothing about families.

Reminders (``reminders_due`` / ``send_reminder``, run by the sweep in
``domain.sweeps.contract_reminders``) go out ``REMINDER_DAYS`` (90 and 30) days before a contract
ends, to the active national admins and the gemeente's contact, exactly once per (contract,
occasion, end date): the mail's dedupe key holds all three, so a changed end date gives new reminders.
A run after downtime still sends the reminder of the occasion whose day has passed (not the one
that no longer applies: on day −20 only the 30-day reminder).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select

from domain.accounts.models import NationalRole, NationalUser
from domain.audit.services import Actor, record
from domain.documents.models import Contract, Document, DocumentStatus
from domain.documents.services import STATUS_LABELS, latest_contract_document
from domain.email.services import queue_email
from domain.families.records import LOCAL_TIME, dutch_day
from tenants.db import db
from tenants.models import Tenant
from tenants.services import list_tenants, use_tenant

REMINDER_TEMPLATE = "contract_ending_reminder"
REMINDER_DAYS = (90, 30)  # before ends_on, the earliest first
ENDING_SOON_DAYS = 90
NAME_MAX = 200
EMAIL_MAX = 254
MAX_AMOUNT = 2_000_000_000  # fits the integer columns


class ContractError(ValueError):
    """Contract input that cannot be accepted; ``errors`` maps a field name to a Dutch message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


@contextmanager
def acting_for(tenant_id: int | None) -> Iterator[None]:
    """Work in one gemeente's context (RLS and the ORM criteria), then in nobody's again."""
    use_tenant(tenant_id)
    try:
        yield
    finally:
        use_tenant(None)


# --- making -----------------------------------------------------------------------------------------


def clean_contract(*, starts_on: Any, ends_on: Any, koppelingen_target: Any, budget_eur: Any,
                   contact_name: Any, contact_email: Any) -> dict[str, Any]:
    """The contract's fields, checked together; ``ContractError`` with every problem otherwise."""
    errors: dict[str, str] = {}
    if not isinstance(starts_on, date):
        errors["starts_on"] = "Vul de begindatum in."
    if not isinstance(ends_on, date):
        errors["ends_on"] = "Vul de einddatum in."
    elif isinstance(starts_on, date) and ends_on <= starts_on:
        errors["ends_on"] = "De einddatum moet na de begindatum liggen."
    for field, label in (("koppelingen_target", "Het aantal koppelingen"), ("budget_eur", "Het budget")):
        value = {"koppelingen_target": koppelingen_target, "budget_eur": budget_eur}[field]
        if value is None or value == "":
            errors[field] = f"{label} ontbreekt. Vul een heel getal in (0 of meer)."
        elif isinstance(value, bool) or not isinstance(value, int):
            errors[field] = f"{label} moet een heel getal zijn."
        elif value < 0:
            errors[field] = f"{label} kan niet negatief zijn."
        elif value > MAX_AMOUNT:
            errors[field] = f"{label} is te groot."
    name = " ".join(str(contact_name or "").split())
    if not name:
        errors["contact_name"] = "Vul de naam in van wie voor de gemeente tekent."
    elif len(name) > NAME_MAX:
        errors["contact_name"] = f"Hooguit {NAME_MAX} tekens."
    email = str(contact_email or "").strip()
    if not email:
        errors["contact_email"] = "Vul het e-mailadres van de contactpersoon in."
    else:
        try:
            email = validate_email(email, check_deliverability=False).normalized
        except EmailNotValidError:
            errors["contact_email"] = "Dit e-mailadres klopt niet. Controleer het, bijvoorbeeld naam@gemeente.nl."
        else:
            if len(email) > EMAIL_MAX:
                errors["contact_email"] = f"Hooguit {EMAIL_MAX} tekens."
    if errors:
        raise ContractError(errors)
    return {"starts_on": starts_on, "ends_on": ends_on, "koppelingen_target": koppelingen_target,
            "budget_eur": budget_eur, "contact_name": name, "contact_email": email}


def create_contract(tenant: Tenant, actor: Actor, **fields: Any) -> Contract:
    """A contract for ``tenant``, in that gemeente's context (the caller set it with ``acting_for``
    and commits). Raises ContractError (nothing written) when the fields do not add up. Recorded in
    the gemeente's audit trail; the national office records its own event (``record_nationally``)."""
    cleaned = clean_contract(**fields)
    contract = Contract(tenant_id=tenant.id, **cleaned)
    db.session.add(contract)
    db.session.flush()
    record("contract.created", actor, object_type="contract", object_id=contract.id,
           details=_summary(contract))
    return contract


def record_nationally(action: str, actor: Actor, tenant_id: int, contract_id: int, **details: Any) -> None:
    """An event in the national audit trail (no gemeente context), naming the gemeente and contract."""
    with acting_for(None):
        record(action, actor, object_type="contract", object_id=contract_id,
               details={"tenant_id": tenant_id, **details})


def _summary(contract: Contract) -> dict[str, Any]:
    return {"starts_on": contract.starts_on.isoformat(), "ends_on": contract.ends_on.isoformat(),
            "koppelingen_target": contract.koppelingen_target, "budget_eur": contract.budget_eur}


# --- reading across gemeenten ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ContractRow:
    tenant_id: int
    gemeente: str
    contract_id: int
    starts_on: date
    ends_on: date
    koppelingen_target: int
    budget_eur: int
    contact_name: str
    contact_email: str
    document_id: int | None
    document_status: str | None
    ending_soon: bool

    @property
    def document_label(self) -> str:
        if self.document_status is None:
            return "nog niet gemaakt"
        return STATUS_LABELS.get(DocumentStatus(self.document_status), self.document_status)

    @property
    def ends_on_label(self) -> str:
        return dutch_day(self.ends_on)


def ends_soon(ends_on: date, today: date) -> bool:
    return today <= ends_on <= today + timedelta(days=ENDING_SOON_DAYS)


def contracts_overview(today: date) -> list[ContractRow]:
    """Every active gemeente's contracts, those ending within ``ENDING_SOON_DAYS`` first (soonest
    first), then the rest by end date. One gemeente's context at a time."""
    rows: list[ContractRow] = []
    with acting_for(None):
        tenants = [(t.id, t.name) for t in list_tenants() if t.is_active]
    for tenant_id, name in tenants:
        with acting_for(tenant_id):
            for contract in db.session.scalars(select(Contract).order_by(Contract.ends_on, Contract.id)):
                document = latest_contract_document(contract)
                rows.append(ContractRow(
                    tenant_id, name, contract.id, contract.starts_on, contract.ends_on,
                    contract.koppelingen_target, contract.budget_eur, contract.contact_name, contract.contact_email,
                    document.id if document else None, str(document.status) if document else None,
                    ends_soon(contract.ends_on, today)))
    return sorted(rows, key=lambda r: (not r.ending_soon, r.ends_on, r.gemeente, r.contract_id))


def contract_in_tenant(contract_id: int) -> Contract | None:
    """A contract of the gemeente whose context is set (None when it is not this gemeente's)."""
    return db.session.scalar(select(Contract).where(Contract.id == contract_id))


def document_in_tenant(contract: Contract) -> Document | None:
    return latest_contract_document(contract)


# --- reminders (the sweep) --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContractReminder:
    contract_id: int
    days: int  # 90 or 30: the occasion
    ends_on: date

    @property
    def key(self) -> str:
        return f"contract-reminder:{self.contract_id}:{self.days}:{self.ends_on.isoformat()}"


def occasion(ends_on: date, today: date) -> int | None:
    """The reminder occasion that applies ``today`` (the nearest one whose day has come), or None."""
    if today > ends_on:
        return None
    for days in sorted(REMINDER_DAYS):
        if today >= ends_on - timedelta(days=days):
            return days
    return None


def reminders_due(tenant: Tenant, now: datetime) -> list[ContractReminder]:
    today = now.astimezone(LOCAL_TIME).date()
    horizon = today + timedelta(days=max(REMINDER_DAYS))
    contracts = db.session.execute(
        select(Contract.id, Contract.ends_on)
        .where(Contract.tenant_id == tenant.id, Contract.ends_on >= today, Contract.ends_on <= horizon)
        .order_by(Contract.ends_on, Contract.id))
    due = []
    for contract_id, ends_on in contracts:
        days = occasion(ends_on, today)
        if days is not None:
            due.append(ContractReminder(contract_id, days, ends_on))
    return due


def _national_admins() -> list[tuple[str, str]]:
    return [(email, name) for email, name in db.session.execute(
        select(NationalUser.email, NationalUser.full_name)
        .where(NationalUser.role == NationalRole.NATIONAL_ADMIN, NationalUser.active.is_(True))
        .order_by(NationalUser.id))]


def send_reminder(tenant: Tenant, reminder: ContractReminder, now: datetime) -> Any | None:
    """Mail the reminder to the national admins and the gemeente's contact; None when it went out
    before (every address's mail is keyed by the reminder's key)."""
    contract = db.session.scalar(select(Contract).where(Contract.id == reminder.contract_id))
    if contract is None or contract.ends_on != reminder.ends_on:
        return None
    recipients: dict[str, tuple[str, bool]] = {}
    for email, name in _national_admins():
        recipients.setdefault(email.strip().lower(), (name, True))
    recipients.setdefault(contract.contact_email.strip().lower(), (contract.contact_name, False))
    context = {"ends_on": dutch_day(contract.ends_on), "days": reminder.days, "tenant_name": tenant.name,
               "starts_on": dutch_day(contract.starts_on)}
    sent = None
    for address, (name, national) in recipients.items():
        mail = queue_email(tenant, to=address, template=REMINDER_TEMPLATE,
                           dedupe_key=f"{reminder.key}:{address}",
                           context={**context, "name": name, "national": national})
        sent = sent or mail
    if sent is not None:
        record("contract.reminded", Actor(label="systeem"), object_type="contract", object_id=contract.id,
               details={"days": reminder.days, "ends_on": contract.ends_on.isoformat(),
                        "recipients": len(recipients)})
    return sent
