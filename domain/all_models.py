"""Every model module, imported in one place for Alembic and the tenancy tests."""

from domain.accounts.models import AccountToken, NationalUser, StaffUser
from domain.audit.models import AuditEvent, NationalAuditEvent
from domain.documents.models import Contract, Document, DocumentSigner, DocumentTemplate
from domain.email.models import OutboundEmail
from domain.evaluations.models import EvaluationConversation, EvaluationRequest
from domain.families.models import (
    Consent,
    Family,
    FamilyMember,
    FamilyNote,
    FamilyStatusChange,
    IntakeVisit,
    PublicListing,
    SupportType,
)
from domain.koppelingen.models import Kennismaking, Koppeling, KoppelingStatusChange, MatchExclusion
from domain.outbox.models import OutboxJob
from domain.reporting.models import EffectReport
from domain.vog.models import VogRecord
from tenants.models import Tenant

__all__ = [
    "AccountToken", "AuditEvent", "Consent", "Contract", "Document", "DocumentSigner", "DocumentTemplate",
    "EffectReport", "EvaluationConversation", "EvaluationRequest", "Family",
    "FamilyMember", "FamilyNote", "FamilyStatusChange", "IntakeVisit", "Kennismaking", "Koppeling",
    "KoppelingStatusChange", "MatchExclusion", "NationalAuditEvent", "NationalUser", "OutboundEmail", "OutboxJob",
    "PublicListing", "StaffUser", "SupportType", "Tenant", "VogRecord",
]
