"""Importing families from the template (dry run, then all-or-nothing), and formula-safe CSV export.

Everything goes through the real pages and a real PostgreSQL with RLS; counts are read per tenant.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import uuid
from datetime import UTC, date, datetime

import pytest
from flask import Flask
from itsdangerous import URLSafeTimedSerializer
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from domain.accounts.models import TenantRole
from domain.audit.models import AuditEvent
from domain.audit.services import SYSTEM
from domain.families.csv_safety import csv_text, neutralise_cell
from domain.families.importing import HEADERS, MAX_ROWS, check_file, import_rows
from domain.families.models import (
    Consent,
    Family,
    FamilyMember,
    FamilyStatusChange,
    MemberRole,
)
from tenants.db import db
from tenants.services import use_tenant
from tests.conftest import csrf_token, login
from tests.test_invitations import in_tenant

THIS_YEAR = datetime.now(UTC).year


def good_row(**changes) -> dict[str, str]:
    marker = uuid.uuid4().hex[:6]
    row = {
        "soort": "vraag", "status": "wachtend", "voornaam contactpersoon": f"Anna{marker}",
        "achternaam contactpersoon": "de Jong", "e-mailadres": f"anna-{marker}@example.org",
        "telefoon": "06 12345678", "straat en huisnummer": "Dorpsstraat 12a", "postcode": "9201 AB",
        "plaats": "", "aangemeld via": "buurtteam", "kinderen": "Sam 2016; Noor 2019",
        "andere volwassenen": "Piet de Vries 1980", "aangemeld op": "03-09-2024", "wachtend sinds": "10-10-2024",
        "toestemming verwerking op": "03-09-2024",
    }
    row.update(changes)
    return row


def steun_row(**changes) -> dict[str, str]:
    return good_row(**{"soort": "steun", "status": "beschikbaar", "wachtend sinds": "", "kinderen": "",
                       "aangemeld via": "zelf", "postcode": "1012AB", **changes})


def as_csv(rows: list[dict[str, str]], delimiter: str = ";", bom: bool = True) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(HEADERS)
    for row in rows:
        writer.writerow([row[header] for header in HEADERS])
    return (("\ufeff" if bom else "") + buffer.getvalue()).encode()


def as_xlsx(rows: list[dict], headers=HEADERS) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(list(headers))
    for row in rows:
        sheet.append([row.get(header) for header in headers])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def base(gemeente) -> str:
    return f"/{gemeente.slug}/app/gezinsbeheer"


@pytest.fixture
def admin_client(app: Flask, client, two_tenants):
    login(client, two_tenants["a_admin"], f"/{two_tenants['a'].slug}")
    return client


def dry_run(client, gemeente, content: bytes, filename: str = "gezinnen.csv"):
    token = csrf_token(client, f"{base(gemeente)}/import")
    return client.post(f"{base(gemeente)}/import", data={"csrf_token": token, "file": (io.BytesIO(content), filename)},
                       content_type="multipart/form-data")


def proof_of(page: str) -> str | None:
    match = re.search(r'name="checked" type="hidden" value="([^"]+)"', page) or re.search(
        r'id="checked" name="checked" type="hidden" value="([^"]+)"', page)
    return match.group(1) if match else None


def commit(client, gemeente, content: bytes, proof: str | None, filename: str = "gezinnen.csv"):
    token = csrf_token(client, f"{base(gemeente)}/import")
    return client.post(f"{base(gemeente)}/import/bevestigen",
                       data={"csrf_token": token, "checked": proof or "", "file": (io.BytesIO(content), filename)},
                       content_type="multipart/form-data")


def counts(app: Flask, tenant_id: int) -> dict[str, int]:
    def read():
        def n(model, *where):
            return db.session.scalar(select(func.count()).select_from(model).where(*where))
        return {
            "families": n(Family), "members": n(FamilyMember), "consents": n(Consent),
            "history": n(FamilyStatusChange),
            "imported": n(AuditEvent, AuditEvent.action == "family.imported"),
            "batches": n(AuditEvent, AuditEvent.action == "families.imported"),
        }
    return in_tenant(app, tenant_id, read)


NOTHING = {"families": 0, "members": 0, "consents": 0, "history": 0, "imported": 0, "batches": 0}


# --- the template --------------------------------------------------------------------------------------


def test_templates_have_the_headers(admin_client, two_tenants):
    a = two_tenants["a"]
    page = admin_client.get(f"{base(a)}/import")
    assert page.status_code == 200 and "sjabloon.xlsx" in page.get_data(as_text=True)
    response = admin_client.get(f"{base(a)}/import/sjabloon.csv")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    assert next(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";")) == list(HEADERS)
    assert "toestemming verwerking op" in HEADERS and "kinderen" in HEADERS

    response = admin_client.get(f"{base(a)}/import/sjabloon.xlsx")
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(response.data), read_only=True).worksheets[0]
    assert [cell for cell in next(sheet.iter_rows(values_only=True))] == list(HEADERS)


# --- a good file: dry run writes nothing, commit writes everything -------------------------------------


def test_good_csv_dry_run_reports_nothing_and_writes_nothing_then_commit_writes_all(app, admin_client, two_tenants):
    a, b = two_tenants["a"], two_tenants["b"]
    rows = [good_row(), steun_row(**{"telefoon": "+31 6 12345678"}),
            good_row(**{"status": "afgemeld", "wachtend sinds": "", "kinderen": "Mo 2012"})]
    content = as_csv(rows)

    page = dry_run(admin_client, a, content)
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html[:2000]
    assert "Alle 3 rijen zijn in orde" in html
    assert "probleem" not in html.split("Bestand controleren")[0].lower()
    assert counts(app, a.id) == NOTHING  # a dry run writes nothing
    proof = proof_of(html)
    assert proof

    response = commit(admin_client, a, content, proof)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    assert "3 gezinnen zijn geïmporteerd" in admin_client.get(f"{base(a)}/import").get_data(as_text=True)
    # contact + other adult (+ children): 2+2, 2+0, 2+1
    assert counts(app, a.id) == {"families": 3, "members": 9, "consents": 3, "history": 3, "imported": 3,
                                 "batches": 1}
    assert counts(app, b.id) == NOTHING  # rows land in the importing tenant only

    def read():
        family = db.session.scalar(select(Family).where(Family.email == rows[0]["e-mailadres"]))
        members = db.session.scalars(select(FamilyMember).where(FamilyMember.family_id == family.id)
                                     .order_by(FamilyMember.id)).all()
        consent = db.session.scalar(select(Consent).where(Consent.family_id == family.id))
        history = db.session.scalar(select(FamilyStatusChange).where(FamilyStatusChange.family_id == family.id))
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "family.imported",
                                                           AuditEvent.object_id == family.id))
        batch = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "families.imported"))
        steun = db.session.scalar(select(Family).where(Family.email == rows[1]["e-mailadres"]))
        closed = db.session.scalar(select(Family).where(Family.email == rows[2]["e-mailadres"]))
        return {
            "family": (family.kind, family.status, family.postcode, family.pc4, family.place, family.phone,
                       family.street_address, family.referral_source, family.registered_at.date(),
                       family.waiting_since.date(), family.latitude is not None, family.tenant_id),
            "members": [(m.role, m.first_name, m.last_name, m.birth_year, m.is_contact) for m in members],
            "consent": (consent.kind, consent.text_version, consent.given_at.date(), consent.withdrawn_at),
            "history": (history.from_status, history.to_status, history.changed_by_label),
            "event": (event.actor_label, event.details["row"]),
            "batch": batch.details["count"],
            "steun": (steun.kind, steun.status, steun.phone, steun.postcode, steun.place, steun.waiting_since),
            "closed": (closed.status, closed.closed_at is not None),
        }

    found = in_tenant(app, a.id, read)
    first = rows[0]["voornaam contactpersoon"]
    assert found["family"] == ("vraag", "wachtend", "9201 AB", "9201", "Drachten", "06 12345678", "Dorpsstraat 12a",
                               "buurtteam", date(2024, 9, 3), date(2024, 10, 10), True, a.id)
    assert found["members"] == [
        ("volwassene", first, "de Jong", None, True),
        ("volwassene", "Piet", "de Vries", 1980, False),
        ("kind", "Sam", None, 2016, False),
        ("kind", "Noor", None, 2019, False),
    ]
    assert found["consent"] == ("verwerking", "import", date(2024, 9, 3), None)
    assert found["history"] == (None, "wachtend", two_tenants["a_admin"].email)
    assert found["event"] == (two_tenants["a_admin"].email, 2)
    assert found["batch"] == 3
    assert found["steun"] == ("steun", "beschikbaar", "+31 6 12345678", "1012 AB", "Amsterdam", None)
    assert found["closed"] == ("afgemeld", True)


def test_good_xlsx_with_real_dates_and_numbers(app, admin_client, two_tenants):
    a = two_tenants["a"]
    # openpyxl writes naive datetimes (Excel has no time zones): a date cell as Excel holds it.
    row = good_row(**{"aangemeld op": datetime(2024, 5, 6), "toestemming verwerking op": datetime(2024, 5, 6),  # noqa: DTZ001
                      "wachtend sinds": None, "telefoon": "0612345678", "plaats": None})
    content = as_xlsx([row, steun_row(**{"postcode": "9201ab"})])
    page = dry_run(admin_client, a, content, "gezinnen.xlsx")
    html = page.get_data(as_text=True)
    assert "Alle 2 rijen zijn in orde" in html, html[:3000]
    assert counts(app, a.id) == NOTHING
    assert commit(admin_client, a, content, proof_of(html), "gezinnen.xlsx").status_code == 302
    assert counts(app, a.id)["families"] == 2

    def read():
        family = db.session.scalar(select(Family).where(Family.email == row["e-mailadres"]))
        return family.registered_at.date(), family.waiting_since.date(), family.phone
    assert in_tenant(app, a.id, read) == (date(2024, 5, 6), date(2024, 5, 6), "0612345678")


def test_comma_separated_csv_without_bom_is_read_too(app, admin_client, two_tenants):
    page = dry_run(admin_client, two_tenants["a"], as_csv([good_row()], delimiter=",", bom=False))
    assert "Alle 1 rijen zijn in orde" in page.get_data(as_text=True)


# --- problems: every row, every column, nothing written --------------------------------------------------


def test_one_bad_row_among_good_ones_lists_its_problems_and_commit_is_refused(app, settings, admin_client,
                                                                               two_tenants):
    a = two_tenants["a"]
    bad = good_row(**{
        "soort": "buur", "status": "klaar", "voornaam contactpersoon": "", "postcode": "92O1 AB",
        "kinderen": f"Kim {THIS_YEAR + 1}", "aangemeld op": "31-02-2024", "toestemming verwerking op": "",
    })
    unknown_postcode = good_row(**{"postcode": "1000 AA"})
    content = as_csv([good_row(), bad, good_row(), unknown_postcode])
    page = dry_run(admin_client, a, content)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    table = html.split("<tbody")[1].split("</tbody>")[0]
    problems = re.findall(r"<td[^>]*>(\d+)</td>\s*<td[^>]*>([^<]*)</td>\s*<td[^>]*>([^<]*)</td>", table)
    by_column = {(int(row), column): message for row, column, message in problems}
    assert {row for row, _ in by_column} == {3, 5}  # the good rows 2 and 4 have no problems
    assert "Onbekende soort" in by_column[(3, "soort")]
    assert "Onbekende status" in by_column[(3, "status")]
    assert "geen volwassene" in by_column[(3, "voornaam contactpersoon")]
    assert "postcode" in by_column[(3, "postcode")].lower()
    assert "toekomst" in by_column[(3, "kinderen")]
    assert "geen datum" in by_column[(3, "aangemeld op")]
    assert "toestemming" in by_column[(3, "toestemming verwerking op")]
    assert "kennen we niet" in by_column[(5, "postcode")]
    assert "Importeren</button>" not in html and proof_of(html) is None
    assert counts(app, a.id) == NOTHING

    # Even with a (forged-valid) proof for exactly this file, the commit checks again and writes nothing.
    with app.app_context():
        forged = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="family-import-check").dumps(
            {"tenant": a.id, "user": two_tenants["a_admin"].id, "sha256": hashlib.sha256(content).hexdigest()})
    response = commit(admin_client, a, content, forged)
    assert response.status_code == 422
    assert "kennen we niet" in response.get_data(as_text=True)
    assert counts(app, a.id) == NOTHING


def test_commit_needs_the_checked_file(app, admin_client, two_tenants):
    a = two_tenants["a"]
    checked = as_csv([good_row()])
    proof = proof_of(dry_run(admin_client, a, checked).get_data(as_text=True))
    other = as_csv([good_row(), good_row()])
    for content, token in ((other, proof), (checked, "vervalst"), (checked, None)):
        response = commit(admin_client, a, content, token)
        assert response.status_code == 422
        assert "niet het bestand dat je net hebt laten controleren" in response.get_data(as_text=True)
    assert counts(app, a.id) == NOTHING
    # A proof is bound to the tenant and user: B's admin cannot use A's.
    b_client = app.test_client()
    login(b_client, two_tenants["b_admin"], f"/{two_tenants['b'].slug}")
    assert commit(b_client, two_tenants["b"], checked, proof).status_code == 422
    assert counts(app, two_tenants["b"].id) == NOTHING


def test_a_failure_while_writing_leaves_nothing(app, two_tenants):
    """All or nothing: the last row breaks a database constraint, and the earlier rows go too."""
    a = two_tenants["a"]
    check = check_file("g.csv", as_csv([good_row(), good_row(), good_row()]))
    assert check.ok
    check.rows[-1].phone = "0" * 40  # longer than the column: PostgreSQL refuses it
    with app.app_context():
        use_tenant(a.id)
        with pytest.raises(Exception):  # noqa: B017 - the database's own error
            import_rows(check.rows, SYSTEM)
            db.session.commit()
        db.session.rollback()
        db.session.remove()
    assert counts(app, a.id) == NOTHING


@pytest.mark.parametrize("cell", ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\tTab", "\r=1", "  =1"])
def test_formula_injection_cells_are_refused(app, admin_client, two_tenants, cell):
    a = two_tenants["a"]
    content = as_csv([good_row(**{"achternaam contactpersoon": cell, "straat en huisnummer": cell})])
    html = dry_run(admin_client, a, content).get_data(as_text=True)
    assert html.count("mogelijk een formule") == 2, html[:3000]
    assert proof_of(html) is None
    assert counts(app, a.id) == NOTHING


def test_a_real_formula_in_an_xlsx_is_refused(app, admin_client, two_tenants):
    content = as_xlsx([good_row(**{"plaats": '=HYPERLINK("http://evil.example","klik")'})])
    html = dry_run(admin_client, two_tenants["a"], content, "g.xlsx").get_data(as_text=True)
    assert "mogelijk een formule" in html and proof_of(html) is None


@pytest.mark.parametrize(("content", "filename", "message"), [
    (as_xlsx([good_row()], headers=[*HEADERS[:3], "naam", *HEADERS[4:]]), "g.xlsx", "niet gemaakt van het sjabloon"),
    (b"soort;status\nvraag;wachtend\n", "g.csv", "deze kolommen ontbreken"),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\x00", "g.pdf", "geen spreadsheet"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "g.csv", "geen spreadsheet"),
    (b"PK\x03\x04 this is not a real zip", "g.xlsx", "kunnen we niet openen"),
    (b"\xff\xfe" + "soort;status".encode("utf-16-le"), "g.csv", "geen spreadsheet"),
    ("soort;status\n".encode("latin-1") + "caf\xe9".encode("latin-1"), "g.csv", "UTF-8"),
    (as_csv([]), "g.csv", "geen gezinnen"),
    (b"", "g.csv", "het bestand is leeg"),
])
def test_files_that_are_not_the_template_are_refused(app, admin_client, two_tenants, content, filename, message):
    html = dry_run(admin_client, two_tenants["a"], content, filename).get_data(as_text=True)
    assert message.lower() in html.lower(), html[:3000]
    assert proof_of(html) is None
    assert counts(app, two_tenants["a"].id) == NOTHING


def test_too_big_and_too_many_rows_are_refused(app, admin_client, two_tenants):
    a = two_tenants["a"]
    big = as_csv([good_row()]) + b"#" * (2 * 1024 * 1024)
    response = dry_run(admin_client, a, big)
    assert response.status_code == 413
    assert "groter dan 2 MB" in response.get_data(as_text=True)

    row = ";".join(good_row().values()) + "\n"
    many = as_csv([]) + (row * (MAX_ROWS + 1)).encode()
    assert len(many) < 2 * 1024 * 1024
    html = dry_run(admin_client, a, many).get_data(as_text=True)
    assert f"meer dan {MAX_ROWS} rijen" in html
    assert counts(app, a.id) == NOTHING


def test_coordinator_may_not_import_or_export_the_list(app, client, two_tenants):
    a = two_tenants["a"]
    login(client, two_tenants["a_coordinator"], f"/{a.slug}")
    token = csrf_token(client, f"/{a.slug}/app/")
    for path in ("/import", "/import/sjabloon.xlsx", "/import/sjabloon.csv", "/export.csv"):
        assert client.get(f"{base(a)}{path}").status_code == 403, path
    content = as_csv([good_row()])
    for path in ("/import", "/import/bevestigen"):
        response = client.post(f"{base(a)}{path}", data={"csrf_token": token, "file": (io.BytesIO(content), "g.csv")},
                               content_type="multipart/form-data")
        assert response.status_code == 403, path
    assert "Importeren</a>" not in client.get(f"/{a.slug}/app/").get_data(as_text=True)
    assert counts(app, a.id) == NOTHING


def test_admin_sees_the_nav_item(admin_client, two_tenants):
    html = admin_client.get(f"/{two_tenants['a'].slug}/app/").get_data(as_text=True)
    assert f'href="{base(two_tenants["a"])}/import"' in html and ">Importeren</a>" in html


# --- CSV export: no formulas -----------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
    ("+31 6 1234", "'+31 6 1234"),
    ("-1+2", "'-1+2"),
    ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
    ("\t=1", "'\t=1"),
    ("\r=1", "'\r=1"),
    ("  =1", "'  =1"),
    ("Anna", "Anna"),
    ("a=b", "a=b"),
    (None, ""),
    (-3, "-3"),
])
def test_neutralise_cell(value, expected):
    assert neutralise_cell(value) == expected


def test_csv_text_quotes_and_neutralises():
    text = csv_text(["a", "b"], [["=1;2", 'say "hi"']])
    assert text.startswith("\ufeff")
    assert list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";")) == [["a", "b"], ["'=1;2", 'say "hi"']]


def test_family_list_export_neutralises_formulas(app, admin_client, two_tenants):
    a, b = two_tenants["a"], two_tenants["b"]
    nasty = {"first": "=cmd|' /C calc'!A0", "last": "+SUM(1)", "street": "-2+3", "place": "@evil"}

    def add(tenant_id, email):
        family = Family(tenant_id=tenant_id, kind="vraag", status="aangemeld", email=email, postcode="9201 AB",
                        pc4="9201", place=nasty["place"], street_address=nasty["street"], referral_source="zelf",
                        registered_at=datetime.now(UTC))
        db.session.add(family)
        db.session.flush()
        db.session.add(FamilyMember(tenant_id=tenant_id, family_id=family.id, role=MemberRole.ADULT,
                                    first_name=nasty["first"], last_name=nasty["last"], is_contact=True))

    a_email, b_email = f"a-{uuid.uuid4().hex[:6]}@example.org", f"b-{uuid.uuid4().hex[:6]}@example.org"
    in_tenant(app, a.id, lambda: add(a.id, a_email))
    in_tenant(app, b.id, lambda: add(b.id, b_email))

    response = admin_client.get(f"{base(a)}/export.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff")), delimiter=";"))
    header, data = rows[0], rows[1:]
    assert len(data) == 1  # A's family only
    row = dict(zip(header, data[0], strict=True))
    assert row["e-mailadres"] == a_email and b_email not in response.get_data(as_text=True)
    assert row["voornaam contactpersoon"] == "'" + nasty["first"]
    assert row["achternaam contactpersoon"] == "'" + nasty["last"]
    assert row["straat en huisnummer"] == "'" + nasty["street"]
    assert row["plaats"] == "'" + nasty["place"]
    for cell in data[0]:
        assert cell[:1] not in ("=", "+", "-", "@", "\t", "\r"), cell
    events = in_tenant(app, a.id, lambda: db.session.scalars(
        select(AuditEvent.details).where(AuditEvent.action == "families.exported")).all())
    assert events == [{"format": "csv", "count": 1, "user_agent": events[0]["user_agent"]}]


def test_gemeente_viewer_has_no_access(app, make):
    gemeente = make.tenant()
    viewer = make.user(gemeente, TenantRole.GEMEENTE_VIEWER)
    client = app.test_client()
    login(client, viewer, f"/{gemeente.slug}")
    assert client.get(f"{base(gemeente)}/import").status_code == 403
    assert client.get(f"{base(gemeente)}/export.csv").status_code == 403
