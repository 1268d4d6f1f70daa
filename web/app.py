"""The application factory: the only place a Flask app is made."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from flask import Flask, render_template, session
from flask_babel import format_date, format_datetime, format_decimal
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from redis import Redis

from config.settings import Settings, load_settings
from domain.outbox.relay import celery_dispatch, client_celery, install_dispatch
from tenants.access import NotFoundError
from tenants.db import db
from web.auth.session import load_signed_in_user
from web.extensions import LANGUAGES, babel, csrf, limiter, login_manager
from web.security import init_security

PROJECT_ROOT = Path(__file__).resolve().parents[1]



def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings(os.environ)
    app = Flask(__name__, template_folder=str(PROJECT_ROOT / "templates"), static_folder="static")
    app.config.update(_flask_config(settings))
    app.extensions["settings"] = settings
    app.extensions["redis"] = Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)

    db.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=_select_locale)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.user_loader(load_signed_in_user)
    login_manager.session_protection = None  # sessions are rotated at login and end when idle instead
    init_security(app, hsts=settings.secure_cookies, idle_seconds=settings.session_idle_minutes * 60)

    # Web never imports the worker: it hands committed outbox jobs to the broker by task name.
    install_dispatch(app, celery_dispatch(client_celery(settings.celery_broker_url), settings.task_queue))

    _register_blueprints(app)
    _register_error_pages(app)
    _register_template_helpers(app)
    return app


def _flask_config(settings: Settings) -> dict:
    return {
        "SECRET_KEY": settings.secret_key,
        "SQLALCHEMY_DATABASE_URI": settings.app_database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "SESSION_COOKIE_NAME": "__Host-session" if settings.secure_cookies else "session",
        "SESSION_COOKIE_SECURE": settings.secure_cookies,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=12),
        "BABEL_DEFAULT_LOCALE": "nl",
        "BABEL_DEFAULT_TIMEZONE": "Europe/Amsterdam",
        "BABEL_TRANSLATION_DIRECTORIES": str(Path(__file__).parent / "translations"),
        "RATELIMIT_STORAGE_URI": settings.limiter_storage_url,
        # If Redis is briefly away, keep throttling in memory rather than failing logins.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_KEY_PREFIX": settings.redis_namespace,
        "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
    }


def _select_locale() -> str:
    return session.get("lang") if session.get("lang") in LANGUAGES else "nl"


def _register_blueprints(app: Flask) -> None:
    from web.auth.routes import national_auth, tenant_auth
    from web.health import health
    from web.national.contracts import national_contracts
    from web.national.provisioning import national_provisioning
    from web.national.routes import national
    from web.national.templates import national_templates
    from web.public.evaluation import evaluation
    from web.public.listings import listings
    from web.public.registration import registration
    from web.public.routes import public
    from web.public.signing import signing
    from web.public.verify import verify
    from web.site import site
    from web.staff.documents import documents
    from web.staff.effect_report import effect_report
    from web.staff.evaluations import evaluations
    from web.staff.families import families
    from web.staff.family_admin import family_admin
    from web.staff.figures import figures
    from web.staff.koppelingen import koppelingen
    from web.staff.listing_editor import listing_editor
    from web.staff.matching import matching
    from web.staff.messages import messages
    from web.staff.routes import staff
    from web.staff.settings import settings as tenant_settings
    from web.staff.signing import signing_staff
    from web.staff.vog import vog

    for blueprint in (site, health, national_auth, national, tenant_auth, staff, messages, families, family_admin,
                      listing_editor, matching, koppelingen, vog, tenant_settings, registration, listings, public):
        app.register_blueprint(blueprint)
    for blueprint in (evaluations, evaluation, verify):
        app.register_blueprint(blueprint)
    for blueprint in (documents, national_templates):
        app.register_blueprint(blueprint)
    for blueprint in (signing, signing_staff):
        app.register_blueprint(blueprint)
    app.register_blueprint(national_contracts)
    app.register_blueprint(national_provisioning)
    app.register_blueprint(effect_report)
    app.register_blueprint(figures)


def _register_error_pages(app: Flask) -> None:
    messages = {
        400: (_l("Dit verzoek klopt niet"), _l("Er ging iets mis met het formulier. Ga terug en probeer het opnieuw.")),
        403: (_l("Geen toegang"), _l("Je hebt geen toegang tot deze pagina.")),
        404: (_l("Pagina niet gevonden"), _l("Deze pagina bestaat niet, of je hebt er geen toegang toe.")),
        405: (_l("Dit kan zo niet"), _l("Deze pagina werkt niet op deze manier.")),
        413: (_l("Te groot"), _l("Wat je stuurde is te groot.")),
        429: (_l("Te veel pogingen"), _l("Wacht een kwartier en probeer het dan opnieuw.")),
        500: (_l("Er ging iets mis"), _l("Er ging bij ons iets mis. Probeer het later opnieuw.")),
    }

    def render_error(code: int, detail: str | None = None):
        title, text = messages[code]
        return render_template("web/error.html", title=title, text=detail or text, code=code), code

    for code in messages:
        app.register_error_handler(code, lambda error, code=code: render_error(code, _limit_text(error)))
    app.register_error_handler(NotFoundError, lambda error: render_error(404))
    expired = _l("Het formulier was verlopen. Laad de pagina opnieuw en probeer het nog eens.")
    app.register_error_handler(CSRFError, lambda error: render_error(400, expired))


def _limit_text(error) -> str | None:
    # Flask-Limiter's error carries the message the route declared.
    description = getattr(error, "description", None)
    return description if getattr(error, "code", None) == 429 and isinstance(description, str) else None


def _register_template_helpers(app: Flask) -> None:
    @app.template_filter("datum")
    def dutch_date(value) -> str:
        return format_date(value, "d MMMM y") if value else ""

    @app.template_filter("moment")
    def dutch_moment(value) -> str:
        return format_datetime(value, "d MMMM y HH:mm") if value else ""

    @app.template_filter("euro")
    def euro(value) -> str:
        return f"€ {format_decimal(value, format='#,##0')}"
