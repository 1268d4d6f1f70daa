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
    local = (target.startswith("/") and not target.startswith("//") and "\\" not in target
             and not any(ord(char) < 0x20 or ord(char) == 0x7F for char in target))
    return redirect(target if local else url_for("site.index"))
