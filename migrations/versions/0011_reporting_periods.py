"""reporting: national figures over a period and per month, for a selection of gemeenten

Revision ID: 0011
Revises: 0010

Replaces 0009's national_figures(on_day) with national_figures(on_day, period_from, period_to, codes):
the state on ``on_day`` (waiting, available, koppelingen per state, VOG, overdue work, failed jobs)
and the flow within the period (registrations, koppelingen made, days from registration to
koppeling, proefperiodes concluded, goal-score changes, savings), for the gemeenten whose CBS code
is in ``codes`` (NULL: all). Adds national_monthly(...) for the trends. Both stay the one narrow
path: counts, days, shares and amounts per gemeente, never a row about a person.
"""

from alembic import op

from tenants.rls import APP_ROLE

# Tables these functions read that 0009 did not: the owner needs a read-only policy on them too
# (outbox_jobs already has the relay's owner policy).
NEW_TABLES = ("evaluation_requests",)
POLICY = "owner_reporting"

OLD_SIGNATURE = "national_figures(date)"
SIGNATURE = "national_figures(date, date, date, text[])"
MONTHLY_SIGNATURE = "national_monthly(date, date, text[], boolean)"

# A timestamp's Dutch calendar day.
LOCAL_DAY = "((%s) AT TIME ZONE 'Europe/Amsterdam')::date"

FIGURES = f"""
    CREATE FUNCTION national_figures(on_day date, period_from date, period_to date, codes text[])
    RETURNS TABLE (tenant_id int, gemeente text, gemeentecode text, tenant_status text,
                   waiting int, waiting_median_days numeric, waiting_longest_days int,
                   steun_available int,
                   koppelingen_voorgesteld int, koppelingen_kennismaking int, koppelingen_proefperiode int,
                   koppelingen_definitief int, koppelingen_afgesloten int, koppelingen_gestopt int,
                   steun_adults int, steun_adults_valid_vog int,
                   evaluations_overdue int, intakes_overdue int, vog_requests_overdue int, failed_jobs int,
                   registrations_vraag int, registrations_steun int,
                   koppelingen_made int, to_koppeling_median_days numeric,
                   proefperiodes_concluded int, proefperiodes_definitief int,
                   goal_ontlasten_n int, goal_ontlasten_change numeric,
                   goal_sterker_n int, goal_sterker_change numeric,
                   goal_opvoedklimaat_n int, goal_opvoedklimaat_change numeric,
                   goal_netwerk_n int, goal_netwerk_change numeric,
                   savings_eur bigint, contract_ends_on date)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
        WITH t AS (
            SELECT id, name::text AS name, gemeentecode::text AS code, status::text AS status,
                   COALESCE((settings ->> 'savings_per_koppeling_eur')::bigint, 5500) AS saving,
                   COALESCE((settings ->> 'intake_within_days')::int, 14) AS intake_days,
                   COALESCE((settings ->> 'vog_request_overdue_days')::int, 21) AS vog_days,
                   COALESCE((settings ->> 'evaluation_reminder_days')::int, 7) AS reminder_days
            FROM public.tenants
            WHERE codes IS NULL OR gemeentecode = ANY (codes)
        ), w AS (
            SELECT f.tenant_id, count(*) AS waiting,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY on_day - {LOCAL_DAY % "f.waiting_since"}) AS median_days,
                   max(on_day - {LOCAL_DAY % "f.waiting_since"}) AS longest_days
            FROM public.families f JOIN t ON t.id = f.tenant_id
            WHERE f.kind = 'vraag' AND f.status = 'wachtend' AND f.anonymised_at IS NULL
            GROUP BY ROLLUP (f.tenant_id)
        ), fam AS (
            -- Families: available steungezinnen and overdue intakes now, registrations in the period.
            SELECT f.tenant_id,
                   count(*) FILTER (WHERE f.kind = 'steun' AND f.status = 'beschikbaar'
                                      AND f.anonymised_at IS NULL) AS available,
                   count(*) FILTER (WHERE f.status IN ('aangemeld', 'intake') AND f.anonymised_at IS NULL
                                      AND {LOCAL_DAY % "f.registered_at"} + t.intake_days < on_day) AS intakes_overdue,
                   count(*) FILTER (WHERE f.kind = 'vraag' AND {LOCAL_DAY % "f.registered_at"}
                                      BETWEEN period_from AND period_to) AS registrations_vraag,
                   count(*) FILTER (WHERE f.kind = 'steun' AND {LOCAL_DAY % "f.registered_at"}
                                      BETWEEN period_from AND period_to) AS registrations_steun
            FROM public.families f JOIN t ON t.id = f.tenant_id
            GROUP BY ROLLUP (f.tenant_id)
        ), k AS (
            SELECT k.tenant_id,
                   count(*) FILTER (WHERE k.status = 'voorgesteld') AS voorgesteld,
                   count(*) FILTER (WHERE k.status = 'kennismaking') AS kennismaking,
                   count(*) FILTER (WHERE k.status = 'proefperiode') AS proefperiode,
                   count(*) FILTER (WHERE k.status = 'definitief') AS definitief,
                   count(*) FILTER (WHERE k.status = 'afgesloten') AS afgesloten,
                   count(*) FILTER (WHERE k.status = 'gestopt') AS gestopt,
                   -- A proefperiode is over when the koppeling became definitief or ended before that.
                   count(*) FILTER (WHERE k.proefperiode_start_on IS NOT NULL AND k.status <> 'proefperiode'
                                      AND COALESCE(k.definitief_on, k.ended_on)
                                          BETWEEN period_from AND period_to) AS concluded,
                   count(*) FILTER (WHERE k.proefperiode_start_on IS NOT NULL
                                      AND k.definitief_on BETWEEN period_from AND period_to) AS became_definitief,
                   count(*) FILTER (WHERE k.proefperiode_start_on BETWEEN period_from AND period_to) AS made,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY k.proefperiode_start_on - {LOCAL_DAY % "v.registered_at"})
                       FILTER (WHERE k.proefperiode_start_on BETWEEN period_from AND period_to) AS to_koppeling_days,
                   COALESCE(sum(t.saving) FILTER (WHERE k.proefperiode_start_on BETWEEN period_from AND period_to),
                            0) AS savings
            FROM public.koppelingen k JOIN t ON t.id = k.tenant_id
            JOIN public.families v ON v.tenant_id = k.tenant_id AND v.id = k.vraag_family_id
            GROUP BY ROLLUP (k.tenant_id)
        ), v AS (
            SELECT m.tenant_id, count(*) AS adults,
                   count(*) FILTER (WHERE r.status = 'ontvangen'
                                      AND (r.renewal_due_on IS NULL OR r.renewal_due_on >= on_day)) AS valid
            FROM public.family_members m JOIN t ON t.id = m.tenant_id
            JOIN public.families f ON f.tenant_id = m.tenant_id AND f.id = m.family_id
            LEFT JOIN public.vog_records r ON r.tenant_id = m.tenant_id AND r.member_id = m.id
            WHERE m.role = 'volwassene' AND f.kind = 'steun' AND f.status IN ('beschikbaar', 'gekoppeld')
              AND f.anonymised_at IS NULL
            GROUP BY ROLLUP (m.tenant_id)
        ), vr AS (
            -- VOG requests of taking-part steungezinnen not received after the gemeente's term.
            SELECT r.tenant_id, count(*) AS overdue
            FROM public.vog_records r JOIN t ON t.id = r.tenant_id
            JOIN public.families f ON f.tenant_id = r.tenant_id AND f.id = r.family_id
            WHERE r.status = 'aangevraagd' AND r.requested_on + t.vog_days < on_day
              AND f.kind = 'steun' AND f.status <> 'afgemeld' AND f.anonymised_at IS NULL
            GROUP BY ROLLUP (r.tenant_id)
        ), e AS (
            -- A running koppeling's latest evaluation link per family, unanswered past the reminder.
            SELECT r.tenant_id, count(*) AS overdue
            FROM public.evaluation_requests r JOIN t ON t.id = r.tenant_id
            JOIN public.koppelingen k ON k.tenant_id = r.tenant_id AND k.id = r.koppeling_id
            WHERE k.status IN ('proefperiode', 'definitief') AND r.answered_at IS NULL AND r.sent_at IS NOT NULL
              AND {LOCAL_DAY % "r.sent_at"} + t.reminder_days < on_day
              AND NOT EXISTS (SELECT 1 FROM public.evaluation_requests later
                              WHERE later.tenant_id = r.tenant_id AND later.koppeling_id = r.koppeling_id
                                AND later.role = r.role AND later.id > r.id)
            GROUP BY ROLLUP (r.tenant_id)
        ), per_koppeling AS (
            -- Per koppeling and goal, up to the end of the period: the vraaggezin's first (baseline) and
            -- latest score, the latest scored answer's day and how many answers scored it.
            SELECT r.tenant_id, r.koppeling_id,
                   {", ".join(
                       f"count(r.goal_{g}) AS {g}_n, "
                       f"(array_agg(r.goal_{g} ORDER BY r.answered_at, r.id) FILTER (WHERE r.goal_{g} IS NOT NULL))[1]"
                       f" AS {g}_first, "
                       f"(array_agg(r.goal_{g} ORDER BY r.answered_at DESC, r.id DESC)"
                       f" FILTER (WHERE r.goal_{g} IS NOT NULL))[1] AS {g}_last, "
                       f"{LOCAL_DAY % f'max(r.answered_at) FILTER (WHERE r.goal_{g} IS NOT NULL)'} AS {g}_on"
                       for g in ("ontlasten", "sterker", "opvoedklimaat", "netwerk"))}
            FROM public.evaluation_requests r JOIN t ON t.id = r.tenant_id
            WHERE r.role = 'vraag' AND r.answered_at IS NOT NULL
              AND {LOCAL_DAY % "r.answered_at"} <= period_to  -- a past period's figure stays as it was
            GROUP BY r.tenant_id, r.koppeling_id
        ), goals AS (
            -- The average change from the baseline, over koppelingen answered at least twice whose
            -- latest answer falls in the period.
            SELECT tenant_id,
                   {", ".join(
                       f"count(*) FILTER (WHERE {g}_n >= 2 AND {g}_on BETWEEN period_from AND period_to) AS {g}_n, "
                       f"avg({g}_last - {g}_first) FILTER (WHERE {g}_n >= 2 AND {g}_on BETWEEN period_from AND period_to)"
                       f" AS {g}_change"
                       for g in ("ontlasten", "sterker", "opvoedklimaat", "netwerk"))}
            FROM per_koppeling
            GROUP BY ROLLUP (tenant_id)
        ), j AS (
            SELECT o.tenant_id, count(*) AS failed
            FROM public.outbox_jobs o JOIN t ON t.id = o.tenant_id
            WHERE o.status = 'failed'
            GROUP BY ROLLUP (o.tenant_id)
        ), c AS (
            SELECT c.tenant_id, min(c.ends_on) AS ends_on
            FROM public.contracts c JOIN t ON t.id = c.tenant_id WHERE c.ends_on >= on_day
            GROUP BY c.tenant_id
        ), g AS (
            SELECT id, name, code, status FROM t
            UNION ALL SELECT NULL::int, 'Totaal', NULL, NULL
        )
        SELECT r.id, r.name, r.code, r.status,
               COALESCE(w.waiting, 0)::int, round(w.median_days::numeric, 1), w.longest_days::int,
               COALESCE(fam.available, 0)::int,
               COALESCE(k.voorgesteld, 0)::int, COALESCE(k.kennismaking, 0)::int, COALESCE(k.proefperiode, 0)::int,
               COALESCE(k.definitief, 0)::int, COALESCE(k.afgesloten, 0)::int, COALESCE(k.gestopt, 0)::int,
               COALESCE(v.adults, 0)::int, COALESCE(v.valid, 0)::int,
               COALESCE(e.overdue, 0)::int, COALESCE(fam.intakes_overdue, 0)::int, COALESCE(vr.overdue, 0)::int,
               COALESCE(j.failed, 0)::int,
               COALESCE(fam.registrations_vraag, 0)::int, COALESCE(fam.registrations_steun, 0)::int,
               COALESCE(k.made, 0)::int, round(k.to_koppeling_days::numeric, 1),
               COALESCE(k.concluded, 0)::int, COALESCE(k.became_definitief, 0)::int,
               {", ".join(f"COALESCE(goals.{g}_n, 0)::int, round(goals.{g}_change, 2)"
                          for g in ("ontlasten", "sterker", "opvoedklimaat", "netwerk"))},
               COALESCE(k.savings, 0)::bigint, c.ends_on
        FROM g r
        LEFT JOIN w ON COALESCE(w.tenant_id, 0) = COALESCE(r.id, 0)
        LEFT JOIN fam ON COALESCE(fam.tenant_id, 0) = COALESCE(r.id, 0)
        LEFT JOIN k ON COALESCE(k.tenant_id, 0) = COALESCE(r.id, 0)
        LEFT JOIN v ON COALESCE(v.tenant_id, 0) = COALESCE(r.id, 0)
        LEFT JOIN vr ON COALESCE(vr.tenant_id, 0) = COALESCE(r.id, 0)
        LEFT JOIN e ON COALESCE(e.tenant_id, 0) = COALESCE(r.id, 0)
        LEFT JOIN goals ON COALESCE(goals.tenant_id, 0) = COALESCE(r.id, 0)
        LEFT JOIN j ON COALESCE(j.tenant_id, 0) = COALESCE(r.id, 0)
        LEFT JOIN c ON c.tenant_id = r.id
        ORDER BY r.id IS NULL, r.name, r.id
    $$
"""

MONTHLY = f"""
    CREATE FUNCTION national_monthly(period_from date, period_to date, codes text[], per_gemeente boolean)
    RETURNS TABLE (tenant_id int, month date, registrations_vraag int, registrations_steun int,
                   koppelingen_made int)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
        WITH t AS (
            SELECT id FROM public.tenants WHERE codes IS NULL OR gemeentecode = ANY (codes)
        ), months AS (
            SELECT generate_series(date_trunc('month', period_from), date_trunc('month', period_to),
                                   interval '1 month')::date AS month
        ), reg AS (
            SELECT f.tenant_id, date_trunc('month', {LOCAL_DAY % "f.registered_at"})::date AS month,
                   count(*) FILTER (WHERE f.kind = 'vraag') AS vraag, count(*) FILTER (WHERE f.kind = 'steun') AS steun
            FROM public.families f JOIN t ON t.id = f.tenant_id
            WHERE {LOCAL_DAY % "f.registered_at"} BETWEEN period_from AND period_to
            GROUP BY GROUPING SETS ((f.tenant_id, 2), (2))
        ), made AS (
            SELECT k.tenant_id, date_trunc('month', k.proefperiode_start_on)::date AS month, count(*) AS made
            FROM public.koppelingen k JOIN t ON t.id = k.tenant_id
            WHERE k.proefperiode_start_on BETWEEN period_from AND period_to
            GROUP BY GROUPING SETS ((k.tenant_id, 2), (2))
        ), grid AS (
            SELECT NULL::int AS tenant_id, month FROM months
            UNION ALL
            SELECT t.id, months.month FROM t CROSS JOIN months WHERE per_gemeente
        )
        SELECT grid.tenant_id, grid.month, COALESCE(reg.vraag, 0)::int, COALESCE(reg.steun, 0)::int,
               COALESCE(made.made, 0)::int
        FROM grid
        LEFT JOIN reg ON COALESCE(reg.tenant_id, 0) = COALESCE(grid.tenant_id, 0) AND reg.month = grid.month
        LEFT JOIN made ON COALESCE(made.tenant_id, 0) = COALESCE(grid.tenant_id, 0) AND made.month = grid.month
        ORDER BY grid.tenant_id NULLS FIRST, grid.month
    $$
"""

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def _grant(signature: str) -> None:
    op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {APP_ROLE}")


def upgrade() -> None:
    for table in NEW_TABLES:
        op.execute(f"""
            DO $$ BEGIN
                EXECUTE format('CREATE POLICY {POLICY} ON {table} FOR SELECT TO %I USING (true)', current_user);
            END $$
        """)
    op.execute(f"DROP FUNCTION {OLD_SIGNATURE}")
    op.execute(FIGURES)
    op.execute(MONTHLY)
    _grant(SIGNATURE)
    _grant(MONTHLY_SIGNATURE)


def downgrade() -> None:
    # 0009's single-day function comes back by re-running that revision's definition.
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("reporting_0009", Path(__file__).with_name("0009_reporting.py"))
    previous = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(previous)
    op.execute(f"DROP FUNCTION {MONTHLY_SIGNATURE}")
    op.execute(f"DROP FUNCTION {SIGNATURE}")
    op.execute(previous.FUNCTION)
    _grant(OLD_SIGNATURE)
    for table in NEW_TABLES:
        op.execute(f"DROP POLICY {POLICY} ON {table}")
