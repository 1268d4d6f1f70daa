"""The outbox end to end: a real PostgreSQL with RLS, real Redis, real Celery worker and beat processes.

Jobs use the kind ``outbox.noop`` (a real, registered handler that does nothing) unless a test is
about failures, where ``run_job`` gets a handler map of the test's own: the map is a parameter so
that retry and parking can be proven without fake handlers in production code.

The worker logs JSON lines; "task started" lines carry the job and tenant ids a task was sent with,
which is how these tests see what the worker was (or was never) asked to do.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import create_engine, pool, select, text
from sqlalchemy.engine import make_url

from config.settings import Settings
from devstack import redis_server
from devstack.celery_processes import CeleryProcess, celery_process, wait_until
from domain.health.services import record_worker_heartbeat
from domain.outbox import relay
from domain.outbox.models import JobStatus, OutboxJob
from domain.outbox.services import (
    _AFTER_COMMIT_KEY,
    JobHandler,
    PermanentJobError,
    claim,
    enqueue,
    retry_delay,
    run_job,
    take_committed_jobs,
    utcnow,
)
from tenants.db import db
from tenants.schema import migrate
from tenants.services import use_tenant
from tests.conftest import Factory, Gemeente
from web.app import create_app

WAIT_SECONDS = 60
FIELDS = ("id", "tenant_id", "kind", "status", "attempts", "max_attempts", "due_at", "lease_until",
          "last_error", "finished_at", "dedupe_key")


# --- helpers -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tenants(make: Factory) -> tuple[Gemeente, Gemeente]:
    return make.tenant(), make.tenant()


@pytest.fixture(scope="module")
def worker(settings: Settings) -> Iterator[CeleryProcess]:
    with celery_process(settings) as process:
        yield process


def key() -> str:
    return f"test:{uuid.uuid4().hex}"


def job_row(app: Flask, tenant_id: int, job_id: int) -> dict | None:
    """The row as the tenant sees it (through RLS), or None."""
    with app.app_context():
        use_tenant(tenant_id)
        job = db.session.get(OutboxJob, job_id)
        row = None if job is None else {name: getattr(job, name) for name in FIELDS}
        db.session.remove()
    return row


def enqueue_committed(app: Flask, tenant_id: int, kind: str = "outbox.noop", **options) -> int:
    """Enqueue and commit as a request of ``app`` would: the after-commit hand-over sends it."""
    with app.app_context():
        use_tenant(tenant_id)
        job_id = enqueue(kind, {}, tenant_id, dedupe_key=key(), **options)
        db.session.commit()
        db.session.remove()
    assert job_id is not None
    return job_id


def insert_quietly(app: Flask, tenant_id: int, kind: str = "outbox.noop", count: int = 1, **fields) -> list[int]:
    """Committed rows that were never handed to Celery (as after a crash between commit and hand-over)."""
    with app.app_context():
        use_tenant(tenant_id)
        ids = [enqueue(kind, {}, tenant_id, dedupe_key=key(), max_attempts=fields.pop("max_attempts", 8))
               for _ in range(count)]
        take_committed_jobs(db.session())  # nothing goes to the broker
        if fields:
            for job in db.session.scalars(select(OutboxJob).where(OutboxJob.id.in_(ids))):
                for name, value in fields.items():
                    setattr(job, name, value)
        db.session.commit()
        db.session.remove()
    return ids


def wait_for_status(app: Flask, tenant_id: int, job_id: int, status: JobStatus, *processes: CeleryProcess) -> dict:
    def settled():
        for process in processes:
            assert process.alive(), f"celery process died:\n{process.log()}"
        row = job_row(app, tenant_id, job_id)
        return row if row is not None and row["status"] == status else None

    wait_until(settled, seconds=WAIT_SECONDS, message=f"job {job_id} {status}: {job_row(app, tenant_id, job_id)}\n"
               + "\n".join(process.log() for process in processes))
    return job_row(app, tenant_id, job_id)


def json_lines(process: CeleryProcess) -> list[dict]:
    lines = []
    for line in process.log_path.read_text(errors="replace").splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue  # Celery's start-up banner is plain text
    return lines


def started_job_ids(process: CeleryProcess) -> set[int]:
    return {line["job_id"] for line in json_lines(process)
            if line.get("message") == "task started" and "job_id" in line}


# --- enqueue, rollback, dedupe -------------------------------------------------------------------


def test_rollback_leaves_no_row_and_nothing_is_sent(app: Flask, tenants, worker: CeleryProcess):
    a, _ = tenants
    with app.app_context():
        use_tenant(a.id)
        rolled_back = enqueue("outbox.noop", {}, a.id, dedupe_key=key())
        assert rolled_back is not None
        assert db.session().info[_AFTER_COMMIT_KEY]  # would be handed over at commit
        db.session.rollback()
        assert not db.session().info.get(_AFTER_COMMIT_KEY)
        assert db.session.get(OutboxJob, rolled_back) is None
        # Same session, next transaction: its commit must hand over only its own job.
        marker = enqueue("outbox.noop", {}, a.id, dedupe_key=key())
        db.session.commit()
        db.session.remove()

    wait_for_status(app, a.id, marker, JobStatus.DONE, worker)
    assert job_row(app, a.id, rolled_back) is None
    started = started_job_ids(worker)
    assert marker in started
    # The worker takes messages in order, so had the rolled-back job been sent, it would show first.
    assert rolled_back not in started


def test_enqueue_twice_with_one_dedupe_key_makes_one_row(app: Flask, tenants):
    a, _ = tenants
    dedupe = key()
    with app.app_context():
        use_tenant(a.id)
        first = enqueue("outbox.noop", {"n": 1}, a.id, dedupe_key=dedupe)
        second = enqueue("outbox.noop", {"n": 2}, a.id, dedupe_key=dedupe)
        take_committed_jobs(db.session())
        db.session.commit()
        assert first is not None and second is None
        rows = db.session.scalars(select(OutboxJob).where(OutboxJob.dedupe_key == dedupe)).all()
        assert [(row.id, row.payload) for row in rows] == [(first, {"n": 1})]
        # A later transaction with the same key is a no-op too.
        assert enqueue("outbox.noop", {"n": 3}, a.id, dedupe_key=dedupe) is None
        db.session.rollback()
        db.session.remove()


def test_enqueue_refuses_another_tenants_context(app: Flask, tenants):
    a, b = tenants
    with app.app_context():
        use_tenant(a.id)
        with pytest.raises(ValueError, match="tenant context"):
            enqueue("outbox.noop", {}, b.id, dedupe_key=key())
        db.session.remove()


# --- the real worker -----------------------------------------------------------------------------


def test_commit_hands_the_job_to_the_worker_without_beat(settings: Settings, tenants, worker: CeleryProcess):
    a, _ = tenants
    web = create_app(settings)  # as the web process: a sending-only Celery client, no beat anywhere
    job_id = enqueue_committed(web, a.id)
    row = wait_for_status(web, a.id, job_id, JobStatus.DONE, worker)
    assert row["attempts"] == 1
    assert row["finished_at"] is not None
    assert row["lease_until"] is None and row["last_error"] is None


def test_worker_logs_json_lines_with_job_and_tenant(app: Flask, tenants, worker: CeleryProcess):
    a, _ = tenants
    job_id = enqueue_committed(app, a.id)
    wait_for_status(app, a.id, job_id, JobStatus.DONE, worker)
    done = [line for line in json_lines(worker) if line.get("job_id") == job_id and line["message"] == "job done"]
    assert len(done) == 1, worker.log()
    line = done[0]
    assert line["tenant_id"] == a.id
    assert line["kind"] == "outbox.noop" and line["attempt"] == 1
    assert line["level"] == "INFO" and line["logger"] == "domain.outbox.services"
    assert line["task_name"] == relay.RUN_JOB_TASK and line["task_id"]
    assert line["timestamp"]
    # Celery's own lines are JSON too.
    assert any(line.get("logger", "").startswith("celery") for line in json_lines(worker))


def test_unknown_kind_is_parked_at_once(app: Flask, tenants, worker: CeleryProcess):
    a, _ = tenants
    job_id = enqueue_committed(app, a.id, kind="test.no-such-kind")
    row = wait_for_status(app, a.id, job_id, JobStatus.FAILED, worker)
    assert row["attempts"] == 1
    assert "no handler" in row["last_error"] and "test.no-such-kind" in row["last_error"]
    assert row["finished_at"] is not None


def test_worker_for_tenant_a_cannot_run_tenant_bs_job(settings: Settings, app: Flask, tenants, worker: CeleryProcess):
    a, b = tenants
    (b_job,) = insert_quietly(app, b.id)  # due now, never handed over
    client = relay.client_celery(settings.celery_broker_url)
    sent = client.send_task(relay.RUN_JOB_TASK, kwargs={"job_id": b_job, "tenant_id": a.id},
                            queue=settings.task_queue)

    def task_finished():
        assert worker.alive(), worker.log()
        return any(line.get("task_id") == sent.id and "succeeded" in line.get("message", "")
                   for line in json_lines(worker))

    wait_until(task_finished, seconds=WAIT_SECONDS, message=f"task {sent.id} to finish\n{worker.log()}")
    row = job_row(app, b.id, b_job)
    assert row["status"] == JobStatus.PENDING
    assert row["attempts"] == 0 and row["lease_until"] is None
    assert any(line.get("job_id") == b_job and line.get("tenant_id") == a.id for line in json_lines(worker))


def test_expired_lease_is_relayed_again_and_completes(app: Flask, tenants, worker: CeleryProcess):
    a, _ = tenants
    # Claimed by a worker that then died: running, one attempt used, lease run out.
    (job_id,) = insert_quietly(app, a.id, status=JobStatus.RUNNING, attempts=1,
                               lease_until=utcnow() - timedelta(minutes=1))
    sent: list[int] = []
    with app.app_context():
        real_dispatch = app.extensions[relay.DISPATCH_EXTENSION]

        def recording_dispatch(jobs):
            jobs = list(jobs)
            sent.extend(job.job_id for job in jobs)
            return real_dispatch(jobs)

        relay.relay_due(recording_dispatch, lease_seconds=300)
        db.session.remove()
    assert job_id in sent
    row = wait_for_status(app, a.id, job_id, JobStatus.DONE, worker)
    assert row["attempts"] == 2


def test_a_valid_lease_cannot_be_claimed_twice(app: Flask, tenants):
    a, _ = tenants
    (job_id,) = insert_quietly(app, a.id)
    with app.app_context():
        use_tenant(a.id)
        first = claim(job_id, lease_seconds=300)
        assert first is not None and first.status == JobStatus.RUNNING
        db.session.remove()
    with app.app_context():
        use_tenant(a.id)
        assert claim(job_id, lease_seconds=300) is None
        # Let it go, so later relays do not see a stuck row.
        job = db.session.get(OutboxJob, job_id)
        job.status, job.finished_at, job.lease_until = JobStatus.DONE, utcnow(), None
        db.session.commit()
        db.session.remove()
    assert job_row(app, a.id, job_id)["attempts"] == 1


# --- retries, backoff, parking (run_job in this process, with the test's own handlers) -----------


def _run(app: Flask, tenant_id: int, job_id: int, handlers: dict[str, JobHandler]) -> JobStatus | None:
    with app.app_context():
        use_tenant(tenant_id)
        status = run_job(job_id, handlers, lease_seconds=60, retry_base_seconds=10)
        db.session.remove()
    return status


def test_transient_failures_back_off_then_park(app: Flask, tenants):
    a, _ = tenants
    (job_id,) = insert_quietly(app, a.id, kind="test.flaky", max_attempts=2)
    failures: list[tuple[str, bool]] = []

    def flaky(job: OutboxJob) -> None:
        raise TimeoutError("server said 451, later please")

    def on_failure(job: OutboxJob, error: str, final: bool) -> None:
        failures.append((error, final))

    handlers = {"test.flaky": JobHandler(run=flaky, on_failure=on_failure)}

    before = utcnow()
    assert _run(app, a.id, job_id, handlers) == JobStatus.PENDING
    after = utcnow()
    row = job_row(app, a.id, job_id)
    assert row["status"] == JobStatus.PENDING and row["attempts"] == 1
    assert "TimeoutError: server said 451" in row["last_error"]
    # Backoff: base 10 s for the first retry, with jitter between half and all of it.
    assert before + timedelta(seconds=5) <= row["due_at"] <= after + timedelta(seconds=10)
    assert row["lease_until"] is None and row["finished_at"] is None
    # Not due yet, so not claimable: a second delivery now does nothing.
    assert _run(app, a.id, job_id, handlers) is None

    insert_due_now(app, a.id, job_id)
    assert _run(app, a.id, job_id, handlers) == JobStatus.FAILED
    row = job_row(app, a.id, job_id)
    assert row["status"] == JobStatus.FAILED and row["attempts"] == 2
    assert "TimeoutError" in row["last_error"] and row["finished_at"] is not None
    assert [final for _, final in failures] == [False, True]


def insert_due_now(app: Flask, tenant_id: int, job_id: int) -> None:
    with app.app_context():
        use_tenant(tenant_id)
        db.session.get(OutboxJob, job_id).due_at = utcnow()
        db.session.commit()
        db.session.remove()


def test_permanent_error_parks_at_once(app: Flask, tenants):
    a, _ = tenants
    (job_id,) = insert_quietly(app, a.id, kind="test.doomed")
    finals: list[bool] = []

    def doomed(job: OutboxJob) -> None:
        raise PermanentJobError("550 no such mailbox")

    handlers = {"test.doomed": JobHandler(run=doomed, on_failure=lambda job, error, final: finals.append(final))}
    assert _run(app, a.id, job_id, handlers) == JobStatus.FAILED
    row = job_row(app, a.id, job_id)
    assert row["attempts"] == 1 < row["max_attempts"]
    assert row["last_error"] == "PermanentJobError: 550 no such mailbox"
    assert finals == [True]


def test_a_failed_run_rolls_back_its_own_writes(app: Flask, tenants):
    a, _ = tenants
    (job_id,) = insert_quietly(app, a.id, kind="test.half-done")

    def half_done(job: OutboxJob) -> None:
        job.payload = {"written": "by the failed run"}
        db.session.flush()
        raise PermanentJobError("gave up half-way")

    _run(app, a.id, job_id, {"test.half-done": JobHandler(run=half_done)})
    with app.app_context():
        use_tenant(a.id)
        assert db.session.get(OutboxJob, job_id).payload == {}
        db.session.remove()


def test_retry_delay_grows_with_jitter_and_is_capped():
    for attempt in (1, 2, 3, 5):
        base = 30 * 2 ** (attempt - 1)
        delays = [retry_delay(attempt, 30) for _ in range(50)]
        assert all(0.5 * base <= delay <= base for delay in delays)
        assert len(set(delays)) > 1  # jitter: not every job comes back in the same second
    capped = [retry_delay(30, 30) for _ in range(50)]
    assert all(1800 <= delay <= 3600 for delay in capped)


# --- the relay sweep -----------------------------------------------------------------------------


def test_two_sweeps_at_once_send_each_job_once(app: Flask, tenants):
    a, b = tenants
    ours_a = insert_quietly(app, a.id, count=60)
    ours = set(ours_a) | set(insert_quietly(app, b.id, count=60))
    sent: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def record(jobs) -> int:
        jobs = list(jobs)
        with lock:
            sent.extend(job.job_id for job in jobs)
        return len(jobs)

    def sweep() -> None:
        try:
            with app.app_context():
                start.wait()
                for _ in range(100):  # 120 rows in batches of 7 need about 18 rounds; never spin forever
                    if not relay.relay_due(record, lease_seconds=300, batch=7):
                        break
                db.session.remove()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=WAIT_SECONDS)
    assert not errors and not any(thread.is_alive() for thread in threads)

    counts = Counter(sent)
    assert ours <= set(counts)
    assert [job_id for job_id, n in counts.items() if n > 1] == []
    with app.app_context():
        again: list[int] = []
        relay.relay_due(lambda jobs: again.extend(job.job_id for job in jobs) or 0, lease_seconds=300)
        db.session.remove()
    assert ours.isdisjoint(again)  # queued with a lease: not sent again until it runs out
    row = job_row(app, a.id, ours_a[0])
    assert row["status"] == JobStatus.QUEUED and row["lease_until"] > utcnow()


# --- Redis away at commit time -------------------------------------------------------------------


def test_redis_down_at_commit_the_sweep_sends_it_later(settings: Settings, tenants, caplog):
    a, _ = tenants
    state = Path(tempfile.mkdtemp(prefix="bg-redis-"))
    private_redis = redis_server.start(state)
    private = replace(settings, redis_url=private_redis.url, redis_namespace=f"bgtest-down-{uuid.uuid4().hex[:8]}",
                      outbox_sweep_seconds=1, outbox_lease_seconds=3)
    try:
        # Worker and beat run through the outage: both reconnect on their own once Redis is back.
        with celery_process(private, "worker") as worker, celery_process(private, "beat") as beat:
            web = create_app(private)
            private_redis.stop()

            with caplog.at_level(logging.WARNING, logger="domain.outbox.relay"):
                job_id = enqueue_committed(web, a.id)  # the commit succeeds; the hand-over fails quietly
            assert "outbox hand-over failed" in caplog.text
            row = job_row(web, a.id, job_id)
            assert row["status"] == JobStatus.PENDING and row["attempts"] == 0

            private_redis = redis_server.start(state)  # same socket
            row = wait_for_status(web, a.id, job_id, JobStatus.DONE, worker, beat)
            assert row["attempts"] == 1
            assert started_job_ids(worker) & {job_id} == {job_id}
            # Beat logs JSON lines too, its reconnection included.
            beat_lines = json_lines(beat)
            assert any(line["logger"] == "celery.beat" and "Starting" in line["message"] for line in beat_lines)
    finally:
        private_redis.stop()


# --- /healthz ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def empty_database(settings: Settings) -> Iterator[Settings]:
    """A database of its own, so "no due jobs" does not depend on what other tests left behind."""
    name = f"bg_test_health_{uuid.uuid4().hex[:8]}"
    owner = make_url(settings.database_url)
    admin = create_engine(owner.set(database="postgres"), poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    fresh = replace(
        settings,
        database_url=owner.set(database=name).render_as_string(hide_password=False),
        app_database_url=make_url(settings.app_database_url).set(database=name).render_as_string(hide_password=False),
        redis_namespace=f"bgtest-health-{uuid.uuid4().hex[:8]}",
    )
    try:
        migrate(fresh.database_url, fresh.app_database_url)
        yield fresh
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_healthz_reports_the_oldest_due_job_without_failing(empty_database: Settings):
    web = create_app(empty_database)
    record_worker_heartbeat(web.extensions["redis"], empty_database.redis_namespace)
    client = web.test_client()

    body = client.get("/healthz").get_json()
    assert body["outbox"] == {"oldest_due_seconds": None}

    tenant = Factory(web).tenant()
    insert_quietly(web, tenant.id, due_at=utcnow() - timedelta(seconds=10))
    insert_quietly(web, tenant.id, due_at=utcnow() + timedelta(hours=1))  # not due: does not count
    response = client.get("/healthz")
    body = response.get_json()
    assert response.status_code == 200 and body["status"] == "ok"  # a backlog is reported, not fatal
    assert body["outbox"]["oldest_due_seconds"] >= 2
