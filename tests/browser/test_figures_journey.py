"""Figures in the browser, no personal data anywhere: a national analyst reads the dashboard, narrows it
to a province and a period (a plain form, no JavaScript), sorts a column, downloads the table as Excel and
CSV, and gets a 404 at a gemeente's family page; a gemeente's read-only contact opens its own cijfers
page, asks for the yearly effect report, sees it being made, and once the worker's job has run (here:
browser tests have no worker) downloads the PDF. axe-core reports no violations in any state of the pages."""

from __future__ import annotations

import csv
import io
import re

import pyotp
import pytest
from flask import Flask
from openpyxl import load_workbook
from playwright.sync_api import BrowserContext, Page, expect
from pypdf import PdfReader
from sqlalchemy import select

from domain.accounts.models import NationalRole, TenantRole
from domain.families.models import Family
from domain.families.records import local_today
from domain.outbox.models import JobStatus
from domain.reporting.effect_report import REPORT_JOB_KIND
from domain.reporting.models import EffectReport
from tenants.db import db
from tests.browser.test_accessibility import TENANT, assert_accessible
from tests.browser.test_koppeling_journey import demo_gemeente, in_demo
from tests.browser.test_signing_journey import run_outbox_job
from tests.conftest import Person

pytestmark = pytest.mark.browser

PROVINCE = "Friesland"  # Smallingerland's province; the other demo gemeenten lie elsewhere
ELSEWHERE = "Aalsmeer"  # a demo gemeente in Noord-Holland


def sign_in_as(page: Page, person: Person, prefix: str, landing: str) -> None:
    """Password, then a fresh code from the person's own TOTP secret, through the real forms."""
    page.goto(f"{prefix}/login")
    page.get_by_label("E-mailadres").fill(person.email)
    page.get_by_label("Wachtwoord").fill(person.password)
    page.locator("main").get_by_role("button", name="Verder").click()
    expect(page).to_have_url(re.compile(rf"{prefix}/login/code$"))
    page.locator("input[name=code]").fill(pyotp.TOTP(person.totp_secret).now())
    page.locator("main").get_by_role("button", name="Inloggen").click()
    expect(page).to_have_url(re.compile(rf"{landing}$"))


def _header_cell(page: Page, label: str):
    return page.locator("#cijfers-tabel thead th").filter(has=page.get_by_role("link", name=label, exact=True))


def test_the_analyst_reads_filters_sorts_and_downloads_the_national_figures(context: BrowserContext, app: Flask,
                                                                          make) -> None:
    analyst = make.national_user(NationalRole.NATIONAL_ANALYST)
    page: Page = context.new_page()
    sign_in_as(page, analyst, "/landelijk", "/landelijk/")

    # The dashboard: key figures, the charts (each with its figures as a table), the table with totals.
    expect(page.get_by_role("heading", level=1)).to_have_text("Landelijk bureau")
    key_figures = page.locator("#kerncijfers dl.key-figures .key-figures__item")
    expect(key_figures).to_have_count(6)
    expect(page.locator("#kerncijfers")).to_contain_text("gezinnen wachten nu op een steungezin")
    expect(page.locator("#trends svg[role=img]")).to_have_count(2)
    # Gemeenten compared: a chart each, or "nothing to show" where every gemeente has fewer than 5.
    expect(page.locator("#vergelijking figure.chart")).to_have_count(2)
    expect(page.get_by_role("img", name=re.compile("^Wachtende gezinnen nu"))).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("^Nieuwe koppelingen per maand"))).to_be_visible()
    table = page.locator("#cijfers-tabel")
    expect(table.locator("tbody")).to_contain_text("Smallingerland")
    expect(table.locator("tbody")).to_contain_text(ELSEWHERE)
    expect(table.locator("tfoot th[scope=row]")).to_have_text("Totaal")
    # An analyst sees no gemeente's operations: the failed-jobs column is the admin's.
    expect(table.locator("thead")).not_to_contain_text("Mislukte achtergrondtaken")
    expect(_header_cell(page, "Gemeente")).to_have_attribute("aria-sort", "ascending")
    assert_accessible(page)

    # A province and a period, through the form.
    last_year = str(local_today().year - 1)
    page.get_by_label("Provincie", exact=True).select_option(PROVINCE)
    page.get_by_label("Periode", exact=True).select_option(last_year)
    page.get_by_role("button", name="Toon cijfers").click()
    expect(page).to_have_url(re.compile(rf"provincie={PROVINCE}"))
    expect(page.get_by_label("Provincie", exact=True)).to_have_value(PROVINCE)
    expect(page.get_by_label("Periode", exact=True)).to_have_value(last_year)
    expect(page.get_by_role("heading", name=f"In het kort: {PROVINCE}")).to_be_visible()
    expect(page.locator("#kerncijfers")).to_contain_text(f"koppelingen gemaakt in {last_year}")
    expect(table.locator("tfoot th[scope=row]")).to_have_text(f"Totaal {PROVINCE}")
    expect(table.locator("tbody")).to_contain_text("Smallingerland")
    expect(table.locator("tbody")).not_to_contain_text(ELSEWHERE)
    for cell in table.locator("tbody tr td:nth-of-type(1)").all():  # the Provincie column
        expect(cell).to_have_text(PROVINCE)
    assert_accessible(page)

    # Sorting: a click on a header sorts by it (ascending), a second click turns it round.
    _header_cell(page, "Wachtende gezinnen").get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"sorteer=wachtend"))
    expect(_header_cell(page, "Wachtende gezinnen")).to_have_attribute("aria-sort", "ascending")
    expect(_header_cell(page, "Gemeente")).not_to_have_attribute("aria-sort", re.compile("."))
    _header_cell(page, "Wachtende gezinnen").get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"sorteer=-wachtend"))
    expect(_header_cell(page, "Wachtende gezinnen")).to_have_attribute("aria-sort", "descending")
    # The filter survives the sorting.
    expect(table.locator("tfoot th[scope=row]")).to_have_text(f"Totaal {PROVINCE}")
    expect(page.get_by_label("Periode", exact=True)).to_have_value(last_year)
    assert_accessible(page)

    # The table as Excel and as CSV, for the same selection.
    with page.expect_download() as excel:
        page.get_by_role("link", name="Excel", exact=True).click()
    assert excel.value.suggested_filename.endswith(f"-friesland-{last_year}-{local_today().isoformat()}.xlsx")
    with open(excel.value.path(), "rb") as handle:
        book = load_workbook(io.BytesIO(handle.read()))  # the download's path has no .xlsx suffix
    assert "Cijfers per gemeente" in book.sheetnames
    sheet_rows = [list(row) for row in book["Cijfers per gemeente"].iter_rows(values_only=True)]
    names = [row[1] for row in sheet_rows[1:]]
    assert "Smallingerland" in names and ELSEWHERE not in names
    assert sheet_rows[0][:3] == ["CBS-code", "Gemeente", "Provincie"]

    with page.expect_download() as comma_separated:
        page.get_by_role("link", name="CSV", exact=True).click()
    assert comma_separated.value.suggested_filename.endswith(".csv")
    with open(comma_separated.value.path(), encoding="utf-8-sig") as handle:
        csv_rows = list(csv.reader(io.StringIO(handle.read()), delimiter=";"))
    assert csv_rows[0][:3] == ["CBS-code", "Gemeente", "Provincie"]
    assert [row[1] for row in csv_rows[1:]] == names  # the same rows (and totals) as in the Excel file

    # Figures, never people: a gemeente's family page is not found for the national office.
    gemeente = demo_gemeente(app)
    family_id = in_demo(app, gemeente, lambda: db.session.scalar(select(Family.id).limit(1)))
    assert family_id is not None, "the demo gemeente has no families"
    response = page.goto(f"{TENANT}/app/gezinnen/{family_id}")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Pagina niet gevonden")
    assert_accessible(page)


def _chart_total(page: Page, chart_id: str) -> int:
    """The sum of a chart's figures, read from the table that follows it (in its closed details)."""
    cells = page.locator(f"figure:has(#{chart_id}-caption) details tbody td").all_text_contents()
    assert cells, f"chart {chart_id} has no figures"
    return sum(int(cell) for cell in cells)


def _latest_report(app: Flask, gemeente) -> tuple[int, str]:
    def latest():
        report = db.session.scalars(select(EffectReport).order_by(EffectReport.id.desc()).limit(1)).first()
        return report.id, report.status
    return in_demo(app, gemeente, latest)


def test_the_gemeente_viewer_reads_its_figures_and_downloads_the_effect_report(context: BrowserContext, app: Flask,
                                                                             make) -> None:
    gemeente = demo_gemeente(app)
    viewer = make.user(gemeente, TenantRole.GEMEENTE_VIEWER)
    page: Page = context.new_page()
    sign_in_as(page, viewer, TENANT, f"{TENANT}/app/")

    page.get_by_role("navigation", name="Hoofdmenu").get_by_role("link", name="Cijfers").click()
    expect(page).to_have_url(re.compile(rf"{TENANT}/app/cijfers$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Cijfers van {gemeente.name}")
    expect(page.get_by_role("navigation", name="Hoofdmenu").get_by_role("link", name="Cijfers")).to_have_attribute(
        "aria-current", "page")
    # Its own figures, exact (no "< 5": it is the gemeente's own data), and the monthly charts.
    waiting = page.locator("dd[data-cijfer=wachtend]")
    expect(waiting).to_have_text(re.compile(r"^\d+$"))
    expect(page.locator("dd[data-cijfer=koppelingen-gemaakt]")).to_have_text(re.compile(r"^\d+$"))
    expect(page.locator("dd[data-cijfer=besparing]")).to_have_text(re.compile(r"^€ [\d.]+$"))
    expect(page.locator("#cijfers-nu dd")).not_to_have_count(0)
    expect(page.locator("svg[role=img]")).to_have_count(2)
    expect(page.locator("#cijfers-nu")).not_to_contain_text("< 5")
    expect(page.locator("#cijfers-periode")).not_to_contain_text("< 5")
    expect(page.locator("#cijfers-doelen")).to_be_visible()
    # The months add up to the period's figure (two different queries).
    made = page.locator("dd[data-cijfer=koppelingen-gemaakt]")
    assert _chart_total(page, "koppelingen") == int(made.inner_text())
    assert_accessible(page)

    # Another period: the flow figures follow it, the state today does not.
    waiting_now = waiting.inner_text()
    this_year = str(local_today().year)
    page.get_by_label("Periode", exact=True).select_option(this_year)
    page.get_by_role("button", name="Toon cijfers").click()
    expect(page).to_have_url(re.compile(rf"periode={this_year}"))
    expect(page.get_by_role("heading", name=f"In {this_year}")).to_be_visible()
    expect(waiting).to_have_text(waiting_now)
    assert _chart_total(page, "koppelingen") == int(made.inner_text())
    assert len(page.locator("figure:has(#koppelingen-caption) details tbody tr").all()) == local_today().month
    assert_accessible(page)

    # The Jaarverslag: asked for, then in the queue, with a link to look again.
    section = page.locator("section.effect-report")
    offered = [option.get_attribute("value")
               for option in section.get_by_label("Jaar", exact=True).locator("option").all()]
    assert this_year in offered
    last_year = str(local_today().year - 1)
    year = last_year if last_year in offered else this_year  # a whole year, when the gemeente has one
    section.get_by_label("Jaar", exact=True).select_option(year)
    section.get_by_role("button", name="Jaarverslag maken").click()
    expect(page).to_have_url(re.compile(rf"{TENANT}/app/cijfers#jaarverslag$"))
    expect(page.get_by_role("status")).to_contain_text(f"Het jaarverslag {year} wordt gemaakt")
    expect(page.locator("#jaarverslag-bezig")).to_contain_text("Een jaarverslag wordt nog gemaakt")
    row = page.locator("#jaarverslagen tbody tr").first
    expect(row.get_by_role("rowheader")).to_have_text(year)
    expect(row).to_contain_text(re.compile("In de wachtrij|Wordt gemaakt"))
    expect(row.get_by_role("link", name="Ververs deze pagina")).to_be_visible()
    assert_accessible(page)

    # The worker's job (run here, as the worker would), then a look again: ready for download.
    report_id, status = _latest_report(app, gemeente)
    assert status == "wachtrij"
    assert run_outbox_job(app, gemeente.id, f"{REPORT_JOB_KIND}:{report_id}") == JobStatus.DONE
    row.get_by_role("link", name="Ververs deze pagina").click()
    expect(page).to_have_url(re.compile(r"/app/cijfers\?ververs=1#jaarverslag$"))  # a new page, not a scroll
    expect(page.locator("#jaarverslag-bezig")).to_have_count(0)
    expect(row).to_contain_text("Klaar")
    download_link = row.get_by_role("link", name=re.compile(rf"^Jaarverslag {year} downloaden \(PDF, "))
    expect(download_link).to_be_visible()
    assert_accessible(page)

    with page.expect_download() as report:
        download_link.click()
    assert report.value.suggested_filename == f"effectrapportage-{gemeente.slug}-{year}.pdf"
    with open(report.value.path(), "rb") as handle:
        pdf = handle.read()
    assert pdf.startswith(b"%PDF")
    text = "\n".join(page_.extract_text() or "" for page_ in PdfReader(io.BytesIO(pdf)).pages)
    assert gemeente.name in text and "Effectrapportage" in text and year in text
