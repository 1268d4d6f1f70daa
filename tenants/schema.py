"""Schema upkeep: the database roles and the Alembic migrations.

The database roles: the owner runs migrations, the app role runs everything else.

The app role is neither owner nor superuser and has no BYPASSRLS, so FORCE'd row-level security
applies to every query the application makes.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url

from config.settings import APP_ROLE


def ensure_app_role(owner_url: str, app_url: str) -> None:
    password = make_url(app_url).password
    engine = create_engine(owner_url, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        exists = connection.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": APP_ROLE})
        if not exists:
            try:
                connection.execute(text(f"CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT"))
            except Exception:
                # Another process (a parallel test worker) created it between our check and now.
                if not connection.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": APP_ROLE}):
                    raise
        if password:
            # DDL takes no bind parameters; quote the literal the way PostgreSQL does.
            quoted = password.replace("'", "''")
            connection.execute(text(f"ALTER ROLE {APP_ROLE} PASSWORD '{quoted}'"))
        database = connection.scalar(text("SELECT current_database()"))
        connection.execute(text(f'GRANT CONNECT ON DATABASE "{database}" TO {APP_ROLE}'))
        connection.execute(text(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}"))
    engine.dispose()


MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"


def alembic_config(owner_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Alembic's config is ConfigParser-based: a literal % must be doubled.
    config.set_main_option("sqlalchemy.url", owner_url.replace("%", "%%"))
    return config


def migrate(owner_url: str, app_url: str) -> None:
    """Bring the database to the newest schema and make sure the app role can use it."""
    ensure_app_role(owner_url, app_url)
    command.upgrade(alembic_config(owner_url), "head")
