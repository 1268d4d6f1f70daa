"""The verify page's question: is this uploaded PDF a sealed document of this platform, unchanged?

Two checks together: the seal (``sealing.verify_pdf``: a signature by our certificate that is
intact and covers the whole file) and the record (the file's SHA-256 is the ``final_sha256`` of a
sealed document). The record is found through the SECURITY DEFINER function
``document_by_final_sha256`` (migration 0008), which needs no gemeente and returns only the
gemeente's name, the title, the times and each signer's name, role and signing time. Nothing
uploaded is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text

from config.settings import Settings
from domain.documents.sealing import Verification, verify_pdf
from tenants.db import db

INTACT = "intact"
ALTERED = "veranderd"
UNKNOWN = "geen"


@dataclass(frozen=True)
class SignerRecord:
    name: str
    role: str
    signed_at: datetime | None


@dataclass(frozen=True)
class SealedRecord:
    gemeente: str
    title: str
    kind: str
    completed_at: datetime | None
    sealed_at: datetime | None
    signers: tuple[SignerRecord, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class VerifyOutcome:
    verdict: str  # INTACT, ALTERED or UNKNOWN
    sha256: str
    record: SealedRecord | None  # only with INTACT


def sealed_record(digest: str) -> SealedRecord | None:
    """The sealed document whose final PDF has this SHA-256, across gemeenten, or None."""
    row = db.session.execute(text("SELECT * FROM document_by_final_sha256(:d)"), {"d": digest}).mappings().first()
    if row is None:
        return None
    signers = tuple(SignerRecord(str(s.get("name") or ""), str(s.get("role") or ""), _timestamp(s.get("signed_at")))
                    for s in (row["signers"] or []) if isinstance(s, dict))
    return SealedRecord(row["gemeente"], row["title"], row["kind"], row["completed_at"], row["sealed_at"], signers)


def _timestamp(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def verify_upload(data: bytes, *, settings: Settings) -> VerifyOutcome:
    """The verdict on an uploaded file.

    INTACT: its SHA-256 is that of a sealed document of ours (then the bytes are exactly the ones we
    sealed and stored, whatever certificate sealed them then). ALTERED: it carries a seal by our
    certificate but is not such a file (a byte changed, bytes added). UNKNOWN: no seal of ours.
    """
    verification: Verification = verify_pdf(data, settings=settings)
    record = sealed_record(verification.sha256)
    if record is not None:
        return VerifyOutcome(INTACT, verification.sha256, record)
    if verification.ours:
        return VerifyOutcome(ALTERED, verification.sha256, None)
    return VerifyOutcome(UNKNOWN, verification.sha256, None)
