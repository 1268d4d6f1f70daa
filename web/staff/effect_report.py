"""The gemeente's yearly effect report at /<slug>/app/cijfers/jaarverslag: ask for it, and download it.

Every tenant role may, the gemeente's read-only contact (gemeente_viewer) first of all: the report
holds aggregates only. The worker makes the PDF; the section on the cijfers page
(``templates/web/staff/effect_report/_section.html``, filled by ``report_section_context``) lists the
recent reports with their state and a link to look again (no JavaScript needed). Every lookup goes
through ``get_for_tenant``, so another gemeente's report is "not found", like a missing one.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Response, abort, flash, g, redirect, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField

from domain.audit.services import record
from domain.families.records import local_today
from domain.reporting.effect_report import (
    BAD_YEAR,
    ReportError,
    ReportRow,
    ReportStatus,
    available_years,
    open_report,
    recent_reports,
    request_report,
)
from domain.reporting.models import EffectReport
from tenants.access import get_for_tenant
from tenants.db import db
from web.access import ALL_TENANT_ROLES, guard_blueprint, roles_allowed
from web.auth.flow import client_actor
from web.tenancy import tenant_blueprint

effect_report = tenant_blueprint("effect_report", __name__, "/app/cijfers/jaarverslag")
guard_blueprint(effect_report, realm="tenant", login_endpoint="auth.login")

ANCHOR = "jaarverslag"


class YearForm(FlaskForm):
    # Checked against the offered years in the view (a Dutch message, and the list is the gemeente's own).
    year = SelectField("Jaar", validate_choice=False,
                       description="Het huidige jaar geeft de cijfers tot nu toe.")


def year_form() -> YearForm:
    today = local_today()
    form = YearForm()
    form.year.choices = [(str(year), f"{year} (tot nu toe)" if year == today.year else str(year))
                         for year in available_years(today)]
    return form


@dataclass(frozen=True)
class Section:
    """What the Jaarverslag section on the cijfers page shows."""

    form: YearForm
    reports: list[ReportRow]
    busy: bool  # a report is waiting or being made: the page offers "Ververs deze pagina"


def report_section_context() -> dict:
    """The render context of ``web/staff/effect_report/_section.html`` (in a tenant request)."""
    reports = recent_reports()
    busy = any(row.status in (ReportStatus.WACHTRIJ, ReportStatus.BEZIG) for row in reports)
    return {"effect_report": Section(year_form(), reports, busy)}


def figures_url() -> str:
    """The cijfers page (web/staff/figures.py), the section's home, at the section."""
    return url_for("figures.index", _anchor=ANCHOR)


def _actor():
    return client_actor(current_user.account.email, current_user.account.id)


@effect_report.route("", methods=["POST"], endpoint="request")
@roles_allowed(*ALL_TENANT_ROLES)
def ask():
    form = year_form()
    if not form.validate_on_submit():
        abort(400)  # only a missing or stale CSRF token gets here: the select itself is checked below
    raw = (form.year.data or "").strip()
    year = int(raw) if raw.isdigit() and len(raw) == 4 else None
    already = year is not None and open_report(year) is not None
    try:
        if year is None:
            raise ReportError(BAD_YEAR)
        report = request_report(g.tenant, year, _actor())
    except ReportError as error:
        db.session.rollback()
        flash(str(error), "error")
        return redirect(figures_url())
    db.session.commit()
    if already:
        flash(f"Het jaarverslag {report.year} wordt al gemaakt. Ververs de pagina over een paar seconden.", "info")
    else:
        flash(f"Het jaarverslag {report.year} wordt gemaakt. Over een paar seconden staat de PDF klaar.", "success")
    return redirect(figures_url())


@effect_report.route("/<int:report_id>.pdf")
@roles_allowed(*ALL_TENANT_ROLES)
def download(report_id: int):
    report = get_for_tenant(EffectReport, report_id)
    if report.status != ReportStatus.KLAAR or report.pdf is None:
        abort(404)
    record("effect_report.downloaded", _actor(), object_type="effect_report", object_id=report.id,
           details={"year": report.year})
    db.session.commit()
    response = Response(report.pdf, mimetype="application/pdf")
    filename = f"effectrapportage-{g.tenant.slug}-{report.year}.pdf"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
