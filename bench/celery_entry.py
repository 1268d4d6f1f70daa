"""The worker as production builds it, plus one bench-only task: ``celery -A bench.celery_entry:celery_app``.

``bench.noop`` is the bare baseline: a plain Celery task (no Flask context, no database) whose only
effect is to count itself in Redis, so the benchmark can see when all of them have run.
Production code never imports this module.
"""

from __future__ import annotations

from celery import Task

from bench.outbox import NOOP_TASK, noop_counter_key
from worker.main import celery_app, flask_app

__all__ = ["celery_app"]


@celery_app.task(name=NOOP_TASK, base=Task)
def bench_noop() -> None:
    settings = flask_app.extensions["settings"]
    flask_app.extensions["redis"].incr(noop_counter_key(settings.redis_namespace))
