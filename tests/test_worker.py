"""A real Celery worker process, and /healthz reading what it leaves behind.

The worker is a subprocess started with the same database, Redis and Redis namespace as this test
process; no beat runs, so the only heartbeat is the one a test sends.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from flask import Flask

from config.settings import Settings
from devstack.celery_processes import CeleryProcess, celery_process
from domain.health.services import heartbeat_key
from web.app import create_app
from worker.celery_app import celery_init_app

WAIT_SECONDS = 60


@pytest.fixture(scope="module")
def worker(settings: Settings) -> Iterator[CeleryProcess]:
    with celery_process(settings) as process:
        yield process


@pytest.fixture(scope="module")
def client_app(settings: Settings) -> Flask:
    """A fresh app with a Celery client bound to it, as a web process or beat would have."""
    flask_app = create_app(settings)
    celery_init_app(flask_app)
    return flask_app


def _clear_heartbeat(flask_app: Flask) -> None:
    flask_app.extensions["redis"].delete(heartbeat_key(flask_app.extensions["settings"].redis_namespace))


def test_healthz_waits_for_a_worker_heartbeat(client_app: Flask, worker: CeleryProcess):
    _clear_heartbeat(client_app)
    client = client_app.test_client()

    before = client.get("/healthz")
    assert before.status_code == 503
    body = before.get_json()
    assert body["status"] == "down"
    assert body["down"] == ["worker"]
    assert body["database"] == "ok" and body["redis"] == "ok"

    celery = client_app.extensions["celery"]
    queue = f"{client_app.extensions['settings'].redis_namespace}.tasks"
    celery.send_task("health.heartbeat", queue=queue)

    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        response = client.get("/healthz")
        if response.status_code == 200:
            break
        assert worker.alive(), f"worker died:\n{worker.log()}"
        assert time.monotonic() < deadline, f"no heartbeat arrived: {response.get_json()}\n{worker.log()}"
        time.sleep(0.25)
    body = response.get_json()
    assert body["status"] == "ok"
    assert "down" not in body
    assert body["worker"] == body["database"] == body["redis"] == "ok"
    assert "health.heartbeat" in worker.full_log()  # the tail may be other tests' jobs


def test_worker_registers_the_task_under_its_stable_name(client_app: Flask, worker: CeleryProcess):
    ours = f"test-{client_app.extensions['settings'].redis_namespace}-"
    inspector = client_app.extensions["celery"].control.inspect(timeout=2)
    tasks = None
    deadline = time.monotonic() + WAIT_SECONDS
    while tasks is None:
        answers = inspector.registered() or {}
        tasks = next((names for node, names in answers.items() if node.startswith(ours)), None)
        assert time.monotonic() < deadline, f"worker did not answer inspect:\n{worker.log()}"
    assert "health.heartbeat" in tasks


def test_healthz_reports_redis_down(settings: Settings):
    broken = create_app(replace(settings, redis_url="redis://127.0.0.1:1/0"))
    response = broken.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert "redis" in body["down"]
    assert body["redis"].startswith("down:")
    assert body["database"] == "ok"


def test_healthz_reports_database_down(settings: Settings):
    broken = create_app(replace(
        settings, app_database_url="postgresql+psycopg://buurtgezinnen_app@127.0.0.1:1/nothing",
    ))
    response = broken.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert "database" in body["down"]
    assert body["database"].startswith("down:")
    assert body["redis"] == "ok"
