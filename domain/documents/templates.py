"""The national document texts: versioned, never changed, checked in the sandbox before saving.

Version 1 of each kind is the default text in ``templates/documents/<kind>.html``
(``ensure_default_templates``, idempotent). A national admin's edit is a new version
(``save_template_version``); a document keeps the version it was made from, and new documents use
the newest. The app role may only SELECT and INSERT ``document_templates``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from jinja2 import meta
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError

from domain.audit.services import Actor, record
from domain.documents.models import DocumentKind, DocumentTemplate
from domain.documents.rendering import (
    DOCUMENT_TEMPLATES,
    TemplateCheckError,
    compile_template,
    render_body,
    sandbox,
)
from tenants.db import db

DEFAULT_TITLES: dict[DocumentKind, str] = {
    DocumentKind.AFSPRAKEN_PROEFPERIODE: "Afsprakenovereenkomst proefperiode",
    DocumentKind.AFSPRAKEN_DEFINITIEF: "Afsprakenovereenkomst",
    DocumentKind.SAMENWERKING: "Samenwerkingsovereenkomst",
}
KIND_LABELS: dict[DocumentKind, str] = {
    DocumentKind.AFSPRAKEN_PROEFPERIODE: "Afsprakenovereenkomst voor de proefperiode",
    DocumentKind.AFSPRAKEN_DEFINITIEF: "Afsprakenovereenkomst (definitief)",
    DocumentKind.SAMENWERKING: "Samenwerkingsovereenkomst met de gemeente",
}
DEFAULT_AUTHOR = "standaardtekst"
MAX_TITLE_CHARS = 200


class TemplateError(ValueError):
    """A text or title that cannot be saved; ``field`` names the form field, the message is Dutch."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def default_body(kind: DocumentKind) -> str:
    return (DOCUMENT_TEMPLATES / f"{DocumentKind(kind).value}.html").read_text(encoding="utf-8")


def ensure_default_templates() -> int:
    """Add version 1 of every kind that has none yet; returns how many were added. The caller commits."""
    added = 0
    for kind in DocumentKind:
        if db.session.scalar(select(DocumentTemplate.id).where(DocumentTemplate.kind == kind).limit(1)) is not None:
            continue
        # ON CONFLICT: a parallel process (another worker, a test) may add the same version 1.
        inserted = db.session.execute(
            insert(DocumentTemplate).values(kind=kind.value, version=1, title=DEFAULT_TITLES[kind],
                                            body=default_body(kind), created_by=DEFAULT_AUTHOR)
            .on_conflict_do_nothing(index_elements=["kind", "version"]).returning(DocumentTemplate.id)
        ).scalar()
        added += inserted is not None
    return added


def newest_template(kind: DocumentKind | str) -> DocumentTemplate:
    """The newest version of ``kind`` (the default text is added first if there is none)."""
    kind = DocumentKind(kind)
    query = select(DocumentTemplate).where(DocumentTemplate.kind == kind).order_by(DocumentTemplate.version.desc())
    found = db.session.scalars(query.limit(1)).first()
    if found is None:
        ensure_default_templates()
        found = db.session.scalars(query.limit(1)).first()
    return found


def template_versions(kind: DocumentKind | str) -> list[DocumentTemplate]:
    """Every version of ``kind``, newest first."""
    return list(db.session.scalars(select(DocumentTemplate).where(DocumentTemplate.kind == DocumentKind(kind))
                                   .order_by(DocumentTemplate.version.desc())))


@dataclass
class KindOverview:
    kind: DocumentKind
    label: str
    newest: DocumentTemplate | None
    versions: int


def template_overview() -> list[KindOverview]:
    counts = dict(db.session.execute(select(DocumentTemplate.kind, func.count()).group_by(DocumentTemplate.kind)).all())
    overview = []
    for kind in DocumentKind:
        newest = db.session.scalars(select(DocumentTemplate).where(DocumentTemplate.kind == kind)
                                    .order_by(DocumentTemplate.version.desc()).limit(1)).first()
        overview.append(KindOverview(kind, KIND_LABELS[kind], newest, counts.get(kind.value, 0)))
    return overview


# --- checking and saving a text ----------------------------------------------------------------------

SAMPLE_DAY = date(2026, 3, 14)
_PARTY = {"naam": "Familie Voorbeeld", "ouders": ["Anna Voorbeeld", "Bram Voorbeeld"], "plaats": "Drachten"}


def sample_context(kind: DocumentKind | str) -> dict[str, Any]:
    """Made-up values of the shape a real document of ``kind`` gets: to try a text before saving."""
    today = SAMPLE_DAY.isoformat()
    common = {"gemeente": "Voorbeeldgemeente", "stichting": "Stichting Buurtgezinnen", "datum": today}
    if DocumentKind(kind) == DocumentKind.SAMENWERKING:
        return {**common, "besparing_per_koppeling": 5500, "contract": {
            "start": today, "einde": today, "verlengen_voor": today, "koppelingen": 12, "budget": 66000,
            "contactpersoon": "J. de Vries", "contact_email": "j.devries@gemeente.example.org"}}
    return {**common, "koppeling_id": 1, "vraaggezin": _PARTY, "steungezin": {**_PARTY, "naam": "Familie Steun"},
            "kinderen": [{"voornaam": "Sem", "leeftijd": 7}, {"voornaam": "Noor", "leeftijd": None}],
            "steun": ["Opvang na school"], "wanneer": "woensdagmiddag", "waar": "bij het steungezin",
            "vervoer": "", "huisregels": "", "kosten": "", "bij_problemen": "",
            "proefperiode": {"maanden": 2, "start": today, "einde": today},
            "definitief": {"start": today}, "begeleiding_tot": today, "evaluatie_maanden": 6,
            "coordinator": {"naam": "C. Oördinator", "email": "coordinator@example.org"}}


def check_template(kind: DocumentKind | str, body: str) -> None:
    """Refuse a text the sandbox will not run: a syntax error, a forbidden tag or attribute, or an
    error when it is tried with sample values. ``TemplateError`` with the line, in Dutch."""
    try:
        compile_template(body)
        unknown = sorted(meta.find_undeclared_variables(sandbox().parse(body)) - set(sample_context(kind)))
        if unknown:
            raise TemplateCheckError(f"onbekende variabele {', '.join(unknown)}")
        render_body(body, sample_context(kind))
    except TemplateCheckError as error:
        where = f" (regel {error.line})" if error.line else ""
        raise TemplateError(f"De tekst kan niet worden gebruikt{where}: {error}", "body") from None


def save_template_version(kind: DocumentKind | str, title: str, body: str, actor: Actor) -> DocumentTemplate:
    """Save ``body`` as the next version of ``kind`` (checked first; nothing is saved on an error).
    Audited nationally. The caller commits."""
    kind = DocumentKind(kind)
    title = (title or "").strip()
    if not title:
        raise TemplateError("Geef het document een titel.", "title")
    if len(title) > MAX_TITLE_CHARS:
        raise TemplateError(f"De titel mag hoogstens {MAX_TITLE_CHARS} tekens hebben.", "title")
    body = (body or "").replace("\r\n", "\n")
    check_template(kind, body)
    newest = db.session.scalar(select(func.max(DocumentTemplate.version)).where(DocumentTemplate.kind == kind))
    template = DocumentTemplate(kind=kind.value, version=(newest or 0) + 1, title=title, body=body,
                                created_by=actor.label)
    savepoint = db.session.begin_nested()
    try:
        db.session.add(template)
        db.session.flush()
    except IntegrityError:
        savepoint.rollback()
        raise TemplateError("Iemand anders heeft net een nieuwe versie opgeslagen. Laad de pagina opnieuw.",
                            "body") from None
    savepoint.commit()
    record("document_template.saved", actor, object_type="document_template", object_id=template.id,
           details={"kind": kind.value, "version": template.version})
    return template
