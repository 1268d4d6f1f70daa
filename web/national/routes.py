"""The national office's start page: the gemeenten on the platform and their figures, without any
personal data (aggregates only, through domain.reporting)."""

from flask import Blueprint, Response, render_template, request
from flask_login import current_user

from domain.accounts.models import NationalRole
from domain.documents.contracts import ends_soon
from domain.families.records import dutch_day, local_today
from domain.outbox.relay import failed_counts_per_tenant
from domain.reporting.services import COLUMNS, national_table, parse_sort, shown, sorted_rows, table_csv
from tenants.models import TenantStatus
from tenants.services import list_tenants
from web.access import ALL_NATIONAL_ROLES, guard_blueprint, roles_allowed

national = Blueprint("national", __name__, url_prefix="/landelijk")
guard_blueprint(national, realm="national", login_endpoint="national_auth.login")


@national.route("/")
@roles_allowed(*ALL_NATIONAL_ROLES)
def home():
    today = local_today()
    # Counts only, through the outbox's narrow cross-tenant function: no job content leaves a tenant.
    failed = failed_counts_per_tenant() if current_user.role == NationalRole.NATIONAL_ADMIN else None
    # The figures of every gemeente in one statement (the reporting function); the contracts
    # ending soon come from the same rows (each active gemeente's next contract end).
    table = national_table(today)
    column, descending = parse_sort(request.args.get("sorteer"))
    ending = [{"gemeente": row.gemeente, "ends_on_label": dutch_day(row.contract_ends_on)}
              for row in sorted(table.rows, key=lambda r: (r.contract_ends_on or today, r.gemeente))
              if row.tenant_status == TenantStatus.ACTIVE and row.contract_ends_on
              and ends_soon(row.contract_ends_on, today)]
    return render_template("web/national/home.html", tenants=list_tenants(), failed=failed, ending=ending,
                           columns=COLUMNS, rows=sorted_rows(table.rows, column, descending),
                           totals=table.totals, shown=shown, sort_column=column, descending=descending,
                           today=today)


@national.route("/cijfers.csv")
@roles_allowed(*ALL_NATIONAL_ROLES)
def figures_csv():
    today = local_today()
    body = table_csv(national_table(today))
    return Response("\ufeff" + body, mimetype="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="landelijke-cijfers-{today.isoformat()}.csv"'})
