"""The public page of a gemeente: what Buurtgezinnen is, and how to take part."""

from flask import render_template

from web.tenancy import tenant_blueprint

public = tenant_blueprint("public", __name__, "")


@public.route("/")
def index():
    return render_template("web/public/index.html")
