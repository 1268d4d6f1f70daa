"""Sending a koppeling's afsprakenovereenkomst for signing, and following it, at
/<slug>/app/koppelingen/<id>/…: the form "Versturen ter ondertekening" (in parallel or in order),
each party's progress, "Hier laten ondertekenen" (the party signs on the coordinator's device) and
a new link for a party who lost theirs.

The section on the koppeling page (``templates/web/staff/signing/_koppeling_section.html``) reads
its data through the template global ``signing_overview(koppeling)``, so the koppeling views need
no change. Every lookup goes through ``get_for_tenant``; a signer or document of another koppeling
is "not found" like a missing one.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import abort, flash, redirect, request, session, url_for
from flask_login import current_user

from domain.accounts.models import TenantRole
from domain.documents.models import Document, DocumentKind, DocumentSigner, DocumentStatus
from domain.documents.signing import (
    ORDERS,
    ROLE_LABELS,
    STATE_LABELS,
    Party,
    SignerProgress,
    SigningError,
    default_parties,
    documents_of_koppeling,
    identity_method_for,
    progress,
    resend_link,
    send_for_signing,
    sign_in_person,
)
from domain.koppelingen.models import Koppeling
from domain.koppelingen.services import signed_proefperiode_agreement as signed_agreement
from tenants.access import get_for_tenant
from tenants.db import db
from web.access import guard_blueprint, roles_allowed
from web.auth.flow import client_actor
from web.public.signing import mark_verified
from web.tenancy import tenant_blueprint

signing_staff = tenant_blueprint("signing_staff", __name__, "/app/koppelingen")
guard_blueprint(signing_staff, realm="tenant", login_endpoint="auth.login")

READERS = (TenantRole.COORDINATOR, TenantRole.TENANT_ADMIN)
RETURN_KEY = "signing_return"
ANCHOR = "ondertekenen"
AFSPRAKEN = (DocumentKind.AFSPRAKEN_PROEFPERIODE, DocumentKind.AFSPRAKEN_DEFINITIEF)
DOCUMENT_STATUS_LABELS = {
    DocumentStatus.CONCEPT: "wordt gemaakt", DocumentStatus.KLAAR: "klaar om te versturen",
    DocumentStatus.VERZONDEN: "verstuurd, wacht op handtekeningen", DocumentStatus.GEWEIGERD: "geweigerd",
    DocumentStatus.ONDERTEKEND: "door iedereen ondertekend", DocumentStatus.VERZEGELD: "ondertekend en verzegeld",
    DocumentStatus.INGETROKKEN: "ingetrokken",
}


def _actor():
    return client_actor(current_user.account.email, current_user.account.id)


@dataclass(frozen=True)
class PartyPreview:
    party: Party
    warning: str | None


@dataclass(frozen=True)
class DocumentOverview:
    document: Document
    status_label: str
    parties: list[PartyPreview]  # who will get it (status klaar)
    signers: list[SignerProgress]  # who got it (after sending)


def _preview(party: Party) -> PartyPreview:
    warning = None
    if not party.email:
        warning = "Geen e-mailadres bekend: laat hen hier ondertekenen."
    elif party.member_id is not None:
        if identity_method_for(party.role, party.member_id) == "coordinator":
            warning = "Geboortedatum onbekend: laat hen hier ondertekenen."
    return PartyPreview(party, warning)


@signing_staff.app_template_global()
def signing_overview(koppeling: Koppeling) -> list[DocumentOverview]:
    """The koppeling's agreements (except those still being made), with parties or progress."""
    found = []
    for document in documents_of_koppeling(koppeling.id):
        if document.kind not in AFSPRAKEN or document.status == DocumentStatus.CONCEPT:
            continue
        parties = ([_preview(p) for p in default_parties(document)]
                   if document.status == DocumentStatus.KLAAR else [])
        found.append(DocumentOverview(document, DOCUMENT_STATUS_LABELS.get(document.status, document.status),
                                      parties, progress(document)))
    return found


@signing_staff.app_template_global()
def signed_proefperiode_agreement(koppeling: Koppeling) -> Document | None:
    return signed_agreement(koppeling)


@signing_staff.app_template_global()
def signing_labels() -> dict:
    return {"states": STATE_LABELS, "roles": ROLE_LABELS}


def _back(koppeling_id: int):
    return redirect(url_for("koppelingen.detail", koppeling_id=koppeling_id, _anchor=ANCHOR), 303)


def _signer_of(koppeling_id: int, signer_id: int) -> tuple[Document, DocumentSigner]:
    get_for_tenant(Koppeling, koppeling_id)
    signer = get_for_tenant(DocumentSigner, signer_id)
    document = get_for_tenant(Document, signer.document_id)
    if document.koppeling_id != koppeling_id:
        abort(404)
    return document, signer


@signing_staff.route("/<int:koppeling_id>/ondertekenen", methods=["POST"])
@roles_allowed(*READERS)
def send(koppeling_id: int):
    koppeling = get_for_tenant(Koppeling, koppeling_id)
    raw_id = request.form.get("document_id", "")
    if not raw_id.isdigit() or len(raw_id) > 10:
        abort(404)
    document = get_for_tenant(Document, int(raw_id))
    if document.koppeling_id != koppeling.id or document.kind not in AFSPRAKEN:
        abort(404)
    order = request.form.get("order", "")
    try:
        if order not in ORDERS:
            raise SigningError("Kies of beide gezinnen tegelijk ondertekenen of na elkaar.")
        signers = send_for_signing(document, default_parties(document), order, _actor())
    except SigningError as error:
        db.session.rollback()
        flash(f"Versturen is niet gelukt: {error} Er is niets verstuurd.", "error")
        return _back(koppeling_id)
    unmailed = [s.name for s in signers if not s.email]
    db.session.commit()
    message = "Het document is verstuurd ter ondertekening."
    if order == "volgorde":
        message = "Het document is verstuurd ter ondertekening: eerst naar de eerste ondertekenaar."
    if unmailed:
        message += f" Geen e-mailadres van {', '.join(unmailed)}: laat hen hier ondertekenen."
    flash(message, "success")
    return _back(koppeling_id)


@signing_staff.route("/<int:koppeling_id>/ondertekenaars/<int:signer_id>/hier", methods=["POST"])
@roles_allowed(*READERS)
def in_person(koppeling_id: int, signer_id: int):
    document, signer = _signer_of(koppeling_id, signer_id)
    try:
        url = sign_in_person(document, signer, _actor())
    except SigningError as error:
        db.session.rollback()
        flash(f"{error}", "error")
        return _back(koppeling_id)
    signer_id = signer.id
    db.session.commit()
    # The coordinator vouched for the signer: this browser session may go straight to the document.
    mark_verified(signer_id)
    session[RETURN_KEY] = url_for("koppelingen.detail", koppeling_id=koppeling_id, _anchor=ANCHOR)
    return redirect(urlsplit(url).path, 303)


@signing_staff.route("/<int:koppeling_id>/ondertekenaars/<int:signer_id>/opnieuw", methods=["POST"])
@roles_allowed(*READERS)
def resend(koppeling_id: int, signer_id: int):
    document, signer = _signer_of(koppeling_id, signer_id)
    try:
        resend_link(document, signer, _actor())
    except SigningError as error:
        db.session.rollback()
        flash(f"{error}", "error")
        return _back(koppeling_id)
    name = signer.name
    db.session.commit()
    flash(f"{name} krijgt een nieuwe link per e-mail. De oude link werkt niet meer.", "success")
    return _back(koppeling_id)
