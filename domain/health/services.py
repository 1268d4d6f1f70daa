"""Health checks. The worker proves it is alive by writing a heartbeat that the web reads."""

from __future__ import annotations

import time

from redis import Redis
from sqlalchemy import text

from domain.outbox.relay import oldest_due_age_seconds
from tenants.db import db

# The beat schedule writes a heartbeat every 15 s; three missed ones means the worker is down.
HEARTBEAT_MAX_AGE_SECONDS = 45


def heartbeat_key(namespace: str) -> str:
    return f"{namespace}:worker:heartbeat"


def record_worker_heartbeat(redis: Redis, namespace: str) -> float:
    now = time.time()
    redis.set(heartbeat_key(namespace), repr(now), ex=HEARTBEAT_MAX_AGE_SECONDS * 4)
    return now


def check_database() -> str | None:
    """None when fine, else a short reason."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as error:  # any failure means "down"; the reason is for the operator
        db.session.rollback()
        return type(error).__name__
    return None


def check_redis(redis: Redis) -> str | None:
    try:
        redis.ping()
    except Exception as error:
        return type(error).__name__
    return None


def check_worker(redis: Redis, namespace: str) -> str | None:
    try:
        raw = redis.get(heartbeat_key(namespace))
    except Exception as error:
        return type(error).__name__
    if raw is None:
        return "no heartbeat"
    age = time.time() - float(raw)
    return None if age <= HEARTBEAT_MAX_AGE_SECONDS else f"last heartbeat {int(age)} s ago"


def outbox_oldest_due_seconds() -> float | None:
    """Age of the oldest due-but-unfinished outbox job, or None when there is none (or no database).

    Reported, not judged: a backlog is for the operator to read, it does not make the app "down".
    Read through the SECURITY DEFINER function, so health needs no way around RLS.
    """
    try:
        return oldest_due_age_seconds()
    except Exception:  # the database check reports the outage itself
        db.session.rollback()
        return None
