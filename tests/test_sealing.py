"""Sealing the final PDF (PAdES, pyHanko), finalising a fully signed document, and the verify page.

The seal is checked with pyHanko's own validator as well as with ``verify_pdf``; one changed byte,
or bytes appended, must make either say "not intact". Finalising runs once through a real Celery
worker with the sealed PDF arriving at an SMTP sink, and in this process where the outbox's retry
behaviour is the point (a time-stamp authority that is down). The verify page is walked with the
test client against documents inserted directly.
"""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from sqlalchemy import create_engine, func, pool, select, text

from config.settings import Settings
from devstack.celery_processes import celery_process, wait_until
from domain.audit.models import AuditEvent
from domain.audit.services import Actor, record
from domain.documents.finalising import FINALISE_JOB_KIND, drawing_svg, final_pdf_attachment
from domain.documents.models import Document, DocumentSigner, DocumentStatus, DocumentTemplate, SealStatus
from domain.documents.rendering import document_html, render_pdf
from domain.documents.sealing import DEMO_SUBJECT, seal_pdf, sha256_hex, signing_material, verify_pdf
from domain.email.models import OutboundEmail
from domain.email.services import AttachmentRef, attachments_of, queue_email
from domain.families.models import Family
from domain.koppelingen.models import Koppeling
from domain.outbox.handlers import job_handlers
from domain.outbox.models import JobStatus, OutboxJob
from domain.outbox.services import enqueue, run_job
from tenants.db import db
from tenants.models import Tenant
from tenants.services import use_tenant
from tests.conftest import Factory, csrf_token, random_ip
from tests.smtp_sink import SmtpSink, smtp_sink  # noqa: F401 - the fixture
from web.app import create_app

T = TypeVar("T")
WAIT = 90
BODY = "<h2>Wat we afspreken</h2><p>{{ afspraak }}</p><p>Plaats: {{ plaats }}</p>"
DRAWING = "M 10 40 L 30 10 L 50 40 C 60 50 70 50 80 40 Q 90 30 100 40"


# --- helpers ----------------------------------------------------------------------------------------


def validate(signature, context):
    """pyHanko's validator in a thread of its own: its synchronous API starts an event loop, which
    fails in a thread where one runs already (after a Playwright test in the same worker)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(validate_pdf_signature, signature, context).result()


def acting(app: Flask, tenant_id: int | None, work: Callable[[], T]) -> T:
    with app.app_context():
        use_tenant(tenant_id)
        try:
            return work()
        finally:
            db.session.rollback()
            db.session.remove()


def address(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}@example.org"


@pytest.fixture(scope="module")
def plain_pdf() -> bytes:
    return render_pdf(document_html(BODY, {"afspraak": "Woensdagmiddag opvang.", "plaats": "Drachten"},
                                    gemeente="Proefdorp", title="Afsprakenovereenkomst"))


@pytest.fixture(scope="module")
def sealed(settings: Settings, plain_pdf: bytes) -> bytes:
    return seal_pdf(plain_pdf, settings=settings, reason="Test", location="Nederland")


def flip(data: bytes, position: int) -> bytes:
    changed = bytearray(data)
    changed[position] ^= 0x01
    return bytes(changed)


@dataclass
class Made:
    document_id: int
    signer_emails: list[str]
    signer_names: list[str]
    title: str


def make_document(app: Flask, make: Factory, gemeente, *, final_pdf: bytes | None = None,
                  seal_status: str = SealStatus.NONE, coordinator_email: str | None = None) -> Made:
    """A document of ``gemeente`` that both parties signed (with audit events), optionally already sealed."""
    title = f"Afsprakenovereenkomst {uuid.uuid4().hex[:6]}"
    names = [f"Vraagouder {uuid.uuid4().hex[:6]}", f"Steunouder {uuid.uuid4().hex[:6]}"]
    emails = [address("vraag"), address("steun")]

    def work() -> Made:
        template = DocumentTemplate(kind="afspraken_proefperiode", version=10_000 + uuid.uuid4().int % 2_000_000_000,
                                    title="Afsprakenovereenkomst proefperiode", body=BODY)
        db.session.add(template)
        db.session.flush()
        koppeling_id = None
        if coordinator_email is not None:
            coordinator = db.session.scalar(text("SELECT id FROM staff_users WHERE email = :e"),
                                            {"e": coordinator_email})
            families = []
            for kind in ("vraag", "steun"):
                family = Family(tenant_id=gemeente.id, kind=kind, status="gekoppeld", postcode="9201 AB", pc4="9201",
                                place="Drachten", referral_source="zelf")
                db.session.add(family)
                families.append(family)
            db.session.flush()
            koppeling = Koppeling(tenant_id=gemeente.id, vraag_family_id=families[0].id,
                                  steun_family_id=families[1].id, coordinator_id=coordinator,
                                  status="kennismaking", proposed_on=date(2026, 6, 15))
            db.session.add(koppeling)
            db.session.flush()
            koppeling_id = koppeling.id
        context = {"afspraak": "Woensdagmiddag opvang <b>na school</b>.", "plaats": "Drachten"}
        pdf = render_pdf(document_html(BODY, context, gemeente=gemeente.name, title=title))
        digest = sha256_hex(pdf)
        signed_at = datetime(2026, 11, 23, 13, 5, tzinfo=UTC)
        document = Document(
            tenant_id=gemeente.id, kind="afspraken_proefperiode", template_id=template.id,
            template_version=template.version, title=title, koppeling_id=koppeling_id,
            status=DocumentStatus.VERZEGELD if final_pdf else DocumentStatus.ONDERTEKEND, context=context,
            pdf=pdf, sha256=digest, rendered_at=signed_at - timedelta(days=2), sent_at=signed_at - timedelta(days=1),
            completed_at=signed_at + timedelta(hours=1), final_pdf=final_pdf,
            final_sha256=sha256_hex(final_pdf) if final_pdf else None, seal_status=seal_status,
            sealed_at=signed_at + timedelta(hours=1, minutes=1) if final_pdf else None,
        )
        db.session.add(document)
        db.session.flush()
        for position, (name, email, role) in enumerate(zip(names, emails, ("vraaggezin", "steungezin"), strict=True)):
            when = signed_at + timedelta(hours=position)
            db.session.add(DocumentSigner(
                tenant_id=gemeente.id, document_id=document.id, position=position, role=role, name=name, email=email,
                token_hash=uuid.uuid4().hex, sent_at=signed_at - timedelta(days=1), opened_at=when,
                identity_checked_at=when, signed_at=when, typed_name=name,
                drawing=DRAWING if position == 0 else '"/><image href="file:///etc/passwd"/>',
                signed_sha256=digest, ip="192.0.2.10", user_agent="Mozilla/5.0 Testbrowser",
            ))
            for action in ("document.sent", "document.opened", "document.identity_checked", "document.signed"):
                record(action, Actor(label=name, ip="192.0.2.10", extra={"user_agent": "Mozilla/5.0 Testbrowser"}),
                       object_type="document", object_id=document.id, details={"sha256": digest})
        db.session.commit()
        return Made(document.id, emails, names, title)

    return acting(app, gemeente.id, work)


def document_row(app: Flask, tenant_id: int, document_id: int) -> dict[str, Any]:
    def work():
        document = db.session.get(Document, document_id)
        return {c.key: getattr(document, c.key) for c in Document.__table__.columns}

    return acting(app, tenant_id, work)


def enqueue_finalise(app: Flask, tenant_id: int, document_id: int) -> int:
    def work() -> int:
        job_id = enqueue(FINALISE_JOB_KIND, {"document_id": document_id}, tenant_id,
                         dedupe_key=f"document-finalise:{document_id}")
        db.session.commit()
        return job_id

    return acting(app, tenant_id, work)


def upload(client: FlaskClient, data: bytes, *, filename: str = "document.pdf", token: str | None = None):
    token = token if token is not None else csrf_token(client, "/verifieer")
    return client.post("/verifieer", data={"csrf_token": token, "pdf": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")


def page_text(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)).split())


# --- the seal ------------------------------------------------------------------------------------------

def test_demo_certificate_is_made_once_and_kept(settings: Settings):
    first = signing_material(settings)
    second = signing_material(settings)
    assert first.fingerprint == second.fingerprint
    assert first.certificate.subject.native["common_name"] == DEMO_SUBJECT
    assert settings.signing_self_signed and settings.signing_cert_file.endswith("var/test/signing/certificate.pem")


def test_pyhanko_validator_reports_the_seal_intact(settings: Settings, sealed: bytes):
    material = signing_material(settings)
    [signature] = PdfFileReader(io.BytesIO(sealed)).embedded_signatures
    status = validate(signature, ValidationContext(trust_roots=[material.certificate]))
    assert status.intact and status.valid and status.trusted
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert status.bottom_line
    assert signature.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"  # PAdES
    assert signature.signer_cert.sha256 == material.certificate.sha256

    verification = verify_pdf(sealed, settings=settings)
    assert verification.ours and verification.intact and verification.verdict == "intact"
    assert verification.sha256 == sha256_hex(sealed)


def test_one_changed_byte_is_reported_altered(settings: Settings, plain_pdf: bytes, sealed: bytes):
    material = signing_material(settings)
    # Inside the signed content (the document itself, in the first signed byte range).
    changed = flip(sealed, len(plain_pdf) // 2)
    [signature] = PdfFileReader(io.BytesIO(changed), strict=False).embedded_signatures
    status = validate(signature, ValidationContext(trust_roots=[material.certificate]))
    assert not status.intact and not status.bottom_line
    verification = verify_pdf(changed, settings=settings)
    assert verification.ours and not verification.intact and verification.verdict == "veranderd"

    # Bytes appended after the seal (an incremental update, or junk): not the file that was sealed.
    appended = sealed + b"\n% een toevoeging\n"
    [signature] = PdfFileReader(io.BytesIO(appended), strict=False).embedded_signatures
    status = validate(signature, ValidationContext(trust_roots=[material.certificate]))
    assert status.coverage != SignatureCoverageLevel.ENTIRE_FILE
    assert verify_pdf(appended, settings=settings).verdict == "veranderd"

    # A byte at the very end (the trailer): the file may not even parse, but it is still ours, altered.
    assert verify_pdf(flip(sealed, len(sealed) - 8), settings=settings).verdict == "veranderd"


def test_a_pdf_without_our_seal_is_not_ours(settings: Settings, plain_pdf: bytes):
    assert verify_pdf(plain_pdf, settings=settings).verdict == "geen"
    assert verify_pdf(b"%PDF-1.7 dit is geen echt bestand", settings=settings).verdict == "geen"


def test_a_tsa_that_is_down_is_a_specific_error(settings: Settings, plain_pdf: bytes):
    from domain.documents.sealing import TimestampUnavailable

    with pytest.raises(TimestampUnavailable, match=r"127\.0\.0\.1:9"):
        seal_pdf(plain_pdf, settings=replace(settings, tsa_url="http://127.0.0.1:9/"), reason="x", location="y")


@pytest.fixture
def local_tsa() -> Iterator[str]:
    """A time-stamp authority on a free localhost port (pyHanko's DummyTimeStamper behind HTTP)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from asn1crypto import keys as asn1_keys
    from asn1crypto import tsp
    from asn1crypto import x509 as asn1_x509
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    from pyhanko.sign.timestamps import DummyTimeStamper

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # pyHanko's dummy TSA is RSA-only
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test-TSA")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
            .sign(key, hashes.SHA256()))
    stamper = DummyTimeStamper(
        tsa_cert=asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
        tsa_key=asn1_keys.PrivateKeyInfo.load(key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            request = tsp.TimeStampReq.load(self.rfile.read(int(self.headers["Content-Length"])))
            answer = stamper.request_tsa_response(request).dump()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/tsr"
    finally:
        server.shutdown()
        server.server_close()


def test_with_a_tsa_configured_the_seal_carries_a_time_stamp(settings: Settings, plain_pdf: bytes, local_tsa: str):
    stamped = seal_pdf(plain_pdf, settings=replace(settings, tsa_url=local_tsa), reason="x", location="y")
    [signature] = PdfFileReader(io.BytesIO(stamped)).embedded_signatures
    status = validate(signature, ValidationContext(trust_roots=[signing_material(settings).certificate]))
    assert status.intact and status.valid and status.timestamp_validity is not None
    assert status.timestamp_validity.intact and status.timestamp_validity.valid
    verification = verify_pdf(stamped, settings=settings)
    assert verification.verdict == "intact"
    assert verification.signed_at == status.timestamp_validity.timestamp
    # Without TSA_URL there is none.
    [unstamped] = PdfFileReader(io.BytesIO(seal_pdf(plain_pdf, settings=settings, reason="x",
                                                    location="y"))).embedded_signatures
    trusting_us = ValidationContext(trust_roots=[signing_material(settings).certificate])
    assert validate(unstamped, trusting_us).timestamp_validity is None


def test_drawn_signatures_pass_only_as_plain_path_data():
    svg = drawing_svg(DRAWING)
    assert svg is not None and f'd="{DRAWING}"' in svg and svg.startswith("<svg")
    assert drawing_svg("M120 340 L560.5 780 L600 800 M1000 2000 L3000 4000") is not None  # the signing pad's
    for bad in ['"/><image href="file:///etc/passwd"/>', "M 1 2 L 3 4 url(http://x)", "M 1 2 L 3",
                "M 1 2 A 1 1 0 0 1 3 4", "<path d='M 1 1'/>", "M 1.2.3 4", "", None, "M " + "1 " * 60_000]:
        assert drawing_svg(bad) is None, bad


# --- the verify page -----------------------------------------------------------------------------------

@pytest.fixture
def gemeente(make: Factory):
    return make.tenant()


def test_the_verify_page_asks_for_a_file(client: FlaskClient):
    response = client.get("/verifieer")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<label class="utrecht-form-label" for="pdf">' in html and 'type="file"' in html
    assert 'enctype="multipart/form-data"' in html and 'name="csrf_token"' in html
    assert "<script" not in html.split("</main>")[0].split("<main")[1]


def test_a_sealed_document_shows_its_signers(app: Flask, client: FlaskClient, make: Factory, gemeente,
                                             sealed: bytes):
    made = make_document(app, make, gemeente, final_pdf=sealed, seal_status=SealStatus.SEALED)
    response = upload(client, sealed)
    assert response.status_code == 200
    body = page_text(response)
    assert "Dit is een verzegeld document van het Buurtgezinnen-platform en het is niet veranderd" in body
    assert gemeente.name in body and made.title in body
    assert "Verzegeld op 23 november 2026" in body
    for name in made.signer_names:
        assert name in body
    assert "Vraaggezin" in body and "Steungezin" in body
    assert "23 november 2026 14:05" in body  # signed_at 13:05 UTC is 14:05 in Amsterdam
    for email in made.signer_emails:  # the function returns names and roles, nothing else
        assert email not in body


def test_a_changed_byte_is_reported_on_the_page(app: Flask, client: FlaskClient, make: Factory, gemeente,
                                                plain_pdf: bytes, sealed: bytes):
    make_document(app, make, gemeente, final_pdf=sealed, seal_status=SealStatus.SEALED)
    response = upload(client, flip(sealed, len(plain_pdf) // 2))
    assert response.status_code == 200
    body = page_text(response)
    assert "Dit document is veranderd na het verzegelen" in body
    assert gemeente.name not in body


def test_an_unrelated_pdf_is_not_a_sealed_document(client: FlaskClient, plain_pdf: bytes):
    body = page_text(upload(client, plain_pdf))
    assert "Dit is geen verzegeld document van dit platform" in body


def test_bad_uploads_get_a_clear_message_and_nothing_is_stored(app: Flask, settings: Settings, client: FlaskClient,
                                                               sealed: bytes):
    engine = create_engine(settings.database_url, poolclass=pool.NullPool)

    def counts() -> tuple[int, int, int]:
        with engine.connect() as connection:
            return tuple(connection.scalar(text(f"SELECT count(*) FROM {table}"))
                         for table in ("documents", "audit_events", "national_audit_events"))

    before = counts()
    response = client.post("/verifieer", data={"csrf_token": csrf_token(client, "/verifieer")},
                           content_type="multipart/form-data")
    assert response.status_code == 422
    assert "Kies het PDF-bestand dat je wilt controleren." in page_text(response)
    assert 'aria-invalid="true"' in response.get_data(as_text=True)

    response = upload(client, b"PK\x03\x04 een zip-bestand", filename="iets.docx")
    assert response.status_code == 422 and "Dit is geen PDF-bestand" in page_text(response)

    response = upload(client, b"%PDF-1.7\n" + b"0" * (10 * 1024 * 1024 + 10))
    assert response.status_code == 413
    assert "Dit bestand is te groot" in page_text(response)

    # Larger than the app-wide 2 MB but under 10 MB is fine here.
    padded = sealed + b"\n" * (3 * 1024 * 1024)
    response = upload(client, padded)
    assert response.status_code == 200 and "veranderd" in page_text(response)

    # Without the CSRF token: refused.
    response = upload(client, sealed, token="nep")
    assert response.status_code == 400
    assert counts() == before
    engine.dispose()


def test_the_verify_function_is_narrow_and_only_finds_sealed_documents(app: Flask, settings: Settings,
                                                                       make: Factory, gemeente, sealed: bytes):
    pending = seal_pdf(render_pdf("<p>Nog niet verzegeld</p>"), settings=settings, reason="x", location="y")
    made = make_document(app, make, gemeente, final_pdf=sealed, seal_status=SealStatus.SEALED)
    make_document(app, make, gemeente, final_pdf=pending, seal_status=SealStatus.PENDING)
    other = make.tenant()

    def as_app_role_without_tenant():
        rows = db.session.execute(text("SELECT * FROM document_by_final_sha256(:d)"),
                                  {"d": sha256_hex(sealed)}).mappings().all()
        not_sealed = db.session.execute(text("SELECT * FROM document_by_final_sha256(:d)"),
                                        {"d": sha256_hex(pending)}).all()
        # The tables themselves stay closed without a tenant: RLS gives nothing.
        direct = db.session.scalar(select(func.count()).select_from(Document))
        return rows, not_sealed, direct

    rows, not_sealed, direct = acting(app, None, as_app_role_without_tenant)
    mine = [row for row in rows if row["title"] == made.title]
    assert len(mine) == 1
    assert set(mine[0].keys()) == {"gemeente", "title", "kind", "completed_at", "sealed_at", "signers"}
    assert mine[0]["gemeente"] == gemeente.name
    assert [set(signer) for signer in mine[0]["signers"]] == [{"name", "role", "signed_at"}] * 2
    assert not_sealed == [] and direct == 0

    # Another gemeente's context does not change what the function answers, nor open the table.
    def as_other_gemeente():
        found = db.session.execute(text("SELECT title FROM document_by_final_sha256(:d)"),
                                   {"d": sha256_hex(sealed)}).scalars().all()
        return made.title in found, db.session.scalar(select(func.count()).select_from(Document))

    assert acting(app, other.id, as_other_gemeente) == (True, 0)


# --- finalising -------------------------------------------------------------------------------------------

def run_inline(app: Flask, tenant_id: int, job_id: int) -> JobStatus | None:
    with app.app_context():
        use_tenant(tenant_id)
        status = run_job(job_id, job_handlers(), lease_seconds=60, retry_base_seconds=1)
        db.session.remove()
    return status


def job_row(app: Flask, tenant_id: int, job_id: int) -> dict[str, Any]:
    return acting(app, tenant_id, lambda: {c.key: getattr(job, c.key) for c in OutboxJob.__table__.columns}
                  if (job := db.session.get(OutboxJob, job_id)) else None)


def test_a_tsa_that_is_down_leaves_the_document_waiting_and_it_is_retried(settings: Settings, make: Factory,
                                                                           gemeente):
    down = create_app(replace(settings, tsa_url="http://127.0.0.1:9/"))
    made = make_document(down, make, gemeente)
    job_id = enqueue_finalise(down, gemeente.id, made.document_id)

    assert run_inline(down, gemeente.id, job_id) == JobStatus.PENDING
    row = document_row(down, gemeente.id, made.document_id)
    assert row["seal_status"] == SealStatus.PENDING and "TimestampUnavailable" in row["seal_error"]
    assert row["final_pdf"] is None and row["status"] == DocumentStatus.ONDERTEKEND
    job = job_row(down, gemeente.id, job_id)
    assert job["status"] == JobStatus.PENDING and job["attempts"] == 1 and job["due_at"] > datetime.now(UTC)
    assert run_inline(down, gemeente.id, job_id) is None  # not due yet: not lost, not hammered either

    # The TSA is back (here: not configured) and the job comes due: sealed on the retry.
    up = create_app(settings)
    acting(up, gemeente.id, lambda: (db.session.execute(
        text("UPDATE outbox_jobs SET due_at = now() WHERE id = :j"), {"j": job_id}), db.session.commit()))
    assert run_inline(up, gemeente.id, job_id) == JobStatus.DONE
    row = document_row(up, gemeente.id, made.document_id)
    assert row["seal_status"] == SealStatus.SEALED and row["seal_error"] is None
    assert row["status"] == DocumentStatus.VERZEGELD
    assert verify_pdf(row["final_pdf"], settings=settings).verdict == "intact"
    for engine_app in (down, up):
        with engine_app.app_context():
            db.engine.dispose()


def test_a_document_not_signed_by_everyone_is_not_sealed(app: Flask, make: Factory, gemeente):
    made = make_document(app, make, gemeente)
    acting(app, gemeente.id, lambda: (db.session.execute(
        text("UPDATE document_signers SET signed_at = NULL WHERE document_id = :d AND position = 1"),
        {"d": made.document_id}), db.session.commit()))
    job_id = enqueue_finalise(app, gemeente.id, made.document_id)
    assert run_inline(app, gemeente.id, job_id) == JobStatus.FAILED  # permanent: no retries
    row = document_row(app, gemeente.id, made.document_id)
    assert row["seal_status"] == SealStatus.FAILED and "not every party has signed" in row["seal_error"]
    assert row["final_pdf"] is None


def test_attachment_references_are_checked_and_resolved_in_the_tenant(app: Flask, make: Factory, gemeente,
                                                                       sealed: bytes):
    made = make_document(app, make, gemeente, final_pdf=sealed, seal_status=SealStatus.SEALED)
    other = make.tenant()

    def queue_checks() -> None:
        tenant = db.session.get(Tenant, gemeente.id)
        with pytest.raises(ValueError, match="unknown attachment reference"):
            queue_email(tenant, to=address("x"), template="document_sealed", dedupe_key=uuid.uuid4().hex,
                        context={"name": "x", "title": "t", "sealed_on": "", "verify_url": ""},
                        attachments=[AttachmentRef("file", 1, "passwd.pdf")])
        with pytest.raises(ValueError, match="plain file name"):
            queue_email(tenant, to=address("x"), template="document_sealed", dedupe_key=uuid.uuid4().hex,
                        context={"name": "x", "title": "t", "sealed_on": "", "verify_url": ""},
                        attachments=[AttachmentRef("document_pdf", made.document_id, "../x.pdf")])
        email = queue_email(tenant, to=address("x"), template="document_sealed", dedupe_key=uuid.uuid4().hex,
                            context={"name": "x", "title": "t", "sealed_on": "", "verify_url": ""},
                            attachments=[AttachmentRef("document_pdf", made.document_id, "a.pdf")])
        db.session.flush()
        stored = db.session.get(OutboundEmail, email.id).context["_attachments"]
        assert stored == [{"kind": "document_pdf", "object_id": made.document_id, "filename": "a.pdf"}]
        [attachment] = attachments_of(email.context)
        assert attachment.mime_type == "application/pdf" and attachment.content == sealed

    acting(app, gemeente.id, queue_checks)
    # In another gemeente's context the same reference resolves to nothing (RLS).
    assert acting(app, other.id, lambda: final_pdf_attachment(made.document_id, "a.pdf")) is None


@pytest.fixture
def worker_stack(settings: Settings, smtp_sink: SmtpSink) -> Iterator[tuple[Flask, Settings]]:  # noqa: F811
    material = signing_material(settings)  # the demo pair exists before the worker reads its settings
    assert material
    those = replace(settings, smtp_host="127.0.0.1", smtp_port=smtp_sink.port, mail_backend="smtp",
                    smtp_timeout_seconds=20, outbox_retry_base_seconds=1, outbox_lease_seconds=60,
                    outbox_sweep_seconds=1, redis_namespace=f"{settings.redis_namespace}-s{uuid.uuid4().hex[:6]}")
    app = create_app(those)
    with ExitStack() as stack:
        # The same certificate files as this process, wherever the worker's working directory is.
        env = {"SIGNING_CERT_FILE": settings.signing_cert_file, "SIGNING_KEY_FILE": settings.signing_key_file}
        stack.enter_context(celery_process(those, **env))
        stack.enter_context(celery_process(those, "beat"))
        yield app, those
    with app.app_context():
        db.engine.dispose()


def test_finalising_seals_stores_and_mails_the_final_pdf(worker_stack, make: Factory, gemeente,
                                                         smtp_sink: SmtpSink, client: FlaskClient):  # noqa: F811
    app, those = worker_stack
    coordinator = make.user(gemeente)
    made = make_document(app, make, gemeente, coordinator_email=coordinator.email)
    enqueue_finalise(app, gemeente.id, made.document_id)

    recipients = [*made.signer_emails, coordinator.email]
    wait_until(lambda: all(smtp_sink.messages_to(to) for to in recipients), seconds=WAIT,
               message="the sealed PDF at every party")
    row = document_row(app, gemeente.id, made.document_id)
    assert row["seal_status"] == SealStatus.SEALED and row["status"] == DocumentStatus.VERZEGELD
    assert row["final_sha256"] == sha256_hex(row["final_pdf"]) and row["sealed_at"] is not None
    final_pdf = bytes(row["final_pdf"])

    for to in recipients:
        [message] = smtp_sink.messages_to(to)
        assert str(message["Subject"]).strip() == f"Ondertekend en verzegeld: {made.title}"
        [pdf_part] = [part for part in message.walk() if part.get_content_type() == "application/pdf"]
        assert pdf_part.get_content() == final_pdf
        assert pdf_part.get_filename().endswith("-verzegeld.pdf")

    # The final PDF: sealed by us, intact, longer than the document (signature page, audit trail),
    # with the PDF exactly as signed inside it.
    assert verify_pdf(final_pdf, settings=those).verdict == "intact"
    reader = PdfFileReader(io.BytesIO(final_pdf))
    original = bytes(row["pdf"])
    assert len(reader.root["/Pages"]["/Kids"]) > len(PdfFileReader(io.BytesIO(original)).root["/Pages"]["/Kids"])
    names = reader.root["/Names"]["/EmbeddedFiles"]["/Names"]
    spec = names[1].get_object()
    assert spec["/EF"]["/F"].get_object().data == original

    # The mails carried a reference, never the PDF's bytes.
    def stored_contexts():
        return [email.context for email in db.session.scalars(select(OutboundEmail).where(
            OutboundEmail.template == "document_sealed"))]

    for context in acting(app, gemeente.id, stored_contexts):
        assert context["_attachments"][0]["kind"] == "document_pdf"
        assert "content" not in context["_attachments"][0]
    sealed_events = acting(app, gemeente.id, lambda: db.session.scalar(select(func.count()).select_from(AuditEvent)
                                                                       .where(AuditEvent.action == "document.sealed")))
    assert sealed_events == 1

    # And the verify page accepts it.
    client.environ_base["REMOTE_ADDR"] = random_ip()
    body = page_text(upload(client, final_pdf))
    assert "Dit is een verzegeld document van het Buurtgezinnen-platform en het is niet veranderd" in body
    assert all(name in body for name in made.signer_names)
