"""The national office's start page: the gemeenten on the platform, without any personal data."""

from flask import Blueprint, render_template

from tenants.services import list_tenants
from web.access import ALL_NATIONAL_ROLES, guard_blueprint, roles_allowed

national = Blueprint("national", __name__, url_prefix="/landelijk")
guard_blueprint(national, realm="national", login_endpoint="national_auth.login")


@national.route("/")
@roles_allowed(*ALL_NATIONAL_ROLES)
def home():
    return render_template("web/national/home.html", tenants=list_tenants())
