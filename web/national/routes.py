"""The national office's start page: the figures of every gemeente on the platform, without any
personal data (aggregates only, through domain.reporting), filtered by province and period, as a
table, charts and CSV/Excel exports."""

from datetime import date

from flask import Blueprint, Response, render_template, request
from flask_login import current_user

from domain.accounts.models import NationalRole
from domain.documents.contracts import ends_soon
from domain.families.records import dutch_day, local_today
from domain.reporting.exports import table_csv, table_xlsx
from domain.reporting.figures import Month, NationalTable, monthly_trend, national_table
from domain.reporting.selection import Selection, parse_selection, period_choices, provinces
from domain.reporting.table import (
    COLUMNS_BY_SLUG,
    column_groups,
    comparison,
    parse_sort,
    protected,
    shown,
    sorted_rows,
    trend,
    visible_columns,
)
from tenants.models import TenantStatus
from web.access import ALL_NATIONAL_ROLES, guard_blueprint, roles_allowed

national = Blueprint("national", __name__, url_prefix="/landelijk")
guard_blueprint(national, realm="national", login_endpoint="national_auth.login")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _selection() -> Selection:
    return parse_selection(request.args.get("provincie"), request.args.get("periode"), local_today())


def _columns():
    # Counts only, but about a gemeente's operations: the admin acts on them, the analyst has no need.
    return visible_columns(failed_jobs=current_user.role == NationalRole.NATIONAL_ADMIN)


def _filter_args(selection: Selection) -> dict[str, str]:
    args = {"periode": selection.period_value}
    if selection.province:
        args["provincie"] = selection.province
    return args


@national.route("/")
@roles_allowed(*ALL_NATIONAL_ROLES)
def home():
    today = local_today()
    selection = _selection()
    table, months = _figures(today, selection)
    columns = _columns()
    column, descending = parse_sort(request.args.get("sorteer"))
    # The contracts ending soon come from the same rows (each active gemeente's next contract end).
    ending = [{"gemeente": row.gemeente, "ends_on_label": dutch_day(row.contract_ends_on)}
              for row in sorted(table.rows, key=lambda r: (r.contract_ends_on or today, r.gemeente))
              if row.tenant_status == TenantStatus.ACTIVE and row.contract_ends_on
              and ends_soon(row.contract_ends_on, today)]
    return render_template(
        "web/national/home.html", ending=ending, table=table, months=months,
        columns=columns, groups=column_groups(columns), rows=sorted_rows(table, column, descending),
        shown=shown, by_slug=COLUMNS_BY_SLUG, sort_column=column, descending=descending, today=today,
        selection=selection, provinces=provinces(), period_choices=period_choices(today),
        filter_args=_filter_args(selection), trend=trend(months, table),
        made_comparison=comparison(table, COLUMNS_BY_SLUG["koppelingen-gemaakt"]),
        waiting_comparison=comparison(table, COLUMNS_BY_SLUG["wachtend"]))


def _figures(today: date, selection: Selection) -> tuple[NationalTable, list[Month]]:
    """Two statements whatever the number of gemeenten: the table (with totals) and the months. The
    months are read for the exports too: a total is withheld against them (see protected)."""
    months = monthly_trend(selection.period, selection.codes)
    return protected(national_table(today, selection.period, selection.codes), months), months


def _download_name(selection: Selection, extension: str) -> str:
    part = f"-{selection.province.lower().replace(' ', '-')}" if selection.province else ""
    return f"landelijke-cijfers{part}-{selection.period_value}-{local_today().isoformat()}.{extension}"


@national.route("/cijfers.csv")
@roles_allowed(*ALL_NATIONAL_ROLES)
def figures_csv():
    selection = _selection()
    body = table_csv(_figures(local_today(), selection)[0], _columns())
    return Response("\ufeff" + body, mimetype="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{_download_name(selection, "csv")}"'})


@national.route("/cijfers.xlsx")
@roles_allowed(*ALL_NATIONAL_ROLES)
def figures_xlsx():
    today, selection = local_today(), _selection()
    table, months = _figures(today, selection)
    body = table_xlsx(table, _columns(), months, selection, today)
    return Response(body, mimetype=XLSX, headers={
        "Content-Disposition": f'attachment; filename="{_download_name(selection, "xlsx")}"'})
