"""The gemeente's yearly effect report: every figure against hand-made data, the worker that renders
the PDF, and who may ask for and download it.

The figures are checked on one hand-made gemeente (``hand_made``) whose koppelingen, households,
registrations and evaluation answers sit around the edges of 2025: a koppeling from 2024 still
running, one stopped before 2025, one never past the kennismaking, times just either side of
midnight in Dutch time, a goal scored once, answers after the year. The render job runs through
its handler here (``run_job`` with the real handler map, as the worker does) and once in a real
Celery worker.
"""

from __future__ import annotations

import hashlib
import io
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from flask import Flask
from pypdf import PdfReader
from sqlalchemy import func, select

from config.settings import Settings
from devstack.celery_processes import CeleryProcess, celery_process, wait_until
from domain.accounts.models import TenantRole
from domain.audit.models import AuditEvent
from domain.audit.services import SYSTEM
from domain.documents.rendering import RenderError
from domain.evaluations.models import EvaluationRequest
from domain.families.models import Family, FamilyMember
from domain.families.privacy import anonymise_family
from domain.families.records import local_today
from domain.koppelingen.models import Koppeling
from domain.outbox.handlers import job_handlers
from domain.outbox.models import JobStatus, OutboxJob
from domain.outbox.services import run_job
from domain.reporting import effect_report as er
from domain.reporting.effect_report import (
    REPORT_JOB_KIND,
    GoalChange,
    MonthFigures,
    ReportError,
    YearFigures,
    available_years,
    report_html,
    request_report,
    year_figures,
)
from domain.reporting.models import EffectReport, ReportStatus
from tenants.db import db
from tenants.models import Tenant
from tenants.services import use_tenant
from tests.conftest import Factory, Gemeente, csrf_token, login

YEAR = 2025
TODAY = date(2026, 11, 25)  # the figures of 2025 as seen later: the year is complete
WAIT = 60
# Personal data of the hand-made families: none of it may reach the report.
NAMES = ("Fatima", "Jansen", "Sem", "Noor", "Henk")
EMAIL = "fatima.jansen@example.org"
POSTCODE = "9201 AB"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# --- hand-made data ------------------------------------------------------------------------------------


@dataclass
class HandMade:
    gemeente: Gemeente
    koppelingen: dict[str, int]


def _family(gemeente_id: int, kind: str, registered_at: datetime, children: int, adult: str = "Fatima") -> Family:
    family = Family(tenant_id=gemeente_id, kind=kind, status="gekoppeld", postcode=POSTCODE, pc4="9201",
                    place="Drachten", referral_source="zelf", email=EMAIL if adult == "Fatima" else None,
                    registered_at=registered_at)
    db.session.add(family)
    db.session.flush()
    db.session.add(FamilyMember(tenant_id=gemeente_id, family_id=family.id, role="volwassene", first_name=adult,
                                last_name="Jansen", birth_year=1985, is_contact=True))
    for number in range(children):
        db.session.add(FamilyMember(tenant_id=gemeente_id, family_id=family.id, role="kind",
                                    first_name="Sem" if number == 0 else "Noor", birth_year=2017 + number))
    return family


def _koppeling(gemeente_id: int, vraag: Family, steun: Family, status: str, start: date | None,
               ended: date | None = None) -> Koppeling:
    koppeling = Koppeling(tenant_id=gemeente_id, vraag_family_id=vraag.id, steun_family_id=steun.id, status=status,
                          proposed_on=date(2020, 1, 1), support_codes=[], proefperiode_start_on=start,
                          ended_on=ended)
    db.session.add(koppeling)
    db.session.flush()
    return koppeling


def _answer(koppeling: Koppeling, answered_at: datetime, role: str = "vraag", **goals: int) -> None:
    db.session.add(EvaluationRequest(
        tenant_id=koppeling.tenant_id, koppeling_id=koppeling.id,
        family_id=koppeling.vraag_family_id if role == "vraag" else koppeling.steun_family_id, role=role,
        moment=f"m-{uuid.uuid4().hex[:8]}", due_on=answered_at.date(), token_hash=uuid.uuid4().hex,
        expires_at=utc(2100, 1, 1), sent_at=answered_at, answered_at=answered_at,
        **{f"goal_{key}": value for key, value in goals.items()}))


def make_hand_made(app: Flask, gemeente: Gemeente) -> HandMade:
    with app.app_context():
        use_tenant(gemeente.id)
        g = gemeente.id
        steun = _family(g, "steun", utc(2025, 1, 15, 10), 1, adult="Henk")  # a steun registration in January
        f1 = _family(g, "vraag", utc(2025, 3, 10, 9), 2)  # March
        f2 = _family(g, "vraag", utc(2024, 5, 5, 9), 1)
        f3 = _family(g, "vraag", utc(2023, 1, 1, 9), 3)
        f4 = _family(g, "vraag", utc(2024, 2, 2, 9), 1)
        f5 = _family(g, "vraag", utc(2024, 12, 31, 23, 30), 2)  # 00:30 on 1 January 2025 in Dutch time
        f6 = _family(g, "vraag", utc(2025, 12, 31, 23, 30), 1)  # 00:30 on 1 January 2026 in Dutch time
        k = {
            # made in 2025 (February), still running
            "k1": _koppeling(g, f1, steun, "definitief", date(2025, 2, 1)),
            # the same vraaggezin again, made in August and closed in October: one family, two koppelingen
            "k7": _koppeling(g, f1, steun, "afgesloten", date(2025, 8, 1), date(2025, 10, 1)),
            # started in 2024 and still running: helped in 2025, not made in 2025
            "k2": _koppeling(g, f2, steun, "definitief", date(2024, 11, 1)),
            # closed on the last day of 2024: neither helped nor made in 2025
            "k3": _koppeling(g, f3, steun, "afgesloten", date(2023, 6, 1), date(2024, 12, 31)),
            # started on the last day of 2025, stopped in 2026: made and helped
            "k4": _koppeling(g, f4, steun, "gestopt", date(2025, 12, 31), date(2026, 1, 10)),
            # stopped during the kennismaking in 2025: no proefperiode, so nothing
            "k5": _koppeling(g, f5, steun, "gestopt", None, date(2025, 5, 1)),
            # made in 2026
            "k6": _koppeling(g, f6, steun, "proefperiode", date(2026, 1, 5)),
        }
        # Goal answers of the vraaggezinnen (and one of a steungezin, which never counts).
        _answer(k["k1"], utc(2025, 2, 20, 12), ontlasten=2, sterker=3)
        _answer(k["k1"], utc(2025, 9, 1, 12), ontlasten=4, sterker=3, netwerk=2)  # netwerk scored once only
        _answer(k["k1"], utc(2025, 10, 1, 12), role="steun", ontlasten=5, sterker=1, netwerk=5)
        _answer(k["k2"], utc(2024, 12, 1, 12), ontlasten=1)
        _answer(k["k2"], utc(2025, 6, 1, 12), ontlasten=2)
        _answer(k["k2"], utc(2026, 3, 1, 12), ontlasten=5)  # after the year: left out of 2025
        _answer(k["k3"], utc(2023, 7, 1, 12), ontlasten=3)
        _answer(k["k3"], utc(2024, 6, 1, 12), ontlasten=4)  # latest answer in 2024: not in 2025
        _answer(k["k4"], utc(2025, 12, 31, 12), ontlasten=1, opvoedklimaat=2)  # one answer: no change
        _answer(k["k7"], utc(2025, 8, 10, 12), opvoedklimaat=3)
        _answer(k["k7"], utc(2025, 12, 31, 23, 30), opvoedklimaat=5)  # 1 January 2026 in Dutch time
        db.session.commit()
        # Anonymised after retention: its child still counts, without a name.
        anonymise_family(db.session.get(Family, f4.id), SYSTEM, utc(2026, 6, 1))
        db.session.commit()
        ids = {name: row.id for name, row in k.items()}
        db.session.remove()
    return HandMade(gemeente, ids)


@pytest.fixture
def hand_made(app: Flask, make: Factory) -> HandMade:
    return make_hand_made(app, make.tenant())


def figures_of(app: Flask, gemeente: Gemeente, year: int = YEAR, today: date = TODAY) -> YearFigures:
    with app.app_context():
        use_tenant(gemeente.id)
        figures = year_figures(db.session.get(Tenant, gemeente.id), year, today)
        db.session.remove()
    return figures


# --- the figures --------------------------------------------------------------------------------------


def test_koppelingen_made_families_helped_and_children_reached(app, hand_made):
    figures = figures_of(app, hand_made.gemeente)
    assert figures.complete and figures.last_day == date(2025, 12, 31)
    # k1 (February), k7 (August), k4 (31 December); not k2 (2024), k5 (no proefperiode), k6 (2026).
    assert figures.koppelingen_made == 3
    # f1 (k1 and k7, once), f2 (k2 from 2024, still running), f4 (k4, anonymised since); not f3 (ended
    # 31 December 2024), f5 (never in proefperiode), f6 (2026).
    assert figures.families_helped == 3
    # f1 has 2 children, f2 1, f4 1 (anonymised: the child's row stays, without a name).
    assert figures.children_reached == 4


def test_savings_are_koppelingen_made_times_the_gemeentes_figure(app, hand_made):
    figures = figures_of(app, hand_made.gemeente)
    assert (figures.savings_per_koppeling_eur, figures.estimated_savings_eur) == (5500, 3 * 5500)
    with app.app_context():
        tenant = db.session.get(Tenant, hand_made.gemeente.id)
        tenant.settings = {**tenant.settings, "savings_per_koppeling_eur": 6250}
        db.session.commit()
        db.session.remove()
    assert figures_of(app, hand_made.gemeente).estimated_savings_eur == 3 * 6250


def test_goal_changes_count_koppelingen_with_two_answers_the_latest_in_the_year(app, hand_made):
    goals = {goal.key: goal for goal in figures_of(app, hand_made.gemeente).goals}
    # ontlasten: k1 2 → 4 (+2) and k2 1 → 2 (+1; its 2026 answer is after the year). Not k3 (latest
    # answer in 2024), not k4 (one answer), not the steungezin's answer.
    assert goals["goal_ontlasten"] == GoalChange("goal_ontlasten", "Ouders ontlasten", 2, Decimal("1.50"),
                                                 Decimal("3.00"), Decimal("1.50"))
    assert goals["goal_sterker"] == GoalChange("goal_sterker", "Ouders sterker", 1, Decimal("3.00"),
                                               Decimal("3.00"), Decimal("0.00"))
    # opvoedklimaat: k4 answered once; k7's second answer is on 1 January 2026 in Dutch time.
    assert goals["goal_opvoedklimaat"].n == 0 and goals["goal_opvoedklimaat"].change_average is None
    # netwerk: k1 scored it once (the steungezin's score does not count).
    assert goals["goal_netwerk"].n == 0
    # The same data a year later: k2's 2026 answer is now its latest (1 → 5), and k7 counts (3 → 5).
    later = {goal.key: goal for goal in figures_of(app, hand_made.gemeente, 2026).goals}
    assert (later["goal_ontlasten"].n, later["goal_ontlasten"].change_average) == (1, Decimal("4.00"))
    assert (later["goal_opvoedklimaat"].n, later["goal_opvoedklimaat"].change_average) == (1, Decimal("2.00"))


def test_months_count_koppelingen_and_registrations_in_dutch_time(app, hand_made):
    months = figures_of(app, hand_made.gemeente).months
    assert [m.month for m in months] == list(range(1, 13))
    made = {m.month: m.koppelingen_made for m in months if m.koppelingen_made}
    assert made == {2: 1, 8: 1, 12: 1}
    vraag = {m.month: m.registrations_vraag for m in months if m.registrations_vraag}
    steun = {m.month: m.registrations_steun for m in months if m.registrations_steun}
    # f5 registered at 23:30 UTC on 31 December 2024: January 2025 here; f6 likewise is 2026.
    assert vraag == {1: 1, 3: 1}
    assert steun == {1: 1}


def test_the_current_year_counts_up_to_today(app, hand_made):
    figures = figures_of(app, hand_made.gemeente, 2025, today=date(2025, 6, 30))
    assert not figures.complete and figures.last_day == date(2025, 6, 30)
    assert figures.koppelingen_made == 1  # k1 only: k7 (August) and k4 (December) lie ahead
    assert figures.families_helped == 2  # f1 and f2
    assert sum(m.koppelingen_made for m in figures.months[6:]) == 0


def test_years_offered_run_from_the_first_registration_to_this_year(app, hand_made, make):
    with app.app_context():
        use_tenant(hand_made.gemeente.id)
        assert available_years(TODAY) == [2026, 2025, 2024, 2023]  # f3 registered in 2023
        db.session.remove()
        use_tenant(make.tenant().id)
        assert available_years(TODAY) == [2026]  # a new gemeente: only this year
        db.session.remove()


# --- the PDF --------------------------------------------------------------------------------------------


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def request_and_run(app: Flask, gemeente: Gemeente, year: int = YEAR) -> tuple[int, JobStatus | None]:
    """Ask for the report (committed) and run its job as the worker does; (report id, job status)."""
    with app.app_context():
        use_tenant(gemeente.id)
        report = request_report(db.session.get(Tenant, gemeente.id), year, SYSTEM)
        db.session.commit()
        report_id = report.id
        job_id = db.session.scalar(select(OutboxJob.id).where(OutboxJob.dedupe_key == f"{REPORT_JOB_KIND}:{report_id}"))
        status = run_job(job_id, job_handlers(), lease_seconds=60, retry_base_seconds=1)
        db.session.remove()
    return report_id, status


def load(app: Flask, gemeente: Gemeente, report_id: int) -> EffectReport:
    with app.app_context():
        use_tenant(gemeente.id)
        report = db.session.get(EffectReport, report_id)
        db.session.expunge(report)
        db.session.remove()
    return report


def test_the_worker_renders_a_pdf_with_the_figures_and_no_personal_data(app, hand_made):
    report_id, status = request_and_run(app, hand_made.gemeente)
    assert status == JobStatus.DONE
    report = load(app, hand_made.gemeente, report_id)
    assert report.status == ReportStatus.KLAAR and report.finished_at is not None and report.error is None
    assert report.pdf.startswith(b"%PDF") and report.sha256 == hashlib.sha256(report.pdf).hexdigest()
    text = " ".join(pdf_text(report.pdf).split())
    assert f"Effectrapportage Buurtgezinnen {hand_made.gemeente.name} 2025" in text
    assert "In 2025 begonnen 3 koppelingen aan hun proefperiode" in text
    assert "3 gezinnen kregen dat jaar steun van een steungezin, met samen 4 kinderen" in text
    assert "3 × € 5.500 = € 16.500" in text
    assert "1 januari tot en met 31 december 2025" in text
    # Goals of fewer than 5 koppelingen are not shown as averages.
    assert "Ouders ontlasten niet getoond: minder dan 5 koppelingen n < 5" in text
    assert "Opvoedklimaat – – – 0" in text
    # The month table: February, August and December have a koppeling; January two registrations.
    assert "februari 1 0 0" in text and "augustus 1 0 0" in text and "januari 0 1 1" in text
    for personal in (*NAMES, EMAIL, POSTCODE):
        assert personal not in text
    # Only the bundled font, also in the charts: nothing fetched from the system or elsewhere.
    fonts = {str(font.get_object()["/BaseFont"]).split("+", 1)[-1]
             for page in PdfReader(io.BytesIO(report.pdf)).pages for font in page["/Resources"]["/Font"].values()}
    assert fonts == {"Atkinson-Hyperlegible", "Atkinson-Hyperlegible-Bold"}
    # Tagged (PDF/UA-1) and in Dutch, so a screen reader can follow it.
    catalog = PdfReader(io.BytesIO(report.pdf)).trailer["/Root"]
    assert catalog["/MarkInfo"]["/Marked"] and "/StructTreeRoot" in catalog and catalog["/Lang"] == "nl"


def test_goal_averages_of_five_or_more_are_shown_with_their_change(app_ctx):
    goals = [GoalChange("goal_ontlasten", "Ouders ontlasten", 5, Decimal("2.20"), Decimal("3.80"), Decimal("1.60")),
             GoalChange("goal_netwerk", "Netwerk uitgebreid", 6, Decimal("3.50"), Decimal("3.17"), Decimal("-0.33")),
             GoalChange("goal_sterker", "Ouders sterker", 4, Decimal("2"), Decimal("3"), Decimal("1"))]
    figures = YearFigures(2025, date(2025, 1, 1), date(2025, 12, 31), True, 12, 20, 31, 5500, 66000, goals,
                          [MonthFigures(m, 1, 0, 0) for m in range(1, 13)])
    html = " ".join(report_html(Tenant(name="Smallingerland", settings={}), figures, TODAY).split())
    assert "€ 66.000" in html
    assert re.search(r"Ouders ontlasten</th> <td[^>]*>2,2</td><td[^>]*>3,8</td> <td[^>]*>\+1,6</td><td[^>]*>5</td>",
                     html)
    assert re.search(r"<td[^>]*>−0,3</td><td[^>]*>6</td>", html)
    # The chart has a bar per goal shown (two), with its numbers as text.
    assert "begin 2,2" in html and "laatste 3,2" in html and "begin 2,0" not in html


def test_the_summary_speaks_of_one_koppeling_one_family_one_child_in_the_singular(app_ctx):
    figures = YearFigures(2025, date(2025, 1, 1), date(2025, 12, 31), True, 1, 1, 1, 5500, 5500, [],
                          [MonthFigures(m, 0, 0, 0) for m in range(1, 13)])
    html = " ".join(report_html(Tenant(name="Smallingerland", settings={}), figures, TODAY).split())
    assert "In 2025 begon 1 koppeling aan de proefperiode. 1 gezin kreeg dat jaar steun" in html
    assert "met samen 1 kind." in html and "koppelingen aan hun" not in html


def test_while_the_pdf_is_rendered_others_see_it_being_made(app, hand_made, monkeypatch):
    seen = []
    real_render = er.render_pdf

    def render_and_look(html, **kwargs):
        # Another session (a page request at that moment) reads the report's state.
        with app.app_context():
            use_tenant(hand_made.gemeente.id)
            seen.append(db.session.scalar(select(EffectReport.status)))
            db.session.remove()
        return real_render(html, **kwargs)

    monkeypatch.setattr(er, "render_pdf", render_and_look)
    report_id, status = request_and_run(app, hand_made.gemeente)
    assert status == JobStatus.DONE and seen == [ReportStatus.BEZIG]
    assert load(app, hand_made.gemeente, report_id).status == ReportStatus.KLAAR


def test_a_report_that_cannot_be_rendered_fails_once_with_its_error(app, hand_made, monkeypatch):
    def broken(*args, **kwargs):
        raise RenderError("refused URL: file:///etc/passwd")

    monkeypatch.setattr(er, "render_pdf", broken)
    report_id, status = request_and_run(app, hand_made.gemeente)
    assert status == JobStatus.FAILED  # parked at once: no retry helps a broken render
    report = load(app, hand_made.gemeente, report_id)
    assert report.status == ReportStatus.MISLUKT and report.pdf is None
    assert "refused URL" in report.error
    with app.app_context():
        use_tenant(hand_made.gemeente.id)
        job = db.session.scalar(select(OutboxJob).where(OutboxJob.dedupe_key == f"{REPORT_JOB_KIND}:{report_id}"))
        assert job.attempts == 1
        db.session.remove()


def test_a_second_request_for_a_year_in_the_making_returns_the_first(app, hand_made):
    with app.app_context():
        use_tenant(hand_made.gemeente.id)
        tenant = db.session.get(Tenant, hand_made.gemeente.id)
        first = request_report(tenant, YEAR, SYSTEM)
        db.session.commit()
        again = request_report(tenant, YEAR, SYSTEM)
        assert again.id == first.id
        first.status = ReportStatus.BEZIG
        db.session.commit()
        assert request_report(tenant, YEAR, SYSTEM).id == first.id
        first.status = ReportStatus.KLAAR
        db.session.commit()
        assert request_report(tenant, YEAR, SYSTEM).id != first.id  # a finished one can be made again
        with pytest.raises(ReportError):
            request_report(tenant, 2019, SYSTEM)
        db.session.rollback()
        db.session.remove()


# --- the web: ask, list, download --------------------------------------------------------------------------


def section_url(gemeente: Gemeente) -> str:
    return f"/{gemeente.slug}/app/cijfers/jaarverslag"


def cijfers_url(gemeente: Gemeente) -> str:
    """The cijfers page, where the Jaarverslag section is shown."""
    return f"/{gemeente.slug}/app/cijfers"


def post_year(client, gemeente: Gemeente, year: str):
    token = csrf_token(client, cijfers_url(gemeente))
    return client.post(section_url(gemeente), data={"year": year, "csrf_token": token})


def report_rows(app: Flask, gemeente: Gemeente) -> list[EffectReport]:
    with app.app_context():
        use_tenant(gemeente.id)
        rows = list(db.session.scalars(select(EffectReport).order_by(EffectReport.id)))
        for row in rows:
            db.session.expunge(row)
        db.session.remove()
    return rows


def run_pending(app: Flask, gemeente: Gemeente) -> None:
    with app.app_context():
        use_tenant(gemeente.id)
        job_ids = list(db.session.scalars(select(OutboxJob.id).where(OutboxJob.kind == REPORT_JOB_KIND,
                                                                     OutboxJob.status != JobStatus.DONE)))
        for job_id in job_ids:
            run_job(job_id, job_handlers(), lease_seconds=60, retry_base_seconds=1)
        db.session.remove()


def audit_actions(app: Flask, gemeente: Gemeente, report_id: int) -> list[str]:
    with app.app_context():
        use_tenant(gemeente.id)
        actions = list(db.session.scalars(select(AuditEvent.action).where(
            AuditEvent.object_type == "effect_report", AuditEvent.object_id == report_id).order_by(AuditEvent.id)))
        db.session.remove()
    return actions


def test_the_gemeente_viewer_asks_for_the_report_and_downloads_it(app, client, hand_made, make):
    gemeente = hand_made.gemeente
    viewer = make.user(gemeente, TenantRole.GEMEENTE_VIEWER)
    login(client, viewer, f"/{gemeente.slug}")
    page = client.get(cijfers_url(gemeente)).get_data(as_text=True)
    assert "Jaarverslag" in page and "Er is nog geen jaarverslag gemaakt." in page
    this_year = local_today().year
    assert f'<option value="{this_year}">{this_year} (tot nu toe)</option>' in page
    assert '<option value="2023">2023</option>' in page

    response = post_year(client, gemeente, "2025")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/{gemeente.slug}/app/cijfers#jaarverslag")
    (report,) = report_rows(app, gemeente)
    assert (report.year, report.status, report.requested_by_id) == (2025, ReportStatus.WACHTRIJ, viewer.id)
    page = client.get(cijfers_url(gemeente)).get_data(as_text=True)
    assert "In de wachtrij" in page and "Ververs deze pagina" in page

    # Asked again while it waits: the same report, no second one.
    post_year(client, gemeente, "2025")
    assert len(report_rows(app, gemeente)) == 1

    run_pending(app, gemeente)
    report = report_rows(app, gemeente)[0]
    page = client.get(cijfers_url(gemeente)).get_data(as_text=True)
    assert "Klaar" in page and "Ververs deze pagina" not in page
    size_kb = round(len(report.pdf) / 1024)
    download = f"/{gemeente.slug}/app/cijfers/jaarverslag/{report.id}.pdf"
    assert f'href="{download}">Jaarverslag 2025 downloaden (PDF, {size_kb} kB)</a>' in page

    response = client.get(download)
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data == report.pdf
    assert f'filename="effectrapportage-{gemeente.slug}-2025.pdf"' in response.headers["Content-Disposition"]
    assert audit_actions(app, gemeente, report.id) == ["effect_report.requested", "effect_report.downloaded"]


@pytest.mark.parametrize("year", ["1999", "next", "abc", "", "2025 OR 1=1", "02025"])
def test_a_bad_year_changes_nothing_and_says_why(app, client, hand_made, make, year):
    gemeente = hand_made.gemeente
    if year == "next":
        year = str(local_today().year + 1)
    login(client, make.user(gemeente, TenantRole.GEMEENTE_VIEWER), f"/{gemeente.slug}")
    response = post_year(client, gemeente, year)
    assert response.status_code == 302
    assert report_rows(app, gemeente) == []
    page = client.get(cijfers_url(gemeente)).get_data(as_text=True)
    assert "Kies een jaar uit de lijst." in page
    with app.app_context():
        use_tenant(gemeente.id)
        assert db.session.scalar(select(func.count()).select_from(OutboxJob).where(
            OutboxJob.kind == REPORT_JOB_KIND)) == 0
        db.session.remove()


def test_without_a_csrf_token_nothing_is_made(app, client, hand_made, make):
    gemeente = hand_made.gemeente
    login(client, make.user(gemeente), f"/{gemeente.slug}")
    response = client.post(section_url(gemeente), data={"year": "2025"})
    assert response.status_code == 400
    assert report_rows(app, gemeente) == []


def test_the_list_says_in_dutch_how_far_each_report_is(app, client, hand_made, make):
    gemeente = hand_made.gemeente
    with app.app_context():
        use_tenant(gemeente.id)
        for year, status in ((2023, ReportStatus.MISLUKT), (2024, ReportStatus.BEZIG)):
            db.session.add(EffectReport(tenant_id=gemeente.id, year=year, status=status, error="Traceback: boom"))
        db.session.commit()
        db.session.remove()
    login(client, make.user(gemeente, TenantRole.TENANT_ADMIN), f"/{gemeente.slug}")
    page = client.get(cijfers_url(gemeente)).get_data(as_text=True)
    assert "Wordt gemaakt" in page and "Ververs deze pagina" in page
    assert "Mislukt" in page and "Het maken is mislukt" in page
    assert "Traceback" not in page  # the technical error stays out of the page


def test_another_gemeentes_report_is_not_found_and_not_listed(app, client, hand_made, make):
    a = hand_made.gemeente
    b = make_hand_made(app, make.tenant()).gemeente
    b_report, _ = request_and_run(app, b)
    login(client, make.user(a, TenantRole.GEMEENTE_VIEWER), f"/{a.slug}")
    assert client.get(f"/{a.slug}/app/cijfers/jaarverslag/{b_report}.pdf").status_code == 404
    page = client.get(cijfers_url(a)).get_data(as_text=True)
    assert f"/{b_report}.pdf" not in page and "Er is nog geen jaarverslag gemaakt." in page
    # A's own report that is not ready yet: not found either, until it is klaar.
    post_year(client, a, "2025")
    (a_report,) = report_rows(app, a)
    assert client.get(f"/{a.slug}/app/cijfers/jaarverslag/{a_report.id}.pdf").status_code == 404
    # B's slug with A's login: not B's staff.
    assert client.get(f"/{b.slug}/app/cijfers/jaarverslag/{b_report}.pdf").status_code in (302, 403, 404)


# --- through a real worker ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def worker(settings: Settings) -> Iterator[CeleryProcess]:
    with celery_process(settings) as process:
        yield process


def test_a_real_worker_makes_the_report(app, hand_made, worker: CeleryProcess):
    with app.app_context():
        use_tenant(hand_made.gemeente.id)
        report = request_report(db.session.get(Tenant, hand_made.gemeente.id), YEAR, SYSTEM)
        db.session.commit()  # handed to Celery after the commit
        report_id = report.id
        db.session.remove()

    def finished() -> bool:
        return load(app, hand_made.gemeente, report_id).status in (ReportStatus.KLAAR, ReportStatus.MISLUKT)

    wait_until(finished, seconds=WAIT, message=f"report {report_id} made\n{worker.log()}", process=worker)
    report = load(app, hand_made.gemeente, report_id)
    assert report.status == ReportStatus.KLAAR, report.error
    assert "met samen 4 kinderen" in " ".join(pdf_text(report.pdf).split())


def test_the_section_sits_on_the_cijfers_page_where_the_form_returns(app, client, hand_made, make):
    gemeente = hand_made.gemeente
    login(client, make.user(gemeente, TenantRole.GEMEENTE_VIEWER), f"/{gemeente.slug}")
    page = client.get(f"/{gemeente.slug}/app/cijfers").get_data(as_text=True)
    assert 'id="jaarverslag">Jaarverslag</h2>' in page and 'name="year"' in page
    token = csrf_token(client, f"/{gemeente.slug}/app/cijfers")
    response = client.post(section_url(gemeente), data={"year": "2024", "csrf_token": token}, follow_redirects=True)
    assert response.status_code == 200 and response.request.path == f"/{gemeente.slug}/app/cijfers"
    page = response.get_data(as_text=True)
    assert "Het jaarverslag 2024 wordt gemaakt." in page
    # A worker of another test in this run may already have picked the job up.
    assert any(state in page for state in ("In de wachtrij", "Wordt gemaakt", "Klaar"))
