"""Alembic environment. Runs as the owner role (DATABASE_URL); never at import or app start."""

from alembic import context
from sqlalchemy import create_engine, pool

import domain.all_models  # noqa: F401 - registers every table on the metadata
from tenants.db import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Offline migrations are not supported; run `buurtgezinnen migrate`.")
run_migrations_online()
