"""reporting: the national figures function

Revision ID: 0009
Revises: 0008

The national office sees aggregates of every gemeente, never rows about people. This SECURITY
DEFINER function is the one narrow path for that (domain.reporting.services reads it): one row per
gemeente plus one totals row (tenant_id NULL), counts, days, shares and amounts only.
"""

from alembic import op

from tenants.rls import APP_ROLE

# Tables the function reads that have FORCE'd RLS: the owner (the function's definer) needs a
# read-only policy of its own on them, limited to the owner role so the app role gains nothing.
TABLES = ("families", "family_members", "koppelingen", "vog_records", "contracts")
POLICY = "owner_reporting"

SIGNATURE = "national_figures(date)"
FUNCTION = """
    CREATE FUNCTION national_figures(on_day date)
    RETURNS TABLE (tenant_id int, gemeente text, gemeentecode text, tenant_status text,
                   waiting int, waiting_median_days numeric, waiting_longest_days int,
                   steun_available int,
                   koppelingen_voorgesteld int, koppelingen_kennismaking int, koppelingen_proefperiode int,
                   koppelingen_definitief int, koppelingen_afgesloten int, koppelingen_gestopt int,
                   proefperiodes_concluded int, proefperiodes_definitief int,
                   steun_adults int, steun_adults_valid_vog int,
                   koppelingen_with_savings int, savings_eur bigint,
                   contract_ends_on date)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
        WITH t AS (
            SELECT id, name::text AS name, gemeentecode::text AS code, status::text AS status,
                   COALESCE((settings ->> 'savings_per_koppeling_eur')::bigint, 5500) AS saving
            FROM public.tenants
        ), w AS (
            SELECT f.tenant_id, count(*) AS waiting,
                   percentile_cont(0.5) WITHIN GROUP (
                       ORDER BY on_day - (f.waiting_since AT TIME ZONE 'Europe/Amsterdam')::date) AS median_days,
                   max(on_day - (f.waiting_since AT TIME ZONE 'Europe/Amsterdam')::date) AS longest_days
            FROM public.families f
            WHERE f.kind = 'vraag' AND f.status = 'wachtend' AND f.anonymised_at IS NULL
            GROUP BY ROLLUP (f.tenant_id)
        ), s AS (
            SELECT f.tenant_id, count(*) AS available
            FROM public.families f
            WHERE f.kind = 'steun' AND f.status = 'beschikbaar' AND f.anonymised_at IS NULL
            GROUP BY ROLLUP (f.tenant_id)
        ), k AS (
            SELECT k.tenant_id,
                   count(*) FILTER (WHERE k.status = 'voorgesteld') AS voorgesteld,
                   count(*) FILTER (WHERE k.status = 'kennismaking') AS kennismaking,
                   count(*) FILTER (WHERE k.status = 'proefperiode') AS proefperiode,
                   count(*) FILTER (WHERE k.status = 'definitief') AS definitief,
                   count(*) FILTER (WHERE k.status = 'afgesloten') AS afgesloten,
                   count(*) FILTER (WHERE k.status = 'gestopt') AS gestopt,
                   count(*) FILTER (WHERE k.proefperiode_start_on IS NOT NULL
                                      AND k.status <> 'proefperiode') AS concluded,
                   count(*) FILTER (WHERE k.proefperiode_start_on IS NOT NULL
                                      AND k.definitief_on IS NOT NULL) AS became_definitief,
                   count(*) FILTER (WHERE k.proefperiode_start_on IS NOT NULL) AS reached,
                   COALESCE(sum(t.saving) FILTER (WHERE k.proefperiode_start_on IS NOT NULL), 0) AS savings
            FROM public.koppelingen k JOIN t ON t.id = k.tenant_id
            GROUP BY ROLLUP (k.tenant_id)
        ), v AS (
            SELECT m.tenant_id, count(*) AS adults,
                   count(*) FILTER (WHERE r.status = 'ontvangen'
                                      AND (r.renewal_due_on IS NULL OR r.renewal_due_on >= on_day)) AS valid
            FROM public.family_members m
            JOIN public.families f ON f.tenant_id = m.tenant_id AND f.id = m.family_id
            LEFT JOIN public.vog_records r ON r.tenant_id = m.tenant_id AND r.member_id = m.id
            WHERE m.role = 'volwassene' AND f.kind = 'steun' AND f.status IN ('beschikbaar', 'gekoppeld')
              AND f.anonymised_at IS NULL
            GROUP BY ROLLUP (m.tenant_id)
        ), c AS (
            SELECT c.tenant_id, min(c.ends_on) AS ends_on
            FROM public.contracts c WHERE c.ends_on >= on_day
            GROUP BY c.tenant_id
        ), g AS (
            SELECT id, name, code, status FROM t
            UNION ALL SELECT NULL::int, 'Totaal', NULL, NULL
        )
        SELECT r.id, r.name, r.code, r.status,
               COALESCE(w.waiting, 0)::int, round(w.median_days::numeric, 1), w.longest_days::int,
               COALESCE(s.available, 0)::int,
               COALESCE(k.voorgesteld, 0)::int, COALESCE(k.kennismaking, 0)::int, COALESCE(k.proefperiode, 0)::int,
               COALESCE(k.definitief, 0)::int, COALESCE(k.afgesloten, 0)::int, COALESCE(k.gestopt, 0)::int,
               COALESCE(k.concluded, 0)::int, COALESCE(k.became_definitief, 0)::int,
               COALESCE(v.adults, 0)::int, COALESCE(v.valid, 0)::int,
               COALESCE(k.reached, 0)::int, COALESCE(k.savings, 0)::bigint,
               c.ends_on
        FROM g r
        LEFT JOIN w ON COALESCE(w.tenant_id, 0) = COALESCE(r.id, 0)
        LEFT JOIN s ON COALESCE(s.tenant_id, 0) = COALESCE(r.id, 0)
        LEFT JOIN k ON COALESCE(k.tenant_id, 0) = COALESCE(r.id, 0)
        LEFT JOIN v ON COALESCE(v.tenant_id, 0) = COALESCE(r.id, 0)
        LEFT JOIN c ON c.tenant_id = r.id
        ORDER BY r.id IS NULL, r.name, r.id
    $$
"""

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in TABLES:
        op.execute(f"""
            DO $$ BEGIN
                EXECUTE format('CREATE POLICY {POLICY} ON {table} FOR SELECT TO %I USING (true)', current_user);
            END $$
        """)
    op.execute(FUNCTION)
    op.execute(f"REVOKE ALL ON FUNCTION {SIGNATURE} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {SIGNATURE} TO {APP_ROLE}")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {SIGNATURE}")
    for table in TABLES:
        op.execute(f"DROP POLICY {POLICY} ON {table}")
