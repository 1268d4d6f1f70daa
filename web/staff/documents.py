"""Documents for coordinators at /<slug>/app/documenten/…: make a koppeling's afsprakenovereenkomst,
and look at (or download) a document's PDF.

The PDF is made by the worker; until then the koppeling page says "wordt gemaakt" with a link to
look again (no JavaScript needed). Every lookup goes through ``get_for_tenant``, so another
gemeente's document is "not found", like a missing one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import Response, abort, flash, redirect, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import Length

from domain.accounts.models import TenantRole
from domain.audit.services import record
from domain.documents.models import Document, DocumentKind, DocumentStatus
from domain.documents.services import (
    DETAIL_FIELDS,
    STATUS_LABELS,
    DocumentError,
    agreement_kind_for,
    create_agreement,
    latest_document,
)
from domain.documents.templates import KIND_LABELS
from domain.koppelingen.models import Koppeling
from tenants.access import get_for_tenant
from tenants.db import db
from web.access import guard_blueprint, roles_allowed
from web.auth.flow import client_actor
from web.staff.family_forms import TOO_LONG
from web.tenancy import tenant_blueprint

documents = tenant_blueprint("documents", __name__, "/app/documenten")
guard_blueprint(documents, realm="tenant", login_endpoint="auth.login")

# Agreements hold the families' names and what was agreed: coordinators and tenant admins only.
READERS = (TenantRole.COORDINATOR, TenantRole.TENANT_ADMIN)
FORM_NAME = "agreement"
ANCHOR = "afsprakenovereenkomst"


def _limit(name: str) -> list:
    return [Length(max=DETAIL_FIELDS[name], message=TOO_LONG)]


class AgreementForm(FlaskForm):
    """What the coordinator adds to the afsprakenovereenkomst; an empty field gets the standard text."""

    huisregels = TextAreaField("Huisregels", validators=_limit("huisregels"), description=(
        "Bijvoorbeeld over eten, schermtijd, slapen of geloof. Leeg laten: de huisregels van het steungezin gelden."))
    vervoer = TextAreaField("Vervoer", validators=_limit("vervoer"), description=(
        "Wie brengt en haalt de kinderen? Leeg laten: het vraaggezin brengt en haalt."))
    kosten = TextAreaField("Kosten", validators=_limit("kosten"), description=(
        "Leeg laten: er zijn geen kosten; kleine uitgaven betaalt het steungezin zelf."))
    bij_problemen = TextAreaField("Als er iets gebeurt", validators=_limit("bij_problemen"), description=(
        "Wie belt wie bij ziekte of een ongeluk? Leeg laten: het steungezin belt de ouders, bij gevaar eerst 112."))


@dataclass
class AgreementPanel:
    """What the koppeling page shows about its afsprakenovereenkomst."""

    kind: DocumentKind | None  # the one the koppeling needs now; None once it has ended
    kind_label: str | None
    document: Document | None
    status_label: str | None
    has_pdf: bool
    rendering: bool  # made, the worker has not finished it yet
    can_create: bool


def agreement_panel(koppeling: Koppeling) -> AgreementPanel:
    kind = agreement_kind_for(koppeling)
    document = latest_document(koppeling)
    status = DocumentStatus(document.status) if document else None
    replaceable = status in (None, DocumentStatus.CONCEPT, DocumentStatus.KLAAR, DocumentStatus.GEWEIGERD,
                             DocumentStatus.INGETROKKEN)
    # A new kind (the definitive one after the proefperiode) can always be made; the same kind again
    # only while the current one is not out for signing or signed.
    can_create = kind is not None and (document is None or document.kind != kind or replaceable)
    return AgreementPanel(
        kind=kind, kind_label=KIND_LABELS.get(kind) if kind else None, document=document,
        status_label=STATUS_LABELS.get(status) if status else None,
        has_pdf=bool(document is not None and document.sha256),
        rendering=bool(document is not None and status == DocumentStatus.CONCEPT and not document.render_error),
        can_create=can_create,
    )


def agreement_form(koppeling: Koppeling) -> AgreementForm:
    """The form, filled with what the koppeling's last agreement said (so a new version starts from it)."""
    document = latest_document(koppeling)
    context = document.context if document is not None else {}
    return AgreementForm(formdata=None, **{name: context.get(name) or "" for name in DETAIL_FIELDS})


def _actor():
    return client_actor(current_user.account.email, current_user.account.id)


@documents.route("/koppeling/<int:koppeling_id>/afspraken", methods=["POST"], endpoint="create_agreement")
@roles_allowed(*READERS)
def make_agreement(koppeling_id: int):
    koppeling = get_for_tenant(Koppeling, koppeling_id)
    form = AgreementForm()
    if form.validate_on_submit():
        kind = agreement_kind_for(koppeling)
        try:
            if kind is None:
                raise DocumentError("Deze koppeling is beëindigd: er komen geen nieuwe afspraken meer.")
            create_agreement(koppeling, kind, {name: form[name].data or "" for name in DETAIL_FIELDS}, _actor())
        except DocumentError as error:
            db.session.rollback()
            target = form[error.field] if error.field in DETAIL_FIELDS else None
            if target is not None:
                target.errors = [*target.errors, str(error)]
            else:
                form.form_errors.append(str(error))
        else:
            db.session.commit()
            flash("De afsprakenovereenkomst wordt gemaakt. Over een paar seconden staat de PDF klaar.", "success")
            return redirect(url_for("koppelingen.detail", koppeling_id=koppeling_id, _anchor=ANCHOR))
    from web.staff.koppelingen import render_detail_with  # the page this form lives on

    return render_detail_with(koppeling_id, FORM_NAME, form)


_UNSAFE_FILENAME = re.compile(r"[^a-z0-9-]+")


def _filename(document: Document, signed: bool) -> str:
    base = _UNSAFE_FILENAME.sub("-", document.title.lower()).strip("-") or "document"
    return f"{base}-{document.id}{'-ondertekend' if signed else ''}.pdf"


@documents.route("/<int:document_id>.pdf")
@roles_allowed(*READERS)
def pdf(document_id: int):
    document = get_for_tenant(Document, document_id)
    signed = request.args.get("ondertekend") == "1"
    content = document.final_pdf if signed else document.pdf
    if content is None:
        abort(404)
    # The PDF shows the families' names and what was agreed: who looked is on record.
    record("document.viewed", _actor(), object_type="document", object_id=document.id,
           details={"ondertekend": signed})
    db.session.commit()
    disposition = "attachment" if request.args.get("download") == "1" else "inline"
    response = Response(content, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'{disposition}; filename="{_filename(document, signed)}"'
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
