"""Periodic sweeps: find what has become due in the database, and enqueue it through the outbox once.

A sweep is two functions: ``due(tenant, now)``, an indexed query for the things that are due at
``now`` in one tenant, and ``act(tenant, thing, now)``, which enqueues the work (``queue_email`` or
``enqueue``) with a dedupe key per (thing, occasion) and returns None when that key was used
before. The framework runs ``due`` and ``act`` for every active tenant in that tenant's context
(RLS applies as in a request) and commits per tenant, so one tenant's failure does not hold up
the others.

Exactly once, however the sweep is run: running twice at the same moment, two runs at the same
time (the dedupe key's unique constraint decides; the loser's insert becomes a no-op or, failing
that, its savepoint is rolled back and the thing counted as skipped), or one run after hours of
downtime (``due`` selects by "due at or before now", never by "due since the last run").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from tenants.db import db
from tenants.models import Tenant
from tenants.services import list_tenants, use_tenant

log = logging.getLogger(__name__)


@dataclass
class SweepReport:
    sweep: str
    now: datetime
    tenants: int = 0
    enqueued: int = 0  # new work written to the outbox
    skipped: int = 0  # due, but its dedupe key was already used (by an earlier or a concurrent run)
    failed: int = 0  # things whose ``act`` raised; tried again next run
    failed_tenants: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"sweep": self.sweep, "now": self.now.isoformat(), "tenants": self.tenants,
                "enqueued": self.enqueued, "skipped": self.skipped, "failed": self.failed,
                "failed_tenants": self.failed_tenants}


@dataclass(frozen=True)
class Sweep:
    name: str
    # run(now, tenant_ids=None): every active tenant, or only those of ``tenant_ids``.
    run: Callable[..., SweepReport]
    description: str = ""


def utcnow() -> datetime:
    return datetime.now(UTC)


def tenant_sweep(
    name: str,
    due: Callable[[Tenant, datetime], Iterable[Any]],
    act: Callable[[Tenant, Any, datetime], Any | None],
    description: str = "",
) -> Sweep:
    """A sweep that runs ``due`` and ``act`` in every active tenant."""

    def run(now: datetime, tenant_ids: Collection[int] | None = None) -> SweepReport:
        return run_per_tenant(name, due, act, now, tenant_ids)

    return Sweep(name=name, run=run, description=description)


def tenant_batch_sweep(
    name: str,
    due: Callable[[Tenant, datetime], list[Any]],
    act_all: Callable[[Tenant, list[Any], datetime], int],
    description: str = "",
) -> Sweep:
    """A sweep whose ``act_all`` handles all of a tenant's due things at once and returns how many it
    enqueued (the rest of them counted as skipped): a fixed number of statements per tenant, however
    many things are due. A failure fails the tenant as a whole; the next run tries it again."""

    def run(now: datetime, tenant_ids: Collection[int] | None = None) -> SweepReport:
        def act_each(tenant: Tenant, things: list[Any], now: datetime) -> list[str]:
            enqueued = act_all(tenant, things, now) if things else 0
            return [ENQUEUED] * enqueued + [SKIPPED] * (len(things) - enqueued)

        return _run(name, due, act_each, now, tenant_ids)

    return Sweep(name=name, run=run, description=description)


def run_per_tenant(
    name: str,
    due: Callable[[Tenant, datetime], Iterable[Any]],
    act: Callable[[Tenant, Any, datetime], Any | None],
    now: datetime,
    tenant_ids: Collection[int] | None = None,
) -> SweepReport:
    def act_each(tenant: Tenant, things: list[Any], now: datetime) -> list[str]:
        return [_once(name, tenant.id, lambda thing=thing: act(tenant, thing, now)) for thing in things]

    return _run(name, due, act_each, now, tenant_ids)


def _run(
    name: str,
    due: Callable[[Tenant, datetime], Iterable[Any]],
    act_each: Callable[[Tenant, list[Any], datetime], list[str]],
    now: datetime,
    tenant_ids: Collection[int] | None,
) -> SweepReport:
    if now.tzinfo is None:
        raise ValueError("a sweep's 'now' must be timezone-aware")
    report = SweepReport(sweep=name, now=now)
    use_tenant(None)
    active = [tenant.id for tenant in list_tenants() if tenant.is_active]
    tenant_ids = [tenant_id for tenant_id in active if tenant_ids is None or tenant_id in tenant_ids]
    db.session.rollback()
    for tenant_id in tenant_ids:
        try:
            use_tenant(tenant_id)
            tenant = db.session.get(Tenant, tenant_id)
            if tenant is None or not tenant.is_active:  # suspended since the list was read
                db.session.rollback()
                continue
            outcomes = act_each(tenant, list(due(tenant, now)), now)
            db.session.commit()
        except Exception:
            db.session.rollback()
            report.failed_tenants.append(tenant_id)
            log.exception("sweep failed for a tenant", extra={"sweep": name, "tenant_id": tenant_id})
            continue
        finally:
            use_tenant(None)
        report.tenants += 1
        report.enqueued += outcomes.count(ENQUEUED)
        report.skipped += outcomes.count(SKIPPED)
        report.failed += outcomes.count(FAILED)
    log.info("sweep done", extra=report.as_dict())
    return report


ENQUEUED, SKIPPED, FAILED = "enqueued", "skipped", "failed"


def _once(name: str, tenant_id: int, action: Callable[[], Any | None]) -> str:
    """Run one ``act`` in a savepoint, so whatever happens to it, the tenant's other things go on.

    The outbox insert is ON CONFLICT DO NOTHING, so a concurrent run normally just gets None back
    (skipped); a unique violation from anything else the action writes is the same race. Any other
    error is logged and that thing alone is left for the next run.
    """
    savepoint = db.session.begin_nested()
    try:
        result = action()
    except IntegrityError:
        savepoint.rollback()
        return SKIPPED
    except Exception:
        savepoint.rollback()
        log.exception("sweep could not enqueue one thing", extra={"sweep": name, "tenant_id": tenant_id})
        return FAILED
    savepoint.commit()
    return ENQUEUED if result is not None else SKIPPED
