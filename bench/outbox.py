"""``outbox_throughput``: no-op jobs through the whole outbox, against bare Celery messages.

Ours: N ``outbox.noop`` jobs enqueued in transactions of BATCH (as a request would: enqueue, commit,
after-commit hand-over to the broker), claimed, run and marked done by a real worker; timed from the
first enqueue until every row is done. Baseline: N ``send_task`` calls of a bare no-op task through
the same broker client to the same worker, timed until all have run. Both in jobs per second;
ratio = baseline / ours, how many times costlier a job through the outbox is.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import replace

from sqlalchemy import create_engine, pool, text

from config.settings import Settings
from domain.outbox.relay import client_celery
from domain.outbox.services import enqueue
from tenants.db import db
from tenants.services import create_tenant, use_tenant

NAME = "outbox_throughput"
NOOP_TASK = "bench.noop"
WORKER_APP = "bench.celery_entry:celery_app"
WORKER_CONCURRENCY = 2  # as the Procfile runs it
WARM_UP = 50
WAIT_SECONDS = 300
POLL = 0.02  # seconds between completion checks: small next to the measured run


def noop_counter_key(namespace: str) -> str:
    return f"{namespace}:bench:noop"


def _count_from_env(name: str, default: int) -> int:
    value = int(os.environ.get(name, default))
    if value < 1:
        raise SystemExit(f"{name} must be at least 1")
    return value


def run(base: Settings) -> list[dict]:
    # Imported here: the web app factory is only needed once the benchmark really runs.
    from devstack.celery_processes import celery_process, wait_until
    from devstack.scratch import scratch_database
    from web.app import create_app

    n = _count_from_env("BENCH_OUTBOX_N", 2000)
    batch = _count_from_env("BENCH_OUTBOX_BATCH", 100)
    with scratch_database(replace(base, mail_backend="sink"), prefix="bg_bench") as settings:
        app = create_app(settings)
        with app.app_context():
            tenant = create_tenant(slug=f"bench-{uuid.uuid4().hex[:8]}", name="Bench", gemeentecode="9999")
            db.session.commit()
            tenant_id = tenant.id
            db.session.remove()
        redis = app.extensions["redis"]
        counter = noop_counter_key(settings.redis_namespace)
        sender = client_celery(settings.celery_broker_url)
        # The owner role sees every tenant's outbox rows (its relay policy): one cheap count per poll.
        owner = create_engine(settings.database_url, poolclass=pool.StaticPool)

        def done_jobs() -> int:
            with owner.connect() as connection:
                return connection.execute(text("SELECT count(*) FROM outbox_jobs WHERE status = 'done'")).scalar()

        def enqueue_jobs(count: int) -> None:
            for start in range(0, count, batch):
                with app.app_context():
                    use_tenant(tenant_id)
                    for _ in range(min(batch, count - start)):
                        enqueue("outbox.noop", {}, tenant_id, dedupe_key=f"bench:{uuid.uuid4().hex}")
                    db.session.commit()  # the after-commit hand-over sends this batch to the broker
                    db.session.remove()

        def send_noops(count: int) -> None:
            for _ in range(count):
                sender.send_task(NOOP_TASK, queue=settings.task_queue)

        try:
            with celery_process(settings, app=WORKER_APP, concurrency=WORKER_CONCURRENCY) as worker:
                # Warm up both paths (pool children, connections, imports) before timing anything.
                redis.delete(counter)
                send_noops(WARM_UP)
                enqueue_jobs(WARM_UP)
                wait_until(lambda: int(redis.get(counter) or 0) >= WARM_UP and done_jobs() >= WARM_UP,
                           seconds=WAIT_SECONDS, interval=POLL, message="the warm-up", process=worker)

                redis.delete(counter)
                started = time.perf_counter()
                send_noops(n)
                wait_until(lambda: int(redis.get(counter) or 0) >= n, seconds=WAIT_SECONDS, interval=POLL,
                           message=f"{n} bare no-op tasks", process=worker)
                baseline = n / (time.perf_counter() - started)

                target = done_jobs() + n
                started = time.perf_counter()
                enqueue_jobs(n)
                wait_until(lambda: done_jobs() >= target, seconds=WAIT_SECONDS, interval=POLL,
                           message=f"{n} outbox jobs", process=worker)
                ours = n / (time.perf_counter() - started)
        finally:
            redis.delete(counter)
            owner.dispose()
            with app.app_context():
                db.engine.dispose()  # let the database be dropped without waiting for idle connections
    return [{
        "name": NAME, "ours": round(ours, 1), "baseline": round(baseline, 1), "unit": "jobs/s",
        "ratio": round(baseline / ours, 2), "n": n,
    }]
