"""The coordinator's start page and the tenant admin's user management."""

from __future__ import annotations

from flask import current_app, flash, g, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select

from domain.accounts.invitations import invite_staff_user, reinvite
from domain.accounts.models import ROLE_LABELS, StaffUser, TenantRole
from domain.accounts.services import AccountError, change_role, reset_totp, set_active
from domain.audit.models import AuditEvent
from domain.families.records import local_today
from domain.tasks.services import task_list
from tenants.access import get_for_tenant
from tenants.db import db
from web.access import ALL_TENANT_ROLES, guard_blueprint, roles_allowed
from web.auth.flow import client_actor
from web.staff.forms import ConfirmForm, InviteUserForm, RoleForm
from web.tenancy import tenant_blueprint

staff = tenant_blueprint("staff", __name__, "/app")
guard_blueprint(staff, realm="tenant", login_endpoint="auth.login")

ADMIN = TenantRole.TENANT_ADMIN


def _base_url() -> str:
    return current_app.extensions["settings"].base_url


def _actor():
    return client_actor(current_user.account.email, current_user.account.id)


@staff.route("/")
@roles_allowed(*ALL_TENANT_ROLES)
def home():
    # The task list is about families, so personal data: not for the gemeente's read-only contact.
    role = current_user.role
    tasks = None
    if role in {TenantRole.COORDINATOR, TenantRole.TENANT_ADMIN}:
        mine = current_user.account.id if role == TenantRole.COORDINATOR else None
        tasks = task_list(coordinator_id=mine, today=local_today(), tenant=g.tenant)
    return render_template("web/staff/home.html", tasks=tasks, everyone=role == TenantRole.TENANT_ADMIN)


@staff.route("/gebruikers", methods=["GET", "POST"])
@roles_allowed(ADMIN)
def users():
    form = InviteUserForm()
    if form.validate_on_submit():
        try:
            invitation = invite_staff_user(
                g.tenant, email=form.email.data, full_name=form.full_name.data, role=form.role.data,
                invited_by=current_user.account.full_name, base_url=_base_url(), actor=_actor(),
            )
        except AccountError as error:
            db.session.rollback()
            form.email.errors.append(str(error))
        else:
            db.session.commit()
            flash(f"{invitation.user.full_name} is uitgenodigd. De uitnodiging gaat naar {invitation.user.email}.",
                  "success")
            return redirect(url_for("staff.users"))
    accounts = db.session.scalars(select(StaffUser).order_by(StaffUser.full_name)).all()
    return render_template("web/staff/users.html", form=form, accounts=accounts, role_labels=ROLE_LABELS)


@staff.route("/gebruikers/<int:user_id>", methods=["GET", "POST"])
@roles_allowed(ADMIN)
def user_detail(user_id: int):
    account = get_for_tenant(StaffUser, user_id)
    form = RoleForm(role=account.role)
    if form.validate_on_submit():
        if account.id == current_user.account.id and form.role.data != ADMIN:
            form.role.errors.append("Je kunt je eigen beheerrol niet afnemen; vraag een andere beheerder.")
        else:
            change_role(account, form.role.data, actor=_actor())
            db.session.commit()
            flash("Rol aangepast.", "success")
            return redirect(url_for("staff.user_detail", user_id=account.id))
    return render_template("web/staff/user_detail.html", account=account, form=form,
                           confirm=ConfirmForm(), role_labels=ROLE_LABELS)


@staff.route("/gebruikers/<int:user_id>/actief", methods=["POST"])
@roles_allowed(ADMIN)
def toggle_active(user_id: int):
    account = get_for_tenant(StaffUser, user_id)
    if ConfirmForm().validate_on_submit():
        if account.id == current_user.account.id:
            flash("Je kunt je eigen account niet blokkeren.", "error")
        else:
            set_active(account, not account.active, actor=_actor())
            db.session.commit()
            flash("Account geblokkeerd." if not account.active else "Account weer actief.", "success")
    return redirect(url_for("staff.user_detail", user_id=account.id))


@staff.route("/gebruikers/<int:user_id>/authenticator", methods=["POST"])
@roles_allowed(ADMIN)
def reset_authenticator(user_id: int):
    account = get_for_tenant(StaffUser, user_id)
    if ConfirmForm().validate_on_submit():
        reset_totp(account, actor=_actor())
        db.session.commit()
        flash("Bij de volgende keer inloggen koppelt deze gebruiker opnieuw een authenticator-app.", "success")
    return redirect(url_for("staff.user_detail", user_id=account.id))


@staff.route("/gebruikers/<int:user_id>/uitnodiging", methods=["POST"])
@roles_allowed(ADMIN)
def reinvite_user(user_id: int):
    account = get_for_tenant(StaffUser, user_id)
    if ConfirmForm().validate_on_submit():
        try:
            reinvite(g.tenant, account, invited_by=current_user.account.full_name, base_url=_base_url(),
                     actor=_actor())
        except AccountError as error:
            db.session.rollback()
            flash(str(error), "error")
        else:
            db.session.commit()
            flash(f"Nieuwe uitnodiging verstuurd naar {account.email}. De vorige link werkt niet meer.", "success")
    return redirect(url_for("staff.user_detail", user_id=account.id))


@staff.route("/audit")
@roles_allowed(ADMIN)
def audit_log():
    events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(200)).all()
    return render_template("web/staff/audit.html", events=events)
