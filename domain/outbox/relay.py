"""The bridge from outbox rows to Celery messages: the one place domain code talks to the broker.

Feature code never does; it calls ``enqueue``. Web and worker each install ``install_dispatch`` so
jobs go out right after commit, and beat runs ``relay_due`` for everything else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from celery import Celery
from flask import Flask, current_app, has_app_context
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from domain.outbox.services import JobRef, forget_rolled_back_jobs, take_committed_jobs
from tenants.db import db

log = logging.getLogger(__name__)

RUN_JOB_TASK = "outbox.run_job"
RELAY_BATCH = 500

Dispatch = Callable[[Iterable[JobRef]], int]


def celery_dispatch(celery: Celery, queue: str) -> Dispatch:
    """Send one run-job message per job. Failures are logged, not raised: the sweep retries."""

    def dispatch(jobs: Iterable[JobRef]) -> int:
        sent = 0
        try:
            for job in jobs:
                celery.send_task(RUN_JOB_TASK, kwargs={"job_id": job.job_id, "tenant_id": job.tenant_id},
                                 queue=queue, retry=False)
                sent += 1
        except Exception as error:  # broker away: the rows stay due and the sweep sends them later
            log.warning("outbox hand-over failed, the sweep will retry", extra={"error": repr(error)})
        return sent

    return dispatch


DISPATCH_EXTENSION = "outbox_dispatch"


def install_dispatch(app: Flask, dispatch: Dispatch) -> None:
    """Hand jobs to Celery after every commit of this app that enqueued some; drop them on rollback."""
    app.extensions[DISPATCH_EXTENSION] = dispatch
    if not event.contains(Session, "after_commit", _dispatch_after_commit):
        event.listen(Session, "after_commit", _dispatch_after_commit)
        event.listen(Session, "after_rollback", _forget_after_rollback)


def _dispatch_after_commit(session: Session) -> None:
    # SQLAlchemy fires after_commit when a savepoint is released too: nothing is committed yet then.
    if session.in_nested_transaction():
        return
    jobs = take_committed_jobs(session)
    # Outside an app with a dispatcher (a bare script) the jobs simply wait for the sweep.
    dispatch = current_app.extensions.get(DISPATCH_EXTENSION) if has_app_context() else None
    if jobs and dispatch is not None:
        dispatch(jobs)


def _forget_after_rollback(session: Session) -> None:
    # Likewise after_rollback for a savepoint: the enclosing transaction's jobs are still coming.
    if not session.in_nested_transaction():
        forget_rolled_back_jobs(session)


def client_celery(broker_url: str) -> Celery:
    """A sending-only Celery client for the web process (which never imports the worker)."""
    celery = Celery("buurtgezinnen-web", broker=broker_url, set_as_current=False)
    celery.conf.update(
        task_serializer="json", accept_content=["json"],
        broker_connection_timeout=2, broker_connection_retry=False, broker_connection_max_retries=0,
        broker_transport_options={"socket_timeout": 2, "socket_connect_timeout": 2},
    )
    return celery


def relay_due(dispatch: Dispatch, lease_seconds: int, batch: int = RELAY_BATCH) -> int:
    """Claim due rows of every tenant (through the narrow SECURITY DEFINER function) and send them."""
    rows = db.session.execute(
        text("SELECT job_id, job_tenant_id FROM outbox_claim_due(:batch, :lease)"),
        {"batch": batch, "lease": lease_seconds},
    ).all()
    db.session.commit()
    return dispatch(JobRef(job_id, tenant_id) for job_id, tenant_id in rows)


def oldest_due_age_seconds() -> float | None:
    """Age of the oldest job that is due but not finished, across tenants (for /healthz)."""
    age = db.session.scalar(text("SELECT extract(epoch FROM now() - outbox_oldest_due())"))
    return None if age is None else max(0.0, float(age))


def failed_counts_per_tenant() -> dict[int, int]:
    rows = db.session.execute(text("SELECT failed_tenant_id, failed FROM outbox_failed_counts()")).all()
    return {tenant_id: count for tenant_id, count in rows}
