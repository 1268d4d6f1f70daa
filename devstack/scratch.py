"""A database and Redis namespace of one's own, for a test run or a benchmark: made, migrated, dropped."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url

from config.settings import Environment, Settings
from tenants.schema import migrate


@contextmanager
def scratch_database(base: Settings, prefix: str) -> Iterator[Settings]:
    """``base`` pointed at a fresh, migrated database on the same server; dropped afterwards.

    The name and the Redis namespace are unique per call, so concurrent runs never share state.
    """
    suffix = uuid.uuid4().hex[:8]
    name = f"{prefix}_{suffix}"
    owner = make_url(base.database_url)
    admin = create_engine(owner, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    settings = replace(
        base,
        environment=Environment.TEST,
        database_url=owner.set(database=name).render_as_string(hide_password=False),
        app_database_url=make_url(base.app_database_url).set(database=name).render_as_string(hide_password=False),
        redis_namespace=f"{prefix.replace('_', '-')}-{suffix}",
    )
    try:
        migrate(settings.database_url, settings.app_database_url)
        yield settings
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
