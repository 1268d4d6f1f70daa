"""The national office's start page: the gemeenten on the platform, without any personal data."""

from flask import Blueprint, render_template
from flask_login import current_user

from domain.accounts.models import NationalRole
from domain.documents.contracts import contracts_overview
from domain.families.records import local_today
from domain.outbox.relay import failed_counts_per_tenant
from tenants.services import list_tenants
from web.access import ALL_NATIONAL_ROLES, guard_blueprint, roles_allowed

national = Blueprint("national", __name__, url_prefix="/landelijk")
guard_blueprint(national, realm="national", login_endpoint="national_auth.login")


@national.route("/")
@roles_allowed(*ALL_NATIONAL_ROLES)
def home():
    # Counts only, through the outbox's narrow cross-tenant function: no job content leaves a tenant.
    failed = failed_counts_per_tenant() if current_user.role == NationalRole.NATIONAL_ADMIN else None
    # Contracts ending soon: read per gemeente in its own context (only the contract's own fields).
    ending = [row for row in contracts_overview(local_today()) if row.ending_soon]
    return render_template("web/national/home.html", tenants=list_tenants(), failed=failed, ending=ending)
