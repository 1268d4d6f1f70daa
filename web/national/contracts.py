"""The gemeenten's contracts at /landelijk/contracten: every gemeente's samenwerkingsovereenkomst with
its end date ("loopt binnenkort af" first), a form to add one for a gemeente, and making and sending
its samenwerkingsovereenkomst for signing (national admins; analysts may read the list).

Contracts belong to their gemeente (RLS): every write happens in that one gemeente's context
(``acting_for``), and the list visits each active gemeente in turn (``contracts_overview``). What
the national office does is recorded in the national audit trail too.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField

from domain.accounts.models import NationalRole
from domain.documents.contracts import (
    ContractError,
    acting_for,
    clean_contract,
    contract_in_tenant,
    contracts_overview,
    create_contract,
    document_in_tenant,
    record_nationally,
)
from domain.documents.models import DocumentStatus
from domain.documents.services import DocumentError, create_contract_document
from domain.documents.signing import Party, SigningError, default_parties, send_for_signing
from domain.families.records import local_today
from tenants.db import db
from tenants.models import Tenant
from tenants.services import list_tenants
from web.access import ALL_NATIONAL_ROLES, guard_blueprint, roles_allowed
from web.auth.flow import client_actor

national_contracts = Blueprint("national_contracts", __name__, url_prefix="/landelijk/contracten")
guard_blueprint(national_contracts, realm="national", login_endpoint="national_auth.login")

DATE_HINT = "Bijvoorbeeld 2026-01-01."


class ContractForm(FlaskForm):
    gemeente = SelectField("Gemeente", coerce=str, validate_choice=False)
    starts_on = StringField("Begindatum", description=DATE_HINT, render_kw={"type": "date"})
    ends_on = StringField("Einddatum", description=DATE_HINT, render_kw={"type": "date"})
    koppelingen_target = StringField("Aantal koppelingen (doel)", render_kw={"inputmode": "numeric"},
                                     description="Hoeveel koppelingen de gemeente en de stichting samen nastreven.")
    budget_eur = StringField("Budget in euro", render_kw={"inputmode": "numeric"},
                             description="Hele euro's, zonder punt of komma. Bijvoorbeeld 45000.")
    contact_name = StringField("Contactpersoon van de gemeente",
                               description="Tekent de samenwerkingsovereenkomst namens de gemeente.")
    contact_email = StringField("E-mailadres van de contactpersoon", render_kw={"type": "email",
                                                                               "autocomplete": "off"})


class ContractActionForm(FlaskForm):
    gemeente = HiddenField()
    contract = HiddenField()


def _is_admin() -> bool:
    return current_user.role == NationalRole.NATIONAL_ADMIN


def _actor():
    return client_actor(current_user.account.email, current_user.account.id)


def _active_tenants() -> list[Tenant]:
    with acting_for(None):
        return [tenant for tenant in list_tenants() if tenant.is_active]


def _parse_date(value: str | None, errors: dict[str, str], field: str, label: str) -> date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors[field] = f"{label} klopt niet. Schrijf de datum als jaar-maand-dag, bijvoorbeeld 2026-01-01."
        return None


def _parse_int(value: str | None, errors: dict[str, str], field: str, label: str) -> int | None:
    value = (value or "").strip().replace(" ", "")
    if not value:
        return None
    if value.startswith("-") and value[1:].isdigit():
        errors[field] = f"{label} kan niet negatief zijn."
        return None
    if not value.isdigit():
        errors[field] = f"{label} moet een heel getal zijn, zonder punt of komma."
        return None
    return int(value)


@national_contracts.route("/")
@roles_allowed(*ALL_NATIONAL_ROLES)
def index():
    rows = contracts_overview(local_today())
    db.session.rollback()  # read only
    return render_template("web/national/contracts/list.html", rows=rows, can_edit=_is_admin(),
                           action_form=ContractActionForm())


def _form_page(form: ContractForm, status: int = 200):
    return render_template("web/national/contracts/new.html", form=form), status


@national_contracts.route("/nieuw", methods=["GET", "POST"])
@roles_allowed(NationalRole.NATIONAL_ADMIN)
def new():
    tenants = _active_tenants()
    form = ContractForm()
    form.gemeente.choices = [("", "Kies een gemeente")] + [(str(t.id), t.name) for t in tenants]
    if not form.is_submitted():
        return _form_page(form)
    if not form.validate():  # the CSRF token
        return _form_page(form, 400)
    tenant = next((t for t in tenants if str(t.id) == form.gemeente.data), None)
    errors: dict[str, str] = {}
    if tenant is None:
        errors["gemeente"] = "Kies de gemeente van het contract."
    fields = {
        "starts_on": _parse_date(form.starts_on.data, errors, "starts_on", "De begindatum"),
        "ends_on": _parse_date(form.ends_on.data, errors, "ends_on", "De einddatum"),
        "koppelingen_target": _parse_int(form.koppelingen_target.data, errors, "koppelingen_target",
                                         "Het aantal koppelingen"),
        "budget_eur": _parse_int(form.budget_eur.data, errors, "budget_eur", "Het budget"),
        "contact_name": form.contact_name.data, "contact_email": form.contact_email.data,
    }
    contract_id = None
    try:
        if tenant is None:
            clean_contract(**fields)  # for the other fields' messages
        else:
            with acting_for(tenant.id):
                contract_id = create_contract(tenant, _actor(), **fields).id
    except ContractError as error:
        db.session.rollback()
        errors = {**error.errors, **errors}
    if errors:
        db.session.rollback()
        for name, message in errors.items():
            form[name].errors = [message]
        return _form_page(form, 422)
    record_nationally("contract.created", _actor(), tenant.id, contract_id, gemeente=tenant.name,
                      ends_on=fields["ends_on"].isoformat())
    db.session.commit()
    flash(f"Het contract met gemeente {tenant.name} is opgeslagen. Maak nu de samenwerkingsovereenkomst.",
          "success")
    return redirect(url_for("national_contracts.index"))


def _action_target() -> tuple[Tenant, int]:
    form = ContractActionForm()
    if not form.validate_on_submit():
        abort(400)
    tenant = next((t for t in _active_tenants() if str(t.id) == (form.gemeente.data or "").strip()), None)
    contract_id = (form.contract.data or "").strip()
    if tenant is None or not contract_id.isdigit():
        abort(404)
    return tenant, int(contract_id)


@national_contracts.route("/overeenkomst", methods=["POST"])
@roles_allowed(NationalRole.NATIONAL_ADMIN)
def make_document():
    tenant, contract_id = _action_target()
    try:
        with acting_for(tenant.id):
            contract = contract_in_tenant(contract_id)
            if contract is None:
                abort(404)
            document_id = create_contract_document(contract, _actor()).id
    except DocumentError as error:
        db.session.rollback()
        flash(str(error), "error")
        return redirect(url_for("national_contracts.index"))
    record_nationally("contract.document_created", _actor(), tenant.id, contract_id, document_id=document_id)
    db.session.commit()
    flash(f"De samenwerkingsovereenkomst met gemeente {tenant.name} wordt gemaakt. Over een paar seconden kun je "
          "haar versturen.", "success")
    return redirect(url_for("national_contracts.index"))


@national_contracts.route("/versturen", methods=["POST"])
@roles_allowed(NationalRole.NATIONAL_ADMIN)
def send():
    tenant, contract_id = _action_target()
    account = current_user.account
    try:
        with acting_for(tenant.id):
            contract = contract_in_tenant(contract_id)
            if contract is None:
                abort(404)
            document = document_in_tenant(contract)
            if document is None or DocumentStatus(document.status) != DocumentStatus.KLAAR:
                raise SigningError("De samenwerkingsovereenkomst is nog niet klaar om te versturen.")
            parties = default_parties(document, stichting=Party("stichting", account.full_name, account.email))
            send_for_signing(document, parties, "parallel", _actor())
            document_id, contact = document.id, contract.contact_name
    except SigningError as error:
        db.session.rollback()
        flash(str(error), "error")
        return redirect(url_for("national_contracts.index"))
    record_nationally("contract.document_sent", _actor(), tenant.id, contract_id, document_id=document_id)
    db.session.commit()
    flash(f"De samenwerkingsovereenkomst is verstuurd naar {contact} en naar jou. Jullie krijgen "
          "allebei een e-mail met een persoonlijke link.", "success")
    return redirect(url_for("national_contracts.index"))
