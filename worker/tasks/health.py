from celery import shared_task
from flask import current_app

from domain.health.services import record_worker_heartbeat


@shared_task(name="health.heartbeat")
def heartbeat() -> float:
    """Proves a worker is consuming the queue; /healthz reads the timestamp it leaves."""
    settings = current_app.extensions["settings"]
    return record_worker_heartbeat(current_app.extensions["redis"], settings.redis_namespace)
