"""The signed-in user as Flask-Login sees it, bound to one realm (a tenant, or national)."""

from __future__ import annotations

import time

from flask import g, session
from flask_login import UserMixin

from domain.accounts.models import NationalUser, StaffUser
from tenants.db import db

PENDING_KEY = "pending_login"
PENDING_SECONDS = 5 * 60


class SignedInUser(UserMixin):
    def __init__(self, account: StaffUser | NationalUser):
        self.account = account

    @property
    def realm(self) -> str:
        return self.account.realm

    @property
    def role(self):
        return self.account.role

    def get_id(self) -> str:
        # The session token is part of the id: rotating it on the account ends every session.
        tenant_id = getattr(self.account, "tenant_id", 0)
        return f"{self.realm}:{tenant_id}:{self.account.id}:{self.account.session_token}"


def load_signed_in_user(user_id: str) -> SignedInUser | None:
    """Flask-Login's loader. A session only counts inside the realm (and tenant) it was made for."""
    try:
        realm, tenant_id, account_id, token = user_id.split(":", 3)
        tenant_id_int, account_id_int = int(tenant_id), int(account_id)
    except ValueError:
        return None
    tenant = g.get("tenant")
    if realm == "tenant":
        if tenant is None or tenant.id != tenant_id_int or not tenant.is_active:
            return None
        account = db.session.get(StaffUser, account_id_int)
    elif realm == "national" and tenant is None:
        account = db.session.get(NationalUser, account_id_int)
    else:
        return None
    if account is None or not account.active or account.session_token != token:
        return None
    return SignedInUser(account)


def remember_pending_login(account: StaffUser | NationalUser) -> None:
    session[PENDING_KEY] = {
        "realm": account.realm,
        "tenant_id": getattr(account, "tenant_id", 0),
        "account_id": account.id,
        "at": int(time.time()),
    }


def pending_account(model, tenant_id: int) -> StaffUser | NationalUser | None:
    pending = session.get(PENDING_KEY)
    if not pending or pending["realm"] != model.realm or pending["tenant_id"] != tenant_id:
        return None
    if time.time() - pending["at"] > PENDING_SECONDS:
        session.pop(PENDING_KEY, None)
        return None
    account = db.session.get(model, pending["account_id"])
    return account if account is not None and account.active else None
