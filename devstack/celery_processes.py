"""Real Celery worker and beat processes, started against given settings: for the tests and make bench."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from config.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]
READY_SECONDS = 60


def process_environment(settings: Settings, **overrides: str) -> dict[str, str]:
    """The environment a worker or beat needs to serve exactly this test run's database and queues."""
    environment = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "APP_DATABASE_URL": settings.app_database_url,
        "REDIS_URL": settings.redis_url,
        "REDIS_NAMESPACE": settings.redis_namespace,
        "BUURTGEZINNEN_ENV": "test",
        "SMTP_HOST": settings.smtp_host,
        "SMTP_PORT": str(settings.smtp_port),
        "SMTP_TIMEOUT_SECONDS": str(settings.smtp_timeout_seconds),
        "MAIL_BACKEND": settings.mail_backend,
        "OUTBOX_LEASE_SECONDS": str(settings.outbox_lease_seconds),
        "OUTBOX_RETRY_BASE_SECONDS": str(settings.outbox_retry_base_seconds),
        "OUTBOX_SWEEP_SECONDS": str(settings.outbox_sweep_seconds),
        "PYTHONUNBUFFERED": "1",
        **overrides,
    }
    environment.pop("SECRET_KEY", None)  # test mode makes its own
    return environment


class CeleryProcess:
    def __init__(self, process: subprocess.Popen, log_path: Path):
        self.process = process
        self.log_path = log_path

    def log(self) -> str:
        return self.full_log()[-6000:]

    def full_log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole process group: the main process and its pool children, mid-task."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()


@contextmanager
def celery_process(settings: Settings, role: str = "worker", *, concurrency: int = 1, app: str = "worker.main",
                   **env_overrides: str) -> Iterator[CeleryProcess]:
    """Start ``celery worker`` or ``celery beat`` for this test run; stopped (or killed) on exit."""
    log_file = tempfile.NamedTemporaryFile(prefix=f"celery-{role}-", suffix=".log", delete=False)
    if role == "worker":
        arguments = ["worker", "--loglevel", "INFO", "--concurrency", str(concurrency), "--pool", "prefork",
                     "--hostname", f"test-{settings.redis_namespace}-{os.getpid()}-{time.monotonic_ns()}@%h",
                     "--without-gossip", "--without-mingle", "--without-heartbeat"]
        ready = "ready."
    else:
        schedule = Path(tempfile.mkdtemp(prefix="beat-")) / "schedule"
        arguments = ["beat", "--loglevel", "INFO", "--schedule", str(schedule)]
        ready = "beat: Starting"
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", app, *arguments],
        cwd=PROJECT_ROOT,
        env=process_environment(settings, **env_overrides),
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so pool children go with it
    )
    handle = CeleryProcess(process, Path(log_file.name))
    try:
        deadline = time.monotonic() + READY_SECONDS
        # The whole log: a worker that starts on a backlog of queued messages logs so much at once
        # that its "ready." line can leave the tail between two looks.
        while ready not in handle.full_log():
            assert handle.alive(), f"celery {role} exited early:\n{handle.log()}"
            assert time.monotonic() < deadline, f"celery {role} did not become ready:\n{handle.log()}"
            time.sleep(0.2)
        yield handle
    finally:
        handle.stop()
        log_file.close()
        os.unlink(log_file.name)


def wait_until(condition, *, seconds: float = 60, interval: float = 0.2, message: str = "condition",
               process: CeleryProcess | None = None) -> None:
    """Poll ``condition`` until it is truthy; fail (not hang) after ``seconds`` or if ``process`` dies."""
    deadline = time.monotonic() + seconds
    while not condition():
        if process is not None and not process.alive():
            raise AssertionError(f"celery died while waiting for {message}:\n{process.log()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(interval)
