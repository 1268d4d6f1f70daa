"""The buurtgezinnen command: tenants, users, demo data, each against the real test database."""

from __future__ import annotations

import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from domain.accounts.models import StaffUser
from domain.audit.models import NationalAuditEvent
from tenants.db import db
from tenants.services import tenant_by_slug, use_tenant
from web.cli import main


@pytest.fixture
def run_cli(settings):
    env = {
        "DATABASE_URL": settings.database_url,
        "APP_DATABASE_URL": settings.app_database_url,
        "REDIS_URL": settings.redis_url,
        "REDIS_NAMESPACE": settings.redis_namespace,
        "BUURTGEZINNEN_ENV": "test",
    }

    def run(*args: str, input: str | None = None):
        return CliRunner().invoke(main, list(args), env=env, input=input, catch_exceptions=False)

    return run


def _free_code(app_ctx) -> str:
    from tenants.models import Tenant

    used = set(db.session.scalars(select(Tenant.gemeentecode)))
    code = next(f"{n:04d}" for n in range(9999, 0, -1) if f"{n:04d}" not in used)
    db.session.remove()
    return code


def test_tenant_create_list_suspend(run_cli, app_ctx):
    slug = f"cli-{uuid.uuid4().hex[:6]}"
    code = _free_code(app_ctx)
    result = run_cli("tenant", "create", "--slug", slug, "--name", "Cligemeente", "--code", f"GM{code}")
    assert result.exit_code == 0, result.output
    assert f"/{slug}/" in result.output

    listing = run_cli("tenant", "list")
    assert slug in listing.output and f"GM{code}" in listing.output

    duplicate = run_cli("tenant", "create", "--slug", slug, "--name", "Nog een", "--code", "0001")
    assert duplicate.exit_code != 0
    assert "bestaat al" in duplicate.output

    assert run_cli("tenant", "suspend", slug).exit_code == 0
    tenant = tenant_by_slug(slug)
    assert tenant.status == "suspended"
    actions = set(db.session.scalars(
        select(NationalAuditEvent.action).where(NationalAuditEvent.object_id == tenant.id)
    ))
    assert {"tenant.created", "tenant.suspended"} <= actions


def test_tenant_create_rejects_bad_input_and_changes_nothing(run_cli, app_ctx):
    before = run_cli("tenant", "list").output
    for args in (["--slug", "Hoofd Letters", "--name", "X", "--code", "0002"],
                 ["--slug", "landelijk", "--name", "X", "--code", "0002"],
                 ["--slug", "goede-slug", "--name", "X", "--code", "12"]):
        result = run_cli("tenant", "create", *args)
        assert result.exit_code != 0
        assert "Ongeldige" in result.output
    assert run_cli("tenant", "list").output == before


def test_user_create_with_role(run_cli, make, app_ctx):
    gemeente = make.tenant()
    email = f"nieuw-{uuid.uuid4().hex[:6]}@example.org"
    result = run_cli("user", "create", "--tenant", gemeente.slug, "--email", email, "--name", "Nieuwe Collega",
                     "--role", "coordinator", input="een-goed-wachtwoord\neen-goed-wachtwoord\n")
    assert result.exit_code == 0, result.output
    use_tenant(gemeente.id)
    user = db.session.scalar(select(StaffUser).where(StaffUser.email == email))
    assert user.role == "coordinator"
    assert not user.totp_enrolled  # enrols an authenticator at first login

    too_short = run_cli("user", "create", "--tenant", gemeente.slug, "--email", f"x{email}", "--name", "X",
                        "--role", "coordinator", input="kort\nkort\n")
    assert too_short.exit_code != 0
    assert "minstens 12 tekens" in too_short.output


def test_seed_demo_is_idempotent(run_cli, app_ctx):
    run_cli("seed-demo")
    second = run_cli("seed-demo")
    assert second.exit_code == 0
    assert "waren er al" in second.output
    assert tenant_by_slug("smallingerland").gemeentecode == "0090"
