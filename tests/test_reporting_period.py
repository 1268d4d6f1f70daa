"""The figures over a period and per month (migration 0011), each against hand-made data: the
period's edges in Dutch time, registrations and koppelingen per month, days from registration to
koppeling, proefperiodes concluded in the period, goal-score changes from the baseline, the work that
is late, failed jobs; the province filter and its small-number rule; the Excel export; the charts."""

from __future__ import annotations

import dataclasses
import io
import re
import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import text

from domain.accounts.models import NationalRole
from domain.evaluations.models import EvaluationRequest, EvaluationRole
from domain.families.models import Family, FamilyKind, FamilyMember, FamilyStatus, MemberRole, ReferralSource
from domain.families.records import LOCAL_TIME
from domain.geo.gemeenten import cbs_gemeenten
from domain.koppelingen.models import Koppeling, KoppelingStatus
from domain.outbox.models import JobStatus, OutboxJob
from domain.reporting.figures import Figures, Month, NationalTable, Period, monthly_trend, national_table
from domain.reporting.table import COLUMNS_BY_SLUG, exported, protected, reveals, shown
from domain.vog.models import VogRecord, VogStatus
from tenants.db import db
from tenants.models import Tenant
from tests.test_reporting import client_of
from tests.test_vog import in_tenant

# The day the figures are taken, and a period: the first quarter of 2026.
ON = date(2026, 4, 15)
Q1 = Period(date(2026, 1, 1), date(2026, 3, 31), "eerste kwartaal")


def at(day: date, hour: int = 12, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), LOCAL_TIME)


class Maker:
    """Rows in one gemeente, dated by hand."""

    def __init__(self, app, gemeente):
        self.app, self.gemeente = app, gemeente

    def _add(self, *rows) -> list[int]:
        def add():
            db.session.add_all(rows)
            db.session.flush()
            ids = [row.id for row in rows]
            db.session.commit()
            return ids
        return in_tenant(self.app, self.gemeente, add)

    def family(self, kind=FamilyKind.VRAAG, status=FamilyStatus.GEKOPPELD, registered: datetime | None = None,
               anonymised: bool = False) -> int:
        [family_id] = self._add(Family(
            tenant_id=self.gemeente.id, kind=kind, status=status, postcode="9701 QZ", pc4="9701",
            referral_source=ReferralSource.SELF, registered_at=registered or at(date(2025, 6, 1)),
            anonymised_at=at(ON) if anonymised else None))
        return family_id

    def koppeling(self, status=KoppelingStatus.PROEFPERIODE, *, registered: date = date(2025, 6, 1),
                  start: date | None = None, definitief: date | None = None, ended: date | None = None) -> int:
        vraag = self.family(registered=at(registered))
        steun = self.family(FamilyKind.STEUN)
        [koppeling_id] = self._add(Koppeling(
            tenant_id=self.gemeente.id, vraag_family_id=vraag, steun_family_id=steun, status=status,
            proposed_on=(start or ON) - timedelta(days=30), proefperiode_start_on=start, definitief_on=definitief,
            ended_on=ended))
        return koppeling_id

    def answer(self, koppeling_id: int, answered: datetime | None, *, role=EvaluationRole.VRAAG,
               sent: datetime | None = None, **goals) -> None:
        vraag = in_tenant(self.app, self.gemeente, lambda: db.session.get(Koppeling, koppeling_id).vraag_family_id)
        sent = sent or (answered - timedelta(days=2) if answered else at(ON - timedelta(days=20)))
        self._add(EvaluationRequest(
            tenant_id=self.gemeente.id, koppeling_id=koppeling_id, family_id=vraag, role=role,
            moment=f"m-{uuid.uuid4().hex[:6]}", due_on=sent.date(), token_hash=uuid.uuid4().hex,
            expires_at=sent + timedelta(days=21), sent_at=sent, answered_at=answered,
            **{f"goal_{goal}": score for goal, score in goals.items()}))


def figures(app, gemeente, period=Q1, on_day=ON, codes=None):
    with app.app_context():
        try:
            table = national_table(on_day, period, codes)
        finally:
            db.session.remove()
    return next(row for row in table.rows if row.tenant_id == gemeente.id), table


@pytest.fixture
def gemeente(make):
    return make.tenant(f"Periodestad {uuid.uuid4().hex[:6]}")


def test_registrations_count_on_the_dutch_calendar_day_both_edges_included(app, gemeente):
    m = Maker(app, gemeente)
    m.family(registered=at(date(2026, 1, 1), 0, 30))  # 23:30 UTC on 31 December: still 1 January here
    m.family(registered=at(date(2025, 12, 31), 23, 59))  # the day before
    m.family(registered=at(date(2026, 3, 31), 23, 59))  # the last day
    m.family(registered=at(date(2026, 4, 1), 0, 0))  # the day after
    m.family(FamilyKind.STEUN, FamilyStatus.BESCHIKBAAR, registered=at(date(2026, 2, 10)))
    m.family(registered=at(date(2026, 2, 11)), anonymised=True)  # anonymised later: its registration counts
    row, _ = figures(app, gemeente)
    assert (row.registrations_vraag, row.registrations_steun) == (3, 1)


def test_koppelingen_made_days_to_them_and_the_savings_in_the_period(app, gemeente):
    m = Maker(app, gemeente)
    m.koppeling(start=date(2026, 1, 10), registered=date(2025, 12, 31))  # 10 days
    m.koppeling(start=date(2026, 2, 1), registered=date(2025, 11, 3))  # 90 days
    m.koppeling(KoppelingStatus.GESTOPT, start=date(2026, 3, 31), registered=date(2026, 3, 1), ended=date(2026, 4, 2))
    m.koppeling(start=date(2025, 12, 31))  # before the period
    m.koppeling(KoppelingStatus.KENNISMAKING)  # not made
    row, _ = figures(app, gemeente)
    assert row.koppelingen_made == 3
    assert row.to_koppeling_median_days == Decimal(30)  # 10, 30, 90
    assert row.savings_eur == 3 * 5500


def test_proefperiodes_concluded_in_the_period_and_those_that_became_definitief(app, gemeente):
    m = Maker(app, gemeente)
    m.koppeling(KoppelingStatus.DEFINITIEF, start=date(2025, 12, 1), definitief=date(2026, 2, 1))
    m.koppeling(KoppelingStatus.AFGESLOTEN, start=date(2025, 11, 1), definitief=date(2026, 1, 5),
                ended=date(2026, 3, 1))
    m.koppeling(KoppelingStatus.GESTOPT, start=date(2026, 1, 1), ended=date(2026, 2, 15))  # stopped in it
    m.koppeling(KoppelingStatus.DEFINITIEF, start=date(2025, 10, 1), definitief=date(2025, 12, 1))  # before
    m.koppeling(KoppelingStatus.PROEFPERIODE, start=date(2026, 3, 1))  # not over
    m.koppeling(KoppelingStatus.GESTOPT, ended=date(2026, 2, 1))  # never had a proefperiode
    row, _ = figures(app, gemeente)
    assert (row.proefperiodes_concluded, row.proefperiodes_definitief) == (3, 2)
    assert shown(COLUMNS_BY_SLUG["proef-naar-definitief"], row, rule=False) == "67%"


def test_goal_changes_from_the_baseline_over_koppelingen_answered_twice_with_the_latest_in_the_period(app, gemeente):
    m = Maker(app, gemeente)
    one = m.koppeling(KoppelingStatus.DEFINITIEF, start=date(2025, 9, 1))
    m.answer(one, at(date(2025, 10, 1)), ontlasten=4, sterker=5, opvoedklimaat=6, netwerk=3)  # baseline
    m.answer(one, at(date(2025, 12, 1)), ontlasten=5, sterker=5, opvoedklimaat=6, netwerk=3)
    m.answer(one, at(date(2026, 2, 1)), ontlasten=7, sterker=6, opvoedklimaat=5, netwerk=3)  # latest: +3 +1 -1 0
    m.answer(one, at(date(2026, 2, 2)), role=EvaluationRole.STEUN)  # the steungezin scores no goals
    m.answer(one, at(date(2026, 4, 10)), ontlasten=1, sterker=1)  # after the period: the period's figure stays
    two = m.koppeling(KoppelingStatus.DEFINITIEF, start=date(2025, 9, 1))
    m.answer(two, at(date(2025, 11, 1)), ontlasten=2, sterker=3, netwerk=4)
    m.answer(two, at(date(2026, 3, 30)), ontlasten=6, sterker=3, netwerk=6)  # +4 0 (none) +2
    once = m.koppeling(KoppelingStatus.PROEFPERIODE, start=date(2026, 1, 1))
    m.answer(once, at(date(2026, 2, 1)), ontlasten=9)  # one answer: no change yet
    old = m.koppeling(KoppelingStatus.AFGESLOTEN, start=date(2024, 1, 1), ended=date(2025, 12, 1))
    m.answer(old, at(date(2024, 3, 1)), ontlasten=1)
    m.answer(old, at(date(2025, 11, 1)), ontlasten=10)  # latest before the period
    m.answer(m.koppeling(KoppelingStatus.DEFINITIEF, start=date(2025, 9, 1)), None)  # unanswered
    row, _ = figures(app, gemeente)
    assert (row.goal_ontlasten_n, row.goal_ontlasten_change) == (2, Decimal("3.50"))
    assert (row.goal_sterker_n, row.goal_sterker_change) == (2, Decimal("0.50"))
    assert (row.goal_opvoedklimaat_n, row.goal_opvoedklimaat_change) == (1, Decimal("-1.00"))
    assert (row.goal_netwerk_n, row.goal_netwerk_change) == (2, Decimal("1.00"))
    assert shown(COLUMNS_BY_SLUG["doel-ontlasten"], row, rule=False) == "+3,5"
    assert shown(COLUMNS_BY_SLUG["doel-ontlasten"], row) == "n < 5"  # two koppelingen


def test_late_work_on_the_day(app, gemeente):
    m = Maker(app, gemeente)
    # Intakes: 14 days by default.
    m.family(status=FamilyStatus.AANGEMELD, registered=at(ON - timedelta(days=15)))  # late
    m.family(status=FamilyStatus.INTAKE, registered=at(ON - timedelta(days=20)))  # late
    m.family(status=FamilyStatus.AANGEMELD, registered=at(ON - timedelta(days=14)))  # due today: not late
    m.family(status=FamilyStatus.AANGEMELD, registered=at(ON - timedelta(days=40)), anonymised=True)
    m.family(status=FamilyStatus.WACHTEND, registered=at(ON - timedelta(days=40)))  # intake done
    # VOG requests: 21 days by default; only for steungezinnen still taking part.
    steun = m.family(FamilyKind.STEUN, FamilyStatus.BESCHIKBAAR)
    gone = m.family(FamilyKind.STEUN, FamilyStatus.AFGEMELD)
    for family_id, requested, status in ((steun, ON - timedelta(days=22), VogStatus.AANGEVRAAGD),
                                         (steun, ON - timedelta(days=21), VogStatus.AANGEVRAAGD),
                                         (steun, ON - timedelta(days=60), VogStatus.ONTVANGEN),
                                         (gone, ON - timedelta(days=60), VogStatus.AANGEVRAAGD)):
        [member_id] = m._add(FamilyMember(tenant_id=gemeente.id, family_id=family_id, role=MemberRole.ADULT,
                                          first_name="Steunouder"))
        m._add(VogRecord(tenant_id=gemeente.id, family_id=family_id, member_id=member_id, status=status,
                         requested_on=requested))
    # Evaluations: a running koppeling's latest link per family, unanswered 7 days after sending.
    running = m.koppeling(KoppelingStatus.DEFINITIEF, start=date(2025, 6, 1))
    m.answer(running, None, sent=at(ON - timedelta(days=8)))  # late
    m.answer(running, None, role=EvaluationRole.STEUN, sent=at(ON - timedelta(days=7)))  # not yet
    superseded = m.koppeling(KoppelingStatus.DEFINITIEF, start=date(2025, 6, 1))
    m.answer(superseded, None, sent=at(ON - timedelta(days=200)))  # an older moment…
    m.answer(superseded, at(ON - timedelta(days=5)), sent=at(ON - timedelta(days=10)))  # …the latest is answered
    stopped = m.koppeling(KoppelingStatus.GESTOPT, start=date(2025, 6, 1), ended=ON - timedelta(days=3))
    m.answer(stopped, None, sent=at(ON - timedelta(days=30)))  # no longer running
    # Failed jobs: counted whatever they are about.
    def jobs():
        for status in (JobStatus.FAILED, JobStatus.FAILED, JobStatus.DONE):
            db.session.add(OutboxJob(tenant_id=gemeente.id, kind="email.send", payload={},
                                     dedupe_key=uuid.uuid4().hex, status=status))
        db.session.commit()
    in_tenant(app, gemeente, jobs)
    row, _ = figures(app, gemeente)
    assert (row.intakes_overdue, row.vog_requests_overdue, row.evaluations_overdue, row.failed_jobs) == (2, 1, 1, 2)
    assert row.tasks_overdue == 3


def test_a_gemeentes_own_terms_decide_what_is_late(app, gemeente):
    with app.app_context():
        tenant = db.session.get(Tenant, gemeente.id)
        tenant.settings = {**tenant.settings, "intake_within_days": 30}
        db.session.commit()
        db.session.remove()
    Maker(app, gemeente).family(status=FamilyStatus.AANGEMELD, registered=at(ON - timedelta(days=20)))
    row, _ = figures(app, gemeente)
    assert row.intakes_overdue == 0


def test_months_in_the_period_with_empty_ones(app, gemeente):
    m = Maker(app, gemeente)
    for day in (date(2026, 1, 5), date(2026, 1, 31), date(2026, 3, 1)):
        m.family(registered=at(day))
    m.family(FamilyKind.STEUN, FamilyStatus.BESCHIKBAAR, registered=at(date(2026, 3, 2)))
    m.koppeling(start=date(2026, 3, 20), registered=date(2025, 1, 1))
    with app.app_context():
        code = db.session.get(Tenant, gemeente.id).gemeentecode
        months = monthly_trend(Q1, [code])
        db.session.remove()
    assert [(mo.month, mo.registrations_vraag, mo.registrations_steun, mo.koppelingen_made) for mo in months] == [
        (date(2026, 1, 1), 2, 0, 0), (date(2026, 2, 1), 0, 0, 0), (date(2026, 3, 1), 1, 1, 1)]
    # (The koppeling's own families were registered in 2025.)
    assert [mo.label for mo in months] == ["januari 2026", "februari 2026", "maart 2026"]


# --- the province filter -------------------------------------------------------------------------------


def _move_to(app, gemeente, code: str) -> None:
    with app.app_context():
        db.session.execute(text("UPDATE tenants SET gemeentecode = :code WHERE id = :id"),
                           {"code": code, "id": gemeente.id})
        db.session.commit()
        db.session.remove()


@pytest.fixture
def in_one_province(app, make):
    """Two gemeenten in one province, on free CBS codes of it, and one elsewhere."""
    with app.app_context():
        used = set(db.session.scalars(text("SELECT gemeentecode FROM tenants")))
        db.session.remove()
    province = "Zeeland"
    free = [g.code for g in cbs_gemeenten() if g.provincie == province and g.code not in used][:2]
    inside = [make.tenant(f"Zeeuwse {uuid.uuid4().hex[:6]}") for _ in free]
    for gemeente, code in zip(inside, free, strict=True):
        _move_to(app, gemeente, code)
        Maker(app, gemeente).koppeling(start=date(2026, 2, 1))
    outside = make.tenant(f"Elders {uuid.uuid4().hex[:6]}")
    Maker(app, outside).koppeling(start=date(2026, 2, 1))
    return province, inside, outside


def test_the_province_filter_takes_its_gemeenten_and_hides_small_totals(app, in_one_province):
    province, inside, outside = in_one_province
    codes = [g.code for g in cbs_gemeenten() if g.provincie == province]
    _, table = figures(app, inside[0], codes=codes)
    ids = {row.tenant_id for row in table.rows}
    assert {g.id for g in inside} <= ids and outside.id not in ids
    assert table.selection and table.totals.koppelingen_made == sum(r.koppelingen_made for r in table.rows)
    # A province's total of 1–4 is a breakdown as well.
    made = COLUMNS_BY_SLUG["koppelingen-gemaakt"]
    assert shown(made, table.totals, table) == ("< 5" if table.totals.koppelingen_made < 5 else "5")


def test_the_dashboard_filters_and_exports_by_province_and_period(app, make, in_one_province):
    province, inside, outside = in_one_province
    client = client_of(app, make.national_user(NationalRole.NATIONAL_ANALYST))
    html = client.get(f"/landelijk/?provincie={province}&periode=2026").get_data(as_text=True)
    table = html[html.index('id="cijfers-tabel"'):]
    assert all(g.name in table for g in inside) and outside.name not in table
    assert f"Totaal {province}" in table and f'<option value="{province}" selected>' in html
    assert html.count('<svg class="chart__svg" role="img"') >= 3  # the months and the comparisons

    response = client.get(f"/landelijk/cijfers.xlsx?provincie={province}&periode=2026")
    assert response.status_code == 200 and "spreadsheetml" in response.mimetype
    assert f"landelijke-cijfers-{province.lower()}-2026-" in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == ["Cijfers per gemeente", "Per maand", "Toelichting"]
    sheet = book["Cijfers per gemeente"]
    header = [cell.value for cell in sheet[1]]
    rows = {row[1]: dict(zip(header, row, strict=True)) for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert {*(g.name for g in inside), "Totaal"} <= set(rows) and outside.name not in rows
    assert rows[inside[0].name]["Koppelingen gemaakt (in de periode)"] == "< 5"
    assert rows[inside[0].name]["CBS-code"].startswith("GM")
    months = list(book["Per maand"].iter_rows(min_row=2, values_only=True))
    assert months[0][0] == "januari 2026" and len(months) >= 10
    assert "provincie " + province in [row[1] for row in book["Toelichting"].iter_rows(values_only=True)]

    csv_body = client.get(f"/landelijk/cijfers.csv?provincie={province}").get_data(as_text=True)
    assert outside.name not in csv_body and inside[0].name in csv_body


def test_an_unknown_province_or_period_shows_everything_for_twelve_months(app, make, in_one_province):
    _, inside, outside = in_one_province
    client = client_of(app, make.national_user(NationalRole.NATIONAL_ANALYST))
    html = client.get("/landelijk/?provincie=Atlantis&periode=1850").get_data(as_text=True)
    assert "de laatste 12 maanden" in html and outside.name in html and inside[0].name in html


# --- totals that would give a hidden count away ----------------------------------------------------------


def _figures(tenant_id: int | None, **values) -> Figures:
    """A row with every figure 0 (or none) but the ones given."""
    zero = {f.name: (0 if f.type in ("int", int) else None) for f in dataclasses.fields(Figures)}
    return Figures(**{**zero, "tenant_id": tenant_id, "gemeente": f"Gemeente {tenant_id}", **values})


@pytest.mark.parametrize("hidden, gives_away", [
    ([3], True),  # the only hidden one: total minus the rest
    ([1, 1], True), ([4, 4, 4], True),  # all must be 1, or all 4
    ([1, 3], False), ([2, 2], False), ([4, 4, 3], False), ([], False),
])
def test_a_sum_of_hidden_counts_gives_them_away_only_when_it_pins_each_down(hidden, gives_away):
    assert reveals(hidden) is gives_away


def test_a_total_is_withheld_where_it_would_give_a_hidden_count_away():
    rows = [_figures(1, koppelingen_made=12, waiting=3, savings_eur=66000),
            _figures(2, koppelingen_made=3, waiting=1, savings_eur=16500),
            _figures(3, koppelingen_made=0, waiting=2, savings_eur=0)]
    totals = _figures(None, koppelingen_made=15, waiting=6, savings_eur=82500)
    table = protected(NationalTable(rows, totals, selection=False), months=[])
    made, savings, waiting = (COLUMNS_BY_SLUG[slug] for slug in ("koppelingen-gemaakt", "besparing", "wachtend"))
    # One gemeente hidden among the koppelingen made: 15 − 12 would be its 3, and the savings follow.
    assert shown(made, rows[1], table) == "< 5" and shown(made, totals, table) == "verborgen"
    assert shown(savings, totals, table) == "verborgen" and exported(savings, totals, table) == "verborgen"
    # Two hidden waiting counts (1 and 2, or 2 and 1: the total does not tell): the total stays.
    assert shown(waiting, totals, table) == "6"


def test_a_selections_total_is_withheld_against_its_hidden_month():
    rows = [_figures(1, koppelingen_made=7), _figures(2, koppelingen_made=6)]
    totals = _figures(None, koppelingen_made=13)
    months = [Month(date(2026, 1, 1), 0, 0, 10), Month(date(2026, 2, 1), 0, 0, 3)]  # February: 13 − 10
    made = COLUMNS_BY_SLUG["koppelingen-gemaakt"]
    selection = protected(NationalTable(rows, totals, selection=True), months)
    assert shown(made, totals, selection) == "verborgen"
    # Nationally the months are exact (not a breakdown), so the total is shown.
    national = protected(NationalTable(rows, totals, selection=False), months)
    assert shown(made, totals, national) == "13"


def test_the_dashboard_and_the_csv_withhold_such_a_total(app, make, in_one_province):
    province, inside, _ = in_one_province  # each of the province's gemeenten: 1 koppeling made
    for _ in range(6):
        Maker(app, inside[0]).koppeling(start=date(2026, 2, 1))
    client = client_of(app, make.national_user(NationalRole.NATIONAL_ANALYST))
    html = client.get(f"/landelijk/?provincie={province}&periode=2026").get_data(as_text=True)
    footer = html[html.index('<tfoot'):html.index('</tfoot>')]
    assert footer.count(">verborgen</td>") >= 2  # koppelingen made and the savings
    # The comparison chart and its table: the gemeente with 7, not those with 1 (hidden).
    chart = html[html.index('id="vergelijk-gemaakt-caption"'):html.index('id="vergelijk-wachtend-caption"')]
    assert re.search(rf'<th scope="row"[^>]*>{re.escape(inside[0].name)}</th>\s*<td[^>]*>7</td>', chart)
    assert inside[1].name not in chart
    rows = client.get(f"/landelijk/cijfers.csv?provincie={province}&periode=2026").get_data(as_text=True).splitlines()
    header, total = rows[0].lstrip("\ufeff").split(";"), rows[-1].split(";")
    assert total[header.index("Koppelingen gemaakt (in de periode)")] == "verborgen"
    assert total[header.index("Geschatte besparing (in de periode)")] == "verborgen"
