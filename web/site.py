"""Platform-wide pages that belong to no tenant: the front page and the language switch."""

from flask import Blueprint, redirect, render_template, request, session, url_for

from tenants.models import TenantStatus
from tenants.services import list_tenants
from web.extensions import LANGUAGES

site = Blueprint("site", __name__)


@site.route("/")
def index():
    tenants = [t for t in list_tenants() if t.status == TenantStatus.ACTIVE]
    return render_template("web/site/index.html", tenants=tenants)


@site.route("/taal/<lang>", methods=["POST"])
def set_language(lang: str):
    if lang in LANGUAGES:
        session["lang"] = lang
    target = request.form.get("next", "")
    return redirect(target if target.startswith("/") and not target.startswith("//") else url_for("site.index"))
