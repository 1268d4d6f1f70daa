"""Anonymise families that were afgemeld longer ago than the gemeente's retention period (AVG).

The period is the tenant setting ``family_retention_months`` (24 by default). Unlike the sweeps
that send something, this one has no outside effect to hand to a worker: the anonymisation *is*
the work, a handful of UPDATEs and DELETEs in the tenant's own rows. So ``act`` does it directly —
the framework already runs it in the tenant's context (RLS as in a request), inside a savepoint,
committing per tenant — and returns the family's id (counted as "enqueued", i.e. done) or None.

Idempotent: ``due`` selects only families not yet anonymised, locking them (SKIP LOCKED, so a
concurrent run passes them by), and ``act`` checks ``anonymised_at`` again. A run after downtime
catches up because ``due`` asks "closed at or before now minus the period", not "since last run".
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy import select

from domain.audit.services import Actor
from domain.families.models import Family, FamilyStatus
from domain.families.privacy import anonymise_family
from domain.sweeps.framework import tenant_sweep
from tenants.db import db
from tenants.models import Tenant

NAME = "family_retention"
SETTING = "family_retention_months"
BATCH = 500  # per tenant and run; the rest follows the next day
ACTOR = Actor(label="systeem (bewaartermijn)")


def months_before(moment: datetime, months: int) -> datetime:
    """``moment`` minus whole calendar months; the 31st becomes the month's last day when needed."""
    total = moment.year * 12 + (moment.month - 1) - months
    year, month = divmod(total, 12)
    month += 1
    next_month = date(year + (month == 12), month % 12 + 1, 1)
    last_day = (next_month - date(year, month, 1)).days
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


def retention_months(tenant: Tenant) -> int:
    value = tenant.setting(SETTING)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        # A broken setting must not anonymise early or never: fail this tenant, visibly, in the log.
        raise ValueError(f"tenant {tenant.id}: {SETTING} must be a whole number of months >= 1, got {value!r}")
    return value


def cutoff(tenant: Tenant, now: datetime) -> datetime:
    return months_before(now, retention_months(tenant))


def due_query(tenant_id: int, before: datetime):
    return (
        select(Family)
        .where(
            Family.tenant_id == tenant_id,
            Family.status == FamilyStatus.AFGEMELD.value,
            Family.anonymised_at.is_(None),
            Family.closed_at <= before,
        )
        .order_by(Family.closed_at, Family.id)
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    )


def due(tenant: Tenant, now: datetime) -> Iterable[Family]:
    return list(db.session.scalars(due_query(tenant.id, cutoff(tenant, now))))


def act(tenant: Tenant, family: Family, now: datetime) -> int | None:
    return family.id if anonymise_family(family, ACTOR, now) else None


FAMILY_RETENTION = tenant_sweep(
    NAME, due, act,
    description="Anonimiseert gezinnen die langer dan de bewaartermijn geleden zijn afgemeld.",
)
