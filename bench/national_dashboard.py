"""``national_dashboard`` and ``national_dashboard_scaling``: the national office's start page over
national-scale data, against a bare SQL aggregate query producing the same figures.

Data: ``domain.demo.national.seed_national`` (the data of ``buurtgezinnen seed-national``): first the
first 34 gemeenten of the CBS list, then all 342 (about 26,000 families, 17,000 koppelingen, 58,000
evaluation requests over three years up to today), written by the owner with COPY, then ANALYZE.

Ours: the server time of ``GET /landelijk/`` (Flask test client, in process: routing, sign-in
check, the reporting functions' statements, the charts and the HTML of every gemeente's row) for a
national analyst signed in through the real password + TOTP form; ``WARMUP`` requests first, then the
median of ``BENCH_NATIONAL_REQUESTS`` (default 7).

Baseline: what the page needs from the database, as bare SQL, run by the owner with row security
off: one GROUP BY ROLLUP statement producing every gemeente's figures and the totals for the page's
default selection (all gemeenten, the last twelve months, on today), and one producing the months
of the trend chart; no function, no Python formatting. The median of ``BARE_REPEATS`` runs of both
after a warm-up.

Figures: ``national_dashboard`` = page / bare at 342 gemeenten; ``national_dashboard_scaling`` =
page(342) / page(34), next to bare(342) / bare(34) as its baseline (ratio: how much faster the
page's time grows than the bare query's).

Checked (the benchmark fails otherwise): the page answers 200 and issues the same number of SQL
statements at 34 and at 342 gemeenten (a ``before_cursor_execute`` listener on the app's engine),
and the bare statements' rows equal the reporting functions' rows (``national_figures`` and
``national_monthly``) at both sizes.
"""

from __future__ import annotations

import os
import re
import statistics
import time
import uuid
from dataclasses import replace
from datetime import date

from sqlalchemy import create_engine, event, pool, text

from config.settings import Settings

NAME = "national_dashboard"
SCALING = "national_dashboard_scaling"
SMALL, LARGE = 34, 342
SEED = 1
WARMUP = 2
BARE_REPEATS = 7
PASSWORD = "bench-wachtwoord-landelijk"  # noqa: S105 - a throwaway user in a scratch database

LOCAL_DAY = "(({}) AT TIME ZONE 'Europe/Amsterdam')::date"
GOALS = ("ontlasten", "sterker", "opvoedklimaat", "netwerk")


def _count_from_env(name: str, default: int) -> int:
    value = int(os.environ.get(name, default))
    if value < 1:
        raise SystemExit(f"{name} must be at least 1")
    return value


# --- the bare queries -------------------------------------------------------------------------------------


def _goal_columns() -> tuple[str, str, str]:
    """Per koppeling (first and latest scored answer of the vraaggezin), per gemeente, and the output."""
    per_koppeling = ",\n".join(
        f"""count(r.goal_{g}) AS {g}_n,
            (array_agg(r.goal_{g} ORDER BY r.answered_at, r.id) FILTER (WHERE r.goal_{g} IS NOT NULL))[1] AS {g}_first,
            (array_agg(r.goal_{g} ORDER BY r.answered_at DESC, r.id DESC)
                FILTER (WHERE r.goal_{g} IS NOT NULL))[1] AS {g}_last,
            {LOCAL_DAY.format(f"max(r.answered_at) FILTER (WHERE r.goal_{g} IS NOT NULL)")} AS {g}_on"""
        for g in GOALS)
    per_gemeente = ",\n".join(
        f"""count(*) FILTER (WHERE {g}_n >= 2 AND {g}_on BETWEEN :period_from AND :period_to) AS {g}_n,
            avg({g}_last - {g}_first) FILTER (WHERE {g}_n >= 2 AND {g}_on BETWEEN :period_from AND :period_to)
                AS {g}_change"""
        for g in GOALS)
    output = ", ".join(f"COALESCE(goals.{g}_n, 0)::int, round(goals.{g}_change, 2)" for g in GOALS)
    return per_koppeling, per_gemeente, output


def bare_figures_sql() -> str:
    """Every gemeente's figures and the totals (the ROLLUP row), as ``national_figures`` returns them
    for all gemeenten: state on ``:on_day``, flow within ``:period_from`` … ``:period_to``."""
    per_koppeling, per_gemeente, goal_output = _goal_columns()
    registered = LOCAL_DAY.format("f.registered_at")
    waited = LOCAL_DAY.format("f.waiting_since")
    return f"""
        WITH t AS (
            SELECT id, name::text AS name, gemeentecode::text AS code, status::text AS status,
                   COALESCE((settings ->> 'savings_per_koppeling_eur')::bigint, 5500) AS saving,
                   COALESCE((settings ->> 'intake_within_days')::int, 14) AS intake_days,
                   COALESCE((settings ->> 'vog_request_overdue_days')::int, 21) AS vog_days,
                   COALESCE((settings ->> 'evaluation_reminder_days')::int, 7) AS reminder_days
            FROM tenants
        ), fam AS (
            SELECT f.tenant_id,
                   count(*) FILTER (WHERE f.kind = 'vraag' AND f.status = 'wachtend' AND f.anonymised_at IS NULL)
                       AS waiting,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY :on_day - {waited})
                       FILTER (WHERE f.kind = 'vraag' AND f.status = 'wachtend' AND f.anonymised_at IS NULL)
                       AS median_days,
                   max(:on_day - {waited})
                       FILTER (WHERE f.kind = 'vraag' AND f.status = 'wachtend' AND f.anonymised_at IS NULL)
                       AS longest_days,
                   count(*) FILTER (WHERE f.kind = 'steun' AND f.status = 'beschikbaar' AND f.anonymised_at IS NULL)
                       AS available,
                   count(*) FILTER (WHERE f.status IN ('aangemeld', 'intake') AND f.anonymised_at IS NULL
                                      AND {registered} + t.intake_days < :on_day) AS intakes_overdue,
                   count(*) FILTER (WHERE f.kind = 'vraag' AND {registered} BETWEEN :period_from AND :period_to)
                       AS registrations_vraag,
                   count(*) FILTER (WHERE f.kind = 'steun' AND {registered} BETWEEN :period_from AND :period_to)
                       AS registrations_steun
            FROM families f JOIN t ON t.id = f.tenant_id
            GROUP BY ROLLUP (f.tenant_id)
        ), k AS (
            SELECT k.tenant_id,
                   count(*) FILTER (WHERE k.status = 'voorgesteld') AS voorgesteld,
                   count(*) FILTER (WHERE k.status = 'kennismaking') AS kennismaking,
                   count(*) FILTER (WHERE k.status = 'proefperiode') AS proefperiode,
                   count(*) FILTER (WHERE k.status = 'definitief') AS definitief,
                   count(*) FILTER (WHERE k.status = 'afgesloten') AS afgesloten,
                   count(*) FILTER (WHERE k.status = 'gestopt') AS gestopt,
                   count(*) FILTER (WHERE k.proefperiode_start_on IS NOT NULL AND k.status <> 'proefperiode'
                                      AND COALESCE(k.definitief_on, k.ended_on) BETWEEN :period_from AND :period_to)
                       AS concluded,
                   count(*) FILTER (WHERE k.proefperiode_start_on IS NOT NULL
                                      AND k.definitief_on BETWEEN :period_from AND :period_to) AS became_definitief,
                   count(*) FILTER (WHERE k.proefperiode_start_on BETWEEN :period_from AND :period_to) AS made,
                   percentile_cont(0.5) WITHIN GROUP (
                       ORDER BY k.proefperiode_start_on - {LOCAL_DAY.format("v.registered_at")})
                       FILTER (WHERE k.proefperiode_start_on BETWEEN :period_from AND :period_to) AS to_koppeling_days,
                   COALESCE(sum(t.saving) FILTER (WHERE k.proefperiode_start_on BETWEEN :period_from AND :period_to), 0)
                       AS savings
            FROM koppelingen k JOIN t ON t.id = k.tenant_id
            JOIN families v ON v.tenant_id = k.tenant_id AND v.id = k.vraag_family_id
            GROUP BY ROLLUP (k.tenant_id)
        ), vog AS (
            SELECT m.tenant_id, count(*) AS adults,
                   count(*) FILTER (WHERE r.status = 'ontvangen'
                                      AND (r.renewal_due_on IS NULL OR r.renewal_due_on >= :on_day)) AS valid
            FROM family_members m
            JOIN families f ON f.tenant_id = m.tenant_id AND f.id = m.family_id
            LEFT JOIN vog_records r ON r.tenant_id = m.tenant_id AND r.member_id = m.id
            WHERE m.role = 'volwassene' AND f.kind = 'steun' AND f.status IN ('beschikbaar', 'gekoppeld')
              AND f.anonymised_at IS NULL
            GROUP BY ROLLUP (m.tenant_id)
        ), vog_overdue AS (
            SELECT r.tenant_id, count(*) AS overdue
            FROM vog_records r JOIN t ON t.id = r.tenant_id
            JOIN families f ON f.tenant_id = r.tenant_id AND f.id = r.family_id
            WHERE r.status = 'aangevraagd' AND r.requested_on + t.vog_days < :on_day
              AND f.kind = 'steun' AND f.status <> 'afgemeld' AND f.anonymised_at IS NULL
            GROUP BY ROLLUP (r.tenant_id)
        ), evaluations AS (
            SELECT l.tenant_id, count(*) AS overdue
            FROM (SELECT DISTINCT ON (r.tenant_id, r.koppeling_id, r.role) r.tenant_id, r.koppeling_id,
                         r.sent_at, r.answered_at
                  FROM evaluation_requests r
                  ORDER BY r.tenant_id, r.koppeling_id, r.role, r.id DESC) l
            JOIN t ON t.id = l.tenant_id
            JOIN koppelingen k ON k.tenant_id = l.tenant_id AND k.id = l.koppeling_id
            WHERE k.status IN ('proefperiode', 'definitief') AND l.answered_at IS NULL AND l.sent_at IS NOT NULL
              AND {LOCAL_DAY.format("l.sent_at")} + t.reminder_days < :on_day
            GROUP BY ROLLUP (l.tenant_id)
        ), per_koppeling AS (
            SELECT r.tenant_id, r.koppeling_id, {per_koppeling}
            FROM evaluation_requests r
            WHERE r.role = 'vraag' AND r.answered_at IS NOT NULL
              AND {LOCAL_DAY.format("r.answered_at")} <= :period_to
            GROUP BY r.tenant_id, r.koppeling_id
        ), goals AS (
            SELECT tenant_id, {per_gemeente}
            FROM per_koppeling
            GROUP BY ROLLUP (tenant_id)
        ), jobs AS (
            SELECT o.tenant_id, count(*) AS failed FROM outbox_jobs o WHERE o.status = 'failed'
            GROUP BY ROLLUP (o.tenant_id)
        ), contract AS (
            SELECT c.tenant_id, min(c.ends_on) AS ends_on FROM contracts c WHERE c.ends_on >= :on_day
            GROUP BY c.tenant_id
        ), g AS (
            SELECT id, name, code, status FROM t UNION ALL SELECT NULL, 'Totaal', NULL, NULL
        )
        SELECT g.id, g.name, g.code, g.status,
               COALESCE(fam.waiting, 0)::int, round(fam.median_days::numeric, 1), fam.longest_days::int,
               COALESCE(fam.available, 0)::int,
               COALESCE(k.voorgesteld, 0)::int, COALESCE(k.kennismaking, 0)::int, COALESCE(k.proefperiode, 0)::int,
               COALESCE(k.definitief, 0)::int, COALESCE(k.afgesloten, 0)::int, COALESCE(k.gestopt, 0)::int,
               COALESCE(vog.adults, 0)::int, COALESCE(vog.valid, 0)::int,
               COALESCE(evaluations.overdue, 0)::int, COALESCE(fam.intakes_overdue, 0)::int,
               COALESCE(vog_overdue.overdue, 0)::int, COALESCE(jobs.failed, 0)::int,
               COALESCE(fam.registrations_vraag, 0)::int, COALESCE(fam.registrations_steun, 0)::int,
               COALESCE(k.made, 0)::int, round(k.to_koppeling_days::numeric, 1),
               COALESCE(k.concluded, 0)::int, COALESCE(k.became_definitief, 0)::int,
               {goal_output},
               COALESCE(k.savings, 0)::bigint, contract.ends_on
        FROM g
        LEFT JOIN fam ON fam.tenant_id IS NOT DISTINCT FROM g.id
        LEFT JOIN k ON k.tenant_id IS NOT DISTINCT FROM g.id
        LEFT JOIN vog ON vog.tenant_id IS NOT DISTINCT FROM g.id
        LEFT JOIN vog_overdue ON vog_overdue.tenant_id IS NOT DISTINCT FROM g.id
        LEFT JOIN evaluations ON evaluations.tenant_id IS NOT DISTINCT FROM g.id
        LEFT JOIN goals ON goals.tenant_id IS NOT DISTINCT FROM g.id
        LEFT JOIN jobs ON jobs.tenant_id IS NOT DISTINCT FROM g.id
        LEFT JOIN contract ON contract.tenant_id = g.id
        ORDER BY g.id IS NULL, g.name, g.id
    """  # noqa: S608 - no values in the text, all bound


def bare_monthly_sql() -> str:
    """The national registrations and koppelingen made per month of the period (the trend chart)."""
    registered = LOCAL_DAY.format("registered_at")
    return f"""
        WITH months AS (
            SELECT generate_series(date_trunc('month', CAST(:period_from AS date)),
                                   date_trunc('month', CAST(:period_to AS date)), interval '1 month')::date AS month
        ), reg AS (
            SELECT date_trunc('month', {registered})::date AS month,
                   count(*) FILTER (WHERE kind = 'vraag') AS vraag, count(*) FILTER (WHERE kind = 'steun') AS steun
            FROM families WHERE {registered} BETWEEN :period_from AND :period_to GROUP BY 1
        ), made AS (
            SELECT date_trunc('month', proefperiode_start_on)::date AS month, count(*) AS made
            FROM koppelingen WHERE proefperiode_start_on BETWEEN :period_from AND :period_to GROUP BY 1
        )
        SELECT NULL::int AS tenant_id, months.month, COALESCE(reg.vraag, 0)::int, COALESCE(reg.steun, 0)::int,
               COALESCE(made.made, 0)::int
        FROM months LEFT JOIN reg USING (month) LEFT JOIN made USING (month)
        ORDER BY months.month
    """  # noqa: S608 - no values in the text


# --- measuring --------------------------------------------------------------------------------------------


def _params(today: date) -> dict:
    from domain.reporting.figures import Period

    period = Period.last_twelve_months(today)  # the page's default selection
    return {"on_day": today, "period_from": period.start, "period_to": period.end}


def _bare(owner, today: date, repeats: int) -> tuple[float, list, list]:
    params = _params(today)
    figures_sql, monthly_sql = text(bare_figures_sql()), text(bare_monthly_sql())
    times: list[float] = []
    with owner.connect() as connection:
        connection.execute(text("SET row_security = off"))
        for attempt in range(repeats + 1):  # the first is the warm-up
            started = time.perf_counter()
            figures = [tuple(row) for row in connection.execute(figures_sql, params)]
            months = [tuple(row) for row in connection.execute(monthly_sql, params)]
            if attempt:
                times.append(time.perf_counter() - started)
        connection.rollback()
    return statistics.median(times), figures, months


def _functions(owner, today: date) -> tuple[list, list]:
    params = _params(today)
    with owner.connect() as connection:
        figures = [tuple(row) for row in connection.execute(
            text("SELECT * FROM national_figures(:on_day, :period_from, :period_to, NULL)"), params)]
        months = [tuple(row) for row in connection.execute(
            text("SELECT * FROM national_monthly(:period_from, :period_to, NULL, false)"), params)]
    return figures, months


def _check_equal(owner, today: date, figures: list, months: list, gemeenten: int) -> None:
    expected_figures, expected_months = _functions(owner, today)
    if len(expected_figures) != gemeenten + 1:
        raise RuntimeError(f"{NAME}: national_figures returned {len(expected_figures)} rows for {gemeenten} gemeenten")
    for label, ours, theirs in (("national_figures", figures, expected_figures),
                                ("national_monthly", months, expected_months)):
        if ours != theirs:
            differing = [(a, b) for a, b in zip(ours, theirs, strict=False) if a != b][:2]
            raise RuntimeError(f"{NAME}: the bare query's rows differ from {label}'s "
                               f"({len(ours)} vs {len(theirs)} rows), e.g. {differing}")


def _sign_in(app, client) -> None:
    """A national analyst, through the real password + TOTP form."""
    import pyotp

    from domain.accounts.models import NationalRole
    from domain.accounts.services import create_national_user
    from domain.audit.services import SYSTEM
    from tenants.db import db

    secret = pyotp.random_base32(32)
    email = f"analist-{uuid.uuid4().hex[:8]}@example.org"
    with app.app_context():
        create_national_user(email=email, full_name="Analist (bench)", role=NationalRole.NATIONAL_ANALYST,
                             password=PASSWORD, totp_secret=secret, actor=SYSTEM)
        db.session.commit()
        db.session.remove()

    def post(url: str, data: dict) -> None:
        page = client.get(url).get_data(as_text=True)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
        if not token:
            raise RuntimeError(f"{NAME}: no CSRF token on {url}")
        response = client.post(url, data={**data, "csrf_token": token.group(1)})
        if response.status_code != 302:
            raise RuntimeError(f"{NAME}: signing in failed at {url}: {response.status_code}")

    post("/landelijk/login", {"email": email, "password": PASSWORD})
    post("/landelijk/login/code", {"code": pyotp.TOTP(secret).now()})


def _page(app, client, requests: int) -> tuple[float, int]:
    """Median server time of GET /landelijk/ and its number of SQL statements (the same every time)."""
    from tenants.db import db

    statements = 0

    def count(*_args) -> None:
        nonlocal statements
        statements += 1

    with app.app_context():
        engine = db.engine
    times, counts = [], set()
    for attempt in range(WARMUP + requests):
        statements = 0
        event.listen(engine, "before_cursor_execute", count)
        try:
            started = time.perf_counter()
            response = client.get("/landelijk/")
            seconds = time.perf_counter() - started
        finally:
            event.remove(engine, "before_cursor_execute", count)
        if response.status_code != 200:
            raise RuntimeError(f"{NAME}: GET /landelijk/ answered {response.status_code}")
        counts.add(statements)
        if attempt >= WARMUP:
            times.append(seconds)
    if len(counts) != 1:
        raise RuntimeError(f"{NAME}: the page issued a varying number of statements: {sorted(counts)}")
    return statistics.median(times), counts.pop()


def _grow(owner, gemeenten: int, today: date) -> float:
    from domain.demo.national import analyze, seed_national

    started = time.perf_counter()
    with owner.begin() as connection:
        seed_national(connection, gemeenten=gemeenten, seed=SEED, today=today)
    with owner.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        analyze(connection)
    return time.perf_counter() - started


def _measure(app, client, owner, today: date, gemeenten: int, requests: int) -> dict:
    page, statements = _page(app, client, requests)
    bare, figures, months = _bare(owner, today, BARE_REPEATS)
    _check_equal(owner, today, figures, months, gemeenten)
    return {"page": page, "statements": statements, "bare": bare}


def run(base: Settings) -> list[dict]:
    # Imported here: the web app factory is only needed once the benchmark really runs.
    from devstack.scratch import scratch_database
    from domain.families.records import local_today
    from tenants.db import db
    from web.app import create_app

    requests = _count_from_env("BENCH_NATIONAL_REQUESTS", 7)
    today = local_today()  # the page's day: the data is built up to it
    with scratch_database(replace(base, mail_backend="sink"), prefix="bg_bench") as settings:
        owner = create_engine(settings.database_url, poolclass=pool.StaticPool)
        app = create_app(settings)
        try:
            client = app.test_client()
            client.environ_base["REMOTE_ADDR"] = "10.34.3.42"
            built_small = _grow(owner, SMALL, today)
            _sign_in(app, client)
            small = _measure(app, client, owner, today, SMALL, requests)
            built_large = _grow(owner, LARGE, today)
            large = _measure(app, client, owner, today, LARGE, requests)
        finally:
            owner.dispose()
            with app.app_context():
                db.engine.dispose()  # let the database be dropped without waiting for idle connections

    if small["statements"] != large["statements"]:
        raise RuntimeError(f"{NAME}: the page issues {small['statements']} SQL statements at {SMALL} gemeenten "
                           f"and {large['statements']} at {LARGE}")
    page_growth, bare_growth = large["page"] / small["page"], large["bare"] / small["bare"]
    print(f"{NAME}: built {SMALL} gemeenten in {built_small:.1f} s, {LARGE} in {built_small + built_large:.1f} s; "
          f"page {small['page'] * 1000:.0f} ms at {SMALL}, {large['page'] * 1000:.0f} ms at {LARGE} "
          f"({large['statements']} statements both); bare {small['bare'] * 1000:.0f} ms, "
          f"{large['bare'] * 1000:.0f} ms")
    return [
        {"name": NAME, "ours": round(large["page"], 4), "baseline": round(large["bare"], 4), "unit": "s",
         "ratio": round(large["page"] / large["bare"], 1), "n": LARGE,
         "statements": large["statements"]},
        {"name": SCALING, "ours": round(page_growth, 2), "baseline": round(bare_growth, 2), "unit": "x",
         "ratio": round(page_growth / bare_growth, 2), "n": LARGE,
         "ours_small": round(small["page"], 4), "baseline_small": round(small["bare"], 4)},
    ]
