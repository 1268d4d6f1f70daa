"""The ``buurtgezinnen`` command: migrations, demo data, tenants and users."""

from __future__ import annotations

import time

import click
from flask import current_app
from flask.cli import FlaskGroup
from sqlalchemy import create_engine, pool

from config.settings import SettingsError
from domain.accounts.models import NationalRole, TenantRole
from domain.accounts.services import AccountError, create_national_user, create_staff_user
from domain.audit.services import Actor, record
from domain.demo.national import SeedError, analyze, seed_national
from domain.demo.services import seed_demo
from domain.documents.templates import ensure_default_templates
from domain.families.records import local_today
from tenants.db import db
from tenants.models import TenantStatus
from tenants.schema import migrate
from tenants.services import (
    TenantError,
    create_tenant,
    list_tenants,
    set_tenant_status,
    tenant_by_slug,
    use_tenant,
)
from web.app import create_app

CLI_ACTOR = Actor(label="beheer via de commandoregel")


def _create_app_or_explain():
    try:
        return create_app()
    except SettingsError as error:
        raise click.ClickException(f"Configuratie klopt niet: {error}") from None


@click.group(cls=FlaskGroup, create_app=_create_app_or_explain, add_default_commands=True)
def main() -> None:
    """Beheer van het Buurtgezinnen-platform."""


@main.command("migrate")
def migrate_command() -> None:
    """Breng de database naar het nieuwste schema (als eigenaar-rol)."""
    settings = current_app.extensions["settings"]
    migrate(settings.database_url, settings.app_database_url)
    # The national document texts start at version 1 (the defaults); edits are later versions.
    ensure_default_templates()
    db.session.commit()
    click.echo("Database is bijgewerkt.")


@main.command("seed-demo")
def seed_demo_command() -> None:
    """Maak de demogemeenten en demogebruikers aan (alleen in demomodus; herhaalbaar)."""
    if current_app.extensions["settings"].is_production:
        raise click.ClickException("Demogegevens bestaan alleen in demomodus (BUURTGEZINNEN_ENV=demo).")
    created = seed_demo()
    click.echo("\n".join(f"aangemaakt: {line}" for line in created) or "Demogegevens waren er al.")


@main.command("seed-national")
@click.option("--gemeenten", "count", type=click.IntRange(1, None), default=None,
              help="De eerste N gemeenten van de CBS-lijst (standaard alle 342)")
@click.option("--seed", type=int, default=1, show_default=True, help="Zelfde seed, zelfde gegevens")
@click.option("--scale", type=click.FloatRange(0.01, 10), default=1.0, show_default=True,
              help="Factor op het aantal gezinnen per gemeente (20–250 bij 1)")
def seed_national_command(count: int | None, seed: int, scale: float) -> None:
    """Landelijke demogegevens: gemeenten met drie jaar gezinnen, VOG's, koppelingen en evaluaties
    (alleen in demomodus; gemeenten die er al zijn blijven zoals ze zijn)."""
    settings = current_app.extensions["settings"]
    if settings.is_production:
        raise click.ClickException("Demogegevens bestaan alleen in demomodus (BUURTGEZINNEN_ENV=demo).")
    # As the owner: COPY over all gemeenten at once, not the app role's one-tenant-per-transaction path.
    owner = create_engine(settings.database_url, poolclass=pool.NullPool)
    started = time.perf_counter()
    try:
        with owner.begin() as connection:
            report = seed_national(connection, gemeenten=count, seed=seed, scale=scale, today=local_today())
        if report.gemeenten:
            with owner.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                analyze(connection)
    except SeedError as error:
        raise click.ClickException(str(error)) from None
    finally:
        owner.dispose()
    click.echo(f"{report.gemeenten} gemeenten aangemaakt ({report.skipped} waren er al): {report.families} gezinnen, "
               f"{report.koppelingen} koppelingen, {report.evaluation_requests} evaluatieverzoeken "
               f"in {time.perf_counter() - started:.1f} s.")


@main.group("tenant")
def tenant_group() -> None:
    """Gemeenten (tenants) beheren."""


@tenant_group.command("create")
@click.option("--slug", required=True, help="Deel van de URL, bijvoorbeeld smallingerland")
@click.option("--name", required=True, help="Naam van de gemeente")
@click.option("--code", "gemeentecode", required=True, help="CBS-gemeentecode, bijvoorbeeld 0090")
def tenant_create(slug: str, name: str, gemeentecode: str) -> None:
    try:
        tenant = create_tenant(slug=slug, name=name, gemeentecode=gemeentecode)
    except TenantError as error:
        raise click.ClickException(str(error)) from None
    record("tenant.created", CLI_ACTOR, object_type="tenant", object_id=tenant.id, details={"slug": tenant.slug})
    db.session.commit()
    click.echo(f"Gemeente {tenant.name} aangemaakt op /{tenant.slug}/")


def _set_status(slug: str, status: TenantStatus) -> None:
    tenant = tenant_by_slug(slug)
    if tenant is None:
        raise click.ClickException(f"Geen gemeente met slug {slug!r}.")
    set_tenant_status(tenant, status)
    record(f"tenant.{status.value}", CLI_ACTOR, object_type="tenant", object_id=tenant.id,
           details={"slug": tenant.slug})
    db.session.commit()
    click.echo(f"{tenant.name}: {status.value}")


@tenant_group.command("suspend")
@click.argument("slug")
def tenant_suspend(slug: str) -> None:
    """Zet een gemeente op pauze: medewerkers kunnen niet meer inloggen."""
    _set_status(slug, TenantStatus.SUSPENDED)


@tenant_group.command("activate")
@click.argument("slug")
def tenant_activate(slug: str) -> None:
    _set_status(slug, TenantStatus.ACTIVE)


@tenant_group.command("list")
def tenant_list() -> None:
    for tenant in list_tenants():
        click.echo(f"{tenant.slug:30} GM{tenant.gemeentecode}  {tenant.status:10} {tenant.name}")


@main.group("user")
def user_group() -> None:
    """Gebruikers beheren."""


@user_group.command("create")
@click.option("--tenant", "slug", help="Slug van de gemeente; weglaten voor een landelijke gebruiker")
@click.option("--email", required=True)
@click.option("--name", "full_name", required=True)
@click.option("--role", required=True,
              type=click.Choice([r.value for r in TenantRole] + [r.value for r in NationalRole]))
@click.password_option("--password", help="Minstens 12 tekens")
def user_create(slug: str | None, email: str, full_name: str, role: str, password: str) -> None:
    """Maak een gebruiker aan; die koppelt bij de eerste keer inloggen een authenticator-app."""
    try:
        if slug:
            tenant = tenant_by_slug(slug)
            if tenant is None:
                raise click.ClickException(f"Geen gemeente met slug {slug!r}.")
            use_tenant(tenant)
            user = create_staff_user(tenant, email=email, full_name=full_name, role=role,
                                     password=password, actor=CLI_ACTOR)
        else:
            user = create_national_user(email=email, full_name=full_name, role=role, password=password,
                                        actor=CLI_ACTOR)
    except AccountError as error:
        raise click.ClickException(str(error)) from None
    db.session.commit()
    click.echo(f"Gebruiker {user.email} ({role}) aangemaakt.")
