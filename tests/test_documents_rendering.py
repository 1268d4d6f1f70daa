"""Documents as PDFs: national texts, the render job, the bundled font, and what must never get in.

The render job runs in a real Celery worker once (end to end) and otherwise through its handler in
this process (``run_job`` with the real handler map), which is the same code the worker runs. Text
and fonts are read back out of the PDF with pypdf.
"""

from __future__ import annotations

import hashlib
import io
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from flask import Flask
from markupsafe import Markup
from pypdf import PdfReader
from sqlalchemy import func, select

from config.settings import Settings
from devstack.celery_processes import CeleryProcess, celery_process, wait_until
from domain.accounts.models import NationalRole, TenantRole
from domain.audit.models import AuditEvent, NationalAuditEvent
from domain.audit.services import SYSTEM, Actor
from domain.documents import rendering
from domain.documents.models import Contract, Document, DocumentKind, DocumentStatus, DocumentTemplate
from domain.documents.rendering import (
    RenderError,
    RenderTimeout,
    TemplateCheckError,
    document_html,
    render_pdf,
    static_only_fetcher,
)
from domain.documents.services import (
    RENDER_JOB,
    RENDER_JOB_KIND,
    DocumentError,
    create_agreement,
    create_contract_document,
    latest_document,
)
from domain.documents.templates import (
    TemplateError,
    default_body,
    ensure_default_templates,
    newest_template,
    sample_context,
    save_template_version,
    template_versions,
)
from domain.families.models import Family, FamilyMember
from domain.families.records import local_today
from domain.families.support_types import ensure_default_support_types
from domain.koppelingen.models import Koppeling
from domain.outbox.handlers import job_handlers
from domain.outbox.models import JobStatus, OutboxJob
from domain.outbox.services import PermanentJobError, run_job
from tenants.db import db
from tenants.services import use_tenant
from tests.conftest import Factory, Gemeente, csrf_token, login

FONT = "Atkinson-Hyperlegible"
WAIT = 60
# What a family might type into a field, or what an attacker would: it must all come out as text.
HOSTILE = ('<link rel="attachment" href="file:///etc/passwd">', '<img src="http://127.0.0.1:1/x.png">',
           "{{ 7*7 }}", "{{ config }}", "{% include '/etc/passwd' %}")


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def pdf_fonts(pdf: bytes) -> set[str]:
    """The base names of every font the PDF's pages use (without the subset prefix)."""
    names = set()
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for font in page["/Resources"]["/Font"].values():
            names.add(str(font.get_object()["/BaseFont"]).split("+", 1)[-1])
    return names


def page_count(pdf: bytes) -> int:
    return len(PdfReader(io.BytesIO(pdf)).pages)


@dataclass
class World:
    gemeente: Gemeente
    koppeling_id: int
    coordinator_email: str
    vraag_contact: str
    child: str


def make_koppeling(app: Flask, gemeente: Gemeente, coordinator_id: int | None, *, vraag_first: str = "Fatima",
                   child: str = "Sem", steun_first: str = "Henk", status: str = "kennismaking",
                   schedule: str = "woensdagmiddag na school, om de week", location: str = "Bij het steungezin thuis",
                   ) -> int:
    with app.app_context():
        use_tenant(gemeente.id)
        ensure_default_support_types(gemeente.id)
        families = []
        for kind, status_family, first in (("vraag", "gekoppeld", vraag_first), ("steun", "gekoppeld", steun_first)):
            family = Family(tenant_id=gemeente.id, kind=kind, status=status_family, postcode="9201 AB", pc4="9201",
                            place="Drachten", referral_source="zelf")
            db.session.add(family)
            db.session.flush()
            db.session.add(FamilyMember(tenant_id=gemeente.id, family_id=family.id, role="volwassene",
                                        first_name=first, last_name="de Vries", birth_year=1985, is_contact=True))
            families.append(family)
        today = local_today()
        db.session.add(FamilyMember(tenant_id=gemeente.id, family_id=families[0].id, role="kind", first_name=child,
                                    birth_date=today - timedelta(days=int(7.5 * 365))))
        koppeling = Koppeling(tenant_id=gemeente.id, vraag_family_id=families[0].id, steun_family_id=families[1].id,
                              coordinator_id=coordinator_id, status=status, proposed_on=today,
                              support_codes=["opvang", "sport_zwemles"], schedule=schedule, location=location)
        db.session.add(koppeling)
        db.session.commit()
        koppeling_id = koppeling.id
        db.session.remove()
    return koppeling_id


@pytest.fixture
def world(app: Flask, two_tenants) -> World:
    gemeente = two_tenants["a"]
    coordinator = two_tenants["a_coordinator"]
    koppeling_id = make_koppeling(app, gemeente, coordinator.id)
    return World(gemeente, koppeling_id, coordinator.email, "Fatima de Vries", "Sem")


DETAILS = {"huisregels": "Geen snoep voor het eten.\nOm half acht naar bed.", "vervoer": "Henk haalt Sem van school.",
           "kosten": "", "bij_problemen": ""}


def make_agreement(app: Flask, gemeente: Gemeente, koppeling_id: int, details: dict | None = None,
                   kind: DocumentKind = DocumentKind.AFSPRAKEN_PROEFPERIODE) -> tuple[int, int]:
    """Make the agreement and commit; returns (document id, render job id)."""
    with app.app_context():
        use_tenant(gemeente.id)
        koppeling = db.session.get(Koppeling, koppeling_id)
        document = create_agreement(koppeling, kind, DETAILS if details is None else details, SYSTEM)
        db.session.commit()
        job_id = render_job_id(document.id)
        ids = document.id, job_id
        db.session.remove()
    return ids


def render_job_id(document_id: int) -> int | None:
    """The first render job of a document (in the current app context and tenant)."""
    return db.session.scalar(select(OutboxJob.id).where(OutboxJob.dedupe_key == f"{RENDER_JOB_KIND}:{document_id}:1"))


def run_render(app: Flask, gemeente: Gemeente, job_id: int) -> JobStatus | None:
    """Run the job as the worker does: the real handler map, in the job's tenant context."""
    with app.app_context():
        use_tenant(gemeente.id)
        status = run_job(job_id, job_handlers(), lease_seconds=60, retry_base_seconds=1)
        db.session.remove()
    return status


def load(app: Flask, gemeente: Gemeente, document_id: int) -> Document:
    with app.app_context():
        use_tenant(gemeente.id)
        document = db.session.get(Document, document_id)
        db.session.expunge(document)
        db.session.remove()
    return document


# --- the national texts --------------------------------------------------------------------------------


def test_default_texts_are_loaded_once_and_pass_their_own_check(app_ctx):
    use_tenant(None)
    ensure_default_templates()
    db.session.commit()
    assert ensure_default_templates() == 0  # idempotent
    for kind in DocumentKind:
        first = template_versions(kind)[-1]
        assert first.version == 1 and first.body == default_body(kind)
        # The default texts render with every value a real document has, and nothing more.
        html = document_html(default_body(kind), sample_context(kind), gemeente="Smallingerland", title=first.title)
        assert "Smallingerland" in html
    assert newest_template(DocumentKind.SAMENWERKING).kind == DocumentKind.SAMENWERKING


ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ vraaggezin.__class__ }}",
    "{{ gemeente|attr('__class__') }}",
    "{{ vraaggezin['__class__'] }}",
    "{{ vraaggezin.pop('naam') }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ config }}",
    "{{ range(10**9)|list }}",
    "{% include '/etc/passwd' %}",
    "{% import 'x' as y %}",
    "{{ gemeente|safe }}",
    "{% autoescape false %}{{ gemeente }}{% endautoescape %}",
    '<link rel="attachment" href="file:///etc/passwd">',
    '<img src="http://127.0.0.1:1/x.png">',
    "<style>@import url(http://127.0.0.1:1/x.css);</style>",
    '<p style="background: url(file:///etc/passwd)">x</p>',
    "{{ vraaggezin.naam ",
]


@pytest.mark.parametrize("body", ESCAPES)
def test_a_text_that_tries_to_escape_the_sandbox_or_load_something_is_refused(app_ctx, body):
    use_tenant(None)
    before = len(template_versions(DocumentKind.AFSPRAKEN_PROEFPERIODE))
    with pytest.raises(TemplateError) as refused:
        save_template_version(DocumentKind.AFSPRAKEN_PROEFPERIODE, "Poging", f"<p>Hallo</p>\n{body}", SYSTEM)
    assert "De tekst kan niet worden gebruikt" in str(refused.value)
    db.session.rollback()
    assert len(template_versions(DocumentKind.AFSPRAKEN_PROEFPERIODE)) == before


def test_the_renderer_refuses_escapes_even_in_a_text_that_was_never_checked():
    for body in ("{{ ''.__class__ }}", "{{ gemeente|attr('__class__') }}", "{% include 'x' %}"):
        with pytest.raises(TemplateCheckError):
            document_html(body, {"gemeente": "A"}, gemeente="A", title="T")


def test_a_good_text_becomes_a_new_version_and_is_audited_nationally(app_ctx):
    use_tenant(None)
    ensure_default_templates()
    kind = DocumentKind.SAMENWERKING
    newest = newest_template(kind)
    admin = Actor(label=f"admin-{uuid.uuid4().hex[:6]}@example.org")
    saved = save_template_version(kind, "Samenwerkingsovereenkomst", newest.body, admin)
    assert saved.version == newest.version + 1
    assert newest_template(kind).id == saved.id
    event = db.session.scalar(select(NationalAuditEvent).where(NationalAuditEvent.actor_label == admin.label))
    assert event.action == "document_template.saved" and event.details["version"] == saved.version
    db.session.rollback()  # other tests keep the texts they had


# --- rendering -----------------------------------------------------------------------------------------


def test_agreement_is_rendered_with_its_values_page_numbers_and_the_bundled_font(app, world):
    document_id, job_id = make_agreement(app, world.gemeente, world.koppeling_id)
    concept = load(app, world.gemeente, document_id)
    assert concept.status == DocumentStatus.CONCEPT and concept.pdf is None
    assert concept.context["kinderen"] == [{"voornaam": "Sem", "leeftijd": 7}]
    assert job_id is not None

    assert run_render(app, world.gemeente, job_id) == JobStatus.DONE
    document = load(app, world.gemeente, document_id)
    assert document.status == DocumentStatus.KLAAR and document.render_error is None
    assert document.sha256 == hashlib.sha256(document.pdf).hexdigest()
    assert document.rendered_at is not None
    text = pdf_text(document.pdf)
    for expected in ("Afsprakenovereenkomst voor de proefperiode", world.vraag_contact, "Henk de Vries",
                     "Sem, 7 jaar", "Opvang een middag of avond", "Brengen naar sport of zwemles",
                     "woensdagmiddag na school", "Geen snoep voor het eten.", "Om half acht naar bed.",
                     "Henk haalt Sem van school.", world.coordinator_email, f"Gemeente {world.gemeente.name}",
                     f"pagina 1 van {page_count(document.pdf)}", "vrijwilliger"):
        assert expected in text, expected
    assert pdf_fonts(document.pdf) <= {FONT, f"{FONT}-Bold", f"{FONT}-Italic"}
    assert FONT in pdf_fonts(document.pdf)

    # Running the job again (a redelivery) changes nothing: the stored PDF and its hash stay.
    with app.app_context():
        use_tenant(world.gemeente.id)
        job = db.session.get(OutboxJob, job_id)
        RENDER_JOB.run(job)
        db.session.commit()
        db.session.remove()
    assert load(app, world.gemeente, document_id).sha256 == document.sha256


def test_family_data_is_data_nothing_is_fetched_from_disk_or_network(app, two_tenants, monkeypatch):
    gemeente = two_tenants["a"]
    hostile = " ".join(HOSTILE)
    koppeling_id = make_koppeling(app, gemeente, two_tenants["a_coordinator"].id, vraag_first=HOSTILE[0],
                                  child=HOSTILE[1], steun_first="{{ 7*7 }}", schedule=hostile, location=HOSTILE[3])
    asked: list[str] = []
    real_static_path = rendering.static_path

    def spy(url: str):
        asked.append(url)
        return real_static_path(url)

    monkeypatch.setattr(rendering, "static_path", spy)
    opened: list[str] = []
    real_bytes = rendering._static_bytes

    def spy_bytes(path):
        opened.append(str(path))
        return real_bytes(path)

    monkeypatch.setattr(rendering, "_static_bytes", spy_bytes)
    details = {"huisregels": hostile, "vervoer": HOSTILE[2], "kosten": HOSTILE[4], "bij_problemen": HOSTILE[0]}
    document_id, job_id = make_agreement(app, gemeente, koppeling_id, details)
    assert run_render(app, gemeente, job_id) == JobStatus.DONE
    document = load(app, gemeente, document_id)
    text = pdf_text(document.pdf)
    normal = re.sub(r"\s+", " ", text)
    for value in HOSTILE:
        assert value in normal, value  # shown as the characters typed
    assert "root:" not in text
    reader = PdfReader(io.BytesIO(document.pdf))
    assert not reader.attachments
    assert all(not page.images for page in reader.pages)
    # The fetcher was asked for nothing but the project's own static files, and read only those.
    assert all(url.startswith(rendering.STATIC_PREFIX) for url in asked), asked
    assert all(path.startswith(str(rendering.STATIC_ROOT)) for path in opened), opened


@pytest.mark.parametrize("markup", [
    '<link rel="attachment" href="file:///etc/passwd">',
    '<img src="http://127.0.0.1:1/x.png">',
    '<img src="data:image/png;base64,iVBORw0KGgo=">',
    '<img src="buurtgezinnen-static:/../../../../etc/passwd.png">',
    '<img src="x.png">',
])
def test_a_stored_text_that_loads_something_fails_to_render_and_reads_nothing(app, world, markup):
    """A text that bypassed the editor's check (written straight into the table): the fetcher refuses
    the URL, the render fails permanently with ``render_error``, and no file is read."""
    # The fetcher on its own: the layout with the markup put in as it is, past every text check.
    fetcher = static_only_fetcher()
    html = rendering._layout_environment().get_template(rendering.LAYOUT).render(
        body=Markup(f"<p>Hallo</p>{markup}"),  # noqa: S704 - the point: unchecked markup
        gemeente="A", title="T", static=rendering.STATIC_PREFIX)
    if markup == '<img src="x.png">':
        # A relative URL has no base to resolve against: WeasyPrint skips it without asking the fetcher.
        reader = PdfReader(io.BytesIO(render_pdf(html, fetcher=fetcher)))
        assert all(not page.images for page in reader.pages)
    else:
        with pytest.raises(RenderError, match="refused URL"):
            render_pdf(html, fetcher=fetcher)
    assert not any(url.startswith(("file:", "http", "data:")) for url in fetcher.served)

    # Through the job: a document made from such a text ends with render_error, and the job is parked.
    with app.app_context():
        use_tenant(world.gemeente.id)
        template = DocumentTemplate(kind=f"test-{uuid.uuid4().hex[:8]}", version=1, title="Onveilig",
                                    body=f"<p>Hallo</p>{markup}", created_by="test")
        db.session.add(template)
        db.session.flush()
        document = Document(tenant_id=world.gemeente.id, kind=DocumentKind.AFSPRAKEN_PROEFPERIODE,
                            template_id=template.id, template_version=1, title="Onveilig",
                            koppeling_id=world.koppeling_id, status=DocumentStatus.CONCEPT, context={})
        db.session.add(document)
        db.session.flush()
        job = OutboxJob(tenant_id=world.gemeente.id, kind=RENDER_JOB_KIND, payload={"document_id": document.id},
                        dedupe_key=f"test:{uuid.uuid4().hex}", status="running", attempts=1, max_attempts=3)
        db.session.add(job)
        db.session.flush()
        # The renderer checks the text again before WeasyPrint sees it, and refuses it.
        with pytest.raises(PermanentJobError, match=r"render failed: .* niet toegestaan"):
            RENDER_JOB.run(job)
        assert document.pdf is None and document.status == DocumentStatus.CONCEPT
        RENDER_JOB.on_failure(job, "PermanentJobError: render failed: niet toegestaan", True)
        assert "render failed" in document.render_error
        db.session.rollback()
        db.session.remove()


def test_same_html_renders_to_the_same_pages_every_time():
    html = document_html(default_body(DocumentKind.AFSPRAKEN_DEFINITIEF),
                         sample_context(DocumentKind.AFSPRAKEN_DEFINITIEF), gemeente="Aalsmeer", title="Afspraken")
    first, second = render_pdf(html), render_pdf(html)
    assert page_count(first) == page_count(second) >= 2
    assert pdf_text(first) == pdf_text(second)
    assert f"pagina {page_count(first)} van {page_count(first)}" in pdf_text(first)


def test_a_render_that_takes_too_long_is_stopped():
    body = "<h1>Lang</h1>{% for n in regels %}<p>Regel {{ n }} met wat tekst om te zetten.</p>{% endfor %}"
    html = document_html(body, {"regels": list(range(4000))}, gemeente="A", title="T")
    with pytest.raises(RenderTimeout):
        render_pdf(html, time_limit=0.05)


def test_contract_document_has_its_term_budget_and_renewal(app, make: Factory):
    gemeente = make.tenant()
    with app.app_context():
        use_tenant(gemeente.id)
        contract = Contract(tenant_id=gemeente.id, starts_on=date(2026, 1, 1), ends_on=date(2027, 12, 31),
                            koppelingen_target=12, budget_eur=66000, contact_name="J. de Wethouder",
                            contact_email="wethouder@gemeente.example.org")
        db.session.add(contract)
        db.session.flush()
        document = create_contract_document(contract, SYSTEM)
        db.session.commit()
        document_id = document.id
        job_id = render_job_id(document_id)
        db.session.remove()
    assert run_render(app, gemeente, job_id) == JobStatus.DONE
    text = re.sub(r"\s+", " ", pdf_text(load(app, gemeente, document_id).pdf))
    for expected in ("Samenwerkingsovereenkomst", gemeente.name, "1 januari 2026", "31 december 2027",
                     "12 koppelingen", "€ 66.000", "€ 5.500", "2 oktober 2027", "J. de Wethouder",
                     "verwerkersafspraken"):
        assert expected in text, expected


# --- making agreements: the rules ---------------------------------------------------------------------


def test_agreement_details_are_bounded_and_the_kind_follows_the_phase(app, world):
    with app.app_context():
        use_tenant(world.gemeente.id)
        koppeling = db.session.get(Koppeling, world.koppeling_id)
        with pytest.raises(DocumentError) as too_long:
            create_agreement(koppeling, DocumentKind.AFSPRAKEN_PROEFPERIODE, {"huisregels": "x" * 2001}, SYSTEM)
        assert too_long.value.field == "huisregels"
        with pytest.raises(DocumentError):
            create_agreement(koppeling, DocumentKind.AFSPRAKEN_DEFINITIEF, {}, SYSTEM)
        with pytest.raises(DocumentError):
            create_agreement(koppeling, DocumentKind.SAMENWERKING, {}, SYSTEM)
        with pytest.raises(DocumentError):
            create_agreement(koppeling, DocumentKind.AFSPRAKEN_PROEFPERIODE, {"huisregels": 12}, SYSTEM)
        assert latest_document(koppeling) is None
        document = create_agreement(koppeling, DocumentKind.AFSPRAKEN_PROEFPERIODE, {}, SYSTEM)
        assert document.template_version == newest_template(DocumentKind.AFSPRAKEN_PROEFPERIODE).version
        action = db.session.scalar(select(AuditEvent.action).where(AuditEvent.object_type == "document",
                                                                   AuditEvent.object_id == document.id))
        assert action == "document.created"
        # Out for signing: a new one cannot replace it.
        document.status = DocumentStatus.VERZONDEN
        with pytest.raises(DocumentError):
            create_agreement(koppeling, DocumentKind.AFSPRAKEN_PROEFPERIODE, {}, SYSTEM)
        db.session.rollback()
        db.session.remove()


# --- the pages -----------------------------------------------------------------------------------------


def test_coordinator_makes_the_agreement_and_previews_the_pdf_other_gemeente_gets_404(app, client, two_tenants, world):
    a = world.gemeente
    login(client, two_tenants["a_coordinator"], f"/{a.slug}")
    page_url = f"/{a.slug}/app/koppelingen/{world.koppeling_id}"
    page = client.get(page_url).get_data(as_text=True)
    assert "Afsprakenovereenkomst" in page and "nog geen afsprakenovereenkomst" in page
    token = csrf_token(client, page_url)
    action = f"/{a.slug}/app/documenten/koppeling/{world.koppeling_id}/afspraken"

    refused = client.post(action, data={"csrf_token": token, "huisregels": "x" * 2001})
    assert refused.status_code == 422
    assert "Hooguit 2000 tekens" in refused.get_data(as_text=True)
    with app.app_context():
        use_tenant(a.id)
        assert db.session.scalar(select(func.count()).select_from(Document)
                                 .where(Document.koppeling_id == world.koppeling_id)) == 0
        db.session.remove()

    made = client.post(action, data={"csrf_token": token, "huisregels": "Schoenen uit in huis."})
    assert made.status_code == 302 and made.headers["Location"].endswith("#afsprakenovereenkomst")
    page = client.get(page_url).get_data(as_text=True)
    assert "wordt gemaakt" in page and "Pagina vernieuwen" in page

    with app.app_context():
        use_tenant(a.id)
        document = db.session.scalar(select(Document).where(Document.koppeling_id == world.koppeling_id))
        document_id = document.id
        job_id = render_job_id(document_id)
        db.session.remove()
    assert run_render(app, a, job_id) == JobStatus.DONE
    page = client.get(page_url).get_data(as_text=True)
    assert "Bekijk de PDF" in page and "klaar om te versturen" in page

    response = client.get(f"/{a.slug}/app/documenten/{document_id}.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("inline;")
    assert "Schoenen uit in huis." in pdf_text(response.data)
    download = client.get(f"/{a.slug}/app/documenten/{document_id}.pdf?download=1")
    assert download.headers["Content-Disposition"].startswith("attachment;")

    # Tenant B's coordinator, on B's own URL: the same 404 as for a document that does not exist.
    b = two_tenants["b"]
    other = app.test_client()
    login(other, two_tenants["b_coordinator"], f"/{b.slug}")
    assert other.get(f"/{b.slug}/app/documenten/{document_id}.pdf").status_code == 404
    assert other.get(f"/{b.slug}/app/documenten/2000000000.pdf").status_code == 404


def test_gemeente_viewer_may_not_see_agreements(app, make: Factory, world):
    viewer = make.user(world.gemeente, TenantRole.GEMEENTE_VIEWER)
    document_id, job_id = make_agreement(app, world.gemeente, world.koppeling_id)
    run_render(app, world.gemeente, job_id)
    client = app.test_client()
    login(client, viewer, f"/{world.gemeente.slug}")
    assert client.get(f"/{world.gemeente.slug}/app/documenten/{document_id}.pdf").status_code == 403


def test_national_admin_edits_texts_a_syntax_error_saves_nothing(app, client, make: Factory):
    admin = make.national_user(NationalRole.NATIONAL_ADMIN)
    login(client, admin, "/landelijk")
    listing = client.get("/landelijk/documentteksten/")
    assert listing.status_code == 200 and "Samenwerkingsovereenkomst met de gemeente" in listing.get_data(as_text=True)
    form_url = "/landelijk/documentteksten/bewerken?soort=samenwerking"
    form = client.get(form_url)
    assert form.status_code == 200 and "{{ contract.koppelingen }}" in form.get_data(as_text=True)
    token = csrf_token(client, form_url)
    with app.app_context():
        before = len(template_versions(DocumentKind.SAMENWERKING))
        body = newest_template(DocumentKind.SAMENWERKING).body
        db.session.remove()

    broken = client.post("/landelijk/documentteksten/bewerken", data={
        "csrf_token": token, "kind": "samenwerking", "title": "Samenwerkingsovereenkomst",
        "body": body + "\n<p>{{ contract.budget|euro </p>"})
    assert broken.status_code == 422
    assert "fout in de sjabloontaal" in broken.get_data(as_text=True)
    escape = client.post("/landelijk/documentteksten/bewerken", data={
        "csrf_token": token, "kind": "samenwerking", "title": "Samenwerkingsovereenkomst",
        "body": body + "\n<p>{{ ''.__class__ }}</p>"})
    assert escape.status_code == 422
    with app.app_context():
        assert len(template_versions(DocumentKind.SAMENWERKING)) == before
        db.session.remove()

    saved = client.post("/landelijk/documentteksten/bewerken", data={
        "csrf_token": token, "kind": "samenwerking", "title": "Samenwerkingsovereenkomst", "body": body})
    assert saved.status_code == 302
    with app.app_context():
        assert len(template_versions(DocumentKind.SAMENWERKING)) == before + 1
        db.session.remove()

    analyst = make.national_user(NationalRole.NATIONAL_ANALYST)
    other = app.test_client()
    login(other, analyst, "/landelijk")
    assert other.get("/landelijk/documentteksten/").status_code == 200
    assert other.get(form_url).status_code == 403


# --- through a real worker ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def worker(settings: Settings) -> Iterator[CeleryProcess]:
    with celery_process(settings) as process:
        yield process


def test_a_real_worker_renders_the_agreement(app, world, worker: CeleryProcess):
    document_id, _ = make_agreement(app, world.gemeente, world.koppeling_id)  # committed: handed to Celery

    def rendered() -> bool:
        return load(app, world.gemeente, document_id).status == DocumentStatus.KLAAR

    wait_until(rendered, seconds=WAIT, message=f"document {document_id} rendered\n{worker.log()}", process=worker)
    document = load(app, world.gemeente, document_id)
    assert document.sha256 == hashlib.sha256(document.pdf).hexdigest()
    assert "Sem, 7 jaar" in pdf_text(document.pdf)
    assert FONT in pdf_fonts(document.pdf)
