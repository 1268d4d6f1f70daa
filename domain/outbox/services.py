"""Enqueueing and running outbox jobs.

A job is written in the caller's transaction, so it exists exactly when the caller's change does.
After commit it is handed to Celery at once; the relay sweep (``relay.relay_due``) catches
whatever that missed (Redis down, crash between commit and hand-over) and whatever a dead worker
left behind. A worker claims a row before running it, so duplicate deliveries of one Celery
message are harmless, and the handler's database effects commit together with "done".
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from domain.outbox.models import JobStatus, OutboxJob
from tenants.db import db, session_tenant

log = logging.getLogger(__name__)

_AFTER_COMMIT_KEY = "outbox_after_commit"
MAX_BACKOFF_SECONDS = 3600
MAX_ERROR_LENGTH = 2000


class PermanentJobError(Exception):
    """Trying again will not help (an address refused, a template that does not render)."""


@dataclass(frozen=True)
class JobHandler:
    run: Callable[[OutboxJob], None]
    # Called in the failure's own transaction, so the feature can record what went wrong
    # (the run's own writes were rolled back). ``final`` is True when the job is parked.
    on_failure: Callable[[OutboxJob, str, bool], None] | None = None


@dataclass(frozen=True)
class JobRef:
    job_id: int
    tenant_id: int


def utcnow() -> datetime:
    return datetime.now(UTC)


def enqueue(
    kind: str,
    payload: dict[str, Any],
    tenant: Any,
    dedupe_key: str,
    due_at: datetime | None = None,
    *,
    max_attempts: int = 8,
) -> int | None:
    """Write a job in the current transaction; returns its id, or None if the key already exists."""
    tenant_id = tenant if isinstance(tenant, int) else tenant.id
    if session_tenant(db.session()) != tenant_id:
        # RLS would refuse the row anyway; this says why in words.
        raise ValueError("enqueue() must run in the tenant context of the job's tenant")
    values = {
        "tenant_id": tenant_id, "kind": kind, "payload": payload, "dedupe_key": dedupe_key,
        "status": JobStatus.PENDING, "attempts": 0, "max_attempts": max_attempts,
    }
    if due_at is not None:
        values["due_at"] = due_at
    statement = (
        insert(OutboxJob).values(**values)
        .on_conflict_do_nothing(index_elements=["tenant_id", "dedupe_key"])
        .returning(OutboxJob.id)
    )
    job_id = db.session.execute(statement).scalar()
    if job_id is not None and (due_at is None or due_at <= utcnow()):
        db.session().info.setdefault(_AFTER_COMMIT_KEY, []).append(JobRef(job_id, tenant_id))
    return job_id


def enqueue_many(kind: str, jobs: list[tuple[dict[str, Any], str]], tenant_id: int, *,
                 max_attempts: int = 8) -> dict[str, int]:
    """Write many jobs of one kind, due now, in one statement: ``jobs`` are (payload, dedupe_key).

    Returns {dedupe_key: job id} for the jobs written; a key that already existed is left out.
    For sweeps, whose statement count must not grow with the number of things due.
    """
    if not jobs:
        return {}
    if session_tenant(db.session()) != tenant_id:
        raise ValueError("enqueue_many() must run in the tenant context of the jobs' tenant")
    rows = [{"tenant_id": tenant_id, "kind": kind, "payload": payload, "dedupe_key": key,
             "status": JobStatus.PENDING, "attempts": 0, "max_attempts": max_attempts} for payload, key in jobs]
    statement = (
        insert(OutboxJob).values(rows)
        .on_conflict_do_nothing(index_elements=["tenant_id", "dedupe_key"])
        .returning(OutboxJob.id, OutboxJob.dedupe_key)
    )
    written = {key: job_id for job_id, key in db.session.execute(statement)}
    db.session().info.setdefault(_AFTER_COMMIT_KEY, []).extend(JobRef(job_id, tenant_id) for job_id in written.values())
    return written


def take_committed_jobs(session: Session) -> list[JobRef]:
    """The jobs of the transaction that just committed, to hand to Celery (see web/worker setup)."""
    return session.info.pop(_AFTER_COMMIT_KEY, [])


def forget_rolled_back_jobs(session: Session) -> None:
    session.info.pop(_AFTER_COMMIT_KEY, None)


def _claimable(now: datetime):
    return or_(
        OutboxJob.status == JobStatus.QUEUED,
        and_(OutboxJob.status == JobStatus.PENDING, OutboxJob.due_at <= now),
        and_(OutboxJob.status == JobStatus.RUNNING, OutboxJob.lease_until < now),
    )


def claim(job_id: int, lease_seconds: int) -> OutboxJob | None:
    """Mark the job running for this worker, or None if it is done, running elsewhere, or not due."""
    now = utcnow()
    job = db.session.scalar(
        select(OutboxJob).where(OutboxJob.id == job_id, _claimable(now)).with_for_update(skip_locked=True)
    )
    if job is None:
        db.session.rollback()
        return None
    job.status = JobStatus.RUNNING
    job.attempts += 1
    job.lease_until = now + timedelta(seconds=lease_seconds)
    db.session.commit()
    return job


def run_job(
    job_id: int, handlers: dict[str, JobHandler], *, lease_seconds: int, retry_base_seconds: int
) -> JobStatus | None:
    """Claim, run and settle one job. Returns its new status, or None when it was not ours to run."""
    job = claim(job_id, lease_seconds)
    if job is None:
        return None
    context = {"job_id": job.id, "tenant_id": job.tenant_id, "kind": job.kind, "attempt": job.attempts}
    handler = handlers.get(job.kind)
    try:
        if handler is None:
            raise PermanentJobError(f"no handler for job kind {job.kind!r}")
        handler.run(job)
        job.status = JobStatus.DONE
        job.finished_at = utcnow()
        job.lease_until = None
        job.last_error = None
        db.session.commit()
    except Exception as error:
        db.session.rollback()
        status = _settle_failure(job_id, handler, error, retry_base_seconds)
        log.warning("job %s", status, extra={**context, "error": _describe(error)})
        return status
    log.info("job done", extra=context)
    return JobStatus.DONE


def _settle_failure(job_id: int, handler: JobHandler | None, error: Exception, retry_base_seconds: int) -> JobStatus:
    job = db.session.scalar(select(OutboxJob).where(OutboxJob.id == job_id).with_for_update())
    final = isinstance(error, PermanentJobError) or job.attempts >= job.max_attempts
    job.last_error = _describe(error)
    job.lease_until = None
    if final:
        job.status = JobStatus.FAILED
        job.finished_at = utcnow()
    else:
        job.status = JobStatus.PENDING
        job.due_at = utcnow() + timedelta(seconds=retry_delay(job.attempts, retry_base_seconds))
    if handler is not None and handler.on_failure is not None:
        handler.on_failure(job, job.last_error, final)
    db.session.commit()
    return job.status


def retry_delay(attempts: int, base_seconds: int) -> float:
    """Exponential backoff with jitter, so failed jobs do not all come back in the same second."""
    delay = min(base_seconds * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS)
    return delay * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security


def retry_failed(job: OutboxJob) -> None:
    """A person decided to try a parked job again: fresh attempts, due now."""
    job.status = JobStatus.PENDING
    job.attempts = 0
    job.due_at = utcnow()
    job.finished_at = None
    db.session.flush()
    db.session().info.setdefault(_AFTER_COMMIT_KEY, []).append(JobRef(job.id, job.tenant_id))


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:MAX_ERROR_LENGTH]
