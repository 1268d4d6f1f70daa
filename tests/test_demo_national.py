"""National-scale demo data (``buurtgezinnen seed-national``, domain.demo.national): consistent dates
and statuses, a VOG for every adult of an active steungezin, every row in its family's gemeente,
idempotent, and figures the national dashboard can show.

In a database of its own: the command adds real CBS gemeenten, which must not meet the tenants that
other tests in this worker's database create.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, pool, text

from devstack.scratch import scratch_database
from domain.demo.national import cbs_rows_in_file_order
from domain.families.records import local_today
from tenants.db import db
from web.app import create_app
from web.cli import main

GEMEENTEN = 3
ARGS = ("seed-national", "--gemeenten", str(GEMEENTEN), "--scale", "0.4", "--seed", "7")


@pytest.fixture(scope="module")
def national(settings):
    with scratch_database(replace(settings, mail_backend="sink"), prefix="bg_test_national") as own:
        env = {"DATABASE_URL": own.database_url, "APP_DATABASE_URL": own.app_database_url,
               "REDIS_URL": own.redis_url, "REDIS_NAMESPACE": own.redis_namespace, "BUURTGEZINNEN_ENV": "test"}

        def run(*args: str):
            return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)

        first = run(*ARGS)
        assert first.exit_code == 0, first.output
        owner = create_engine(own.database_url, poolclass=pool.NullPool)
        try:
            yield {"settings": own, "run": run, "owner": owner, "output": first.output}
        finally:
            owner.dispose()


def rows(national, sql: str, **params) -> list:
    with national["owner"].connect() as connection:
        return connection.execute(text(sql), params).all()


def scalar(national, sql: str, **params):
    with national["owner"].connect() as connection:
        return connection.execute(text(sql), params).scalar()


def test_the_first_gemeenten_of_the_cbs_list_are_made_with_families_of_every_kind(national):
    codes = [row.code for row in cbs_rows_in_file_order()[:GEMEENTEN]]
    assert national["output"].startswith(f"{GEMEENTEN} gemeenten aangemaakt (0 waren er al)")
    assert sorted(r.gemeentecode for r in rows(national, "SELECT gemeentecode FROM tenants")) == sorted(codes)
    statuses = {(r.kind, r.status) for r in rows(national, "SELECT DISTINCT kind, status FROM families")}
    for status in ("wachtend", "gekoppeld", "afgemeld"):
        assert ("vraag", status) in statuses
    for status in ("beschikbaar", "gekoppeld", "afgemeld"):
        assert ("steun", status) in statuses
    # A family is aangemeld or in intake for a few weeks only: in small data not always of both kinds.
    assert {status for _, status in statuses} >= {"aangemeld", "intake"}
    states = {r.status for r in rows(national, "SELECT DISTINCT status FROM koppelingen")}
    assert states == {"voorgesteld", "kennismaking", "proefperiode", "definitief", "afgesloten", "gestopt"}
    assert scalar(national, "SELECT count(*) FROM contracts") == GEMEENTEN
    assert scalar(national, "SELECT count(*) FROM outbox_jobs WHERE status = 'failed'") > 0
    # Three years up to today, no later.
    first, last = rows(national, "SELECT min(registered_at)::date, max(registered_at)::date FROM families")[0]
    assert (local_today() - first).days > 2.5 * 365 and last <= local_today()


def test_running_again_adds_nothing(national):
    tables = ("tenants", "families", "family_members", "koppelingen", "vog_records", "evaluation_requests",
              "contracts", "outbox_jobs")
    count = " UNION ALL ".join(f"SELECT '{table}', count(*) FROM {table}" for table in tables)
    before = rows(national, count)
    again = national["run"](*ARGS)
    assert again.exit_code == 0, again.output
    assert again.output.startswith(f"0 gemeenten aangemaakt ({GEMEENTEN} waren er al)")
    assert rows(national, count) == before


def test_koppeling_dates_follow_each_other_and_fit_the_status(national):
    today = local_today()
    wrong = rows(national, """
        SELECT id, status FROM koppelingen WHERE NOT (
            proposed_on <= :today
            AND (proefperiode_start_on IS NULL OR (proposed_on < proefperiode_start_on
                 AND proefperiode_start_on < proefperiode_end_on AND proefperiode_start_on <= :today
                 AND guidance_end_on > proefperiode_end_on))
            AND (definitief_on IS NULL OR (definitief_on >= proefperiode_end_on AND definitief_on <= :today))
            AND (ended_on IS NULL OR (ended_on >= COALESCE(definitief_on, proefperiode_start_on, proposed_on)
                 AND ended_on <= :today))
            AND CASE status
                WHEN 'voorgesteld' THEN proefperiode_start_on IS NULL AND ended_on IS NULL
                WHEN 'kennismaking' THEN proefperiode_start_on IS NULL AND ended_on IS NULL
                WHEN 'proefperiode' THEN proefperiode_start_on IS NOT NULL AND definitief_on IS NULL
                                         AND ended_on IS NULL
                WHEN 'definitief' THEN definitief_on IS NOT NULL AND ended_on IS NULL
                WHEN 'afgesloten' THEN definitief_on IS NOT NULL AND ended_on IS NOT NULL
                WHEN 'gestopt' THEN ended_on IS NOT NULL AND stop_reason IS NOT NULL
            END)""", today=today)
    assert wrong == []
    # Both families of a running koppeling are gekoppeld, and a gekoppeld family has one.
    assert rows(national, """
        SELECT f.id FROM families f WHERE (f.status = 'gekoppeld') <> EXISTS (
            SELECT FROM koppelingen k WHERE k.status IN ('proefperiode', 'definitief')
              AND f.id IN (k.vraag_family_id, k.steun_family_id))""") == []
    assert rows(national, """
        SELECT id FROM families WHERE (kind = 'vraag' AND status = 'wachtend' AND waiting_since IS NULL)
           OR (status = 'afgemeld') <> (closed_at IS NOT NULL)
           OR (anonymised_at IS NOT NULL AND (status <> 'afgemeld' OR email IS NOT NULL))""") == []
    assert scalar(national, "SELECT count(*) FROM families WHERE anonymised_at IS NOT NULL") > 0


def test_every_adult_of_an_active_steungezin_has_a_vog(national):
    missing = rows(national, """
        SELECT m.id FROM family_members m JOIN families f ON f.id = m.family_id
        WHERE f.kind = 'steun' AND f.status IN ('beschikbaar', 'gekoppeld') AND m.role = 'volwassene'
          AND NOT EXISTS (SELECT FROM vog_records r WHERE r.member_id = m.id)""")
    assert missing == []
    states = {r.status for r in rows(national, "SELECT DISTINCT status FROM vog_records")}
    assert {"nodig", "aangevraagd", "ontvangen"} <= states
    assert rows(national, """
        SELECT r.id FROM vog_records r WHERE (r.status = 'ontvangen' AND (r.issued_on IS NULL
              OR r.renewal_due_on <= r.issued_on OR r.checked_on < r.issued_on))
           OR (r.status = 'aangevraagd' AND r.requested_on IS NULL)""") == []


def test_every_row_belongs_to_its_familys_gemeente(national):
    checks = {
        "family_members": "SELECT count(*) FROM family_members x JOIN families f ON f.id = x.family_id "
                          "WHERE x.tenant_id <> f.tenant_id",
        "vog_records": "SELECT count(*) FROM vog_records x JOIN families f ON f.id = x.family_id "
                       "JOIN family_members m ON m.id = x.member_id "
                       "WHERE x.tenant_id <> f.tenant_id OR m.family_id <> f.id",
        "koppelingen": "SELECT count(*) FROM koppelingen x JOIN families v ON v.id = x.vraag_family_id "
                       "JOIN families s ON s.id = x.steun_family_id "
                       "WHERE x.tenant_id <> v.tenant_id OR x.tenant_id <> s.tenant_id "
                       "OR v.kind <> 'vraag' OR s.kind <> 'steun'",
        "evaluation_requests": "SELECT count(*) FROM evaluation_requests x JOIN families f ON f.id = x.family_id "
                               "JOIN koppelingen k ON k.id = x.koppeling_id "
                               "WHERE x.tenant_id <> f.tenant_id OR x.tenant_id <> k.tenant_id "
                               "OR f.id NOT IN (k.vraag_family_id, k.steun_family_id)",
        "family_status_changes": "SELECT count(*) FROM family_status_changes x JOIN families f "
                                 "ON f.id = x.family_id WHERE x.tenant_id <> f.tenant_id",
    }
    assert {table: scalar(national, sql) for table, sql in checks.items()} == dict.fromkeys(checks, 0)


def test_evaluations_score_the_goals_so_that_changes_exist(national):
    out_of_range = scalar(national, """
        SELECT count(*) FROM evaluation_requests WHERE
            (role = 'steun' AND goal_ontlasten IS NOT NULL)
            OR (answered_at IS NULL AND goal_ontlasten IS NOT NULL)
            OR NOT (goal_ontlasten BETWEEN 1 AND 5 AND goal_sterker BETWEEN 1 AND 5
                    AND goal_opvoedklimaat BETWEEN 1 AND 5 AND goal_netwerk BETWEEN 1 AND 5)""")
    assert out_of_range == 0
    changed = scalar(national, """
        SELECT count(*) FROM (
            SELECT koppeling_id FROM evaluation_requests WHERE role = 'vraag' AND answered_at IS NOT NULL
            GROUP BY koppeling_id HAVING count(DISTINCT goal_ontlasten) > 1) changed""")
    assert changed > 0
    moments = {r.moment for r in rows(national, "SELECT DISTINCT moment FROM evaluation_requests")}
    assert {"proefperiode", "periodiek-1", "afsluiting"} <= moments


def test_the_national_figures_of_the_seeded_gemeenten_are_not_empty(national):
    from domain.reporting.figures import Period, national_table

    app = create_app(national["settings"])
    today = local_today()
    with app.app_context():
        table = national_table(today, Period.last_twelve_months(today))
        db.session.remove()
    assert len(table.rows) == GEMEENTEN
    for row in table.rows:
        running = row.koppelingen_proefperiode + row.koppelingen_definitief
        assert row.steun_adults > 0 and row.steun_adults_valid_vog > 0, row
        assert running > 0 and row.koppelingen_made > 0 and row.registrations_vraag > 0, row
        assert row.savings_eur > 0 and row.contract_ends_on is not None and row.contract_ends_on >= today, row
    assert table.totals.waiting > 0 and table.totals.failed_jobs > 0
    assert table.totals.goal_ontlasten_n > 0
