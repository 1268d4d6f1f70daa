"""Single-use, expiring links (invitations, password resets).

Only the SHA-256 of a token is stored; the raw token exists in the link we mail and nowhere else.
Tokens live in their tenant (RLS), and are looked up in the current tenant's context, so a token of
tenant B is simply unknown in tenant A. Redeeming marks the token used in the caller's transaction:
it is used exactly when the change it authorises is committed.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from domain.accounts.models import AccountToken, StaffUser, TokenPurpose
from tenants.db import db, session_tenant

TOKEN_ERROR = "Deze link is verlopen of al gebruikt. Vraag een nieuwe aan."  # noqa: S105 - a message


class TokenError(ValueError):
    """The link cannot be used (unknown, expired, used, or for something else); one message for all."""

    def __init__(self, message: str = TOKEN_ERROR):
        super().__init__(message)


@dataclass(frozen=True)
class IssuedToken:
    raw: str  # goes into the link, never into the database
    id: int
    expires_at: datetime
    created_at: datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def issue(user: StaffUser, purpose: TokenPurpose | str, lifetime: timedelta) -> IssuedToken:
    """A new token for ``user``; earlier unused tokens of the same purpose stop working."""
    purpose = TokenPurpose(purpose)
    if session_tenant(db.session()) != user.tenant_id:
        raise ValueError("issue() must run in the tenant context of the user")
    now = utcnow()
    # Revoked by expiring them now: ``used_at`` keeps meaning "redeemed".
    db.session.execute(
        update(AccountToken)
        .where(AccountToken.tenant_id == user.tenant_id, AccountToken.user_id == user.id,
               AccountToken.purpose == purpose, AccountToken.used_at.is_(None), AccountToken.expires_at > now)
        .values(expires_at=now)
        .execution_options(synchronize_session=False)
    )
    raw = secrets.token_urlsafe(32)
    token = AccountToken(tenant_id=user.tenant_id, user_id=user.id, purpose=purpose, token_hash=hash_token(raw),
                         expires_at=now + lifetime, created_at=now)
    db.session.add(token)
    db.session.flush()
    return IssuedToken(raw=raw, id=token.id, expires_at=token.expires_at, created_at=now)


def issue_token(user: StaffUser, purpose: TokenPurpose | str, lifetime: timedelta) -> str:
    """The raw token of a new single-use link (see ``issue`` for the record's id)."""
    return issue(user, purpose, lifetime).raw


def _usable(raw: str, purpose: TokenPurpose, *, lock: bool) -> tuple[AccountToken, StaffUser]:
    if not raw or len(raw) > 200:
        raise TokenError
    statement = select(AccountToken).where(AccountToken.token_hash == hash_token(raw))
    if lock:
        # Two requests redeeming one token at once: the second waits, then sees it used.
        statement = statement.with_for_update().execution_options(populate_existing=True)
    token = db.session.scalar(statement)
    if token is None or token.purpose != purpose or token.used_at is not None or token.expires_at <= utcnow():
        raise TokenError
    user = db.session.scalar(select(StaffUser).where(StaffUser.id == token.user_id))
    if user is None or not user.active:
        raise TokenError
    return token, user


def check_token(raw: str, purpose: TokenPurpose | str) -> StaffUser:
    """The user a still-usable token belongs to, without using it (to show the form)."""
    return _usable(raw, TokenPurpose(purpose), lock=False)[1]


def redeem_token(raw: str, purpose: TokenPurpose | str) -> StaffUser:
    """Use the token in the current tenant and transaction; raises TokenError if it cannot be used."""
    token, user = _usable(raw, TokenPurpose(purpose), lock=True)
    token.used_at = utcnow()
    db.session.flush()
    return user
