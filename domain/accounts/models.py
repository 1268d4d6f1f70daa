"""Staff users. Tenant staff live inside their tenant (RLS); the national office outside any."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import DateTime, ForeignKeyConstraint, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from domain.accounts.passwords import is_usable
from tenants.db import Base, TenantScoped, Timestamped


class TenantRole(StrEnum):
    COORDINATOR = "coordinator"
    TENANT_ADMIN = "tenant_admin"
    GEMEENTE_VIEWER = "gemeente_viewer"


class NationalRole(StrEnum):
    NATIONAL_ADMIN = "national_admin"
    NATIONAL_ANALYST = "national_analyst"


ROLE_LABELS = {
    TenantRole.COORDINATOR: "Coördinator",
    TenantRole.TENANT_ADMIN: "Beheerder",
    TenantRole.GEMEENTE_VIEWER: "Gemeente (alleen lezen)",
    NationalRole.NATIONAL_ADMIN: "Landelijk beheerder",
    NationalRole.NATIONAL_ANALYST: "Landelijk analist",
}


class AccountFields(Timestamped):
    """What every staff account has, wherever it lives."""

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    full_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    # Set only once the user proved they can produce codes for it (enrolment confirmed).
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    # Secret shown during enrolment, not yet confirmed.
    pending_totp_secret: Mapped[str | None] = mapped_column(String(64))
    # The last accepted TOTP time step, so a code cannot be used twice.
    totp_last_step: Mapped[int] = mapped_column(Integer, default=0)
    # Part of the session identity: changing it ends every session of this user.
    session_token: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(default=True)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def totp_enrolled(self) -> bool:
        return self.totp_secret is not None

    @property
    def has_password(self) -> bool:
        """False for an invited user who has not yet chosen a password (accepted the invitation)."""
        return is_usable(self.password_hash)


class StaffUser(AccountFields, TenantScoped, Base):
    __tablename__ = "staff_users"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "email"),
    )

    role: Mapped[TenantRole] = mapped_column(String(32))

    realm = "tenant"


class NationalUser(AccountFields, Base):
    __tablename__ = "national_users"
    __table_args__ = (UniqueConstraint("email"),)

    role: Mapped[NationalRole] = mapped_column(String(32))

    realm = "national"


class TokenPurpose(StrEnum):
    INVITATION = "invitation"
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a purpose, not a password


class AccountToken(Timestamped, TenantScoped, Base):
    """A single-use link for an invitation or a password reset. Only the token's hash is stored."""

    __tablename__ = "account_tokens"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "token_hash"),
        ForeignKeyConstraint(["tenant_id", "user_id"], ["staff_users.tenant_id", "staff_users.id"],
                             ondelete="CASCADE"),
        # A user's open tokens of one purpose (revoked when a new one is issued; the FK's cascade).
        Index("ix_account_tokens_user_purpose", "tenant_id", "user_id", "purpose"),
        # The invitation-reminder sweep: open invitations by the time they were sent.
        Index("ix_account_tokens_open_invitations", "tenant_id", "created_at",
              postgresql_where=text("purpose = 'invitation' AND used_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer)
    purpose: Mapped[TokenPurpose] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
