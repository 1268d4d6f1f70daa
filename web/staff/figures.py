"""A gemeente's own figures at /<slug>/app/cijfers: the same figures as the national dashboard, for
this gemeente only and exact (it is the gemeente's own data; only the goal averages of fewer than 5
koppelingen are withheld, as in the report: they are nearly those families' own answers), with the
monthly trends and the yearly effect report (web/staff/effect_report.py).

Aggregates only, so every tenant role may see them, the gemeente's read-only contact first of all.
The gemeente is never a parameter: the figures are those of the CBS code of the tenant in the URL.
"""

from __future__ import annotations

from flask import g, render_template, request

from domain.families.records import local_today
from domain.reporting.figures import monthly_trend, national_table
from domain.reporting.selection import parse_period, period_choices
from domain.reporting.table import COLUMNS_BY_SLUG, GOAL_COLUMNS, format_value, shown, trend
from web.access import ALL_TENANT_ROLES, guard_blueprint, roles_allowed
from web.staff.effect_report import report_section_context
from web.tenancy import tenant_blueprint

figures = tenant_blueprint("figures", __name__, "/app/cijfers")
guard_blueprint(figures, realm="tenant", login_endpoint="auth.login")

NOW_FIGURES = ("wachtend", "wachttijd-mediaan", "wachttijd-langst", "steungezinnen", "voorgesteld", "kennismaking",
               "proefperiode", "definitief", "afgesloten", "gestopt", "vog-geldig", "intakes-te-laat", "vog-te-laat",
               "evaluaties-te-laat", "mislukte-taken", "contract")
PERIOD_FIGURES = ("aanmeldingen-vraag", "aanmeldingen-steun", "koppelingen-gemaakt", "dagen-tot-koppeling",
                  "proef-naar-definitief", "besparing")


@figures.route("")
@roles_allowed(*ALL_TENANT_ROLES)
def index():
    today = local_today()
    period_value, period = parse_period(request.args.get("periode"), today)
    codes = [g.tenant.gemeentecode]
    table = national_table(today, period, codes)
    own = table.rows[0]
    months = monthly_trend(period, codes)

    def exact(slug: str) -> str:
        return shown(COLUMNS_BY_SLUG[slug], own, rule=False)

    def goal(slug: str) -> str:
        # An average of 1–4 families' own scores is nearly their answers: "n < 5", as in the report.
        return shown(COLUMNS_BY_SLUG[slug], own)

    return render_template(
        "web/staff/figures.html", own=own, period=period, period_value=period_value,
        period_choices=period_choices(today), today=today, exact=exact, goal=goal, by_slug=COLUMNS_BY_SLUG,
        now_figures=NOW_FIGURES, period_figures=PERIOD_FIGURES, goal_columns=GOAL_COLUMNS,
        format_value=format_value, trend=trend(months, None, rule=False), **report_section_context())
