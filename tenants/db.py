"""The database handle shared by every layer, and the tenant-owned table convention.

Every tenant-owned row carries ``tenant_id``. PostgreSQL row-level security is the real wall
(see ``tenants.rls``); the ORM criteria added here are the second wall, so that a query that
forgets its tenant still returns only the current tenant's rows.
"""

from __future__ import annotations

from datetime import datetime

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, ForeignKey, ForeignKeyConstraint, MetaData, event, false, func, text
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    ORMExecuteState,
    Session,
    mapped_column,
    with_loader_criteria,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

TENANT_SETTING = "app.tenant_id"
_TENANT_INFO_KEY = "tenant_id"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)


class TenantScoped:
    """Mixin for tenant-owned tables.

    Subclasses must also declare ``UniqueConstraint("tenant_id", "id")`` so that other
    tenant-owned tables can reference them with a foreign key that includes the tenant.
    """

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)


def tenant_fk(column: str, target: str, ondelete: str | None = "CASCADE") -> ForeignKeyConstraint:
    """A foreign key from ``column`` to ``target`` that includes the tenant, so a row can only ever
    point at a row of its own tenant."""
    return ForeignKeyConstraint(["tenant_id", column], [f"{target}.tenant_id", f"{target}.id"], ondelete=ondelete)


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


def set_session_tenant(session: Session, tenant_id: int | None) -> None:
    """Bind ``session`` to a tenant: ORM criteria and the transaction-local RLS setting.

    If a transaction is already open the setting is applied at once; later transactions get it
    from the ``after_begin`` hook. The setting is transaction-local (``set_config(..., true)``), so
    a connection returned to the pool never carries a tenant into someone else's request.
    """
    session.info[_TENANT_INFO_KEY] = tenant_id
    if session.in_transaction():
        _apply_tenant_setting(session.connection(), tenant_id)


def session_tenant(session: Session) -> int | None:
    return session.info.get(_TENANT_INFO_KEY)


def _apply_tenant_setting(connection, tenant_id: int | None) -> None:
    connection.execute(
        text("SELECT set_config(:name, :value, true)"),
        {"name": TENANT_SETTING, "value": "" if tenant_id is None else str(tenant_id)},
    )


@event.listens_for(Session, "after_begin")
def _set_tenant_on_begin(session: Session, transaction, connection) -> None:
    _apply_tenant_setting(connection, session_tenant(session))


@event.listens_for(Session, "do_orm_execute")
def _scope_orm_queries_to_tenant(state: ORMExecuteState) -> None:
    if not state.is_select:
        return
    tenant_id = session_tenant(state.session)
    state.statement = state.statement.options(
        with_loader_criteria(
            TenantScoped,
            (lambda cls: cls.tenant_id == tenant_id) if tenant_id is not None else (lambda cls: false()),
            include_aliases=True,
            track_closure_variables=True,
        )
    )
