"""The VOG sweep: reminders to volunteers, and VOGs whose renewal date passed become ``verlopen``.

Occasions, with offsets from the gemeente's settings:

- ``aanvraag-<n>``: n days after the request, not yet received, a reminder to the volunteer;
- ``vernieuwen-<n>``: n days before the renewal date, a reminder to the volunteer;
- ``verlopen``: the day after the renewal date the VOG is marked verlopen (audited) and the
  coordinator of every active koppeling (proefperiode, definitief) of the steungezin is alerted.

Only the latest occasion that has come is due (a request found 16 days old gets the 14-day
reminder, not both), and a request reminder goes stale after ``REQUEST_GRACE_DAYS``. The dedupe
key holds the date the occasion is counted from, so a corrected request or issue date gives the
new date's reminders and the old date's are never selected again. The 21-day overdue request is
the coordinator's task (domain.tasks), derived from the same record, not a mail.

One sweep run costs a fixed number of statements per gemeente, whatever number of rows is due.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import Date, Integer, String, and_, cast, exists, func, literal, select, union_all, update

from domain.accounts.models import StaffUser, TenantRole
from domain.audit.services import SYSTEM, record_many
from domain.email.services import EmailSpec, email_dedupe_key, queue_emails
from domain.families.models import Family, FamilyKind, FamilyMember, FamilyStatus
from domain.families.records import LOCAL_TIME, dutch_day
from domain.koppelingen.models import Koppeling, KoppelingStatus
from domain.outbox.models import OutboxJob
from domain.sweeps.framework import tenant_batch_sweep
from domain.vog.models import VogRecord, VogStatus
from tenants.db import db
from tenants.models import Tenant

NAME = "vog_reminders"
REQUEST_GRACE_DAYS = 7
BATCH = 1000  # per gemeente and run, per kind; the rest is due in the next run

REQUEST_TEMPLATE = "vog_request_reminder"
RENEWAL_TEMPLATE = "vog_renewal_reminder"
EXPIRED_TEMPLATE = "vog_expired_alert"

KEY_PREFIX = "vog:"


@dataclass(frozen=True)
class Reminder:
    """One reminder to a volunteer: ``on`` is the request date or the renewal date it counts from."""

    vog_id: int
    occasion: str  # "aanvraag" or "vernieuwen"
    days: int
    on: date
    first_name: str
    email: str

    @property
    def key(self) -> str:
        return reminder_key(self.vog_id, self.occasion, self.days, self.on)


@dataclass(frozen=True)
class Expiry:
    vog_id: int
    family_id: int
    member_id: int
    renewal_due_on: date
    anonymised: bool
    coordinator_id: int | None
    name: str


def reminder_key(vog_id: int, occasion: str, days: int, on: date) -> str:
    return f"{KEY_PREFIX}{vog_id}:{occasion}-{days}:{on.isoformat()}"


def local_day(now: datetime) -> date:
    return now.astimezone(LOCAL_TIME).date()


def offsets(tenant: Tenant, key: str, *, descending: bool = False) -> list[int]:
    return sorted({int(day) for day in tenant.setting(key)}, reverse=descending)


# --- which rows are due: one statement per kind ----------------------------------------------------


def _outbox_key_sql(occasion: str, days: int, column):
    """The outbox dedupe key ``queue_emails`` makes of ``reminder_key``, as SQL."""
    return (literal(email_dedupe_key(KEY_PREFIX)) + cast(VogRecord.id, String)
            + literal(f":{occasion}-{days}:") + func.to_char(column, "YYYY-MM-DD"))


def _windows(tenant: Tenant, today: date) -> list[tuple[str, int, object, object]]:
    """(occasion, days, date column, SQL condition on it) for every occasion of the tenant.

    Request offsets ascending (7, 14): occasion n is due from requested_on + n until the next
    occasion or the grace period ends. Renewal offsets descending (60, 30, 7): occasion n is due
    from renewal_due_on - n until the next occasion, the last one until the renewal date.
    """
    windows = []
    request = offsets(tenant, "vog_request_reminder_days")
    for index, days in enumerate(request):
        until = days + REQUEST_GRACE_DAYS
        if index + 1 < len(request):
            until = min(until, request[index + 1])
        condition = and_(VogRecord.status == VogStatus.AANGEVRAAGD,
                         VogRecord.requested_on <= today - timedelta(days=days),
                         VogRecord.requested_on > today - timedelta(days=until))
        windows.append(("aanvraag", days, VogRecord.requested_on, condition))
    renewal = offsets(tenant, "vog_renewal_reminder_days", descending=True)
    for index, days in enumerate(renewal):
        later = renewal[index + 1] if index + 1 < len(renewal) else -1
        condition = and_(VogRecord.status == VogStatus.ONTVANGEN,
                         VogRecord.renewal_due_on <= today + timedelta(days=days),
                         VogRecord.renewal_due_on > today + timedelta(days=later))
        windows.append(("vernieuwen", days, VogRecord.renewal_due_on, condition))
    return windows


def _reachable_steungezin():
    """The member's household: a steungezin still taking part, not anonymised, with an address."""
    return and_(Family.kind == FamilyKind.STEUN, Family.status != FamilyStatus.AFGEMELD,
                Family.anonymised_at.is_(None), Family.email.is_not(None))


def reminders_query(tenant: Tenant, today: date):
    """Reminders due today in ``tenant`` that were not queued before: one UNION ALL over the occasions,
    each part a range scan on (tenant_id, status, requested_on | renewal_due_on), then one NOT EXISTS
    per row on the outbox's (tenant_id, dedupe_key) index.

    The dedupe key is a column of the union, compared outside it: under row-level security PostgreSQL
    uses only leakproof conditions as index conditions, and a key computed in the NOT EXISTS itself
    (``||``, ``to_char``) is not, so every part would read all of the gemeente's outbox jobs."""
    parts = []
    for occasion, days, column, condition in _windows(tenant, today):
        parts.append(
            select(VogRecord.id.label("vog_id"), literal(occasion).label("occasion"),
                   literal(days, Integer).label("days"), cast(column, Date).label("on"),
                   FamilyMember.first_name, Family.email, _outbox_key_sql(occasion, days, column).label("key"))
            .join(FamilyMember, and_(FamilyMember.tenant_id == VogRecord.tenant_id,
                                     FamilyMember.id == VogRecord.member_id))
            .join(Family, and_(Family.tenant_id == VogRecord.tenant_id, Family.id == VogRecord.family_id))
            .where(VogRecord.tenant_id == tenant.id, condition, _reachable_steungezin())
        )
    if not parts:
        return None
    due = union_all(*parts).subquery("due")
    return (
        select(due.c.vog_id, due.c.occasion, due.c.days, due.c.on, due.c.first_name, due.c.email)
        .where(~exists().where(OutboxJob.tenant_id == tenant.id, OutboxJob.dedupe_key == due.c.key))
        .limit(BATCH)
    )


def expiries_query(tenant: Tenant, today: date):
    """Received VOGs whose renewal date has passed: (tenant_id, status, renewal_due_on) index."""
    return (
        select(VogRecord.id, VogRecord.family_id, VogRecord.member_id, VogRecord.renewal_due_on,
               Family.anonymised_at, Family.coordinator_id, FamilyMember.first_name,
               FamilyMember.last_name)
        .join(FamilyMember, and_(FamilyMember.tenant_id == VogRecord.tenant_id,
                                 FamilyMember.id == VogRecord.member_id))
        .join(Family, and_(Family.tenant_id == VogRecord.tenant_id, Family.id == VogRecord.family_id))
        .where(VogRecord.tenant_id == tenant.id, VogRecord.status == VogStatus.ONTVANGEN,
               VogRecord.renewal_due_on < today)
        .order_by(VogRecord.renewal_due_on, VogRecord.id)
        .limit(BATCH)
    )


def due(tenant: Tenant, now: datetime) -> list[Reminder | Expiry]:
    today = local_day(now)
    things: list[Reminder | Expiry] = []
    query = reminders_query(tenant, today)
    if query is not None:
        things += [Reminder(*row) for row in db.session.execute(query)]
    for row in db.session.execute(expiries_query(tenant, today)):
        name = " ".join(part for part in (row.first_name, row.last_name) if part)
        things.append(Expiry(row.id, row.family_id, row.member_id, row.renewal_due_on,
                             anonymised=row.anonymised_at is not None,
                             coordinator_id=row.coordinator_id, name=name))
    return things


# --- acting on them: a fixed number of statements ---------------------------------------------------


def act_all(tenant: Tenant, things: list[Reminder | Expiry], now: datetime) -> int:
    """Queue the reminders, mark the expiries (with their alerts); returns how many things were done."""
    reminders = [thing for thing in things if isinstance(thing, Reminder)]
    expiries = [thing for thing in things if isinstance(thing, Expiry)]
    reminded = queue_emails(tenant, [_reminder_mail(reminder) for reminder in reminders])
    expired = _mark_expired(expiries)
    queue_emails(tenant, _expiry_alerts(tenant, [expiry for expiry in expiries if expiry.vog_id in expired]))
    return reminded + len(expired)


def _reminder_mail(reminder: Reminder) -> EmailSpec:
    template = REQUEST_TEMPLATE if reminder.occasion == "aanvraag" else RENEWAL_TEMPLATE
    context = {"first_name": reminder.first_name, "days": reminder.days, "date": dutch_day(reminder.on)}
    return EmailSpec(to=reminder.email, template=template, context=context, dedupe_key=reminder.key)


def _mark_expired(expiries: list[Expiry]) -> set[int]:
    """ontvangen → verlopen in one UPDATE (a record changed since ``due`` read it is left alone)."""
    if not expiries:
        return set()
    by_id = {expiry.vog_id: expiry for expiry in expiries}
    changed = set(db.session.scalars(
        update(VogRecord)
        .where(VogRecord.id.in_(by_id), VogRecord.status == VogStatus.ONTVANGEN)
        .values(status=VogStatus.VERLOPEN, updated_at=func.now())
        .returning(VogRecord.id)
        .execution_options(synchronize_session=False)
    ))
    record_many("vog.expired", SYSTEM, "vog", [
        (vog_id, {"from": str(VogStatus.ONTVANGEN), "family_id": by_id[vog_id].family_id,
                  "member_id": by_id[vog_id].member_id, "renewal_due_on": by_id[vog_id].renewal_due_on.isoformat()})
        for vog_id in sorted(changed)
    ])
    return changed


ACTIVE_KOPPELING = (KoppelingStatus.PROEFPERIODE, KoppelingStatus.DEFINITIEF)


def _expiry_alerts(tenant: Tenant, expiries: list[Expiry]) -> list[EmailSpec]:
    """One alert per active koppeling of the steungezin, to its coordinator (else the family's, else
    the gemeente's admins). Two queries, whatever the number of expiries."""
    expiries = [expiry for expiry in expiries if not expiry.anonymised]
    if not expiries:
        return []
    koppelingen = db.session.execute(
        select(Koppeling.id, Koppeling.steun_family_id, Koppeling.coordinator_id)
        .where(Koppeling.steun_family_id.in_({expiry.family_id for expiry in expiries}),
               Koppeling.status.in_(ACTIVE_KOPPELING))
        .order_by(Koppeling.id)
    ).all()
    if not koppelingen:
        return []
    staff = db.session.execute(
        select(StaffUser.id, StaffUser.email, StaffUser.full_name, StaffUser.role)
        .where(StaffUser.active.is_(True),
               StaffUser.role.in_([TenantRole.COORDINATOR, TenantRole.TENANT_ADMIN]))
    ).all()
    by_id = {person.id: person for person in staff}
    admins = [person for person in staff if person.role == TenantRole.TENANT_ADMIN]
    base_url = current_app.extensions["settings"].base_url.rstrip("/")
    mails = []
    for expiry in expiries:
        for koppeling in (k for k in koppelingen if k.steun_family_id == expiry.family_id):
            responsible = by_id.get(koppeling.coordinator_id) or by_id.get(expiry.coordinator_id)
            for person in [responsible] if responsible else admins:
                context = {"full_name": person.full_name, "name": expiry.name,
                           "date": dutch_day(expiry.renewal_due_on),
                           "link": f"{base_url}/{tenant.slug}/app/koppelingen/{koppeling.id}"}
                key = f"{reminder_key(expiry.vog_id, 'verlopen', 0, expiry.renewal_due_on)}:{koppeling.id}:{person.id}"
                mails.append(EmailSpec(to=person.email, template=EXPIRED_TEMPLATE, context=context, dedupe_key=key))
    return mails


VOG_REMINDERS = tenant_batch_sweep(
    NAME, due, act_all,
    description="VOG-herinneringen aan vrijwilligers, en VOG's die over hun vernieuwdatum zijn op verlopen.",
)
