"""Every model module, imported in one place for Alembic and the tenancy tests."""

from domain.accounts.models import NationalUser, StaffUser
from domain.audit.models import AuditEvent, NationalAuditEvent
from tenants.models import Tenant

__all__ = ["AuditEvent", "NationalAuditEvent", "NationalUser", "StaffUser", "Tenant"]
