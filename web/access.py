"""Who may see which page. Every staff and national page declares its roles; none is open by default."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from flask import abort, current_app, redirect, request, session, url_for
from flask_login import current_user

from domain.accounts.models import NationalRole, NationalUser, StaffUser, TenantRole

F = TypeVar("F", bound=Callable)

ALL_TENANT_ROLES = frozenset(TenantRole)
ALL_NATIONAL_ROLES = frozenset(NationalRole)


def roles_allowed(*roles: TenantRole | NationalRole) -> Callable[[F], F]:
    """Declare the roles a view allows; enforced by the blueprint guard below."""

    def mark(view: F) -> F:
        view.allowed_roles = frozenset(roles)  # type: ignore[attr-defined]
        return view

    return mark


def guard_blueprint(bp, *, realm: str, login_endpoint: str) -> None:
    """Fail closed: a view without declared roles is refused, an anonymous user goes to login."""

    @bp.before_request
    def enforce_roles():
        view = current_app.view_functions.get(request.endpoint or "")
        allowed: Iterable | None = getattr(view, "allowed_roles", None)
        if allowed is None:
            abort(403)
        if not current_user.is_authenticated or current_user.realm != realm:
            if realm == "tenant" and _signed_in_nationally():
                # The national office sees figures, never a gemeente's pages: "not found", as for
                # anything that is not yours (not a login page that invites trying).
                abort(404)
            return redirect(url_for(login_endpoint, next=request.full_path.rstrip("?")))
        if current_user.role not in allowed:
            abort(403)
        return None


def _signed_in_nationally() -> bool:
    # Flask-Login's session key; its loader ignores a national session inside a gemeente's URLs.
    return str(session.get("_user_id", "")).startswith("national:")


def is_staff(user) -> bool:
    return isinstance(user, StaffUser)


def is_national(user) -> bool:
    return isinstance(user, NationalUser)
