"""Evaluations of a koppeling: the moments, the links to the families, their answers, the coordinator's
conversation, and the progress on the four goals.

Moments (``EvaluationRequest.moment``, ``EvaluationConversation.moment``):

- ``proefperiode``: due ``evaluation_before_proefperiode_end_days`` before the proefperiode ends,
  while the koppeling is in its proefperiode (its conversation decides on definitief);
- ``periodiek-<n>``: due ``n × evaluation_interval_months`` after ``definitief_on``, while the
  koppeling is definitief and the date lies before the end of the guidance term. Only the latest
  moment that has come is due: after downtime a family gets one prompt, not a backlog;
- ``afsluiting``: the final one, started by ``start_final_evaluation`` when a koppeling is closed.

Each family of the koppeling (vraaggezin and steungezin, not anonymised, with an e-mail address)
gets its own request and link, exactly once per (koppeling, moment, family): the INSERT is
``ON CONFLICT DO NOTHING`` on that unique key and only the rows it really inserted get a mail,
whose outbox dedupe key is the same natural key. So two sweeps at once, a sweep run twice, or a
sweep after hours of downtime each send one prompt.

Links. A request stores only the SHA-256 of its raw token (as account tokens do,
``domain.accounts.tokens.hash_token``); the raw token lives only in the mail (the outbox keeps the
mail's context until it is sent, as for invitations). A link works once (``answered_at``) and
until ``expires_at`` (``evaluation_link_days`` after the prompt).

The reminder (``evaluation_reminder_days`` after the prompt, if unanswered and not expired) needs
the link again, and the raw token is not stored, so the reminder **rotates** the token: a new raw
token goes into the reminder, its hash replaces the old one, and the first mail's link stops
working (the "link werkt niet meer" page tells the family to use the newest mail). We chose this
over a token derived from the secret key (which would let the same link work in both mails)
because then anyone holding the key and the database could rebuild every open link, and rotating
the key would silently break them. The expiry date is not moved: the reminder says until when the
link works. The rotation is one ``UPDATE … WHERE reminded_at IS NULL AND answered_at IS NULL AND
expires_at > now RETURNING``: only rows it really changed get a reminder, so a concurrent run or
an answer that just came in sends none.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import Integer, String, and_, case, column, exists, func, literal, or_, select, update, values
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import aliased

from domain.accounts.models import StaffUser
from domain.accounts.tokens import hash_token
from domain.audit.services import SYSTEM, Actor, record, record_many
from domain.email.services import EmailSpec, queue_emails
from domain.evaluations.models import (
    ConversationOutcome,
    EvaluationConversation,
    EvaluationRequest,
    EvaluationRole,
)
from domain.families.models import Family, FamilyMember, MemberRole
from domain.families.records import LOCAL_TIME, dutch_day, local_today
from domain.koppelingen.models import Koppeling, KoppelingStatus
from domain.vog.services import add_months
from tenants.db import db
from tenants.models import Tenant

log = logging.getLogger(__name__)

K = KoppelingStatus

PROEFPERIODE = "proefperiode"  # == domain.koppelingen.services.PROEFPERIODE_MOMENT
AFSLUITING = "afsluiting"
PERIODIC_PREFIX = "periodiek-"
_PERIODIC = re.compile(r"^periodiek-([1-9][0-9]{0,2})$")

REQUEST_TEMPLATE = "evaluation_request"
REMINDER_TEMPLATE = "evaluation_reminder"
PROMPT_KEY_PREFIX = "evaluation:"
REMINDER_KEY_PREFIX = "evaluation-reminder:"
BATCH = 500  # per gemeente, run and kind; the rest is due in the next run
CONVERSATION_WITHIN_DAYS = 14  # after the links went out, for moments other than the proefperiode
REMARKS_MAX_LENGTH = 2000
NOTES_MAX_LENGTH = 4000
TOKEN_MAX_LENGTH = 200

# The four goals of every koppeling: (column of EvaluationRequest, label for staff, statement for the family).
GOALS: tuple[tuple[str, str, str], ...] = (
    ("goal_ontlasten", "Ouders ontlasten", "Wij hebben als ouders meer rust en tijd voor onszelf."),
    ("goal_sterker", "Ouders sterker", "Wij voelen ons sterker als ouders."),
    ("goal_opvoedklimaat", "Opvoedklimaat", "Het gaat thuis beter met de kinderen."),
    ("goal_netwerk", "Netwerk uitgebreid", "Wij hebben meer mensen om ons heen die kunnen helpen."),
)
GOAL_KEYS = tuple(key for key, _, _ in GOALS)
SCORES = (1, 2, 3, 4, 5)
SATISFIED_CHOICES = {"ja": "Ja", "een_beetje": "Een beetje", "nee": "Nee"}
CONTINUE_CHOICES = {"ja": "Ja", "nee": "Nee"}
OUTCOME_LABELS = {
    ConversationOutcome.POSITIEF: "positief: we gaan door",
    ConversationOutcome.TWIJFEL: "twijfel",
    ConversationOutcome.NEGATIEF: "negatief",
}
ROLE_LABELS = {EvaluationRole.VRAAG: "vraaggezin", EvaluationRole.STEUN: "steungezin"}

LINK_NOT_WORKING = ("Deze link werkt niet meer. Misschien heb je het formulier al ingevuld, of is de link "
                    "verlopen. Neem contact op met je coördinator.")


# --- errors ------------------------------------------------------------------------------------------


class EvaluationLinkError(LookupError):
    """The link cannot be used. ``reason`` is ``unknown`` (also another gemeente's), ``used`` or
    ``expired``; the message is the same for all three."""

    def __init__(self, reason: str):
        super().__init__(LINK_NOT_WORKING)
        self.reason = reason


class EvaluationAnswerError(ValueError):
    """The answers do not add up; ``errors`` maps a field name to a message in plain Dutch."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


class EvaluationError(ValueError):
    """A coordinator's step that is not allowed; the message says why. ``field`` names a form field."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


# --- moments -----------------------------------------------------------------------------------------


def periodic_moment(number: int) -> str:
    return f"{PERIODIC_PREFIX}{number}"


def periodic_number(moment: str) -> int | None:
    match = _PERIODIC.match(moment or "")
    return int(match.group(1)) if match else None


def is_moment(moment: str) -> bool:
    return moment in (PROEFPERIODE, AFSLUITING) or periodic_number(moment) is not None


def moment_label(moment: str) -> str:
    if moment == PROEFPERIODE:
        return "Einde proefperiode"
    if moment == AFSLUITING:
        return "Afsluiting"
    number = periodic_number(moment)
    return f"Tussentijdse evaluatie {number}" if number else moment


def moment_kind(moment: str) -> str:
    """``proefperiode``, ``periodiek`` or ``afsluiting``: what a mail or page says about the moment."""
    return "periodiek" if periodic_number(moment) else moment


def _sort_key(moment: str) -> tuple[int, int]:
    if moment == PROEFPERIODE:
        return (0, 0)
    if moment == AFSLUITING:
        return (2, 0)
    return (1, periodic_number(moment) or 0)


def proefperiode_due_on(koppeling: Koppeling, tenant: Tenant) -> date | None:
    if koppeling.proefperiode_end_on is None:
        return None
    before = int(tenant.setting("evaluation_before_proefperiode_end_days"))
    return koppeling.proefperiode_end_on - timedelta(days=before)


def periodic_due_on(definitief_on: date, number: int, interval_months: int) -> date:
    return add_months(definitief_on, number * interval_months)


def current_periodic(definitief_on: date | None, guidance_end_on: date | None, interval_months: int,
                     today: date) -> tuple[str, date] | None:
    """The latest periodic moment that has come by ``today`` (before the guidance term ends), if any."""
    if definitief_on is None or interval_months < 1:
        return None
    found = None
    number = 1
    while True:
        due_on = periodic_due_on(definitief_on, number, interval_months)
        if due_on > today or (guidance_end_on is not None and due_on >= guidance_end_on):
            return found
        found = (periodic_moment(number), due_on)
        number += 1


def next_evaluation(koppeling: Koppeling, tenant: Tenant, today: date) -> tuple[str, date] | None:
    """The next moment the families get a link, for the koppeling page (None when none is planned)."""
    status = K(koppeling.status)
    if status == K.PROEFPERIODE:
        due_on = proefperiode_due_on(koppeling, tenant)
        return (PROEFPERIODE, due_on) if due_on else None
    if status == K.DEFINITIEF and koppeling.definitief_on:
        interval = int(tenant.setting("evaluation_interval_months"))
        number = 1
        while (due_on := periodic_due_on(koppeling.definitief_on, number, interval)) <= today:
            number += 1
        if koppeling.guidance_end_on is None or due_on < koppeling.guidance_end_on:
            return periodic_moment(number), due_on
    return None


def local_day(now: datetime) -> date:
    return now.astimezone(LOCAL_TIME).date()


def new_raw_token() -> str:
    return secrets.token_urlsafe(32)


def evaluation_link(tenant: Tenant, raw_token: str) -> str:
    base_url = current_app.extensions["settings"].base_url.rstrip("/")
    return f"{base_url}/{tenant.slug}/evaluatie/{raw_token}"


# --- what the sweep finds ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prompt:
    """One family that is to get a link at one moment of one koppeling."""

    koppeling_id: int
    family_id: int
    role: str
    moment: str
    due_on: date
    email: str
    first_name: str | None
    coordinator_id: int | None

    @property
    def key(self) -> tuple[int, str, int]:
        return (self.koppeling_id, self.moment, self.family_id)


@dataclass(frozen=True)
class Reminder:
    request_id: int
    koppeling_id: int
    family_id: int
    role: str
    moment: str
    expires_at: datetime
    email: str
    first_name: str | None
    coordinator_id: int | None


Contact = aliased(FamilyMember)


def _reachable():
    """A family that can get a link: not anonymised, with an e-mail address."""
    return and_(Family.anonymised_at.is_(None), Family.email.is_not(None), Family.email != "")


def _contact_join(query):
    return query.outerjoin(Contact, and_(Contact.tenant_id == Family.tenant_id, Contact.family_id == Family.id,
                                         Contact.role == MemberRole.ADULT, Contact.is_contact.is_(True)))


def _families_of_koppelingen(tenant_id: int, *conditions):
    """(koppeling, family) rows for both families of the koppelingen matching ``conditions``."""
    role = case((Family.id == Koppeling.vraag_family_id, literal(EvaluationRole.VRAAG.value)),
                else_=literal(EvaluationRole.STEUN.value))
    query = (
        select(Koppeling.id.label("koppeling_id"), Family.id.label("family_id"), role.label("role"),
               Koppeling.proefperiode_end_on, Koppeling.definitief_on, Koppeling.guidance_end_on,
               Koppeling.coordinator_id, Family.email, Contact.first_name)
        .join(Family, and_(Family.tenant_id == Koppeling.tenant_id,
                           or_(Family.id == Koppeling.vraag_family_id, Family.id == Koppeling.steun_family_id)))
    )
    return (_contact_join(query)
            .where(Koppeling.tenant_id == tenant_id, _reachable(), *conditions)
            .order_by(Koppeling.id, Family.id)
            .limit(BATCH))


def _no_request(moment_condition):
    return ~exists().where(EvaluationRequest.tenant_id == Koppeling.tenant_id,
                           EvaluationRequest.koppeling_id == Koppeling.id,
                           EvaluationRequest.family_id == Family.id, moment_condition)


def proefperiode_prompts(tenant: Tenant, today: date) -> list[Prompt]:
    before = int(tenant.setting("evaluation_before_proefperiode_end_days"))
    query = _families_of_koppelingen(
        tenant.id, Koppeling.status == K.PROEFPERIODE,
        Koppeling.proefperiode_end_on <= today + timedelta(days=before),
        _no_request(EvaluationRequest.moment == PROEFPERIODE),
    )
    return [Prompt(row.koppeling_id, row.family_id, row.role, PROEFPERIODE,
                   row.proefperiode_end_on - timedelta(days=before), row.email, row.first_name, row.coordinator_id)
            for row in db.session.execute(query)]


def periodic_prompts(tenant: Tenant, today: date) -> list[Prompt]:
    """Definitive koppelingen whose latest periodic moment came and has no request yet for a family.

    The SQL leaves out, by index, koppelingen younger than one interval and families that had a
    periodic request within the last interval (with 3 days to spare for months of unequal
    length, so it never leaves out one that is due); Python then names the exact moment, and one
    more statement drops the (koppeling, moment, family) rows that already exist.
    """
    interval = int(tenant.setting("evaluation_interval_months"))
    recent = add_months(today, -interval) + timedelta(days=3)
    query = _families_of_koppelingen(
        tenant.id, Koppeling.status == K.DEFINITIEF, Koppeling.definitief_on <= recent,
        _no_request(and_(EvaluationRequest.moment.like(f"{PERIODIC_PREFIX}%"), EvaluationRequest.due_on > recent)),
    )
    prompts = []
    for row in db.session.execute(query):
        current = current_periodic(row.definitief_on, row.guidance_end_on, interval, today)
        if current is not None:
            prompts.append(Prompt(row.koppeling_id, row.family_id, row.role, current[0], current[1], row.email,
                                  row.first_name, row.coordinator_id))
    if not prompts:
        return []
    existing = {tuple(row) for row in db.session.execute(
        select(EvaluationRequest.koppeling_id, EvaluationRequest.moment, EvaluationRequest.family_id)
        .where(EvaluationRequest.tenant_id == tenant.id,
               EvaluationRequest.koppeling_id.in_({prompt.koppeling_id for prompt in prompts}),
               EvaluationRequest.moment.in_({prompt.moment for prompt in prompts}))
    )}
    return [prompt for prompt in prompts if prompt.key not in existing]


def reminders_due(tenant: Tenant, now: datetime) -> list[Reminder]:
    """Sent, unanswered, not reminded, not expired requests at least ``evaluation_reminder_days`` old.

    A range scan on ``ix_evaluation_requests_open`` (tenant_id, sent_at) WHERE answered_at IS NULL,
    bounded below by the link's lifetime (older links have expired). No reminder for a stopped
    koppeling, except about its final evaluation.
    """
    remind_after = timedelta(days=int(tenant.setting("evaluation_reminder_days")))
    lifetime = timedelta(days=int(tenant.setting("evaluation_link_days")))
    query = (
        select(EvaluationRequest.id, EvaluationRequest.koppeling_id, EvaluationRequest.family_id,
               EvaluationRequest.role, EvaluationRequest.moment, EvaluationRequest.expires_at, Family.email,
               Contact.first_name, Koppeling.coordinator_id)
        .join(Koppeling, and_(Koppeling.tenant_id == EvaluationRequest.tenant_id,
                              Koppeling.id == EvaluationRequest.koppeling_id))
        .join(Family, and_(Family.tenant_id == EvaluationRequest.tenant_id, Family.id == EvaluationRequest.family_id))
    )
    query = (_contact_join(query)
             .where(EvaluationRequest.tenant_id == tenant.id, EvaluationRequest.answered_at.is_(None),
                    EvaluationRequest.sent_at <= now - remind_after,
                    EvaluationRequest.sent_at > now - max(lifetime, remind_after) - timedelta(days=1),
                    EvaluationRequest.reminded_at.is_(None), EvaluationRequest.expires_at > now,
                    or_(EvaluationRequest.moment == AFSLUITING, Koppeling.status != K.GESTOPT), _reachable())
             .order_by(EvaluationRequest.sent_at, EvaluationRequest.id)
             .limit(BATCH))
    return [Reminder(*row) for row in db.session.execute(query)]


def due(tenant: Tenant, now: datetime) -> list[Prompt | Reminder]:
    today = local_day(now)
    found: dict[Any, Prompt | Reminder] = {}
    for prompt in [*proefperiode_prompts(tenant, today), *periodic_prompts(tenant, today)]:
        found.setdefault(prompt.key, prompt)  # a second contact adult would give a second row
    for reminder in reminders_due(tenant, now):
        found.setdefault(("reminder", reminder.request_id), reminder)
    return list(found.values())


# --- acting: a fixed number of statements -----------------------------------------------------------


def act_all(tenant: Tenant, things: list[Prompt | Reminder], now: datetime) -> int:
    """Create the requests and rotate the reminded links, then queue all mails at once."""
    prompts = [thing for thing in things if isinstance(thing, Prompt)]
    reminders = [thing for thing in things if isinstance(thing, Reminder)]
    coordinators = _coordinator_names({thing.coordinator_id for thing in things if thing.coordinator_id})
    mails = [*_create_requests(tenant, prompts, now, coordinators), *_rotate(tenant, reminders, now, coordinators)]
    return queue_emails(tenant, mails)


def _coordinator_names(ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {row.id: row.full_name for row in db.session.execute(
        select(StaffUser.id, StaffUser.full_name).where(StaffUser.id.in_(ids)))}


def _deliverable(address: str) -> bool:
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def _create_requests(tenant: Tenant, prompts: list[Prompt], now: datetime,
                     coordinators: dict[int, str]) -> list[EmailSpec]:
    """One INSERT … ON CONFLICT DO NOTHING RETURNING: only the rows inserted now get a mail."""
    prompts = [prompt for prompt in {p.key: p for p in prompts}.values() if _deliverable(prompt.email)]
    if not prompts:
        return []
    expires_at = now + timedelta(days=int(tenant.setting("evaluation_link_days")))
    raw = {prompt.key: new_raw_token() for prompt in prompts}
    rows = [{"tenant_id": tenant.id, "koppeling_id": p.koppeling_id, "family_id": p.family_id, "role": p.role,
             "moment": p.moment, "due_on": p.due_on, "token_hash": hash_token(raw[p.key]), "expires_at": expires_at,
             "sent_at": now} for p in prompts]
    inserted = db.session.execute(
        pg_insert(EvaluationRequest).values(rows).on_conflict_do_nothing()
        .returning(EvaluationRequest.id, EvaluationRequest.koppeling_id, EvaluationRequest.moment,
                   EvaluationRequest.family_id)
    ).all()
    by_key = {prompt.key: prompt for prompt in prompts}
    mails, events = [], []
    for request_id, koppeling_id, moment, family_id in inserted:
        prompt = by_key[(koppeling_id, moment, family_id)]
        mails.append(_mail(tenant, REQUEST_TEMPLATE, prompt.email, prompt.first_name, prompt.role, moment,
                           raw[prompt.key], expires_at, coordinators.get(prompt.coordinator_id),
                           prompt_key(koppeling_id, moment, family_id)))
        events.append((request_id, {"koppeling_id": koppeling_id, "moment": moment, "family_id": family_id,
                                    "role": prompt.role}))
    record_many("evaluation.sent", SYSTEM, "evaluation_request", events)
    return mails


def _rotate(tenant: Tenant, reminders: list[Reminder], now: datetime,
            coordinators: dict[int, str]) -> list[EmailSpec]:
    """New tokens for the reminded requests in one UPDATE … FROM (VALUES …) RETURNING."""
    reminders = [reminder for reminder in reminders if _deliverable(reminder.email)]
    if not reminders:
        return []
    raw = {reminder.request_id: new_raw_token() for reminder in reminders}
    rotated = values(column("id", Integer), column("token_hash", String), name="rotated").data(
        [(request_id, hash_token(token)) for request_id, token in raw.items()])
    changed = set(db.session.scalars(
        update(EvaluationRequest)
        .where(EvaluationRequest.id == rotated.c.id, EvaluationRequest.tenant_id == tenant.id,
               EvaluationRequest.reminded_at.is_(None), EvaluationRequest.answered_at.is_(None),
               EvaluationRequest.expires_at > now)
        .values(token_hash=rotated.c.token_hash, reminded_at=now)
        .returning(EvaluationRequest.id)
        .execution_options(synchronize_session=False)
    ))
    mails, events = [], []
    for reminder in reminders:
        if reminder.request_id not in changed:
            continue
        mails.append(_mail(tenant, REMINDER_TEMPLATE, reminder.email, reminder.first_name, reminder.role,
                           reminder.moment, raw[reminder.request_id], reminder.expires_at,
                           coordinators.get(reminder.coordinator_id),
                           reminder_key(reminder.koppeling_id, reminder.moment, reminder.family_id)))
        events.append((reminder.request_id, {"koppeling_id": reminder.koppeling_id, "moment": reminder.moment,
                                             "family_id": reminder.family_id}))
    record_many("evaluation.reminded", SYSTEM, "evaluation_request", events)
    return mails


def prompt_key(koppeling_id: int, moment: str, family_id: int) -> str:
    return f"{PROMPT_KEY_PREFIX}{koppeling_id}:{moment}:{family_id}"


def reminder_key(koppeling_id: int, moment: str, family_id: int) -> str:
    return f"{REMINDER_KEY_PREFIX}{koppeling_id}:{moment}:{family_id}"


def _mail(tenant: Tenant, template: str, to: str, first_name: str | None, role: str, moment: str, raw_token: str,
          expires_at: datetime, coordinator: str | None, key: str) -> EmailSpec:
    context = {"first_name": first_name or "", "role": role, "moment": moment_kind(moment),
               "moment_label": moment_label(moment), "link": evaluation_link(tenant, raw_token),
               "expires_on": dutch_day(local_day(expires_at)), "coordinator": coordinator}
    return EmailSpec(to=to, template=template, context=context, dedupe_key=key)


# --- the final evaluation ------------------------------------------------------------------------------


def start_final_evaluation(koppeling: Koppeling, now: datetime | None = None) -> int:
    """Send both families a link for the ``afsluiting`` evaluation (when the koppeling is closed).

    In the caller's transaction; returns how many links went out. Calling it again sends nothing
    new. A koppeling that never reached its proefperiode has nothing to evaluate: 0.
    """
    now = now or datetime.now(UTC)
    if koppeling.proefperiode_start_on is None:
        return 0
    tenant = db.session.get(Tenant, koppeling.tenant_id)
    today = local_day(now)
    query = _families_of_koppelingen(tenant.id, Koppeling.id == koppeling.id,
                                     _no_request(EvaluationRequest.moment == AFSLUITING))
    prompts = [Prompt(row.koppeling_id, row.family_id, row.role, AFSLUITING, today, row.email, row.first_name,
                      row.coordinator_id) for row in db.session.execute(query)]
    coordinators = _coordinator_names({p.coordinator_id for p in prompts if p.coordinator_id})
    return queue_emails(tenant, _create_requests(tenant, prompts, now, coordinators))


# --- answering through the link -------------------------------------------------------------------------


def _usable(tenant: Tenant, raw_token: str, now: datetime, *, lock: bool) -> EvaluationRequest:
    if not raw_token or len(raw_token) > TOKEN_MAX_LENGTH:
        raise EvaluationLinkError("unknown")
    query = select(EvaluationRequest).where(EvaluationRequest.tenant_id == tenant.id,
                                            EvaluationRequest.token_hash == hash_token(raw_token))
    if lock:
        # Two posts of one link at once: the second waits, then sees it answered.
        query = query.with_for_update().execution_options(populate_existing=True)
    found = db.session.scalar(query)
    if found is None or found.sent_at is None:
        raise EvaluationLinkError("unknown")
    if found.answered_at is not None:
        raise EvaluationLinkError("used")
    if found.expires_at <= now:
        raise EvaluationLinkError("expired")
    return found


def check_link(tenant: Tenant, raw_token: str, now: datetime | None = None) -> EvaluationRequest:
    """The request a still-usable link belongs to, without using it (to show the form)."""
    return _usable(tenant, raw_token, now or datetime.now(UTC), lock=False)


@dataclass(frozen=True)
class CleanAnswers:
    satisfied: str
    wants_to_continue: bool
    goals: dict[str, int | None]
    remarks: str | None


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def clean_answers(role: EvaluationRole | str, answers: Mapping[str, Any]) -> CleanAnswers:
    """Check the answers of one family; raises EvaluationAnswerError with a message per field.

    Everyone: ``satisfied`` (ja / een_beetje / nee), ``wants_to_continue`` (ja / nee), ``remarks``
    (optional, at most 2000 characters). The vraaggezin also scores each goal 1–5 (``goal_…``);
    a steungezin's goal scores are ignored.
    """
    errors: dict[str, str] = {}
    satisfied = _text(answers.get("satisfied"))
    if satisfied not in SATISFIED_CHOICES:
        errors["satisfied"] = "Kies een antwoord: ja, een beetje of nee."
    wants = _text(answers.get("wants_to_continue"))
    if wants not in CONTINUE_CHOICES:
        errors["wants_to_continue"] = "Kies ja of nee."
    goals: dict[str, int | None] = dict.fromkeys(GOAL_KEYS)
    if EvaluationRole(role) == EvaluationRole.VRAAG:
        for key in GOAL_KEYS:
            value = answers.get(key)
            value = value if isinstance(value, int) and not isinstance(value, bool) else _text(value)
            if isinstance(value, str) and re.fullmatch(r"[1-5]", value):
                value = int(value)
            if value in SCORES:
                goals[key] = value
            else:
                errors[key] = "Kies een cijfer van 1 tot en met 5."
    remarks = _text(answers.get("remarks")).replace("\r\n", "\n")
    if len(remarks) > REMARKS_MAX_LENGTH:
        errors["remarks"] = f"Je tekst is te lang. Gebruik niet meer dan {REMARKS_MAX_LENGTH} tekens."
    if errors:
        raise EvaluationAnswerError(errors)
    return CleanAnswers(satisfied, wants == "ja", goals, remarks or None)


def answer_evaluation(tenant: Tenant, raw_token: str, answers: Mapping[str, Any], actor: Actor | None = None, *,
                      now: datetime | None = None) -> EvaluationRequest:
    """Store one family's answers through its link, in the caller's transaction (the caller commits).

    All or nothing: a used, expired or unknown link raises EvaluationLinkError, answers that do not
    add up raise EvaluationAnswerError, and in both cases nothing is written. Audited without the
    answers themselves.
    """
    now = now or datetime.now(UTC)
    request = _usable(tenant, raw_token, now, lock=True)
    clean = clean_answers(request.role, answers)
    request.satisfied = clean.satisfied
    request.wants_to_continue = clean.wants_to_continue
    for key, score in clean.goals.items():
        setattr(request, key, score)
    request.remarks = clean.remarks
    request.answered_at = now
    db.session.flush()
    record("evaluation.answered", actor or Actor(label="gezin (evaluatielink)"), object_type="evaluation_request",
           object_id=request.id, details={"koppeling_id": request.koppeling_id, "moment": request.moment,
                                          "role": str(request.role)})
    return request


# --- the coordinator's conversation ------------------------------------------------------------------------


def conversation_for(koppeling: Koppeling, moment: str) -> EvaluationConversation | None:
    return db.session.scalar(select(EvaluationConversation).where(
        EvaluationConversation.koppeling_id == koppeling.id, EvaluationConversation.moment == moment))


def conversation_moments(koppeling: Koppeling, tenant: Tenant, today: date) -> list[str]:
    """The moments the coordinator can record a conversation for: those with links or a conversation,
    and the koppeling's current one (also when no family could get a link)."""
    moments = set(db.session.scalars(select(EvaluationRequest.moment).where(
        EvaluationRequest.koppeling_id == koppeling.id)))
    moments |= set(db.session.scalars(select(EvaluationConversation.moment).where(
        EvaluationConversation.koppeling_id == koppeling.id)))
    status = K(koppeling.status)
    if status == K.PROEFPERIODE:
        moments.add(PROEFPERIODE)
    elif status == K.DEFINITIEF:
        current = current_periodic(koppeling.definitief_on, koppeling.guidance_end_on,
                                   int(tenant.setting("evaluation_interval_months")), today)
        if current:
            moments.add(current[0])
    elif status in (K.AFGESLOTEN, K.GESTOPT) and koppeling.proefperiode_start_on is not None:
        moments.add(AFSLUITING)
    return sorted(moments, key=_sort_key)


def record_conversation(koppeling: Koppeling, moment: str, held_on: date | None,
                        outcome: ConversationOutcome | str | None, notes: str | None, actor: Actor, *,
                        today: date | None = None) -> EvaluationConversation:
    """Record (or correct) the coordinator's evaluation conversation of one moment; audited.

    One conversation per moment: recording it again corrects it. The proefperiode's conversation
    decides on definitief, so it cannot be changed once the koppeling is definitief or closed.
    """
    today = today or local_today()
    if not is_moment(moment or ""):
        raise EvaluationError("Kies het evaluatiemoment.", "moment")
    if moment == PROEFPERIODE and koppeling.proefperiode_start_on is None:
        raise EvaluationError("Deze koppeling heeft nog geen proefperiode gehad.", "moment")
    if periodic_number(moment) and koppeling.definitief_on is None:
        raise EvaluationError("Deze koppeling is nog niet definitief.", "moment")
    if moment == AFSLUITING and koppeling.proefperiode_start_on is None:
        raise EvaluationError("Deze koppeling is niet begonnen; er is niets af te sluiten.", "moment")
    tenant = db.session.get(Tenant, koppeling.tenant_id)
    if moment not in conversation_moments(koppeling, tenant, today):
        raise EvaluationError(f"Voor ‘{moment_label(moment)}’ is er (nog) geen evaluatie bij deze koppeling.",
                              "moment")
    if held_on is None:
        raise EvaluationError("Vul de datum van het gesprek in.", "held_on")
    if held_on > today:
        raise EvaluationError("De datum van het gesprek ligt in de toekomst.", "held_on")
    if koppeling.proefperiode_start_on and held_on < koppeling.proefperiode_start_on:
        raise EvaluationError("Het gesprek kan niet vóór het begin van de proefperiode zijn.", "held_on")
    try:
        outcome = ConversationOutcome(outcome)
    except ValueError:
        raise EvaluationError("Kies de uitkomst van het gesprek.", "outcome") from None
    notes = (notes or "").strip().replace("\r\n", "\n") or None
    if notes and len(notes) > NOTES_MAX_LENGTH:
        raise EvaluationError(f"Hooguit {NOTES_MAX_LENGTH} tekens.", "notes")
    conversation = conversation_for(koppeling, moment)
    if conversation is not None and moment == PROEFPERIODE and K(koppeling.status) != K.PROEFPERIODE:
        raise EvaluationError("De proefperiode is afgerond; het gesprek daarover kun je niet meer wijzigen.",
                              "moment")
    details: dict[str, Any] = {"moment": moment, "outcome": outcome.value, "held_on": held_on.isoformat()}
    if conversation is None:
        conversation = EvaluationConversation(tenant_id=koppeling.tenant_id, koppeling_id=koppeling.id, moment=moment,
                                              held_on=held_on, outcome=outcome, notes=notes,
                                              recorded_by_id=actor.id, recorded_by_label=actor.label)
        db.session.add(conversation)
        action = "evaluation.conversation_recorded"
    else:
        details["before"] = {"outcome": str(conversation.outcome), "held_on": conversation.held_on.isoformat()}
        conversation.held_on, conversation.outcome, conversation.notes = held_on, outcome, notes
        conversation.recorded_by_id, conversation.recorded_by_label = actor.id, actor.label
        action = "evaluation.conversation_corrected"
    db.session.flush()
    record(action, actor, object_type="koppeling", object_id=koppeling.id, details=details)
    return conversation


# --- reading: the koppeling's evaluations and the progress on the goals --------------------------------------


@dataclass(frozen=True)
class MomentOverview:
    moment: str
    label: str
    requests: list[EvaluationRequest] = field(default_factory=list)  # vraaggezin first
    conversation: EvaluationConversation | None = None


def requests_of(koppeling: Koppeling) -> list[EvaluationRequest]:
    return list(db.session.scalars(select(EvaluationRequest).where(EvaluationRequest.koppeling_id == koppeling.id)
                                   .order_by(EvaluationRequest.sent_at, EvaluationRequest.id)))


def evaluation_overview(koppeling: Koppeling, tenant: Tenant, today: date) -> list[MomentOverview]:
    """Per moment (in order): each family's request and answers, and the conversation."""
    requests = requests_of(koppeling)
    conversations = {c.moment: c for c in db.session.scalars(select(EvaluationConversation).where(
        EvaluationConversation.koppeling_id == koppeling.id))}
    moments = sorted({r.moment for r in requests} | set(conversations), key=_sort_key)
    overview = []
    for moment in moments:
        of_moment = sorted((r for r in requests if r.moment == moment), key=lambda r: (r.role != EvaluationRole.VRAAG,
                                                                                       r.id))
        overview.append(MomentOverview(moment, moment_label(moment), of_moment, conversations.get(moment)))
    return overview


@dataclass(frozen=True)
class GoalScore:
    moment: str
    label: str
    answered_on: date
    score: int
    change: int | None  # against the baseline; None for the baseline itself


@dataclass(frozen=True)
class GoalProgress:
    key: str
    label: str
    baseline: GoalScore | None
    later: list[GoalScore]

    @property
    def latest_change(self) -> int | None:
        return self.later[-1].change if self.later else None


def goal_progress(koppeling: Koppeling) -> list[GoalProgress]:
    """Per goal: the baseline (the vraaggezin's first answered scores) and every later moment's score
    with its change against the baseline, in the order the vraaggezin answered."""
    answered = list(db.session.scalars(
        select(EvaluationRequest)
        .where(EvaluationRequest.koppeling_id == koppeling.id, EvaluationRequest.role == EvaluationRole.VRAAG,
               EvaluationRequest.answered_at.is_not(None))
        .order_by(EvaluationRequest.answered_at, EvaluationRequest.id)))
    progress = []
    for key, label, _ in GOALS:
        scored = [(request, getattr(request, key)) for request in answered if getattr(request, key) is not None]
        if not scored:
            progress.append(GoalProgress(key, label, None, []))
            continue
        first_request, first_score = scored[0]
        baseline = GoalScore(first_request.moment, moment_label(first_request.moment),
                             local_day(first_request.answered_at), first_score, None)
        later = [GoalScore(request.moment, moment_label(request.moment), local_day(request.answered_at), score,
                           score - first_score) for request, score in scored[1:]]
        progress.append(GoalProgress(key, label, baseline, later))
    return progress


# --- the coordinator's task ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConversationDue:
    """A moment whose links went out and whose conversation is not recorded yet."""

    koppeling_id: int
    moment: str
    first_sent_on: date
    due_on: date
    vraag_family_id: int
    coordinator_id: int | None


def conversations_due(coordinator_id: int | None, limit: int = 200) -> list[ConversationDue]:
    """The latest moment per koppeling with links sent and no conversation yet, while it still matters
    (the proefperiode while in proefperiode, periodic ones while definitief, the final one after
    closing). For one coordinator: theirs and the koppelingen without a coordinator."""
    status_fits = or_(
        and_(EvaluationRequest.moment == PROEFPERIODE, Koppeling.status == K.PROEFPERIODE),
        and_(EvaluationRequest.moment.like(f"{PERIODIC_PREFIX}%"), Koppeling.status == K.DEFINITIEF),
        and_(EvaluationRequest.moment == AFSLUITING, Koppeling.status.in_([K.AFGESLOTEN, K.GESTOPT])),
    )
    query = (
        select(EvaluationRequest.koppeling_id, EvaluationRequest.moment,
               func.min(EvaluationRequest.sent_at).label("first_sent"), Koppeling.proefperiode_end_on,
               Koppeling.vraag_family_id, Koppeling.coordinator_id)
        .join(Koppeling, and_(Koppeling.tenant_id == EvaluationRequest.tenant_id,
                              Koppeling.id == EvaluationRequest.koppeling_id))
        .where(EvaluationRequest.sent_at.is_not(None), status_fits,
               ~exists().where(EvaluationConversation.tenant_id == EvaluationRequest.tenant_id,
                               EvaluationConversation.koppeling_id == EvaluationRequest.koppeling_id,
                               EvaluationConversation.moment == EvaluationRequest.moment))
        .group_by(EvaluationRequest.koppeling_id, EvaluationRequest.moment, Koppeling.proefperiode_end_on,
                  Koppeling.vraag_family_id, Koppeling.coordinator_id)
        .order_by(func.min(EvaluationRequest.sent_at))
        .limit(limit * 2)
    )
    if coordinator_id is not None:
        query = query.where(or_(Koppeling.coordinator_id == coordinator_id, Koppeling.coordinator_id.is_(None)))
    latest: dict[int, Any] = {}
    for row in db.session.execute(query):
        latest[row.koppeling_id] = row  # ordered by first sent: the last one per koppeling wins
    found = []
    for row in list(latest.values())[:limit]:
        sent_on = local_day(row.first_sent)
        if row.moment == PROEFPERIODE and row.proefperiode_end_on is not None:
            due_on = row.proefperiode_end_on
        else:
            due_on = sent_on + timedelta(days=CONVERSATION_WITHIN_DAYS)
        found.append(ConversationDue(row.koppeling_id, row.moment, sent_on, due_on, row.vraag_family_id,
                                     row.coordinator_id))
    return found


def family_names(family_ids: set[int]) -> dict[int, str]:
    """The contact adult's name per family (for pages and tasks)."""
    if not family_ids:
        return {}
    rows = db.session.execute(
        select(FamilyMember.family_id, FamilyMember.first_name, FamilyMember.last_name)
        .where(FamilyMember.family_id.in_(family_ids), FamilyMember.role == MemberRole.ADULT)
        .order_by(FamilyMember.family_id, FamilyMember.is_contact.desc(), FamilyMember.id))
    names: dict[int, str] = {}
    for family_id, first, last in rows:
        names.setdefault(family_id, " ".join(part for part in (first, last) if part))
    return names
