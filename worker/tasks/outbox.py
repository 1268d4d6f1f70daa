"""Outbox tasks: run one job (in its tenant's context), and the relay sweep run by beat."""

from celery import shared_task
from flask import current_app

from domain.outbox import relay
from domain.outbox.handlers import job_handlers
from domain.outbox.services import run_job


@shared_task(name=relay.RUN_JOB_TASK)
def run_outbox_job(job_id: int, tenant_id: int) -> str | None:
    # tenant_id is consumed by the base task, which binds the database session to that tenant.
    settings = current_app.extensions["settings"]
    status = run_job(job_id, job_handlers(), lease_seconds=settings.outbox_lease_seconds,
                     retry_base_seconds=settings.outbox_retry_base_seconds)
    return None if status is None else str(status)


@shared_task(name="outbox.relay_due")
def relay_due_jobs() -> int:
    settings = current_app.extensions["settings"]
    return relay.relay_due(current_app.extensions[relay.DISPATCH_EXTENSION], settings.outbox_lease_seconds)
