"""Importing families, and privacy: export of one family's data, at /<slug>/app/gezinsbeheer/…

The import is a dry run first, then the write. Between the two the file is *not* kept anywhere
(no table for it, and a 2 MB file does not belong in a cookie session or a form field): the
confirmation form asks for the same file again and carries a signed, expiring proof of the check
— the file's SHA-256, the tenant and the user, signed with the app secret. On confirmation the
file must have that hash (so exactly the checked file is imported, by the same person in the same
gemeente) and is checked again in full before one transaction writes every row, or none.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from flask import Response, abort, current_app, flash, g, redirect, render_template, url_for
from flask_login import current_user
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select

from domain.accounts.models import TenantRole
from domain.audit.services import record
from domain.families.csv_safety import csv_text
from domain.families.importing import (
    COLUMNS,
    MAX_FILE_BYTES,
    ImportCheck,
    ImportFileError,
    check_file,
    import_rows,
    template_csv,
    template_xlsx,
)
from domain.families.models import Family, FamilyMember, MemberRole
from domain.families.privacy import family_export, record_export
from domain.families.status import STATUS_LABELS
from tenants.access import get_for_tenant
from tenants.db import db
from web.access import guard_blueprint, roles_allowed
from web.auth.flow import client_actor
from web.staff.family_admin_forms import ImportCommitForm, ImportUploadForm
from web.tenancy import tenant_blueprint

family_admin = tenant_blueprint("family_admin", __name__, "/app/gezinsbeheer")
guard_blueprint(family_admin, realm="tenant", login_endpoint="auth.login")

ADMIN = TenantRole.TENANT_ADMIN
PRIVACY_READERS = (TenantRole.COORDINATOR, TenantRole.TENANT_ADMIN)
CHECK_SALT = "family-import-check"
CHECK_MAX_AGE = 3600  # seconds between the dry run and the confirmation
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TOO_BIG = "Het bestand is groter dan 2 MB. Splits het in kleinere bestanden en importeer ze na elkaar."


def _actor():
    return client_actor(current_user.account.email, current_user.account.id)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=CHECK_SALT)


def _proof(digest: str) -> str:
    return _serializer().dumps({"tenant": g.tenant.id, "user": current_user.account.id, "sha256": digest})


def _proof_matches(token: str, digest: str) -> bool:
    try:
        data = _serializer().loads(token or "", max_age=CHECK_MAX_AGE)
    except (SignatureExpired, BadSignature):
        return False
    return data == {"tenant": g.tenant.id, "user": current_user.account.id, "sha256": digest}


def _read_upload(field) -> tuple[str, bytes]:
    storage = field.data
    content = storage.read(MAX_FILE_BYTES + 1)
    return storage.filename or "", content


def _import_page(*, upload: ImportUploadForm | None = None, check: ImportCheck | None = None,
                 file_error: str | None = None, commit: ImportCommitForm | None = None, filename: str = "",
                 status: int = 200):
    return render_template(
        "web/staff/family_admin/import.html", upload=upload or ImportUploadForm(formdata=None), check=check,
        file_error=file_error, commit=commit, filename=filename, columns=COLUMNS,
    ), status


@family_admin.route("/import", methods=["GET", "POST"])
@roles_allowed(ADMIN)
def import_families():
    """Step 1: upload and dry run. Nothing is written here."""
    form = ImportUploadForm()
    if not form.validate_on_submit():
        return _import_page(upload=form)
    filename, content = _read_upload(form.file)
    try:
        check = check_file(filename, content)
    except ImportFileError as error:
        return _import_page(upload=form, file_error=str(error), filename=filename, status=422)
    commit = None
    if check.ok:
        commit = ImportCommitForm(formdata=None, checked=_proof(hashlib.sha256(content).hexdigest()))
    return _import_page(upload=form, check=check, commit=commit, filename=filename)


@family_admin.route("/import/bevestigen", methods=["POST"])
@roles_allowed(ADMIN)
def commit_import():
    """Step 2: the checked file again; checked again in full, then written in one transaction."""
    form = ImportCommitForm()
    if not form.validate_on_submit():
        flash("Kies het bestand opnieuw en laat het eerst controleren.", "error")
        return redirect(url_for("family_admin.import_families"))
    filename, content = _read_upload(form.file)
    if not _proof_matches(form.checked.data, hashlib.sha256(content).hexdigest()):
        return _import_page(file_error="Dit is niet het bestand dat je net hebt laten controleren, of de controle "
                                       "is langer dan een uur geleden. Laat het bestand opnieuw controleren.",
                            filename=filename, status=422)
    try:
        check = check_file(filename, content)
    except ImportFileError as error:
        return _import_page(file_error=str(error), filename=filename, status=422)
    if not check.ok:  # e.g. the postcode table changed in between: show why, write nothing
        return _import_page(check=check, filename=filename, status=422)
    try:
        families = import_rows(check.rows, _actor(), filename=filename)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    flash(f"{len(families)} gezinnen zijn geïmporteerd.", "success")
    return redirect(url_for("family_admin.import_families"))


@family_admin.errorhandler(413)
def upload_too_big(error):
    # Raised while the form is parsed (before the role guard), so check the role here too.
    if not (current_user.is_authenticated and current_user.realm == "tenant" and current_user.role == ADMIN):
        abort(403)
    return _import_page(file_error=TOO_BIG, status=413)


@family_admin.route("/import/sjabloon.xlsx")
@roles_allowed(ADMIN)
def template_download_xlsx():
    return Response(template_xlsx(), mimetype=XLSX_TYPE,
                    headers={"Content-Disposition": 'attachment; filename="gezinnen-sjabloon.xlsx"'})


@family_admin.route("/import/sjabloon.csv")
@roles_allowed(ADMIN)
def template_download_csv():
    return Response(template_csv(), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="gezinnen-sjabloon.csv"'})


# --- the family list as CSV -------------------------------------------------------------------------

EXPORT_HEADER = ("nummer", "soort", "status", "voornaam contactpersoon", "achternaam contactpersoon", "e-mailadres",
                 "telefoon", "straat en huisnummer", "postcode", "plaats", "aangemeld via", "kinderen",
                 "andere volwassenen", "aangemeld op", "wachtend sinds", "afgemeld op", "geanonimiseerd op")


def _day(moment) -> str:
    return moment.strftime("%d-%m-%Y") if moment else ""


def _people(members: list[FamilyMember]) -> str:
    return "; ".join(" ".join(str(part) for part in (m.first_name, m.last_name, m.birth_year) if part)
                     for m in members)


@family_admin.route("/export.csv")
@roles_allowed(ADMIN)
def export_csv():
    families = db.session.scalars(select(Family).order_by(Family.id)).all()
    members: dict[int, list[FamilyMember]] = {}
    for member in db.session.scalars(select(FamilyMember).order_by(FamilyMember.family_id, FamilyMember.id)):
        members.setdefault(member.family_id, []).append(member)
    rows = []
    for family in families:
        household = members.get(family.id, [])
        contact = next((m for m in household if m.is_contact), None)
        rows.append((
            family.id, family.kind, STATUS_LABELS.get(family.status, family.status),
            contact.first_name if contact else "", contact.last_name if contact else "",
            family.email, family.phone, family.street_address, family.postcode, family.place,
            family.referral_source,
            _people([m for m in household if m.role == MemberRole.CHILD]),
            _people([m for m in household if m.role == MemberRole.ADULT and not m.is_contact]),
            _day(family.registered_at), _day(family.waiting_since), _day(family.closed_at),
            _day(family.anonymised_at),
        ))
    record("families.exported", _actor(), details={"format": "csv", "count": len(rows)})
    db.session.commit()
    return Response(csv_text(EXPORT_HEADER, rows), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="gezinnen-{g.tenant.slug}.csv"',
                             "Cache-Control": "no-store"})


# --- everything about one family (AVG art. 15) -------------------------------------------------------


@family_admin.route("/<int:family_id>/export.json")
@roles_allowed(*PRIVACY_READERS)
def export_json(family_id: int):
    family = get_for_tenant(Family, family_id)
    data = family_export(family)
    record_export(family, _actor(), format="json")
    db.session.commit()
    body = json.dumps({"gemeente": g.tenant.name, "generated_at": datetime.now(UTC).isoformat(), **data},
                      ensure_ascii=False, indent=2)
    return Response(body, mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="gezin-{family.id}.json"',
                             "Cache-Control": "no-store"})


@family_admin.route("/<int:family_id>/inzage")
@roles_allowed(*PRIVACY_READERS)
def access_report(family_id: int):
    family = get_for_tenant(Family, family_id)
    data = family_export(family)
    record_export(family, _actor(), format="html")
    db.session.commit()
    return render_template("web/staff/family_admin/inzage.html", family=family, data=data,
                           generated_at=datetime.now(UTC))
