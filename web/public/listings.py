"""The public listing of anonymised vraaggezinnen at /<slug>/gezinnen."""

from flask import current_app, render_template, url_for

from domain.families.listings import published_profiles, waiting_count
from web.tenancy import tenant_blueprint

listings = tenant_blueprint("listings", __name__, "/gezinnen")

STEUNGEZIN_REGISTRATION_PATH = "/aanmelden/steungezin"


def steungezin_registration_url() -> str:
    """The registration page for steungezinnen (built elsewhere); by endpoint once it exists."""
    if "registration.steungezin" in current_app.view_functions:
        return url_for("registration.steungezin")
    return url_for("public.index") + STEUNGEZIN_REGISTRATION_PATH.lstrip("/")


@listings.route("")
def index():
    return render_template(
        "web/public/listings/index.html",
        profiles=published_profiles(), waiting=waiting_count(), register_url=steungezin_registration_url(),
    )
