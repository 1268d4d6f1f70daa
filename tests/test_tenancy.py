"""Tenant isolation at the database: schema rules, RLS, the ORM wall, pooled connections, the app role.

Tenant-owned tables are discovered from the metadata (every model mixing in ``TenantScoped``), so a
new table is checked without anyone remembering to add it here, except for one thing: a row builder
in ``ROW_BUILDERS``. A tenant-owned table without one makes ``test_every_tenant_table_has_a_row_builder``
fail on purpose.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import psycopg.errors
import pytest
from flask import Flask
from sqlalchemy import Engine, Table, create_engine, func, pool, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

import domain.all_models  # noqa: F401 - registers every table on the metadata
from config.settings import APP_ROLE
from domain.accounts.models import AccountToken, StaffUser
from domain.audit.models import AuditEvent
from domain.audit.services import SYSTEM, record
from domain.documents.models import Contract, Document, DocumentSigner, DocumentTemplate
from domain.documents.templates import ensure_default_templates
from domain.email.models import OutboundEmail
from domain.evaluations.models import EvaluationConversation, EvaluationRequest
from domain.families.models import (
    Consent,
    Family,
    FamilyMember,
    FamilyNote,
    FamilyStatusChange,
    IntakeVisit,
    PublicListing,
    SupportType,
)
from domain.koppelingen.models import Kennismaking, Koppeling, KoppelingStatusChange, MatchExclusion
from domain.outbox.services import enqueue
from domain.reporting.models import EffectReport
from domain.vog.models import VogRecord
from tenants.access import NotFoundError, get_for_tenant
from tenants.db import TENANT_SETTING, Base, TenantScoped, db, set_session_tenant
from tenants.rls import POLICY_NAME
from tenants.services import use_tenant
from tests.conftest import Factory, Gemeente, login

# --- discovery ------------------------------------------------------------------------------------

TENANT_TABLES: dict[str, Table] = {
    name: table for name, table in sorted(Base.metadata.tables.items()) if "tenant_id" in table.c
}
TENANT_MODELS: dict[str, type] = {
    mapper.local_table.name: mapper.class_
    for mapper in Base.registry.mappers
    if issubclass(mapper.class_, TenantScoped)
}
TABLE_NAMES = sorted(TENANT_TABLES)


# --- row builders ---------------------------------------------------------------------------------

FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)  # probe jobs must never become due


@contextmanager
def acting_for(app: Flask, tenant_id: int | None) -> Iterator[None]:
    """An app context whose session acts for ``tenant_id`` (connected as the app role)."""
    with app.app_context():
        use_tenant(tenant_id)
        try:
            yield
        finally:
            db.session.rollback()
            db.session.remove()


def _create_audit_event(make: Factory, gemeente: Gemeente) -> int:
    action = f"test.{uuid.uuid4().hex[:12]}"
    with acting_for(make.app, gemeente.id):
        record(action, SYSTEM, details={"probe": True})
        db.session.commit()
        return db.session.scalar(select(AuditEvent.id).where(AuditEvent.action == action))


def _create_outbox_job(make: Factory, gemeente: Gemeente) -> int:
    with acting_for(make.app, gemeente.id):
        job_id = enqueue("outbox.noop", {}, gemeente.id, f"probe-{uuid.uuid4().hex}", due_at=FAR_FUTURE)
        db.session.commit()
        return job_id


def _create_outbound_email(make: Factory, gemeente: Gemeente) -> int:
    with acting_for(make.app, gemeente.id):
        email = OutboundEmail(tenant_id=gemeente.id, to_address="probe@example.org", template="probe", context={})
        db.session.add(email)
        db.session.commit()
        return email.id


def _create_account_token(make: Factory, gemeente: Gemeente) -> int:
    user_id = make.user(gemeente).id
    with acting_for(make.app, gemeente.id):
        token = AccountToken(tenant_id=gemeente.id, user_id=user_id, purpose="invitation",
                             token_hash=uuid.uuid4().hex, expires_at=FAR_FUTURE)
        db.session.add(token)
        db.session.commit()
        return token.id


FAMILY_VALUES = {"kind": "vraag", "status": "aangemeld", "postcode": "9201 AB", "pc4": "9201",
                 "referral_source": "zelf", "support_codes": [], "availability": {}, "competence": {},
                 "distance_preference": "geen_voorkeur"}


def _create_family(make: Factory, gemeente: Gemeente) -> int:
    with acting_for(make.app, gemeente.id):
        family = Family(tenant_id=gemeente.id, **FAMILY_VALUES)
        db.session.add(family)
        db.session.commit()
        return family.id


def _create_support_type(make: Factory, gemeente: Gemeente) -> int:
    with acting_for(make.app, gemeente.id):
        row = SupportType(tenant_id=gemeente.id, code=f"probe-{uuid.uuid4().hex[:8]}", label="Probe", position=99)
        db.session.add(row)
        db.session.commit()
        return row.id


def _some_family(tenant_id: int):
    """A family of that tenant, visible only in its own context (as with users above)."""
    return select(func.min(Family.id)).where(Family.tenant_id == tenant_id).scalar_subquery()


def _family_child_builder(model, **values) -> RowBuilder:
    """Builder for a table hanging off a family: created through the ORM for the tenant's family."""

    def create(make: Factory, gemeente: Gemeente) -> int:
        family_id = _create_family(make, gemeente)
        with acting_for(make.app, gemeente.id):
            row = model(tenant_id=gemeente.id, family_id=family_id, **values)
            db.session.add(row)
            db.session.commit()
            return row.id

    return RowBuilder(create=create,
                      values=lambda tenant_id: {"tenant_id": tenant_id, "family_id": _some_family(tenant_id), **values})


def _create_vog_record(make: Factory, gemeente: Gemeente) -> int:
    family_id = _create_family(make, gemeente)
    with acting_for(make.app, gemeente.id):
        member = FamilyMember(tenant_id=gemeente.id, family_id=family_id, role="volwassene", first_name="Probe",
                              birth_year=1980)
        db.session.add(member)
        db.session.flush()
        row = VogRecord(tenant_id=gemeente.id, family_id=family_id, member_id=member.id, status="nodig")
        db.session.add(row)
        db.session.commit()
        return row.id


def _vog_values(tenant_id: int) -> dict[str, Any]:
    """A raw VOG row for a member of that tenant that has none yet (the member id is unique per VOG)."""
    free_member = (select(func.min(FamilyMember.id))
                   .where(FamilyMember.tenant_id == tenant_id,
                          FamilyMember.id.not_in(select(VogRecord.member_id).where(VogRecord.tenant_id == tenant_id)))
                   .scalar_subquery())
    family = select(FamilyMember.family_id).where(FamilyMember.id == free_member).scalar_subquery()
    return {"tenant_id": tenant_id, "family_id": family, "member_id": free_member, "status": "nodig"}


def _create_koppeling(make: Factory, gemeente: Gemeente) -> int:
    vraag, steun = _create_family(make, gemeente), _create_family(make, gemeente)
    with acting_for(make.app, gemeente.id):
        row = Koppeling(tenant_id=gemeente.id, vraag_family_id=vraag, steun_family_id=steun, **KOPPELING_VALUES)
        db.session.add(row)
        db.session.commit()
        return row.id


# Closed, so raw rows for the same vraaggezin do not meet the "one open koppeling" unique index.
KOPPELING_VALUES = {"status": "afgesloten", "support_codes": [], "proposed_on": date(2026, 1, 5)}


def _some_koppeling(tenant_id: int):
    return select(func.min(Koppeling.id)).where(Koppeling.tenant_id == tenant_id).scalar_subquery()


def _koppeling_child_builder(model, **values) -> RowBuilder:
    """Builder for a table hanging off a koppeling; ``values`` may hold callables for fresh unique values."""

    def fresh(extra: dict[str, Any]) -> dict[str, Any]:
        return {key: value() if callable(value) else value for key, value in {**values, **extra}.items()}

    def create(make: Factory, gemeente: Gemeente) -> int:
        koppeling_id = _create_koppeling(make, gemeente)
        with acting_for(make.app, gemeente.id):
            family_id = db.session.get(Koppeling, koppeling_id).vraag_family_id
            extra = {"family_id": family_id} if "family_id" in model.__table__.c else {}
            row = model(tenant_id=gemeente.id, koppeling_id=koppeling_id, **fresh(extra))
            db.session.add(row)
            db.session.commit()
            return row.id

    def raw(tenant_id: int) -> dict[str, Any]:
        extra = {"family_id": _some_family(tenant_id)} if "family_id" in model.__table__.c else {}
        return {"tenant_id": tenant_id, "koppeling_id": _some_koppeling(tenant_id), **fresh(extra)}

    return RowBuilder(create=create, values=raw)


def _create_match_exclusion(make: Factory, gemeente: Gemeente) -> int:
    vraag, steun = _create_family(make, gemeente), _create_family(make, gemeente)
    with acting_for(make.app, gemeente.id):
        row = MatchExclusion(tenant_id=gemeente.id, vraag_family_id=vraag, steun_family_id=steun, reason="probe")
        db.session.add(row)
        db.session.commit()
        return row.id


def _match_exclusion_values(tenant_id: int) -> dict[str, Any]:
    """A pair not excluded yet: the lowest family without an exclusion as vraaggezin, with itself."""
    excluded = select(MatchExclusion.vraag_family_id).where(MatchExclusion.tenant_id == tenant_id)
    free = (select(func.min(Family.id)).where(Family.tenant_id == tenant_id, Family.id.not_in(excluded))
            .scalar_subquery())
    return {"tenant_id": tenant_id, "vraag_family_id": free, "steun_family_id": free, "reason": "probe"}


def _unique() -> str:
    return uuid.uuid4().hex


def _template_id() -> int:
    """A national template every document can point to: the real default texts (a made-up row here
    would become the text that later tests' documents are made from)."""
    ensure_default_templates()
    return db.session.scalar(select(func.min(DocumentTemplate.id)))


CONTRACT_VALUES = {"starts_on": date(2026, 1, 1), "ends_on": date(2027, 12, 31), "koppelingen_target": 10,
                   "budget_eur": 55000, "contact_name": "Probe", "contact_email": "probe@example.org"}


def _create_contract(make: Factory, gemeente: Gemeente) -> int:
    with acting_for(make.app, gemeente.id):
        row = Contract(tenant_id=gemeente.id, **CONTRACT_VALUES)
        db.session.add(row)
        db.session.commit()
        return row.id


def _create_document(make: Factory, gemeente: Gemeente) -> int:
    with acting_for(make.app, gemeente.id):
        row = Document(tenant_id=gemeente.id, kind="samenwerking", template_id=_template_id(), template_version=1,
                       title="Probe", context={})
        db.session.add(row)
        db.session.commit()
        return row.id


def _document_values(tenant_id: int) -> dict[str, Any]:
    return {"tenant_id": tenant_id, "kind": "samenwerking", "template_version": 1, "title": "Probe",
            "status": "concept", "signing_order": "parallel", "context": {}, "seal_status": "geen",
            "template_id": select(func.min(DocumentTemplate.id)).scalar_subquery()}


def _create_signer(make: Factory, gemeente: Gemeente) -> int:
    document_id = _create_document(make, gemeente)
    with acting_for(make.app, gemeente.id):
        row = DocumentSigner(tenant_id=gemeente.id, document_id=document_id, role="gemeente", name="Probe",
                             token_hash=uuid.uuid4().hex)
        db.session.add(row)
        db.session.commit()
        return row.id


def _signer_values(tenant_id: int) -> dict[str, Any]:
    return {"tenant_id": tenant_id, "position": 0, "role": "gemeente", "name": "Probe", "token_hash": uuid.uuid4().hex,
            "document_id": select(func.min(Document.id)).where(Document.tenant_id == tenant_id).scalar_subquery()}


# Finished, so several rows for one year do not meet the "one waiting/busy report per year" index.
EFFECT_REPORT_VALUES = {"year": 2026, "status": "klaar"}


def _create_effect_report(make: Factory, gemeente: Gemeente) -> int:
    with acting_for(make.app, gemeente.id):
        row = EffectReport(tenant_id=gemeente.id, **EFFECT_REPORT_VALUES)
        db.session.add(row)
        db.session.commit()
        return row.id


@dataclass(frozen=True)
class RowBuilder:
    # Makes a row for the tenant through the application's own code path; returns its id.
    create: Callable[[Factory, Gemeente], int]
    # Column values for a raw INSERT of a row for ``tenant_id`` (defaults fill in the rest).
    values: Callable[[int], dict[str, Any]]


ROW_BUILDERS: dict[str, RowBuilder] = {
    "staff_users": RowBuilder(
        create=lambda make, gemeente: make.user(gemeente).id,
        values=lambda tenant_id: {
            "tenant_id": tenant_id,
            "email": f"raw-{uuid.uuid4().hex[:8]}@example.org",
            "full_name": "Rauw ingevoegd",
            "password_hash": "not-a-hash",
            "session_token": uuid.uuid4().hex,
            "role": "coordinator",
        },
    ),
    "audit_events": RowBuilder(
        create=_create_audit_event,
        values=lambda tenant_id: {"tenant_id": tenant_id, "action": "test.raw", "details": {}},
    ),
    "outbox_jobs": RowBuilder(
        create=_create_outbox_job,
        values=lambda tenant_id: {"tenant_id": tenant_id, "kind": "outbox.noop", "payload": {},
                                  "dedupe_key": uuid.uuid4().hex, "status": "pending", "attempts": 0,
                                  "max_attempts": 1, "due_at": FAR_FUTURE},
    ),
    "outbound_emails": RowBuilder(
        create=_create_outbound_email,
        values=lambda tenant_id: {"tenant_id": tenant_id, "to_address": "raw@example.org", "template": "probe",
                                  "language": "nl", "context": {}, "status": "queued", "attempts": 0},
    ),
    "account_tokens": RowBuilder(
        create=_create_account_token,
        # Some user of that tenant: visible only in its own context; RLS's WITH CHECK comes before
        # the NOT NULL and foreign-key checks, so a foreign insert fails on RLS.
        values=lambda tenant_id: {"tenant_id": tenant_id, "purpose": "invitation",
                                  "user_id": select(func.min(StaffUser.id))
                                  .where(StaffUser.tenant_id == tenant_id).scalar_subquery(),
                                  "token_hash": uuid.uuid4().hex, "expires_at": FAR_FUTURE},
    ),
    "families": RowBuilder(
        create=_create_family,
        values=lambda tenant_id: {"tenant_id": tenant_id, **FAMILY_VALUES},
    ),
    "family_members": _family_child_builder(FamilyMember, role="kind", first_name="Probe", birth_year=2018),
    "family_status_changes": _family_child_builder(FamilyStatusChange, to_status="aangemeld"),
    "family_notes": _family_child_builder(FamilyNote, body="probe"),
    "family_consents": _family_child_builder(Consent, kind="verwerking", text_version="probe", given_by="gezin"),
    "intake_visits": _family_child_builder(IntakeVisit, visited_on=date(2026, 1, 5)),
    "public_listings": _family_child_builder(PublicListing, title="Probe", situation="probe", looking_for="probe"),
    "vog_records": RowBuilder(create=_create_vog_record, values=_vog_values),
    "koppelingen": RowBuilder(
        create=_create_koppeling,
        values=lambda tenant_id: {"tenant_id": tenant_id, "vraag_family_id": _some_family(tenant_id),
                                  "steun_family_id": _some_family(tenant_id), **KOPPELING_VALUES},
    ),
    "koppeling_status_changes": _koppeling_child_builder(KoppelingStatusChange, to_status="voorgesteld"),
    "kennismakingen": _koppeling_child_builder(Kennismaking, starts_at=FAR_FUTURE, duration_minutes=60,
                                               location="probe", sequence=0),
    "match_exclusions": RowBuilder(create=_create_match_exclusion, values=_match_exclusion_values),
    "evaluation_requests": _koppeling_child_builder(EvaluationRequest, role="vraag", moment=_unique,
                                                    due_on=date(2026, 1, 5), token_hash=_unique,
                                                    expires_at=FAR_FUTURE),
    "contracts": RowBuilder(create=_create_contract,
                            values=lambda tenant_id: {"tenant_id": tenant_id, **CONTRACT_VALUES}),
    "documents": RowBuilder(create=_create_document, values=_document_values),
    "document_signers": RowBuilder(create=_create_signer, values=_signer_values),
    "evaluation_conversations": _koppeling_child_builder(EvaluationConversation, moment=_unique,
                                                         held_on=date(2026, 1, 5), outcome="positief"),
    "support_types": RowBuilder(
        create=_create_support_type,
        values=lambda tenant_id: {"tenant_id": tenant_id, "code": f"probe-{uuid.uuid4().hex[:8]}",
                                  "label": "Probe", "position": 99, "active": True},
    ),
    "effect_reports": RowBuilder(create=_create_effect_report,
                                 values=lambda tenant_id: {"tenant_id": tenant_id, **EFFECT_REPORT_VALUES}),
}

# Tables the app role may only add to and read (no UPDATE, no DELETE), per the design.
APPEND_ONLY = {"audit_events"}


def builder_for(table: str) -> RowBuilder:
    if table not in ROW_BUILDERS:
        pytest.fail(f"tenant-owned table {table!r} has no row builder: add one to ROW_BUILDERS in {__file__}")
    return ROW_BUILDERS[table]


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def owner_engine(settings) -> Iterator[Engine]:
    engine = create_engine(settings.database_url, poolclass=pool.NullPool)
    yield engine
    engine.dispose()


def owner_count(owner_engine: Engine, table: str, tenant_id: int) -> int:
    with owner_engine.connect() as connection:
        return connection.scalar(text(f'SELECT count(*) FROM "{table}" WHERE tenant_id = :t'), {"t": tenant_id})


def is_rls_violation(error: DBAPIError) -> bool:
    return isinstance(error.orig, psycopg.errors.InsufficientPrivilege) and (
        "row-level security" in str(error.orig)
    )


def is_permission_denied(error: DBAPIError) -> bool:
    return isinstance(error.orig, psycopg.errors.InsufficientPrivilege) and "permission denied" in str(error.orig)


# --- what the schema must look like ---------------------------------------------------------------


def test_tenant_owned_tables_are_discovered():
    assert TENANT_TABLES, "no tenant-owned tables found in the metadata"
    assert {"staff_users", "audit_events"} <= set(TENANT_TABLES)
    # A tenant_id column means TenantScoped, and the other way round (so the ORM wall covers it).
    assert set(TENANT_MODELS) == set(TENANT_TABLES)


def test_every_tenant_table_has_a_row_builder():
    missing = sorted(set(TENANT_TABLES) - set(ROW_BUILDERS))
    assert not missing, f"add row builders for {missing} to ROW_BUILDERS in tests/test_tenancy.py"


def metadata_problems(table: Table, tenant_tables: set[str]) -> list[str]:
    problems = []
    if table.c.tenant_id.nullable:
        problems.append("tenant_id is nullable")
    unique_sets = [{c.name for c in table.primary_key.columns}] + [
        {c.name for c in constraint.columns}
        for constraint in table.constraints
        if constraint.__class__.__name__ == "UniqueConstraint"
    ]
    if {"tenant_id", "id"} not in unique_sets:
        problems.append("no unique key on (tenant_id, id)")
    for fk in table.foreign_key_constraints:
        target = fk.referred_table.name
        if target in tenant_tables:
            pairs = {(element.parent.name, element.column.name) for element in fk.elements}
            if ("tenant_id", "tenant_id") not in pairs:
                problems.append(f"foreign key {fk.name} to {target} does not include tenant_id")
    return problems


@pytest.mark.parametrize("table_name", TABLE_NAMES)
def test_model_declares_tenant_keys(table_name):
    assert metadata_problems(TENANT_TABLES[table_name], set(TENANT_TABLES)) == []


_COLUMNS = """
    ARRAY(SELECT a.attname FROM unnest({keys}) WITH ORDINALITY AS k(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = {rel} AND a.attnum = k.attnum ORDER BY k.ord)
"""


def database_problems(connection, table: str, tenant_tables: set[str]) -> list[str]:
    """What the live database says about ``table`` against the tenancy rules (as the owner)."""
    problems = []
    nullable = connection.scalar(
        text("SELECT is_nullable FROM information_schema.columns "
             "WHERE table_schema = 'public' AND table_name = :t AND column_name = 'tenant_id'"),
        {"t": table},
    )
    if nullable != "NO":
        problems.append(f"tenant_id nullable={nullable}")
    unique_keys = connection.scalars(
        text(f"SELECT {_COLUMNS.format(keys='c.conkey', rel='c.conrelid')} FROM pg_constraint c "
             "WHERE c.conrelid = CAST(:t AS regclass) AND c.contype IN ('u', 'p')"),
        {"t": table},
    ).all()
    if not any(set(cols) == {"tenant_id", "id"} for cols in unique_keys):
        problems.append(f"no unique key on (tenant_id, id), only {unique_keys}")
    foreign_keys = connection.execute(
        text(f"SELECT c.conname, c.confrelid::regclass::text, "
             f"{_COLUMNS.format(keys='c.conkey', rel='c.conrelid')}, "
             f"{_COLUMNS.format(keys='c.confkey', rel='c.confrelid')} "
             "FROM pg_constraint c WHERE c.conrelid = CAST(:t AS regclass) AND c.contype = 'f'"),
        {"t": table},
    ).all()
    for name, target, cols, refcols in foreign_keys:
        pairs = set(zip(cols, refcols, strict=True))
        if target.strip('"') in tenant_tables and ("tenant_id", "tenant_id") not in pairs:
            problems.append(f"foreign key {name} to {target} does not include tenant_id")
    rls = connection.execute(
        text("SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = CAST(:t AS regclass)"),
        {"t": table},
    ).one()
    if not rls.relrowsecurity:
        problems.append("row level security not enabled")
    if not rls.relforcerowsecurity:
        problems.append("row level security not forced")
    policies = connection.execute(
        text("SELECT policyname, cmd, permissive, qual, with_check, roles::text[] AS roles FROM pg_policies "
             "WHERE schemaname = 'public' AND tablename = :t"),
        {"t": table},
    ).all()
    tenant_policies = [
        p for p in policies
        if p.cmd == "ALL" and p.permissive == "PERMISSIVE"
        and TENANT_SETTING in (p.qual or "") and "tenant_id" in (p.qual or "")
        and TENANT_SETTING in (p.with_check or "") and "tenant_id" in (p.with_check or "")
    ]
    if not tenant_policies:
        problems.append(f"no tenant policy (USING and WITH CHECK on {TENANT_SETTING}); found {policies}")
    # A policy limited to other roles (the owner, for the outbox relay's SECURITY DEFINER
    # functions) does not widen what the app role sees; one for PUBLIC or the app role would.
    def reaches_app_role(policy) -> bool:
        return bool({"public", APP_ROLE} & set(policy.roles))

    if any(p.permissive == "PERMISSIVE" and p not in tenant_policies and reaches_app_role(p) for p in policies):
        problems.append(f"another permissive policy widens access: {policies}")
    return problems


@pytest.mark.parametrize("table_name", TABLE_NAMES)
def test_database_enforces_tenant_rules(owner_engine, table_name):
    with owner_engine.connect() as connection:
        assert database_problems(connection, table_name, set(TENANT_TABLES)) == []
        assert connection.scalar(
            text("SELECT count(*) FROM pg_policies WHERE tablename = :t AND policyname = :p"),
            {"t": table_name, "p": POLICY_NAME},
        ) == 1


def test_every_table_with_tenant_id_in_the_database_is_a_model(owner_engine):
    """A table made by a migration without a TenantScoped model would escape the ORM wall."""
    with owner_engine.connect() as connection:
        in_database = set(connection.scalars(text(
            "SELECT table_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND column_name = 'tenant_id'"
        )))
    assert in_database == set(TENANT_TABLES)


def test_schema_checks_catch_a_badly_made_table(owner_engine):
    """The checkers above can fail: a table without RLS, nullable tenant and a bare FK is flagged."""
    with owner_engine.connect() as connection, connection.begin() as transaction:
        connection.execute(text(
            "CREATE TABLE zz_probe (id serial PRIMARY KEY, tenant_id int, "
            "user_id int REFERENCES staff_users (id))"
        ))
        connection.execute(text(
            "CREATE TABLE zz_good (id serial PRIMARY KEY, tenant_id int NOT NULL, user_id int, "
            "UNIQUE (tenant_id, id), FOREIGN KEY (tenant_id, user_id) REFERENCES staff_users (tenant_id, id))"
        ))
        tenant_tables = {*TENANT_TABLES, "zz_probe", "zz_good"}
        problems = " | ".join(database_problems(connection, "zz_probe", tenant_tables))
        for expected in ("nullable", "unique key", "foreign key", "not enabled", "not forced", "no tenant policy"):
            assert expected in problems
        problems = " | ".join(database_problems(connection, "zz_good", tenant_tables))
        assert "foreign key" not in problems and "unique key" not in problems and "nullable" not in problems
        transaction.rollback()


# --- the database role the app uses ----------------------------------------------------------------


def test_app_role_cannot_bypass_rls(app, owner_engine):
    with app.app_context():
        assert db.session.scalar(text("SELECT current_user")) == APP_ROLE
        db.session.remove()
    with owner_engine.connect() as connection:
        role = connection.execute(
            text("SELECT oid, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :r"), {"r": APP_ROLE}
        ).one()
        assert role.rolsuper is False
        assert role.rolbypassrls is False
        owned = connection.scalars(
            text("SELECT relname FROM pg_class WHERE relowner = :oid AND relkind IN ('r', 'p', 'v', 'm')"),
            {"oid": role.oid},
        ).all()
        assert owned == []
        # No membership through which it could borrow an owner's or superuser's rights.
        memberships = connection.scalars(
            text("SELECT roleid::regrole::text FROM pg_auth_members WHERE member = :oid"), {"oid": role.oid}
        ).all()
        assert memberships == []


# --- behaviour: another tenant's rows ---------------------------------------------------------------


@pytest.fixture
def pair(make: Factory):
    a, b = make.tenant(), make.tenant()
    for gemeente in (a, b):
        make.user(gemeente)  # rows that reference a user (account tokens) need one in the tenant
        family_id = _create_family(make, gemeente)  # likewise rows that hang off a family
        with acting_for(make.app, gemeente.id):  # and a member without a VOG, for raw VOG rows
            db.session.add(FamilyMember(tenant_id=gemeente.id, family_id=family_id, role="volwassene",
                                        first_name="Probe", birth_year=1980))
            db.session.commit()
        _create_koppeling(make, gemeente)  # and rows that hang off a koppeling
        _create_document(make, gemeente)  # or a document
    return a, b


def _rows_of(table: str, tenant_id: int) -> int:
    return db.session.execute(
        text(f'SELECT count(*) FROM "{table}" WHERE tenant_id = :t'), {"t": tenant_id}
    ).scalar_one()


@pytest.mark.parametrize("table_name", TABLE_NAMES)
def test_other_tenants_rows_are_invisible(app, make, pair, owner_engine, table_name):
    builder = builder_for(table_name)
    a, b = pair
    b_row = builder.create(make, b)
    a_row = builder.create(make, a)
    model = TENANT_MODELS[table_name]
    assert owner_count(owner_engine, table_name, b.id) >= 1  # the row is really there

    with acting_for(app, a.id):
        orm_rows = db.session.scalars(select(model)).all()
        assert orm_rows, "positive control: tenant A sees its own rows"
        assert {row.tenant_id for row in orm_rows} == {a.id}
        assert db.session.get(model, b_row) is None
        assert db.session.get(model, a_row) is not None
        # Raw SQL gets no ORM criteria: this is row-level security alone.
        assert _rows_of(table_name, b.id) == 0
        assert db.session.execute(
            text(f'SELECT count(*) FROM "{table_name}" WHERE id = :id'), {"id": b_row}
        ).scalar_one() == 0
        assert db.session.execute(
            text(f'SELECT count(*) FROM "{table_name}" WHERE tenant_id <> :a'), {"a": a.id}
        ).scalar_one() == 0
        assert _rows_of(table_name, a.id) >= 1


@pytest.mark.parametrize("table_name", TABLE_NAMES)
def test_orm_criteria_alone_scope_queries(make, pair, owner_engine, table_name):
    """The second wall on its own: even a session that bypasses RLS (the owner) sees one tenant."""
    builder = builder_for(table_name)
    a, b = pair
    b_row = builder.create(make, b)
    builder.create(make, a)
    model = TENANT_MODELS[table_name]
    with Session(owner_engine) as session:
        # Sanity: the owner is not subject to RLS, so only the ORM criteria can hide B's row.
        assert session.execute(
            text(f'SELECT count(*) FROM "{table_name}" WHERE id = :id'), {"id": b_row}
        ).scalar_one() == 1
        set_session_tenant(session, a.id)
        rows = session.scalars(select(model)).all()
        assert rows and {row.tenant_id for row in rows} == {a.id}
        assert session.scalar(select(func.count()).select_from(model).where(model.id == b_row)) == 0
        set_session_tenant(session, None)
        assert session.scalars(select(model)).all() == []


@pytest.mark.parametrize("table_name", TABLE_NAMES)
def test_other_tenants_rows_cannot_be_changed(app, make, pair, owner_engine, table_name):
    builder = builder_for(table_name)
    a, b = pair
    b_row = builder.create(make, b)
    a_row = builder.create(make, a)
    before = owner_count(owner_engine, table_name, b.id)

    with acting_for(app, a.id):
        update_b = text(f'UPDATE "{table_name}" SET tenant_id = tenant_id WHERE id = :id')
        delete_b = text(f'DELETE FROM "{table_name}" WHERE id = :id')
        writable = db.session.scalar(
            text("SELECT has_table_privilege(current_user, :t, 'UPDATE') "
                 "OR has_table_privilege(current_user, :t, 'DELETE')"), {"t": table_name}
        )
        if table_name in APPEND_ONLY or not writable:
            assert table_name in APPEND_ONLY, f"{table_name} is not writable by the app role; list it in APPEND_ONLY"
            # Append-only: no UPDATE or DELETE at all, not even of the tenant's own rows.
            for statement in (update_b, delete_b):
                for row_id in (b_row, a_row):
                    with pytest.raises(DBAPIError) as caught:
                        db.session.execute(statement, {"id": row_id})
                    assert is_permission_denied(caught.value), caught.value
                    db.session.rollback()
        else:
            assert db.session.execute(update_b, {"id": b_row}).rowcount == 0
            assert db.session.execute(
                text(f'UPDATE "{table_name}" SET tenant_id = tenant_id WHERE tenant_id = :b'), {"b": b.id}
            ).rowcount == 0
            assert db.session.execute(delete_b, {"id": b_row}).rowcount == 0
            assert db.session.execute(
                text(f'DELETE FROM "{table_name}" WHERE tenant_id = :b'), {"b": b.id}
            ).rowcount == 0
            # Positive control: the same statement does reach the tenant's own row.
            assert db.session.execute(update_b, {"id": a_row}).rowcount == 1
            # Moving one's own row into another tenant is refused by WITH CHECK.
            with pytest.raises(DBAPIError) as caught:
                db.session.execute(
                    text(f'UPDATE "{table_name}" SET tenant_id = :b WHERE id = :id'), {"b": b.id, "id": a_row}
                )
            assert is_rls_violation(caught.value), caught.value
            db.session.rollback()
            use_tenant(a.id)
        db.session.commit()

    assert owner_count(owner_engine, table_name, b.id) == before


@pytest.mark.parametrize("table_name", TABLE_NAMES)
def test_rows_cannot_be_inserted_for_another_tenant(app, pair, owner_engine, table_name):
    builder = builder_for(table_name)
    a, b = pair
    table = TENANT_TABLES[table_name]
    rows_of_b = owner_count(owner_engine, table_name, b.id)
    with acting_for(app, a.id):
        # Positive control: the same values with the own tenant are accepted.
        db.session.execute(table.insert().values(**builder.values(a.id)))
        db.session.rollback()
        use_tenant(a.id)
        with pytest.raises(DBAPIError) as caught:
            db.session.execute(table.insert().values(**builder.values(b.id)))
        assert is_rls_violation(caught.value), caught.value
        assert "new row violates row-level security policy" in str(caught.value.orig)
    assert owner_count(owner_engine, table_name, b.id) == rows_of_b


def test_audit_events_are_append_only_for_the_app_role(app, make):
    gemeente = make.tenant()
    event_id = _create_audit_event(make, gemeente)
    with acting_for(app, gemeente.id):
        for statement in (f"UPDATE audit_events SET action = 'x' WHERE id = {event_id}",
                          f"DELETE FROM audit_events WHERE id = {event_id}"):
            with pytest.raises(DBAPIError) as caught:
                db.session.execute(text(statement))
            assert is_permission_denied(caught.value), caught.value
            db.session.rollback()
        assert db.session.get(AuditEvent, event_id) is not None


# --- behaviour: no tenant, pooled connections ---------------------------------------------------------


@pytest.mark.parametrize("table_name", TABLE_NAMES)
def test_without_tenant_nothing_is_visible(app, make, owner_engine, table_name):
    gemeente = make.tenant()
    builder_for(table_name).create(make, gemeente)
    with owner_engine.connect() as connection:
        assert connection.scalar(text(f'SELECT count(*) FROM "{table_name}"')) > 0

    with app.app_context():
        with db.engine.connect() as connection:
            assert connection.scalar(text(f"SELECT current_setting('{TENANT_SETTING}', true)")) in (None, "")
            assert connection.scalar(text(f'SELECT count(*) FROM "{table_name}"')) == 0
        # The session without a tenant: RLS and ORM criteria both hide everything.
        use_tenant(None)
        assert db.session.scalars(select(TENANT_MODELS[table_name])).all() == []
        assert db.session.execute(text(f'SELECT count(*) FROM "{table_name}"')).scalar_one() == 0
        db.session.remove()


def test_pooled_connection_does_not_carry_the_tenant(app, client, make):
    a, b = make.tenant(), make.tenant()
    person = make.user(a)
    make.user(b)
    login(client, person, f"/{a.slug}")
    assert client.get(f"/{a.slug}/app/").status_code == 200

    with app.app_context():
        engine = db.engine
        idle = engine.pool.checkedin()
        assert idle >= 1, "the request's connection should be back in the pool"
        # Check out every idle pooled connection at once, so the request's one is among them.
        connections = [engine.connect() for _ in range(idle)]
        try:
            for connection in connections:
                assert connection.scalar(text(f"SELECT current_setting('{TENANT_SETTING}', true)")) in (None, "")
                assert connection.scalar(text("SELECT count(*) FROM staff_users")) == 0
                assert connection.scalar(text("SELECT count(*) FROM audit_events")) == 0
        finally:
            for connection in connections:
                connection.close()


def test_tenant_setting_is_transaction_local(app, make):
    gemeente = make.tenant()
    make.user(gemeente)
    with app.app_context():
        with db.engine.connect() as connection:
            connection.execute(text("SELECT set_config(:n, :v, true)"), {"n": TENANT_SETTING, "v": str(gemeente.id)})
            assert connection.scalar(text("SELECT count(*) FROM staff_users")) >= 1
            connection.commit()
            assert connection.scalar(text("SELECT count(*) FROM staff_users")) == 0
        use_tenant(gemeente.id)
        assert db.session.scalars(select(StaffUser)).all()
        db.session.commit()  # the next transaction gets the tenant again from the session
        assert db.session.scalars(select(StaffUser)).all()
        db.session.remove()


# --- scoped lookups ---------------------------------------------------------------------------------


def test_get_for_tenant_answers_the_same_for_foreign_and_missing(app, make, pair):
    a, b = pair
    a_user, b_user = make.user(a), make.user(b)
    with acting_for(app, a.id):
        assert get_for_tenant(StaffUser, a_user.id).email == a_user.email
        missing = (db.session.scalar(text("SELECT max(id) FROM staff_users")) or 0) + 10_000
        with pytest.raises(NotFoundError) as foreign:
            get_for_tenant(StaffUser, b_user.id)
        with pytest.raises(NotFoundError) as absent:
            get_for_tenant(StaffUser, missing)
        assert str(foreign.value) == str(absent.value)
    with acting_for(app, None), pytest.raises(NotFoundError):
        get_for_tenant(StaffUser, a_user.id)
