"""National figures (domain.reporting): every figure of the table checked against hand-made data in
two gemeenten, the small-number rule, sorting, the CSV export, no personal data in any national
response, who may see the dashboard, and a fixed number of SQL statements whatever the number of
gemeenten."""

from __future__ import annotations

import csv
import functools
import io
import re
import statistics
import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import create_engine, event, pool, text

from domain.accounts.models import NationalRole, TenantRole
from domain.documents.models import Contract
from domain.families.models import Family, FamilyKind, FamilyMember, FamilyStatus, MemberRole, ReferralSource
from domain.families.records import LOCAL_TIME, dutch_day, local_today
from domain.koppelingen.models import Koppeling, KoppelingStatus
from domain.reporting.figures import NationalTable, Period, national_table
from domain.reporting.table import COLUMNS_BY_SLUG, parse_sort, province_of, shown, sorted_rows
from domain.vog.models import VogRecord, VogStatus
from tenants.db import db
from tenants.models import Tenant
from tests.conftest import login, random_ip
from tests.test_vog import in_tenant

ON = date(2026, 6, 1)
# Every hand-made family registered 250 days before ON: inside the twelve months before ON, and 100
# days before the koppelingen's proefperiode (ON - 150).
REGISTERED_AT = datetime.combine(ON - timedelta(days=250), time(12), LOCAL_TIME)


@pytest.fixture(scope="module")
def owner_engine(settings):
    engine = create_engine(settings.database_url, poolclass=pool.NullPool)
    yield engine
    engine.dispose()


def client_of(app, person=None, prefix="/landelijk"):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = random_ip()
    if person is not None:
        login(client, person, prefix)
    return client


# --- hand-made data ---------------------------------------------------------------------------------------


class Builder:
    """Adds rows to one gemeente, in its own context, with distinctive personal data."""

    def __init__(self, app, gemeente):
        self.app, self.gemeente = app, gemeente

    def _add(self, fn):
        def run():
            result = fn()
            db.session.commit()
            return result
        return in_tenant(self.app, self.gemeente, run)

    def family(self, kind: FamilyKind, status: FamilyStatus, *, waiting_days: int | None = None,
               adults: int = 1, anonymised: bool = False) -> tuple[int, list[int]]:
        tag = uuid.uuid4().hex[:6]

        def add():
            family = Family(
                tenant_id=self.gemeente.id, kind=kind, status=status, postcode=f"97{tag[:2].upper()} QZ",
                pc4="9701", email=f"gezin-{tag}@privacy.example", street_address=f"Geheimstraat {tag}",
                referral_source=ReferralSource.SELF, referrer_name=f"Verwijzer Zorgvuldig{tag}",
                registered_at=REGISTERED_AT,
                waiting_since=(datetime.combine(ON - timedelta(days=waiting_days), time(12), LOCAL_TIME)
                               if waiting_days is not None else None),
                anonymised_at=datetime.now(LOCAL_TIME) if anonymised else None)
            db.session.add(family)
            db.session.flush()
            members = [FamilyMember(tenant_id=self.gemeente.id, family_id=family.id, role=MemberRole.ADULT,
                                    first_name=f"Voornaam{tag}{n}", last_name=f"Achternaam{tag}{n}")
                       for n in range(adults)]
            members.append(FamilyMember(tenant_id=self.gemeente.id, family_id=family.id, role=MemberRole.CHILD,
                                        first_name=f"Kindnaam{tag}"))
            db.session.add_all(members)
            db.session.flush()
            return family.id, [m.id for m in members if m.role == MemberRole.ADULT]
        return self._add(add)

    def vog(self, family_id: int, member_id: int, status: VogStatus, renewal_due_on: date | None = None) -> None:
        self._add(lambda: db.session.add(VogRecord(
            tenant_id=self.gemeente.id, family_id=family_id, member_id=member_id, status=status,
            renewal_due_on=renewal_due_on)))

    def koppeling(self, steun_id: int, status: KoppelingStatus, *, proefperiode: bool = False,
                  definitief: bool = False) -> None:
        vraag_id, _ = self.family(FamilyKind.VRAAG, FamilyStatus.GEKOPPELD)
        self._add(lambda: db.session.add(Koppeling(
            tenant_id=self.gemeente.id, vraag_family_id=vraag_id, steun_family_id=steun_id, status=status,
            proposed_on=ON - timedelta(days=200),
            proefperiode_start_on=ON - timedelta(days=150) if proefperiode else None,
            definitief_on=ON - timedelta(days=90) if definitief else None,
            ended_on=ON - timedelta(days=30) if status in (KoppelingStatus.AFGESLOTEN, KoppelingStatus.GESTOPT)
            else None)))

    def contract(self, ends_on: date) -> None:
        self._add(lambda: db.session.add(Contract(
            tenant_id=self.gemeente.id, starts_on=ends_on - timedelta(days=700), ends_on=ends_on,
            koppelingen_target=10, budget_eur=20000, contact_name=f"Wethouder Vertrouwelijk{uuid.uuid4().hex[:4]}",
            contact_email=f"wethouder-{uuid.uuid4().hex[:6]}@gemeente.example")))

    def savings_setting(self, amount: int) -> None:
        with self.app.app_context():
            tenant = db.session.get(Tenant, self.gemeente.id)
            tenant.settings = {**tenant.settings, "savings_per_koppeling_eur": amount}
            db.session.commit()
            db.session.remove()


def fill_a(app, gemeente) -> None:
    """Gemeente A: enough of everything to be shown, some states below 5, savings €6,000 each."""
    b = Builder(app, gemeente)
    b.savings_setting(6000)
    for days in (10, 20, 30, 40, 50, 61):
        b.family(FamilyKind.VRAAG, FamilyStatus.WACHTEND, waiting_days=days)
    b.family(FamilyKind.VRAAG, FamilyStatus.WACHTEND, waiting_days=400, anonymised=True)  # not counted
    b.family(FamilyKind.VRAAG, FamilyStatus.INTAKE)  # not waiting yet
    available = [b.family(FamilyKind.STEUN, FamilyStatus.BESCHIKBAAR) for _ in range(5)]
    linked, (adult_1, adult_2) = b.family(FamilyKind.STEUN, FamilyStatus.GEKOPPELD, adults=2)
    gone, (gone_adult,) = b.family(FamilyKind.STEUN, FamilyStatus.AFGEMELD)  # not an active steungezin
    # Seven adults in active steungezinnen; five have a valid VOG.
    future, past = ON + timedelta(days=300), ON - timedelta(days=1)
    for family_id, (member_id,) in available[:4]:
        b.vog(family_id, member_id, VogStatus.ONTVANGEN, future)
    b.vog(available[4][0], available[4][1][0], VogStatus.ONTVANGEN, ON)  # valid through its renewal day
    b.vog(linked, adult_1, VogStatus.ONTVANGEN, past)  # past its renewal date
    b.vog(linked, adult_2, VogStatus.AANGEVRAAGD)
    b.vog(gone, gone_adult, VogStatus.ONTVANGEN, future)
    for _ in range(5):
        b.koppeling(linked, KoppelingStatus.VOORGESTELD)
    b.koppeling(linked, KoppelingStatus.KENNISMAKING)
    for _ in range(2):
        b.koppeling(linked, KoppelingStatus.PROEFPERIODE, proefperiode=True)
    for _ in range(3):
        b.koppeling(linked, KoppelingStatus.DEFINITIEF, proefperiode=True, definitief=True)
    b.koppeling(linked, KoppelingStatus.AFGESLOTEN, proefperiode=True, definitief=True)
    b.koppeling(linked, KoppelingStatus.GESTOPT, proefperiode=True)  # stopped in the proefperiode
    b.koppeling(linked, KoppelingStatus.GESTOPT)  # stopped before it
    b.contract(ON - timedelta(days=10))  # over: not the next end
    b.contract(ON + timedelta(days=30))
    b.contract(ON + timedelta(days=400))


def fill_b(app, gemeente) -> None:
    """Gemeente B: small numbers everywhere, default savings, no contract."""
    b = Builder(app, gemeente)
    b.family(FamilyKind.VRAAG, FamilyStatus.WACHTEND, waiting_days=5)
    b.family(FamilyKind.VRAAG, FamilyStatus.WACHTEND, waiting_days=8)
    steun, (adult,) = b.family(FamilyKind.STEUN, FamilyStatus.BESCHIKBAAR)
    b.vog(steun, adult, VogStatus.ONTVANGEN, ON + timedelta(days=10))
    b.koppeling(steun, KoppelingStatus.DEFINITIEF, proefperiode=True, definitief=True)


@pytest.fixture
def two_filled(app, make):
    a, b = make.tenant(f"Aaa Cijferstad {uuid.uuid4().hex[:6]}"), make.tenant(f"Bbb Cijferdorp {uuid.uuid4().hex[:6]}")
    fill_a(app, a)
    fill_b(app, b)
    return a, b


def table_on(app, day: date = ON):
    with app.app_context():
        try:
            return national_table(day, Period.last_twelve_months(day))
        finally:
            db.session.remove()


def row_of(table, gemeente):
    return next(r for r in table.rows if r.tenant_id == gemeente.id)


# --- the figures -------------------------------------------------------------------------------------------


def test_every_figure_of_both_gemeenten_is_right(app, two_filled):
    a, b = two_filled
    table = table_on(app)
    ra, rb = row_of(table, a), row_of(table, b)
    assert (ra.gemeente, ra.tenant_status) == (a.name, "active")
    assert (ra.waiting, ra.waiting_median_days, ra.waiting_longest_days) == (6, Decimal("35.0"), 61)
    assert ra.steun_available == 5
    assert (ra.koppelingen_voorgesteld, ra.koppelingen_kennismaking, ra.koppelingen_proefperiode,
            ra.koppelingen_definitief, ra.koppelingen_afgesloten, ra.koppelingen_gestopt) == (5, 1, 2, 3, 1, 2)
    # Proefperiodes over: 3 definitief + 1 afgesloten + 1 stopped in it; 4 became definitief.
    assert (ra.proefperiodes_concluded, ra.proefperiodes_definitief) == (5, 4)
    assert ra.proefperiode_to_definitief_share == Decimal("0.8")
    assert (ra.steun_adults, ra.steun_adults_valid_vog) == (7, 5)
    assert ra.vog_valid_share == Decimal(5) / Decimal(7)
    # Reached the proefperiode: 2 + 3 + 1 + 1 = 7, at the gemeente's €6,000.
    assert (ra.koppelingen_made, ra.savings_eur) == (7, 42000)
    assert ra.contract_ends_on == ON + timedelta(days=30)

    assert (rb.waiting, rb.waiting_median_days, rb.waiting_longest_days) == (2, Decimal("6.5"), 8)
    assert rb.steun_available == 1
    assert (rb.koppelingen_voorgesteld, rb.koppelingen_definitief, rb.koppelingen_gestopt) == (0, 1, 0)
    assert rb.proefperiode_to_definitief_share == Decimal(1)
    assert rb.vog_valid_share == Decimal(1)
    assert (rb.koppelingen_made, rb.savings_eur) == (1, 5500)  # the default
    # Registered 250 days before ON (in the period), the proefperiodes began 100 days later.
    assert (ra.registrations_vraag, ra.registrations_steun, rb.registrations_vraag, rb.registrations_steun) == (
        22, 7, 3, 1)
    assert (ra.to_koppeling_median_days, rb.to_koppeling_median_days) == (Decimal(100), Decimal(100))
    assert (ra.intakes_overdue, rb.intakes_overdue) == (1, 0)  # the family in intake since ON - 250
    assert rb.contract_ends_on is None


def test_the_totals_are_exact_over_every_gemeente(app, two_filled, owner_engine):
    table = table_on(app)
    totals = table.totals
    assert totals.gemeente == "Totaal" and totals.tenant_id is None
    for field in ("waiting", "steun_available", "koppelingen_voorgesteld", "koppelingen_kennismaking",
                  "koppelingen_proefperiode", "koppelingen_definitief", "koppelingen_afgesloten",
                  "koppelingen_gestopt", "proefperiodes_concluded", "proefperiodes_definitief", "steun_adults",
                  "steun_adults_valid_vog", "koppelingen_made", "savings_eur", "registrations_vraag",
                  "registrations_steun", "intakes_overdue", "vog_requests_overdue", "evaluations_overdue",
                  "failed_jobs", "goal_ontlasten_n", "goal_netwerk_n"):
        assert getattr(totals, field) == sum(getattr(r, field) for r in table.rows), field
    # The national median and longest wait: over all waiting families, not from the gemeenten's medians.
    with owner_engine.connect() as connection:
        since = connection.scalars(text(
            "SELECT waiting_since FROM families WHERE kind = 'vraag' AND status = 'wachtend' "
            "AND anonymised_at IS NULL")).all()
    # A family made straight in the database (other tests) may wait without a date: counted, no days.
    days = [(ON - moment.astimezone(LOCAL_TIME).date()).days for moment in since if moment is not None]
    assert totals.waiting == len(since)
    assert totals.waiting_median_days == round(Decimal(str(statistics.median(days))), 1)
    assert totals.waiting_longest_days == max(days)


NO_GOALS = {"doel-ontlasten": "–", "doel-sterker": "–", "doel-opvoedklimaat": "–", "doel-netwerk": "–"}


def test_the_small_number_rule_hides_breakdowns_below_five(app, two_filled):
    a, b = two_filled
    table = table_on(app)
    ra, rb = row_of(table, a), row_of(table, b)

    def cells(row):
        return {slug: shown(column, row) for slug, column in COLUMNS_BY_SLUG.items()}

    assert cells(ra) == {
        "gemeente": a.name, "wachtend": "6", "wachttijd-mediaan": "35", "wachttijd-langst": "61",
        "steungezinnen": "5", "voorgesteld": "5", "kennismaking": "< 5", "proefperiode": "< 5",
        "definitief": "< 5", "afgesloten": "< 5", "gestopt": "< 5", "proef-naar-definitief": "80%",
        "vog-geldig": "71%", "besparing": "€ 42.000", "contract": dutch_day(ON + timedelta(days=30)),
        "provincie": province_of(ra), "intakes-te-laat": "< 5", "vog-te-laat": "0", "evaluaties-te-laat": "0",
        "mislukte-taken": "0", "aanmeldingen-vraag": "22", "aanmeldingen-steun": "7", "koppelingen-gemaakt": "7",
        "dagen-tot-koppeling": "100", **NO_GOALS,
    }
    assert cells(rb) == {
        "gemeente": b.name, "wachtend": "< 5", "wachttijd-mediaan": "n < 5", "wachttijd-langst": "n < 5",
        "steungezinnen": "< 5", "voorgesteld": "0", "kennismaking": "0", "proefperiode": "0",
        "definitief": "< 5", "afgesloten": "0", "gestopt": "0", "proef-naar-definitief": "n < 5",
        "vog-geldig": "n < 5", "besparing": "n < 5", "contract": "–",
        "provincie": province_of(rb), "intakes-te-laat": "0", "vog-te-laat": "0", "evaluaties-te-laat": "0",
        "mislukte-taken": "0", "aanmeldingen-vraag": "< 5", "aanmeldingen-steun": "< 5", "koppelingen-gemaakt": "< 5",
        "dagen-tot-koppeling": "n < 5", **NO_GOALS,
    }
    # The totals row is never hidden.
    assert all(value not in ("< 5", "n < 5") for value in cells(table.totals).values())


def test_sorting_treats_hidden_values_alike(app, two_filled):
    a, b = two_filled
    table = table_on(app)
    rows = NationalTable([r for r in table.rows if r.tenant_id in (a.id, b.id)], table.totals, selection=False)
    column, descending = parse_sort("-wachtend")
    assert descending and [r.tenant_id for r in sorted_rows(rows, column, descending)] == [a.id, b.id]
    column, descending = parse_sort("besparing")
    assert [r.tenant_id for r in sorted_rows(rows, column, descending)] == [b.id, a.id]
    # Both hidden: equal, so by name, whichever direction.
    for raw in ("definitief", "-definitief"):
        column, descending = parse_sort(raw)
        assert [r.tenant_id for r in sorted_rows(rows, column, descending)] == [a.id, b.id]
    assert parse_sort("onzin")[0].slug == "gemeente"


# --- the dashboard and the export ------------------------------------------------------------------------


def test_the_dashboard_shows_the_table_sorted_server_side(app, make, two_filled):
    a, b = two_filled
    Builder(app, a).contract(local_today() + timedelta(days=20))
    client = client_of(app, make.national_user(NationalRole.NATIONAL_ANALYST))
    html = client.get("/landelijk/?sorteer=-besparing").get_data(as_text=True)
    assert 'id="cijfers-tabel"' in html and "Totaal" in html
    assert html.index(a.name, html.index("cijfers-tabel")) < html.index(b.name, html.index("cijfers-tabel"))
    assert "€ 42.000" in html and "&lt; 5" in html and "n &lt; 5" in html  # B's savings rest on 1 koppeling
    assert 'aria-sort="descending"' in html
    html = client.get("/landelijk/?sorteer=besparing").get_data(as_text=True)
    assert html.index(b.name, html.index("cijfers-tabel")) < html.index(a.name, html.index("cijfers-tabel"))
    section = html[html.index('id="contracten-binnenkort"'):html.index("Alle contracten")]
    assert f"{a.name}: loopt af op {dutch_day(local_today() + timedelta(days=20))}" in section


def test_the_csv_export_holds_the_same_figures(app, make, two_filled):
    a, b = two_filled
    client = client_of(app, make.national_user(NationalRole.NATIONAL_ANALYST))
    response = client.get("/landelijk/cijfers.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff")), delimiter=";"))
    by_name = {row["Gemeente"]: row for row in rows}
    assert rows[-1]["Gemeente"] == "Totaal"
    # The export's figures are those of today, like the page; the waiting days differ from ON.
    ra, rb = by_name[a.name], by_name[b.name]
    assert (ra["Wachtende gezinnen (nu)"], ra["Beschikbare steungezinnen (nu)"], ra["Voorgesteld (nu)"],
            ra["Kennismaking (nu)"], ra["Geschatte besparing (in de periode)"],
            ra["Proefperiode werd definitief (%) (in de periode)"]) == ("6", "5", "5", "< 5", "42000", "80,0")
    assert (rb["Wachtende gezinnen (nu)"], rb["Wachttijd mediaan (dagen) (nu)"], rb["Definitief (nu)"],
            rb["Geschatte besparing (in de periode)"]) == ("< 5", "n < 5", "< 5", "n < 5")


def personal_values(owner_engine) -> set[str]:
    """Every name, e-mail address, street address and postcode in the database (read as the owner)."""
    queries = (
        "SELECT first_name FROM family_members", "SELECT last_name FROM family_members",
        "SELECT email FROM families", "SELECT street_address FROM families", "SELECT postcode FROM families",
        "SELECT referrer_name FROM families", "SELECT referrer_email FROM families",
        "SELECT contact_name FROM contracts", "SELECT contact_email FROM contracts",
        "SELECT email FROM staff_users", "SELECT full_name FROM staff_users",
    )
    with owner_engine.connect() as connection:
        values = {value for query in queries for value in connection.scalars(text(query)) if value}
    # A test elsewhere may name someone after a word the pages themselves use ("Geen", "Totaal"):
    # finding such a word proves nothing, so words of the templates are left out.
    return {value for value in values if len(value) >= 4 and value.casefold() not in template_words()}


@functools.cache
def template_words() -> frozenset[str]:
    templates = Path(__file__).resolve().parent.parent / "templates"
    return frozenset(word.casefold() for path in templates.rglob("*.html")
                     for word in re.findall(r"\w+", path.read_text(encoding="utf-8")))


def test_no_national_response_contains_personal_data(app, make, two_filled, owner_engine):
    a, _ = two_filled
    make.user(a)  # a staff member's name and e-mail are in the database too
    values = personal_values(owner_engine)
    assert len(values) > 50  # the hand-made families are in there
    client = client_of(app, make.national_user(NationalRole.NATIONAL_ADMIN))
    province = province_of(row_of(table_on(app), a)) or "Friesland"
    for path in ("/landelijk/", "/landelijk/?sorteer=-wachtend", "/landelijk/cijfers.csv",
                 f"/landelijk/?provincie={province}&periode={ON.year}", "/landelijk/cijfers.xlsx",
                 f"/landelijk/cijfers.xlsx?provincie={province}"):
        response = client.get(path)
        assert response.status_code == 200, path
        excel = path.startswith("/landelijk/cijfers.xlsx")
        body = xlsx_text(response.data) if excel else response.get_data(as_text=True)
        leaked = [value for value in values if re.search(rf"(?<!\w){re.escape(value)}(?!\w)", body)]
        assert leaked == [], (path, leaked[:5])


def xlsx_text(data: bytes) -> str:
    """Every cell of every sheet, as text."""
    book = load_workbook(io.BytesIO(data))
    return "\n".join(str(value) for sheet in book for row in sheet.iter_rows(values_only=True)
                     for value in row if value is not None)


# --- who may see it ------------------------------------------------------------------------------------------


def test_a_national_analyst_sees_the_dashboard_and_tenant_staff_do_not(app, make, two_filled):
    a, _ = two_filled
    analyst = client_of(app, make.national_user(NationalRole.NATIONAL_ANALYST))
    assert analyst.get("/landelijk/").status_code == 200
    assert analyst.get("/landelijk/cijfers.csv").status_code == 200
    for role in (TenantRole.TENANT_ADMIN, TenantRole.COORDINATOR, TenantRole.GEMEENTE_VIEWER):
        staff = client_of(app, make.user(a, role), f"/{a.slug}")
        for path in ("/landelijk/", "/landelijk/cijfers.csv"):
            response = staff.get(path)
            assert response.status_code == 302 and response.headers["Location"].startswith("/landelijk/login")
            assert a.name not in response.get_data(as_text=True)
    assert client_of(app).get("/landelijk/cijfers.csv").status_code == 302


# --- cost ------------------------------------------------------------------------------------------------------


def statements_of_one_page(app, client, path: str) -> int:
    count = 0

    def counter(*_args, **_kwargs):
        nonlocal count
        count += 1

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", counter)
    try:
        assert client.get(path).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", counter)
    return count


def test_the_dashboard_takes_the_same_number_of_statements_for_2_and_6_gemeenten(app, make, two_filled):
    client = client_of(app, make.national_user(NationalRole.NATIONAL_ADMIN))
    client.get("/landelijk/")  # warm up
    with_two = statements_of_one_page(app, client, "/landelijk/")
    for _ in range(4):
        gemeente = make.tenant()
        fill_b(app, gemeente)
        Builder(app, gemeente).contract(local_today() + timedelta(days=10))
    with_six = statements_of_one_page(app, client, "/landelijk/")
    assert with_two == with_six
    assert statements_of_one_page(app, client, "/landelijk/cijfers.csv") <= with_six
