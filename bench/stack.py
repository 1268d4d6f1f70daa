"""What a benchmark runs against: a fresh database of its own and a real Celery worker process.

Deliberately independent of ``tests`` (benchmarks must not import the test suite).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url

from config.settings import Environment, Settings
from tenants.schema import migrate

PROJECT_ROOT = Path(__file__).resolve().parents[1]
READY_SECONDS = 60


@contextmanager
def fresh_database(base: Settings) -> Iterator[Settings]:
    """A migrated database and a Redis namespace used by nothing else; the database is dropped after."""
    name = f"bg_bench_{uuid.uuid4().hex[:8]}"
    owner = make_url(base.database_url)
    admin = create_engine(owner, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    settings = replace(
        base,
        environment=Environment.TEST,
        database_url=owner.set(database=name).render_as_string(hide_password=False),
        app_database_url=make_url(base.app_database_url).set(database=name).render_as_string(hide_password=False),
        redis_namespace=f"bgbench-{uuid.uuid4().hex[:8]}",
    )
    try:
        migrate(settings.database_url, settings.app_database_url)
        yield settings
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _environment(settings: Settings) -> dict[str, str]:
    environment = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "APP_DATABASE_URL": settings.app_database_url,
        "REDIS_URL": settings.redis_url,
        "REDIS_NAMESPACE": settings.redis_namespace,
        "BUURTGEZINNEN_ENV": "test",
        "MAIL_BACKEND": "sink",
        "OUTBOX_LEASE_SECONDS": str(settings.outbox_lease_seconds),
        "OUTBOX_RETRY_BASE_SECONDS": str(settings.outbox_retry_base_seconds),
        "OUTBOX_SWEEP_SECONDS": str(settings.outbox_sweep_seconds),
        "PYTHONUNBUFFERED": "1",
    }
    environment.pop("SECRET_KEY", None)
    return environment


class WorkerProcess:
    def __init__(self, process: subprocess.Popen, log_path: Path):
        self.process = process
        self.log_path = log_path

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.process.poll() is None


@contextmanager
def celery_worker(settings: Settings, app: str, *, concurrency: int) -> Iterator[WorkerProcess]:
    """``celery -A APP worker`` on this settings' queue, as the Procfile runs it; stopped on exit."""
    log_file = tempfile.NamedTemporaryFile(prefix="bench-worker-", suffix=".log", delete=False)
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", app, "worker", "--loglevel", "INFO",
         "--concurrency", str(concurrency), "--pool", "prefork",
         "--hostname", f"bench-{settings.redis_namespace}@%h",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=PROJECT_ROOT, env=_environment(settings), stdout=log_file, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    worker = WorkerProcess(process, Path(log_file.name))
    try:
        deadline = time.monotonic() + READY_SECONDS
        while "ready." not in worker.log_tail():
            if not worker.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the bench worker did not start:\n{worker.log_tail()}")
            time.sleep(0.2)
        yield worker
    finally:
        if worker.alive():
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log_file.close()
        os.unlink(log_file.name)


def wait_for(condition, *, seconds: float, what: str, worker: WorkerProcess, interval: float = 0.02) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if not worker.alive():
            raise RuntimeError(f"the bench worker died while waiting for {what}:\n{worker.log_tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}:\n{worker.log_tail()}")
        time.sleep(interval)
