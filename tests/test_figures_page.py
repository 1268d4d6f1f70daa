"""A gemeente's own figures at /<slug>/app/cijfers: the same figures as the national table, exact and
for its own gemeente only; who may see them; and that the national office never gets into a
gemeente's pages about people (404), while the gemeente's read-only contact gets figures only."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from domain.accounts.models import NationalRole, TenantRole
from domain.families.models import Family
from domain.families.records import dutch_day, local_today
from domain.koppelingen.models import Koppeling
from tenants.db import db
from tests.test_reporting import ON, client_of, fill_a, fill_b, personal_values
from tests.test_vog import in_tenant

THIS_YEAR = str(local_today().year)


@pytest.fixture
def two_filled(app, make):
    a, b = make.tenant(f"Aaa Eigenstad {uuid.uuid4().hex[:6]}"), make.tenant(f"Bbb Eigendorp {uuid.uuid4().hex[:6]}")
    fill_a(app, a)
    fill_b(app, b)
    return a, b


def figures_of(html: str) -> dict[str, str]:
    return dict(re.findall(r'<dd data-cijfer="([^"]+)"[^>]*>([^<]*)</dd>', html))


def page(app, person, gemeente, query: str = "") -> str:
    """The cijfers page for ``person`` (a Person, or a client already signed in)."""
    client = person if hasattr(person, "get") else client_of(app, person, f"/{gemeente.slug}")
    response = client.get(f"/{gemeente.slug}/app/cijfers{query}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_viewer_sees_the_own_gemeentes_figures_exactly(app, make, two_filled):
    a, b = two_filled
    html = page(app, make.user(b, TenantRole.GEMEENTE_VIEWER), b, f"?periode={THIS_YEAR}")
    shown = figures_of(html)
    today = local_today()
    # B's small numbers are its own: shown as they are, not as "< 5".
    assert shown["wachtend"] == "2" and shown["steungezinnen"] == "1" and shown["definitief"] == "1"
    assert shown["wachttijd-langst"] == f"{(today - ON).days + 8}"
    # Its one steunouder's VOG was to be renewed by ON + 10: valid on ON, not any more today.
    assert shown["vog-geldig"] == ("100%" if today <= ON + timedelta(days=10) else "0%")
    # The koppeling's proefperiode began on ON - 150 (2 January 2026), its vraaggezin registered 100 days before.
    began = ON - timedelta(days=150)
    expected_made = "1" if began.year == today.year else "0"
    assert shown["koppelingen-gemaakt"] == expected_made
    if expected_made == "1":
        assert shown["besparing"] == "€ 5.500" and shown["dagen-tot-koppeling"] == "100"
    assert not [value for value in shown.values() if "<" in value]
    # Nothing of gemeente A.
    assert a.name not in html and "€ 42.000" not in html
    assert f"Cijfers van {b.name}" in html and 'id="jaarverslag"' in html


def test_the_period_changes_the_flow_figures_not_the_state(app, make, two_filled):
    a, _ = two_filled
    viewer = client_of(app, make.user(a, TenantRole.GEMEENTE_VIEWER), f"/{a.slug}")
    began = ON - timedelta(days=150)  # every proefperiode of A began that day
    in_year = figures_of(page(app, viewer, a, f"?periode={began.year}"))
    before = figures_of(page(app, viewer, a, f"?periode={began.year - 1}"))
    assert in_year["koppelingen-gemaakt"] == "7" and in_year["besparing"] == "€ 42.000"
    assert before["koppelingen-gemaakt"] == "0" and before["besparing"] == "€ 0"
    assert in_year["wachtend"] == before["wachtend"] == "6"  # the state today, whatever the period
    # A's contracts end on ON - 10, ON + 30 and ON + 400: the next one from today.
    next_end = min(day for day in (ON - timedelta(days=10), ON + timedelta(days=30), ON + timedelta(days=400))
                   if day >= local_today())
    assert in_year["contract"] == dutch_day(next_end)
    # A period that is not offered falls back to the last twelve months.
    assert "de laatste 12 maanden" in page(app, viewer, a, "?periode=1999")


def test_every_tenant_role_sees_the_figures_and_the_page_holds_no_personal_data(app, make, two_filled, owner_engine):
    a, _ = two_filled
    values = personal_values(owner_engine)
    for role in TenantRole:
        html = page(app, make.user(a, role), a)
        assert figures_of(html)["wachtend"] == "6"
        leaked = [value for value in values if re.search(rf"(?<!\w){re.escape(value)}(?!\w)", html)
                  and value not in (a.name,)]
        # The signed-in user's own name is in the page header; nothing about families is.
        assert [value for value in leaked if not value.startswith("Test ")] == []


def test_another_gemeentes_figures_are_out_of_reach(app, make, two_filled):
    a, b = two_filled
    client = client_of(app, make.user(a, TenantRole.GEMEENTE_VIEWER), f"/{a.slug}")
    response = client.get(f"/{b.slug}/app/cijfers")
    assert response.status_code == 302 and response.headers["Location"].startswith(f"/{b.slug}/login")
    assert b.name not in client.get(f"/{a.slug}/app/cijfers?provincie=x&gemeente={b.slug}").get_data(as_text=True)


def _family_and_koppeling(app, gemeente) -> tuple[int, int]:
    def ids():
        return (db.session.scalar(select(Family.id).order_by(Family.id)),
                db.session.scalar(select(Koppeling.id).order_by(Koppeling.id)))
    return in_tenant(app, gemeente, ids)


def gemeente_pages(gemeente, family_id: int, koppeling_id: int) -> list[str]:
    prefix = f"/{gemeente.slug}/app"
    return [f"{prefix}/", f"{prefix}/gezinnen/", f"{prefix}/gezinnen/{family_id}", f"{prefix}/koppelingen/",
            f"{prefix}/koppelingen/{koppeling_id}", f"{prefix}/vog/", f"{prefix}/cijfers"]


def test_a_national_analyst_sees_figures_but_no_gemeente_page(app, make, two_filled):
    a, _ = two_filled
    family_id, koppeling_id = _family_and_koppeling(app, a)
    analyst = client_of(app, make.national_user(NationalRole.NATIONAL_ANALYST))
    assert analyst.get("/landelijk/").status_code == 200
    for path in gemeente_pages(a, family_id, koppeling_id):
        response = analyst.get(path)
        assert response.status_code == 404, path
        assert "Pagina niet gevonden" in response.get_data(as_text=True)


def test_the_gemeente_viewer_gets_figures_and_nothing_about_families(app, make, two_filled):
    a, _ = two_filled
    family_id, koppeling_id = _family_and_koppeling(app, a)
    viewer = client_of(app, make.user(a, TenantRole.GEMEENTE_VIEWER), f"/{a.slug}")
    for path in gemeente_pages(a, family_id, koppeling_id):
        response = viewer.get(path)
        if path.endswith(("/app/", "/cijfers")):
            assert response.status_code == 200, path
        else:
            assert response.status_code == 403, path
    nav = viewer.get(f"/{a.slug}/app/").get_data(as_text=True)
    assert f'href="/{a.slug}/app/cijfers"' in nav and f'href="/{a.slug}/app/gezinnen/"' not in nav


def test_the_page_costs_the_same_statements_whatever_the_data(app, make, two_filled):
    from tests.test_reporting import statements_of_one_page

    a, _ = two_filled
    client = client_of(app, make.user(a, TenantRole.TENANT_ADMIN), f"/{a.slug}")
    client.get(f"/{a.slug}/app/cijfers")  # warm up
    small = statements_of_one_page(app, client, f"/{a.slug}/app/cijfers")
    fill_a(app, a)  # twice the data
    assert statements_of_one_page(app, client, f"/{a.slug}/app/cijfers") == small


@pytest.fixture(scope="module")
def owner_engine(settings):
    from sqlalchemy import create_engine, pool

    engine = create_engine(settings.database_url, poolclass=pool.NullPool)
    yield engine
    engine.dispose()


def test_dates_on_the_page_are_dutch(app, make, two_filled):
    a, _ = two_filled
    html = page(app, make.user(a, TenantRole.GEMEENTE_VIEWER), a, f"?periode={THIS_YEAR}")
    assert f"{dutch_day(date(local_today().year, 1, 1))} tot en met {dutch_day(local_today())}" in html
