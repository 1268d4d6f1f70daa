"""The koppeling lifecycle: every forbidden transition refused with a message and no change; every
allowed one writes one audit event and one timeline row; the guards (agreement to the proposal,
VOGs, the signed afsprakenovereenkomst, a positive proefperiode evaluation); family statuses follow;
isolation."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from domain.audit.models import AuditEvent
from domain.audit.services import Actor
from domain.documents.models import DocumentKind, DocumentStatus
from domain.evaluations.models import EvaluationConversation
from domain.families.models import Family, FamilyStatus
from domain.koppelingen.models import Koppeling, KoppelingStatus, KoppelingStatusChange, MatchExclusion
from domain.koppelingen.services import (
    ALLOWED,
    KoppelingError,
    close,
    make_definitief,
    propose,
    record_proposal_answer,
    start_kennismaking,
    start_proefperiode,
    stop,
    timeline,
)
from tenants.access import NotFoundError, get_for_tenant
from tenants.db import db
from tests.signing_helpers import make_document, signed_agreement
from tests.test_family_records import make_family
from tests.test_vog import TODAY, in_tenant, steungezin
from tests.test_vog_reminders import received

K = KoppelingStatus
COORDINATOR = Actor(id=None, label="coordinator@example.org")


@pytest.fixture
def gemeente(make):
    return make.tenant()


def pair(app, gemeente, *, vogs: bool = True) -> tuple[int, int]:
    vraag = make_family(app, gemeente, status="wachtend", adults=(("Anna", "Jansen", 1985),),
                        children=(("Tess", 2018),))
    steun = steungezin(app, gemeente, status="beschikbaar", children=())
    if vogs:
        for name in ("Piet", "Els"):
            received(app, gemeente, steun, name, TODAY - timedelta(days=30))
    return vraag, steun


def run(app, gemeente, fn):
    """``fn`` in the tenant; committed if it returns, rolled back (and re-raised) if it raises."""
    def body():
        try:
            result = fn()
        except Exception:
            db.session.rollback()
            raise
        db.session.commit()
        return result
    return in_tenant(app, gemeente, body)


def proposed(app, gemeente, vraag, steun) -> int:
    return run(app, gemeente, lambda: propose(db.session.get(Family, vraag), db.session.get(Family, steun),
                                              COORDINATOR, support_codes=["opvang_middag"],
                                              schedule="woensdagmiddag", today=TODAY).id)


def koppeling(koppeling_id):
    return db.session.get(Koppeling, koppeling_id)


def snapshot(app, gemeente, koppeling_id):
    def read():
        k = koppeling(koppeling_id)
        families = {f.id: f.status for f in db.session.scalars(
            select(Family).where(Family.id.in_([k.vraag_family_id, k.steun_family_id])))}
        events = db.session.scalar(select(func.count()).select_from(AuditEvent)
                                   .where(AuditEvent.object_type == "koppeling", AuditEvent.object_id == k.id))
        rows = db.session.scalar(select(func.count()).select_from(KoppelingStatusChange)
                                 .where(KoppelingStatusChange.koppeling_id == k.id))
        return (k.status, k.proefperiode_start_on, k.definitief_on, k.ended_on, families, events, rows)
    return in_tenant(app, gemeente, read)


def to_kennismaking(app, gemeente, koppeling_id):
    def steps():
        k = koppeling(koppeling_id)
        record_proposal_answer(k, "vraag", TODAY, COORDINATOR, today=TODAY)
        record_proposal_answer(k, "steun", TODAY, COORDINATOR, today=TODAY)
        start_kennismaking(k, COORDINATOR)
    run(app, gemeente, steps)


def to_proefperiode(app, gemeente, koppeling_id):
    to_kennismaking(app, gemeente, koppeling_id)
    signed_agreement(app, gemeente, koppeling_id)
    run(app, gemeente, lambda: start_proefperiode(koppeling(koppeling_id), COORDINATOR, start_on=TODAY, today=TODAY))


def positive_evaluation(app, gemeente, koppeling_id, outcome="positief"):
    def add():
        db.session.add(EvaluationConversation(tenant_id=gemeente.id, koppeling_id=koppeling_id, moment="proefperiode",
                                              held_on=TODAY + timedelta(days=50), outcome=outcome))
    run(app, gemeente, add)


# --- the whole way ---------------------------------------------------------------------------------------


def test_from_proposal_to_afgesloten_with_one_audit_event_and_timeline_row_per_step(app, gemeente):
    vraag, steun = pair(app, gemeente)
    koppeling_id = proposed(app, gemeente, vraag, steun)
    assert snapshot(app, gemeente, koppeling_id)[0] == K.VOORGESTELD
    to_proefperiode(app, gemeente, koppeling_id)
    status, start, _, _, families, events, rows = snapshot(app, gemeente, koppeling_id)
    assert status == K.PROEFPERIODE and start == TODAY
    assert families == {vraag: FamilyStatus.GEKOPPELD, steun: FamilyStatus.GEKOPPELD}
    # proposed, 2 answers, kennismaking, proefperiode: 5 events; 3 timeline rows (signing is on the document)
    assert (events, rows) == (5, 3)
    dates = in_tenant(app, gemeente, lambda: (koppeling(koppeling_id).proefperiode_end_on,
                                              koppeling(koppeling_id).guidance_end_on))
    assert dates == (date(2026, 8, 15), date(2028, 6, 15))  # 2 and 24 months (tenant defaults)

    positive_evaluation(app, gemeente, koppeling_id)
    run(app, gemeente, lambda: make_definitief(koppeling(koppeling_id), COORDINATOR, on=TODAY + timedelta(days=55),
                                               today=TODAY + timedelta(days=60)))
    run(app, gemeente, lambda: close(koppeling(koppeling_id), COORDINATOR, note="Doelen bereikt.",
                                     today=TODAY + timedelta(days=700)))
    status, _, definitief, ended, families, events, rows = snapshot(app, gemeente, koppeling_id)
    assert (status, definitief, ended) == (K.AFGESLOTEN, TODAY + timedelta(days=55), TODAY + timedelta(days=700))
    assert families == {vraag: FamilyStatus.AFGEMELD, steun: FamilyStatus.BESCHIKBAAR}
    assert (events, rows) == (7, 5)
    steps = in_tenant(app, gemeente, lambda: [(r.from_status, r.to_status) for r in timeline(koppeling(koppeling_id))])
    assert steps == [(None, "voorgesteld"), ("voorgesteld", "kennismaking"), ("kennismaking", "proefperiode"),
                     ("proefperiode", "definitief"), ("definitief", "afgesloten")]


# --- forbidden transitions -----------------------------------------------------------------------------------

ATTEMPTS = {
    K.KENNISMAKING: lambda k: start_kennismaking(k, COORDINATOR),
    K.PROEFPERIODE: lambda k: start_proefperiode(k, COORDINATOR, start_on=TODAY, today=TODAY),
    K.DEFINITIEF: lambda k: make_definitief(k, COORDINATOR, on=TODAY, today=TODAY),
    K.AFGESLOTEN: lambda k: close(k, COORDINATOR, note=None, today=TODAY),
    K.GESTOPT: lambda k: stop(k, "mismatch", COORDINATOR, note=None, today=TODAY),
}
REACH = {
    K.VOORGESTELD: lambda app, g, k: None,
    K.KENNISMAKING: to_kennismaking,
    K.PROEFPERIODE: to_proefperiode,
    K.AFGESLOTEN: lambda app, g, k: (to_proefperiode(app, g, k), positive_evaluation(app, g, k), run(
        app, g, lambda: (make_definitief(koppeling(k), COORDINATOR, on=TODAY, today=TODAY),
                         close(koppeling(k), COORDINATOR, note=None, today=TODAY)))),
    K.GESTOPT: lambda app, g, k: run(app, g, lambda: stop(koppeling(k), "verhuizing", COORDINATOR, note=None,
                                                          today=TODAY)),
}


@pytest.mark.parametrize("state", list(REACH))
def test_every_forbidden_transition_is_refused_with_a_message_and_changes_nothing(app, gemeente, state):
    vraag, steun = pair(app, gemeente)
    koppeling_id = proposed(app, gemeente, vraag, steun)
    REACH[state](app, gemeente, koppeling_id)
    before = snapshot(app, gemeente, koppeling_id)
    assert before[0] == state
    forbidden = [target for target in ATTEMPTS if target not in ALLOWED[state]]
    assert forbidden, state
    for target in forbidden:
        with pytest.raises(KoppelingError, match="kan niet naar"):
            run(app, gemeente, lambda target=target: ATTEMPTS[target](koppeling(koppeling_id)))
        assert snapshot(app, gemeente, koppeling_id) == before


# --- guards ----------------------------------------------------------------------------------------------------


def test_kennismaking_needs_both_families_agreement(app, gemeente):
    vraag, steun = pair(app, gemeente)
    koppeling_id = proposed(app, gemeente, vraag, steun)
    run(app, gemeente, lambda: record_proposal_answer(koppeling(koppeling_id), "vraag", TODAY, COORDINATOR,
                                                      today=TODAY))
    before = snapshot(app, gemeente, koppeling_id)
    with pytest.raises(KoppelingError, match="nog niet vastgelegd voor het steungezin"):
        run(app, gemeente, lambda: start_kennismaking(koppeling(koppeling_id), COORDINATOR))
    assert snapshot(app, gemeente, koppeling_id) == before


def test_proefperiode_needs_valid_vogs_naming_the_adult_and_the_agreement(app, gemeente):
    vraag, steun = pair(app, gemeente, vogs=False)
    received(app, gemeente, steun, "Piet", TODAY - timedelta(days=30))
    koppeling_id = proposed(app, gemeente, vraag, steun)
    to_kennismaking(app, gemeente, koppeling_id)
    before = snapshot(app, gemeente, koppeling_id)
    with pytest.raises(KoppelingError, match="Els Visser: VOG nog niet aangevraagd"):
        run(app, gemeente, lambda: start_proefperiode(koppeling(koppeling_id), COORDINATOR, start_on=TODAY,
                                                      today=TODAY))
    received(app, gemeente, steun, "Els", TODAY - timedelta(days=1))
    attempt = lambda: start_proefperiode(koppeling(koppeling_id), COORDINATOR, start_on=TODAY,  # noqa: E731
                                         today=TODAY)
    with pytest.raises(KoppelingError, match="nog niet door iedereen ondertekend"):
        run(app, gemeente, attempt)
    # Made, sent, declined or withdrawn is not signed; nor is the definitive agreement, or another koppeling's.
    for status in (DocumentStatus.KLAAR, DocumentStatus.VERZONDEN, DocumentStatus.GEWEIGERD,
                   DocumentStatus.INGETROKKEN):
        make_document(app, gemeente, koppeling_id, status=status)
    make_document(app, gemeente, koppeling_id, status=DocumentStatus.ONDERTEKEND,
                  kind=DocumentKind.AFSPRAKEN_DEFINITIEF)
    other_vraag, other_steun = pair(app, gemeente)
    signed_agreement(app, gemeente, proposed(app, gemeente, other_vraag, other_steun))
    with pytest.raises(KoppelingError, match="nog niet door iedereen ondertekend"):
        run(app, gemeente, attempt)
    assert snapshot(app, gemeente, koppeling_id) == before
    # Signed by every party (ondertekend, or already sealed): the proefperiode starts.
    make_document(app, gemeente, koppeling_id, status=DocumentStatus.VERZEGELD)
    run(app, gemeente, attempt)
    assert snapshot(app, gemeente, koppeling_id)[0] == K.PROEFPERIODE


def test_definitief_needs_a_positive_proefperiode_evaluation(app, gemeente):
    vraag, steun = pair(app, gemeente)
    koppeling_id = proposed(app, gemeente, vraag, steun)
    to_proefperiode(app, gemeente, koppeling_id)
    before = snapshot(app, gemeente, koppeling_id)
    attempt = lambda: make_definitief(koppeling(koppeling_id), COORDINATOR, on=TODAY, today=TODAY)  # noqa: E731
    with pytest.raises(KoppelingError, match="positieve evaluatie"):
        run(app, gemeente, attempt)
    positive_evaluation(app, gemeente, koppeling_id, outcome="twijfel")
    with pytest.raises(KoppelingError, match="positieve evaluatie"):
        run(app, gemeente, attempt)
    assert snapshot(app, gemeente, koppeling_id) == before


def test_a_stop_needs_a_reason_and_sends_both_families_back(app, gemeente):
    vraag, steun = pair(app, gemeente)
    koppeling_id = proposed(app, gemeente, vraag, steun)
    to_proefperiode(app, gemeente, koppeling_id)
    before = snapshot(app, gemeente, koppeling_id)
    for reason, note, message in ((None, None, "Kies een reden"), ("anders", "", "Licht de reden")):
        with pytest.raises(KoppelingError, match=message):
            run(app, gemeente, lambda r=reason, n=note: stop(koppeling(koppeling_id), r, COORDINATOR, note=n,
                                                             today=TODAY))
        assert snapshot(app, gemeente, koppeling_id) == before
    run(app, gemeente, lambda: stop(koppeling(koppeling_id), "mismatch", COORDINATOR, note="Klikte niet.",
                                    today=TODAY))
    status, *_, families, _, _ = snapshot(app, gemeente, koppeling_id)
    assert status == K.GESTOPT
    assert families == {vraag: FamilyStatus.WACHTEND, steun: FamilyStatus.BESCHIKBAAR}
    reason = in_tenant(app, gemeente, lambda: timeline(koppeling(koppeling_id))[-1].reason)
    assert reason == "mismatch"


def test_proposals_are_refused_when_they_cannot_be(app, gemeente):
    vraag, steun = pair(app, gemeente)
    proposed(app, gemeente, vraag, steun)
    other_vraag, _ = pair(app, gemeente)
    with pytest.raises(KoppelingError, match="al een lopende koppeling"):
        proposed(app, gemeente, vraag, steun)
    with pytest.raises(KoppelingError, match="geen ruimte meer"):  # capacity 1, taken by the first proposal
        proposed(app, gemeente, other_vraag, steun)
    _, free_steun = pair(app, gemeente)
    run(app, gemeente, lambda: db.session.add(MatchExclusion(tenant_id=gemeente.id, vraag_family_id=other_vraag,
                                                             steun_family_id=free_steun, reason="Te ver weg.")))
    with pytest.raises(KoppelingError, match=r"niet geschikt gemarkeerd: Te ver weg\."):
        proposed(app, gemeente, other_vraag, free_steun)
    with pytest.raises(KoppelingError, match="vraaggezin en een steungezin"):
        proposed(app, gemeente, free_steun, other_vraag)


def test_another_gemeente_cannot_reach_or_use_a_koppeling(app, make, gemeente):
    other = make.tenant()
    vraag, steun = pair(app, gemeente)
    koppeling_id = proposed(app, gemeente, vraag, steun)
    their_vraag, _ = pair(app, other)

    def look():
        with pytest.raises(NotFoundError):
            get_for_tenant(Koppeling, koppeling_id)
        assert db.session.get(Family, steun) is None  # their steungezin cannot even be loaded to propose
        return db.session.scalar(select(func.count()).select_from(Koppeling))
    assert in_tenant(app, other, look) == 0
    assert their_vraag
