"""Signing without an account: sending (in parallel or in order) with working single-use links, the
identity check (date of birth; an e-mailed code with expiry and an attempt limit), signing with the
tick and the typed name, the audit trail (IP, user agent, document hash), reused, expired and
foreign links that sign nothing, a changed document refused, declining, reminders every 7 days
with rotated links (exactly once per period), the ``document.finalise`` job exactly once, the
drawing field, and "Hier laten ondertekenen" on the koppeling page."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from sqlalchemy import func, select

from domain.audit.models import AuditEvent
from domain.audit.services import Actor
from domain.documents import signing
from domain.documents.models import Contract, Document, DocumentKind, DocumentSigner, DocumentStatus
from domain.documents.signing import (
    CHANGED,
    CODE_TEMPLATE,
    DECLINED_TEMPLATE,
    REMINDER_TEMPLATE,
    REQUEST_TEMPLATE,
    STOPPED_TEMPLATE,
    IdentityError,
    Party,
    SigningError,
    SigningFormError,
    SigningLinkError,
    check_identity,
    check_link,
    clean_drawing,
    decline,
    default_parties,
    open_link,
    send_code,
    send_for_signing,
    sign,
)
from domain.email.models import OutboundEmail
from domain.families.models import Family
from domain.koppelingen.models import Koppeling
from domain.outbox.models import OutboxJob
from domain.sweeps import SWEEPS
from domain.sweeps.document_reminders import DOCUMENT_REMINDERS
from tenants.db import db
from tenants.models import Tenant
from tests.conftest import csrf_token, login, random_ip
from tests.signing_helpers import add_document, make_document, tiny_pdf
from tests.test_family_records import make_family
from tests.test_vog import TODAY, in_tenant
from worker.schedule import beat_schedule

UA = "Mozilla/5.0 (Testbrowser; ondertekenen)"
IP = "10.1.2.3"
VRAAG_BORN = date(1985, 4, 12)
STEUN_BORN = date(1970, 9, 3)
SENDER = Actor(id=None, label="coordinator@example.org", ip="10.9.9.9", extra={"user_agent": "Staff browser"})


@pytest.fixture
def gemeente(make):
    return make.tenant()


@dataclass
class Case:
    koppeling_id: int
    document_id: int
    vraag_id: int
    steun_id: int


def case(app, gemeente, *, coordinator_id: int | None = None, vraag_born=VRAAG_BORN, steun_born=STEUN_BORN,
         steun_email: bool = True) -> Case:
    vraag = make_family(app, gemeente, status="wachtend", adults=(("Anna", "Jansen", vraag_born),))
    steun = make_family(app, gemeente, kind="steun", status="beschikbaar", adults=(("Piet", "Visser", steun_born),))

    def add():
        if not steun_email:
            db.session.get(Family, steun).email = None
        koppeling = Koppeling(tenant_id=gemeente.id, vraag_family_id=vraag, steun_family_id=steun,
                              status="kennismaking", proposed_on=TODAY, coordinator_id=coordinator_id,
                              vraag_agreed_on=TODAY, steun_agreed_on=TODAY)
        db.session.add(koppeling)
        db.session.flush()
        document = add_document(gemeente.id, koppeling_id=koppeling.id)
        db.session.commit()
        return Case(koppeling.id, document.id, vraag, steun)
    return in_tenant(app, gemeente, add)


def step(app, gemeente, fn):
    """``fn`` in the tenant and a fresh transaction: committed, or rolled back and re-raised. A wrong
    identity answer is committed too (the failed attempt counts), as the page does."""
    def body():
        try:
            result = fn()
        except IdentityError:
            db.session.commit()
            raise
        except Exception:
            db.session.rollback()
            raise
        db.session.commit()
        return result
    return in_tenant(app, gemeente, body)


def tenant_of(gemeente) -> Tenant:
    return db.session.get(Tenant, gemeente.id)


def send(app, gemeente, document_id, order="parallel", *, now=None, parties=None) -> list[int]:
    def go():
        document = db.session.get(Document, document_id)
        chosen = parties if parties is not None else default_parties(document)
        return [s.id for s in send_for_signing(document, chosen, order, SENDER, now=now)]
    return step(app, gemeente, go)


def mails(app, gemeente, template: str) -> list[OutboundEmail]:
    def read():
        rows = list(db.session.scalars(select(OutboundEmail).where(OutboundEmail.template == template)
                                       .order_by(OutboundEmail.id)))
        db.session.expunge_all()
        return rows
    return in_tenant(app, gemeente, read)


def links(app, gemeente, template: str = REQUEST_TEMPLATE) -> dict[str, str]:
    """The newest link per signer name, as a path (``/<slug>/ondertekenen/<token>``)."""
    return {m.context["name"]: urlsplit(m.context["link"]).path for m in mails(app, gemeente, template)}


def raw(path: str) -> str:
    return path.rsplit("/", 1)[1]


def signer_for(gemeente, path: str, now=None) -> DocumentSigner:
    return check_link(tenant_of(gemeente), raw(path), now=now)


def verify(app, gemeente, path: str, answer, now=None):
    step(app, gemeente, lambda: check_identity(signer_for(gemeente, path, now), answer, IP, UA, now=now))


def sign_with(app, gemeente, path: str, name: str, *, agreed=True, drawing=None, now=None):
    return step(app, gemeente, lambda: sign(signer_for(gemeente, path, now), name, agreed, drawing, IP, UA,
                                            now=now).id)


def document_row(app, gemeente, document_id) -> Document:
    def read():
        document = db.session.get(Document, document_id)
        db.session.expunge(document)
        return document
    return in_tenant(app, gemeente, read)


def events(app, gemeente, document_id) -> list[AuditEvent]:
    def read():
        rows = list(db.session.scalars(select(AuditEvent).where(AuditEvent.object_type == "document",
                                                                AuditEvent.object_id == document_id)
                                       .order_by(AuditEvent.id)))
        db.session.expunge_all()
        return rows
    return in_tenant(app, gemeente, read)


def finalise_jobs(app, gemeente, document_id) -> int:
    return in_tenant(app, gemeente, lambda: db.session.scalar(
        select(func.count()).select_from(OutboxJob)
        .where(OutboxJob.kind == "document.finalise", OutboxJob.payload["document_id"].as_integer() == document_id)))


def browser(app):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = random_ip()
    client.environ_base["HTTP_USER_AGENT"] = UA
    return client


# --- sending ---------------------------------------------------------------------------------------------------


def test_sending_creates_signers_and_mails_with_working_links(app, gemeente):
    c = case(app, gemeente)
    signer_ids = send(app, gemeente, c.document_id)
    assert len(signer_ids) == 2
    document = document_row(app, gemeente, c.document_id)
    assert document.status == DocumentStatus.VERZONDEN and document.sent_at is not None
    assert document.signing_order == "parallel"
    found = links(app, gemeente)
    assert set(found) == {"Anna Jansen", "Piet Visser"}
    for path in found.values():
        assert path.startswith(f"/{gemeente.slug}/ondertekenen/") and len(raw(path)) >= 40
        page = browser(app).get(path)
        assert page.status_code == 200
        assert "Wat is je geboortedatum?" in page.get_data(as_text=True)
    signers = in_tenant(app, gemeente, lambda: [(s.role, s.name, s.sent_at is not None, s.expires_at - s.sent_at,
                                                 s.token_hash not in found.values())
                                                for s in db.session.scalars(select(DocumentSigner)
                                                                            .order_by(DocumentSigner.position))])
    assert signers == [("vraaggezin", "Anna Jansen", True, timedelta(days=14), True),
                       ("steungezin", "Piet Visser", True, timedelta(days=14), True)]
    # Only hashes are stored: no raw token in the signer rows.
    hashes = in_tenant(app, gemeente, lambda: set(db.session.scalars(select(DocumentSigner.token_hash))))
    assert {hashlib.sha256(raw(p).encode()).hexdigest() for p in found.values()} == hashes
    sent = [e for e in events(app, gemeente, c.document_id) if e.action == "document.sent"]
    assert len(sent) == 1 and sent[0].details["sha256"] == document.sha256
    # Sending twice is refused and changes nothing.
    with pytest.raises(SigningError):
        send(app, gemeente, c.document_id)
    assert len(mails(app, gemeente, REQUEST_TEMPLATE)) == 2


def test_only_a_ready_document_with_its_own_pdf_can_be_sent(app, gemeente):
    c = case(app, gemeente)
    concept = make_document(app, gemeente, c.koppeling_id, status=DocumentStatus.CONCEPT)
    with pytest.raises(SigningError, match="klaar"):
        send(app, gemeente, concept)

    def tamper():
        db.session.get(Document, c.document_id).pdf = tiny_pdf("Iets anders")
    step(app, gemeente, tamper)
    with pytest.raises(SigningError, match="SHA-256"):
        send(app, gemeente, c.document_id)
    with pytest.raises(SigningError, match="tegelijk"):
        send(app, gemeente, make_document(app, gemeente, c.koppeling_id), order="door elkaar")
    assert mails(app, gemeente, REQUEST_TEMPLATE) == []


def test_in_volgorde_only_the_first_gets_a_link_and_the_next_when_the_first_signed(app, gemeente):
    c = case(app, gemeente)
    send(app, gemeente, c.document_id, "volgorde")
    assert set(links(app, gemeente)) == {"Anna Jansen"}
    waiting = in_tenant(app, gemeente, lambda: db.session.scalar(
        select(DocumentSigner).where(DocumentSigner.position == 1)).token_hash)
    assert waiting is None
    first = links(app, gemeente)["Anna Jansen"]
    verify(app, gemeente, first, VRAAG_BORN)
    sign_with(app, gemeente, first, "Anna Jansen")
    assert set(links(app, gemeente)) == {"Anna Jansen", "Piet Visser"}
    assert document_row(app, gemeente, c.document_id).status == DocumentStatus.VERZONDEN
    second = links(app, gemeente)["Piet Visser"]
    verify(app, gemeente, second, STEUN_BORN)
    sign_with(app, gemeente, second, "Piet Visser")
    assert document_row(app, gemeente, c.document_id).status == DocumentStatus.ONDERTEKEND


# --- identity -------------------------------------------------------------------------------------------------------


def test_a_wrong_date_of_birth_is_refused_and_five_lock_the_link(app, gemeente):
    c = case(app, gemeente)
    send(app, gemeente, c.document_id)
    path = links(app, gemeente)["Anna Jansen"]
    with pytest.raises(SigningFormError):
        verify(app, gemeente, path, None)  # empty: not counted
    for _ in range(signing.MAX_ATTEMPTS - 1):
        with pytest.raises(IdentityError, match="klopt niet"):
            verify(app, gemeente, path, date(1985, 4, 13))
    # Without the identity, signing is refused.
    with pytest.raises(SigningError, match="Bevestig eerst"):
        sign_with(app, gemeente, path, "Anna Jansen")
    with pytest.raises(IdentityError, match="te vaak"):
        verify(app, gemeente, path, date(1985, 4, 14))
    with pytest.raises(SigningLinkError) as error:
        verify(app, gemeente, path, VRAAG_BORN)
    assert error.value.reason == "locked"
    assert browser(app).get(path).status_code == 410
    # The coordinator sends a new link: it works with the right date.
    step(app, gemeente, lambda: signing.resend_link(db.session.get(Document, c.document_id),
                                                    signer_for_name("Anna Jansen"), SENDER))
    fresh = links(app, gemeente)["Anna Jansen"]
    assert fresh != path
    verify(app, gemeente, fresh, VRAAG_BORN)


def signer_for_name(name: str) -> DocumentSigner:
    return db.session.scalar(select(DocumentSigner).where(DocumentSigner.name == name))


def test_a_family_adult_without_a_known_date_of_birth_must_sign_in_person(app, gemeente):
    c = case(app, gemeente, vraag_born=1985)  # only the year is known
    send(app, gemeente, c.document_id)
    path = links(app, gemeente)["Anna Jansen"]
    with pytest.raises(SigningFormError, match="coördinator"):
        verify(app, gemeente, path, date(1985, 1, 1))
    page = browser(app).get(path).get_data(as_text=True)
    assert "We kennen je geboortedatum niet" in page and 'name="day"' not in page


def samenwerking(app, gemeente) -> int:
    def add():
        contract = Contract(tenant_id=gemeente.id, starts_on=TODAY, ends_on=TODAY + timedelta(days=730),
                            koppelingen_target=20, budget_eur=110000, contact_name="Wethouder de Vries",
                            contact_email="wethouder@gemeente.example.org")
        db.session.add(contract)
        db.session.flush()
        document = add_document(gemeente.id, contract_id=contract.id, kind=DocumentKind.SAMENWERKING,
                                title="Samenwerkingsovereenkomst")
        db.session.commit()
        return document.id
    return in_tenant(app, gemeente, add)


def code_of(app, gemeente) -> str:
    return mails(app, gemeente, CODE_TEMPLATE)[-1].context["code"]


def test_gemeente_signers_confirm_with_an_emailed_code_that_expires_and_has_an_attempt_limit(app, gemeente):
    document_id = samenwerking(app, gemeente)
    stichting = Party("stichting", "Directeur Buurtgezinnen", "directeur@buurtgezinnen.example.org")
    parties = in_tenant(app, gemeente, lambda: default_parties(db.session.get(Document, document_id),
                                                               stichting=stichting))
    assert [(p.role, p.name) for p in parties] == [("gemeente", "Wethouder de Vries"),
                                                   ("stichting", "Directeur Buurtgezinnen")]
    start = datetime.now(UTC)
    send(app, gemeente, document_id, parties=parties, now=start)
    path = links(app, gemeente)["Wethouder de Vries"]
    assert "Stuur mij een code" in browser(app).get(path).get_data(as_text=True)
    with pytest.raises(SigningFormError, match="Vraag eerst een code"):
        verify(app, gemeente, path, "123456", now=start)
    step(app, gemeente, lambda: send_code(signer_for(gemeente, path), IP, UA, now=start))
    code = code_of(app, gemeente)
    assert re.fullmatch(r"\d{6}", code)
    stored = in_tenant(app, gemeente, lambda: signer_for(gemeente, path).code_hash)
    assert stored and code not in stored
    # Expired after 15 minutes.
    with pytest.raises(SigningFormError, match="verlopen"):
        verify(app, gemeente, path, code, now=start + timedelta(minutes=16))
    # Five wrong codes, then even the right one needs a new code.
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    for _ in range(signing.MAX_ATTEMPTS):
        with pytest.raises(IdentityError):
            verify(app, gemeente, path, wrong, now=start)
    with pytest.raises(SigningFormError, match="nieuwe code"):
        verify(app, gemeente, path, code, now=start)
    step(app, gemeente, lambda: send_code(signer_for(gemeente, path), IP, UA, now=start + timedelta(minutes=1)))
    fresh = code_of(app, gemeente)
    verify(app, gemeente, path, f" {fresh[:3]} {fresh[3:]} ", now=start + timedelta(minutes=2))
    sign_with(app, gemeente, path, "wethouder DE  vries", now=start + timedelta(minutes=3))
    actions = [e.action for e in events(app, gemeente, document_id)]
    assert actions.count("document.code_sent") == 2 and actions.count("document.identity_failed") == 5


# --- signing through the pages, and the audit trail -----------------------------------------------------------------


def identity_form(client, path, born: date):
    return client.post(path, data={"csrf_token": csrf_token(client, path), "step": "geboortedatum",
                                   "day": str(born.day), "month": str(born.month), "year": str(born.year)})


def test_signing_through_the_pages_with_tick_and_typed_name_and_the_audit_trail(app, gemeente):
    c = case(app, gemeente)
    send(app, gemeente, c.document_id)
    path = links(app, gemeente)["Anna Jansen"]
    client = browser(app)
    ip = client.environ_base["REMOTE_ADDR"]
    # The PDF is not shown before the identity check.
    assert client.get(f"{path}/document.pdf").status_code == 403
    response = identity_form(client, path, date(1985, 4, 13))
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert re.search(r'id="birth_date-error">\s*<p class="utrecht-paragraph">Deze geboortedatum klopt niet', body)
    assert identity_form(client, path, VRAAG_BORN).status_code == 303
    page = client.get(path).get_data(as_text=True)
    assert f'<iframe class="signing-pdf" src="{path}/document.pdf"' in page
    assert "Ik heb het document gelezen en ga akkoord" in page and "Typ je naam zoals hier: Anna Jansen" in page
    assert "js/signature-pad.js" in page and "<script>" not in page
    pdf = client.get(f"{path}/document.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data == tiny_pdf() and "frame-ancestors 'self'" in pdf.headers["Content-Security-Policy"]
    assert pdf.headers["X-Frame-Options"] == "SAMEORIGIN" and pdf.headers["Cache-Control"] == "no-store"
    token = csrf_token(client, path)
    # Without the tick, and with another name: refused, next to the fields, nothing signed.
    response = client.post(f"{path}/ondertekenen", data={"csrf_token": token, "typed_name": "Piet Visser"})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert 'id="agreed-error"' in body and 'id="typed_name-error"' in body
    response = client.post(f"{path}/ondertekenen", data={"csrf_token": token, "agreed": "ja",
                                                          "typed_name": "  anna   JANSEN ", "drawing": "M10 10 L20 25"})
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/{gemeente.slug}/ondertekenen/klaar")
    assert "je hebt ondertekend" in client.get(response.headers["Location"]).get_data(as_text=True)
    document = document_row(app, gemeente, c.document_id)
    signer = in_tenant(app, gemeente, lambda: signer_for_name("Anna Jansen"))
    assert signer.signed_at and signer.typed_name == "anna JANSEN" and signer.drawing == "M10 10 L20 25"
    assert (signer.signed_sha256, str(signer.ip), signer.user_agent) == (document.sha256, ip, UA)
    trail = [(e.action, e.details) for e in events(app, gemeente, c.document_id)
             if e.details.get("signer_id") == signer.id]
    assert [action for action, _ in trail] == ["document.link_sent", "document.opened", "document.identity_failed",
                                               "document.identity_checked", "document.signed"]
    for action, details in trail[1:]:
        assert details["sha256"] == document.sha256, action
        assert details["ip"] == ip and details["user_agent"] == UA and details["role"] == "vraaggezin", action
    # The link is used: a clear page, nothing signed again.
    again = client.get(path)
    assert again.status_code == 410 and "al ondertekend" in again.get_data(as_text=True)
    response = client.post(f"{path}/ondertekenen", data={"csrf_token": token, "agreed": "ja",
                                                          "typed_name": "Anna Jansen"})
    assert response.status_code == 410
    assert in_tenant(app, gemeente, lambda: signer_for_name("Anna Jansen").signed_at) == signer.signed_at


def test_an_expired_link_signs_nothing(app, gemeente):
    c = case(app, gemeente)
    start = datetime.now(UTC)
    send(app, gemeente, c.document_id, now=start - timedelta(days=15))
    path = links(app, gemeente)["Anna Jansen"]
    with pytest.raises(SigningLinkError) as error:
        in_tenant(app, gemeente, lambda: open_link(tenant_of(gemeente), raw(path), IP, UA))
    assert error.value.reason == "expired"
    client = browser(app)
    response = client.get(path)
    assert response.status_code == 410 and "verlopen" in response.get_data(as_text=True)
    response = client.post(f"{path}/ondertekenen", data={"csrf_token": csrf_token(client, f"/{gemeente.slug}/"),
                                                          "agreed": "ja", "typed_name": "Anna Jansen"})
    assert response.status_code == 410
    assert in_tenant(app, gemeente, lambda: signer_for_name("Anna Jansen").opened_at) is None
    assert document_row(app, gemeente, c.document_id).status == DocumentStatus.VERZONDEN


def test_a_link_of_one_gemeente_under_another_slug_is_not_found(app, gemeente, make):
    other = make.tenant()
    c = case(app, gemeente)
    send(app, gemeente, c.document_id)
    path = links(app, gemeente)["Anna Jansen"]
    foreign = path.replace(f"/{gemeente.slug}/", f"/{other.slug}/", 1)
    client = browser(app)
    assert client.get(foreign).status_code == 404
    assert client.get(f"{foreign}/document.pdf").status_code == 404
    token = csrf_token(client, f"/{other.slug}/")
    for suffix, data in (("", {"step": "geboortedatum", "day": "12", "month": "4", "year": "1985"}),
                         ("/ondertekenen", {"agreed": "ja", "typed_name": "Anna Jansen"}),
                         ("/weigeren", {"reason": "Nee"})):
        assert client.post(foreign + suffix, data={"csrf_token": token, **data}).status_code == 404
    with pytest.raises(SigningLinkError) as error:
        in_tenant(app, other, lambda: check_link(db.session.get(Tenant, other.id), raw(path)))
    assert error.value.reason == "unknown"
    assert in_tenant(app, gemeente, lambda: signer_for_name("Anna Jansen").opened_at) is None


def test_a_document_that_changed_since_sending_cannot_be_signed(app, gemeente):
    c = case(app, gemeente)
    send(app, gemeente, c.document_id)
    path = links(app, gemeente)["Anna Jansen"]
    verify(app, gemeente, path, VRAAG_BORN)

    def rerender():  # a new PDF with its own (consistent) hash
        document = db.session.get(Document, c.document_id)
        document.pdf = tiny_pdf("Andere afspraken")
        document.sha256 = hashlib.sha256(document.pdf).hexdigest()
    step(app, gemeente, rerender)
    with pytest.raises(SigningError, match="Het document is veranderd sinds het verstuurd is"):
        sign_with(app, gemeente, path, "Anna Jansen")

    def only_bytes():  # the old hash back, but other bytes
        document = db.session.get(Document, c.document_id)
        document.sha256 = hashlib.sha256(tiny_pdf()).hexdigest()
    step(app, gemeente, only_bytes)
    with pytest.raises(SigningError, match="veranderd"):
        sign_with(app, gemeente, path, "Anna Jansen")
    # Through the page: the message, and nothing signed.
    client = browser(app)
    identity_form(client, path, VRAAG_BORN)
    response = client.post(f"{path}/ondertekenen", data={"csrf_token": csrf_token(client, path), "agreed": "ja",
                                                          "typed_name": "Anna Jansen"})
    assert response.status_code == 409 and CHANGED[:40] in response.get_data(as_text=True)
    assert in_tenant(app, gemeente, lambda: signer_for_name("Anna Jansen").signed_at) is None


def test_declining_stops_the_document_and_tells_the_coordinator_and_the_others(app, gemeente, make):
    coordinator = make.user(gemeente)
    c = case(app, gemeente, coordinator_id=coordinator.id)
    send(app, gemeente, c.document_id)
    paths = links(app, gemeente)
    verify(app, gemeente, paths["Piet Visser"], STEUN_BORN)
    with pytest.raises(SigningFormError):
        step(app, gemeente, lambda: decline(signer_for(gemeente, paths["Piet Visser"]), "  ", IP, UA))
    step(app, gemeente, lambda: decline(signer_for(gemeente, paths["Piet Visser"]),
                                        "Het woensdagmiddag past ons toch niet.", IP, UA))
    assert document_row(app, gemeente, c.document_id).status == DocumentStatus.GEWEIGERD
    to_staff = mails(app, gemeente, DECLINED_TEMPLATE)
    assert [(m.to_address, m.context["reason"]) for m in to_staff] == [
        (coordinator.email, "Het woensdagmiddag past ons toch niet.")]
    assert [m.context["name"] for m in mails(app, gemeente, STOPPED_TEMPLATE)] == ["Anna Jansen"]
    response = browser(app).get(paths["Anna Jansen"])
    assert response.status_code == 410 and "geweigerd" in response.get_data(as_text=True)
    with pytest.raises(SigningLinkError):
        verify(app, gemeente, paths["Anna Jansen"], VRAAG_BORN)
    assert finalise_jobs(app, gemeente, c.document_id) == 0
    assert "document.declined" in [e.action for e in events(app, gemeente, c.document_id)]


def test_when_all_signed_the_document_is_complete_and_finalise_is_enqueued_once(app, gemeente):
    c = case(app, gemeente)
    send(app, gemeente, c.document_id)
    paths = links(app, gemeente)
    for name, born in (("Anna Jansen", VRAAG_BORN), ("Piet Visser", STEUN_BORN)):
        verify(app, gemeente, paths[name], born)
    sign_with(app, gemeente, paths["Anna Jansen"], "Anna Jansen")
    assert finalise_jobs(app, gemeente, c.document_id) == 0
    sign_with(app, gemeente, paths["Piet Visser"], "Piet Visser")
    document = document_row(app, gemeente, c.document_id)
    assert document.status == DocumentStatus.ONDERTEKEND and document.completed_at is not None
    assert finalise_jobs(app, gemeente, c.document_id) == 1
    with pytest.raises(SigningLinkError):
        sign_with(app, gemeente, paths["Piet Visser"], "Piet Visser")
    assert finalise_jobs(app, gemeente, c.document_id) == 1


@pytest.mark.parametrize("drawing", [
    "<path d='M0 0'/>", "M10 10 L20 20 Z", "M10 10 L20 20 C1 2 3 4 5 6", "M10,10 L20,20", "L10 10",
    "M10 10 L20 20\n<script>alert(1)</script>", "javascript:alert(1)", "M-5 10", "M1e3 10", "M10 10  L20 20",
    "M10 10 L" + "1" * 10 + " 2",
    "M1 1" + " L1000 1000" * 2000,  # valid path data, over 20 KB
])
def test_the_drawing_field_takes_only_bounded_svg_path_data(drawing):
    with pytest.raises(SigningFormError) as error:
        clean_drawing(drawing)
    assert "drawing" in error.value.errors


def test_plain_path_data_is_accepted():
    assert clean_drawing("M10 10 L20 25.5 L30 40 M100 20 L120 22") == "M10 10 L20 25.5 L30 40 M100 20 L120 22"
    assert clean_drawing("  ") is None


# --- reminders ------------------------------------------------------------------------------------------------


def run_sweep(app, gemeente, moment: datetime):
    with time_machine.travel(moment, tick=False), app.app_context():
        try:
            return DOCUMENT_REMINDERS.run(datetime.now(UTC), tenant_ids=[gemeente.id])
        finally:
            db.session.remove()


def test_reminders_every_seven_days_exactly_once_per_period_with_rotated_links(app, gemeente, make, monkeypatch):
    monkeypatch.setattr(signing, "SIGNING_LINK_DAYS", 30)  # long enough for several periods
    other = make.tenant()
    c = case(app, gemeente)
    start = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        send(app, gemeente, c.document_id)
    first = links(app, gemeente)
    verify(app, gemeente, first["Piet Visser"], STEUN_BORN, now=start + timedelta(days=1))
    sign_with(app, gemeente, first["Piet Visser"], "Piet Visser", now=start + timedelta(days=1))

    assert run_sweep(app, gemeente, start + timedelta(days=6, hours=23)).enqueued == 0
    report = run_sweep(app, gemeente, start + timedelta(days=7))
    assert report.enqueued == 1  # Anna only: Piet signed
    assert run_sweep(app, gemeente, start + timedelta(days=7, hours=1)).enqueued == 0
    assert run_sweep(app, gemeente, start + timedelta(days=13)).enqueued == 0
    reminders = mails(app, gemeente, REMINDER_TEMPLATE)
    assert [m.context["name"] for m in reminders] == ["Anna Jansen"]
    rotated = urlsplit(reminders[0].context["link"]).path
    assert rotated != first["Anna Jansen"]
    # The old link stops working; the new one works (and keeps the original expiry).
    with time_machine.travel(start + timedelta(days=8), tick=False):
        assert browser(app).get(first["Anna Jansen"]).status_code == 404
        assert browser(app).get(rotated).status_code == 200
    expires = in_tenant(app, gemeente, lambda: signer_for_name("Anna Jansen").expires_at)
    assert expires == start + timedelta(days=30)
    # Six hours of downtime after day 14: one reminder for that period, not a backlog.
    assert run_sweep(app, gemeente, start + timedelta(days=14, hours=6)).enqueued == 1
    assert run_sweep(app, gemeente, start + timedelta(days=20)).enqueued == 0
    assert run_sweep(app, gemeente, start + timedelta(days=21)).enqueued == 1
    # After the link expired: none.
    assert run_sweep(app, gemeente, start + timedelta(days=30)).enqueued == 0
    assert run_sweep(app, gemeente, start + timedelta(days=35)).enqueued == 0
    assert len(mails(app, gemeente, REMINDER_TEMPLATE)) == 3
    assert run_sweep(app, other, start + timedelta(days=7)).enqueued == 0
    reminded = [e for e in events(app, gemeente, c.document_id) if e.action == "document.reminded"]
    assert [e.details["period"] for e in reminded] == [1, 2, 3]


def test_the_reminder_sweep_is_registered_and_scheduled(settings):
    assert SWEEPS["document_reminders"] is DOCUMENT_REMINDERS
    schedule = beat_schedule(settings)
    assert any(job.get("kwargs", {}).get("name") == "document_reminders" for job in schedule.values())


def test_a_signed_or_declined_document_gets_no_reminders(app, gemeente):
    c = case(app, gemeente)
    start = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        send(app, gemeente, c.document_id)
    paths = links(app, gemeente)
    verify(app, gemeente, paths["Anna Jansen"], VRAAG_BORN, now=start + timedelta(days=1))
    step(app, gemeente, lambda: decline(signer_for(gemeente, paths["Anna Jansen"], start + timedelta(days=1)),
                                        "Nee.", IP, UA, now=start + timedelta(days=1)))
    assert run_sweep(app, gemeente, start + timedelta(days=7)).enqueued == 0


# --- on the koppeling page ----------------------------------------------------------------------------------------


def test_the_coordinator_sends_from_the_koppeling_page_and_a_family_signs_on_this_device(app, gemeente, make):
    coordinator = make.user(gemeente)
    c = case(app, gemeente, coordinator_id=coordinator.id, steun_email=False)
    staff = browser(app)
    login(staff, coordinator, f"/{gemeente.slug}")
    page_url = f"/{gemeente.slug}/app/koppelingen/{c.koppeling_id}"
    page = staff.get(page_url).get_data(as_text=True)
    assert "Versturen ter ondertekening" in page
    assert "Geen e-mailadres bekend: laat hen hier ondertekenen." in page
    token = csrf_token(staff, page_url)
    response = staff.post(f"{page_url}/ondertekenen", data={"csrf_token": token, "document_id": str(c.document_id),
                                                            "order": "parallel"})
    assert response.status_code == 303
    page = staff.get(response.headers["Location"]).get_data(as_text=True)
    assert "Het document is verstuurd ter ondertekening." in page and "Geen e-mailadres van Piet Visser" in page
    assert "Hier laten ondertekenen" in page and "Versturen ter ondertekening" not in page
    assert set(links(app, gemeente)) == {"Anna Jansen"}  # Piet has no e-mail address
    piet = in_tenant(app, gemeente, lambda: signer_for_name("Piet Visser").id)
    # Another koppeling's signer under this koppeling: not found.
    other = case(app, gemeente, coordinator_id=coordinator.id)
    assert staff.post(f"/{gemeente.slug}/app/koppelingen/{other.koppeling_id}/ondertekenaars/{piet}/hier",
                      data={"csrf_token": token}).status_code == 404
    response = staff.post(f"{page_url}/ondertekenaars/{piet}/hier", data={"csrf_token": token})
    assert response.status_code == 303
    here = response.headers["Location"]
    assert here.startswith(f"/{gemeente.slug}/ondertekenen/")
    page = staff.get(here).get_data(as_text=True)
    assert "Typ je naam zoals hier: Piet Visser" in page  # no date of birth asked: the coordinator vouched
    response = staff.post(f"{here}/ondertekenen", data={"csrf_token": csrf_token(staff, here), "agreed": "ja",
                                                         "typed_name": "Piet Visser"})
    assert response.status_code == 303
    done = staff.get(response.headers["Location"]).get_data(as_text=True)
    assert "Terug naar de koppeling" in done
    witnessed = [e for e in events(app, gemeente, c.document_id)
                 if e.action == "document.identity_checked" and e.details.get("signer_id") == piet]
    assert witnessed[0].details["method"] == "in_person"
    assert witnessed[0].details["witness"]["label"] == coordinator.email
    page = staff.get(page_url).get_data(as_text=True)
    assert re.search(rf'id="ondertekenaar-{piet}".*?ondertekend', page, re.S)
