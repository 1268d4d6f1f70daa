"""Celery bound to the Flask app, after Flask's own Celery pattern.

Every task runs inside the app context; a task given ``tenant_id`` acts for that tenant exactly as a
request to ``/<slug>/`` would, and its database session is removed afterwards.
"""

from __future__ import annotations

from celery import Celery, Task
from flask import Flask

from domain.outbox.relay import celery_dispatch, install_dispatch
from tenants.db import db
from tenants.services import use_tenant
from worker.logging import install_json_logging
from worker.schedule import beat_schedule


def celery_init_app(app: Flask) -> Celery:
    settings = app.extensions["settings"]

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                try:
                    use_tenant(kwargs.get("tenant_id"))
                    return self.run(*args, **kwargs)
                finally:
                    db.session.remove()

    celery = Celery(app.name, task_cls=FlaskTask)
    celery.conf.update(
        broker_url=settings.celery_broker_url,
        task_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # Longer than the longest task: a killed worker's task is redelivered only after this.
        broker_transport_options={"visibility_timeout": 3600},
        timezone="Europe/Amsterdam",
        beat_schedule=beat_schedule(settings),
        broker_connection_retry_on_startup=True,
        imports=("worker.tasks.health", "worker.tasks.outbox", "worker.tasks.sweeps"),
        task_default_queue=settings.task_queue,
        task_ignore_result=True,  # tasks record their effects in the database, not in a result store
    )
    celery.set_default()
    # Worker and beat log JSON lines, with job and tenant ids where there are some.
    install_json_logging()
    app.extensions["celery"] = celery
    install_dispatch(app, celery_dispatch(celery, settings.task_queue))
    return celery
