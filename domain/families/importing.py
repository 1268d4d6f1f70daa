"""Importing families from a spreadsheet (the gemeente's old list), checked in full before anything is written.

Two steps. :func:`check_file` reads an uploaded .xlsx or .csv made from the template and reports
*every* problem of *every* row (row number as the spreadsheet shows it, column, message in Dutch)
without writing anything. :func:`import_rows` writes the checked rows — all of them, or (when the
caller rolls back on an error) none: families, members, the processing consent, the first entry
of the status history, an audit event per family and one for the whole import.

Safety: a file that is not the template (headers), not a spreadsheet, bigger than 2 MB or longer
than 2000 rows is refused as a whole. A cell that a spreadsheet would read as a formula (starting
with ``=``, ``+``, ``-``, ``@``, tab or CR) is refused, so nothing imported can turn into a formula
in a later export. The .xlsx is read with openpyxl in read-only mode with formulas *as text*
(``data_only=False``): a real formula cell shows up as "=…" and is refused, instead of its cached
result being taken on trust. Before openpyxl sees the file, the zip's declared sizes are checked,
so a small upload cannot unpack into gigabytes.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from email_validator import EmailNotValidError, validate_email

from domain.audit.services import Actor, record
from domain.families.csv_safety import BOM, csv_text, starts_like_formula
from domain.families.models import (
    Consent,
    ConsentKind,
    Family,
    FamilyKind,
    FamilyMember,
    FamilyStatus,
    FamilyStatusChange,
    MemberRole,
    ReferralSource,
)
from domain.geo.geocoder import Geocoder, Pc4Geocoder, PostcodeError
from domain.vog.services import ensure_vog_records
from tenants.db import db, session_tenant

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_ROWS = 2000
MAX_UNPACKED_BYTES = 64 * 1024 * 1024  # all members of the .xlsx zip together
CONSENT_TEXT_VERSION = "import"
TIMEZONE = ZoneInfo("Europe/Amsterdam")


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    explanation: str
    max_length: int | None = None


COLUMNS: tuple[Column, ...] = (
    Column("kind", "soort", "vraag (vraaggezin) of steun (steungezin)"),
    Column("status", "status", "aangemeld, intake, wachtend (alleen vraag), beschikbaar (alleen steun), "
                               "gekoppeld of afgemeld"),
    Column("first_name", "voornaam contactpersoon", "verplicht; de contactpersoon is een volwassene", 100),
    Column("last_name", "achternaam contactpersoon", "achternaam, met tussenvoegsel", 100),
    Column("email", "e-mailadres", "bijvoorbeeld naam@example.nl", 254),
    Column("phone", "telefoon", "bijvoorbeeld 06 12345678 of +31 6 12345678", 32),
    Column("street_address", "straat en huisnummer", "bijvoorbeeld Dorpsstraat 12a", 200),
    Column("postcode", "postcode", "verplicht, bijvoorbeeld 9201 AB"),
    Column("place", "plaats", "leeg: de plaats bij de postcode", 100),
    Column("referral_source", "aangemeld via", "zelf, buurtteam, consultatiebureau, school, huisarts of anders"),
    Column("children", "kinderen", "voornaam en geboortejaar, gescheiden door een puntkomma: Sam 2016; Noor 2019"),
    Column("other_adults", "andere volwassenen", "naam en eventueel geboortejaar: Piet de Vries 1980; Ans 1983"),
    Column("registered_on", "aangemeld op", "dd-mm-jjjj; leeg: de dag van de import"),
    Column("waiting_since", "wachtend sinds", "dd-mm-jjjj; alleen bij status wachtend (leeg: aangemeld op)"),
    Column("consent_on", "toestemming verwerking op", "verplicht, dd-mm-jjjj: wanneer het gezin toestemming gaf "
                                                      "voor het verwerken van zijn gegevens"),
)
HEADERS = tuple(column.header for column in COLUMNS)
_BY_KEY = {column.key: column for column in COLUMNS}

KIND_WORDS = {"vraag": FamilyKind.VRAAG, "vraaggezin": FamilyKind.VRAAG,
              "steun": FamilyKind.STEUN, "steungezin": FamilyKind.STEUN}
_PHONE = re.compile(r"^\+?[0-9][0-9 ()\-]{5,30}$")
_INTERNATIONAL_PHONE = re.compile(r"^\+[0-9][0-9 \-]{5,30}$")
_DATE = re.compile(r"^\s*(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})\s*$")
_PERSON = re.compile(r"^(?P<name>.*?)(?:\s+(?P<year>\d{4}))?$")


class ImportFileError(ValueError):
    """The file as a whole cannot be used (not the template, too big …); the message is for the user."""


@dataclass(frozen=True)
class Problem:
    row: int  # as the spreadsheet numbers it: the header is row 1
    column: str  # the column's header, or "" for the row as a whole
    message: str


@dataclass
class Person:
    first_name: str
    last_name: str | None
    birth_year: int | None


@dataclass
class FamilyRow:
    row: int
    kind: FamilyKind
    status: FamilyStatus
    contact: Person
    email: str | None
    phone: str | None
    street_address: str | None
    postcode: str
    pc4: str
    place: str | None
    latitude: float
    longitude: float
    referral_source: ReferralSource
    children: list[Person]
    other_adults: list[Person]
    registered_at: datetime
    waiting_since: datetime | None
    consent_at: datetime


@dataclass
class ImportCheck:
    """What a dry run found: the rows that can be written, and every problem."""

    rows: list[FamilyRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    row_count: int = 0  # data rows in the file (empty rows not counted)

    @property
    def ok(self) -> bool:
        return not self.problems and self.row_count > 0


# --- the template ---------------------------------------------------------------------------------


def template_csv() -> str:
    return csv_text(HEADERS, [])


def template_xlsx() -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Gezinnen"
    sheet.append(list(HEADERS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for index, column in enumerate(COLUMNS, start=1):
        letter = sheet.cell(row=1, column=index).column_letter
        sheet.column_dimensions[letter].width = max(14, len(column.header) + 4)
        # Text format, so Excel keeps postcodes, phone numbers and dates as typed.
        sheet.column_dimensions[letter].number_format = "@"
    sheet.freeze_panes = "A2"
    notes = workbook.create_sheet("Toelichting")
    notes.append(["kolom", "wat vul je in"])
    for column in COLUMNS:
        notes.append([column.header, column.explanation])
    notes.append([])
    notes.append(["Eén rij per gezin. Begin een cel niet met =, +, - of @: zulke cellen worden geweigerd."])
    notes.column_dimensions["A"].width = 28
    notes.column_dimensions["B"].width = 100
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --- reading the file -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TableRow:
    number: int  # as the spreadsheet numbers it
    cells: list[Any]  # exactly one per template column
    overflow: bool  # something was filled in right of the template's columns


def read_table(filename: str, content: bytes) -> list[TableRow]:
    """Every non-empty data row, after checking the file and its headers."""
    if len(content) > MAX_FILE_BYTES:
        raise ImportFileError("Het bestand is groter dan 2 MB. Splits het in kleinere bestanden.")
    if not content:
        raise ImportFileError("Het bestand is leeg.")
    name = (filename or "").lower()
    if content.startswith(b"PK\x03\x04"):
        rows = _xlsx_rows(content)
    elif name.endswith((".xls", ".ods", ".numbers")):
        raise ImportFileError("Dit soort spreadsheet kunnen we niet lezen. Sla het op als Excel-werkmap (.xlsx) "
                              "of als CSV (UTF-8) en probeer het opnieuw.")
    elif name.endswith((".csv", ".txt")):
        rows = _csv_rows(content)
    else:
        raise ImportFileError("Dit is geen spreadsheet. Kies een .xlsx- of .csv-bestand gemaakt van het sjabloon.")
    header_row = next(rows, None)
    if header_row is None:
        raise ImportFileError("Het bestand is leeg.")
    _check_headers(header_row[1])
    data: list[TableRow] = []
    width = len(HEADERS)
    for number, cells in rows:
        if all(_blank(cell) for cell in cells):
            continue
        if len(data) >= MAX_ROWS:
            raise ImportFileError(f"Het bestand heeft meer dan {MAX_ROWS} rijen. Splits het in kleinere bestanden.")
        padded = [*cells[:width], *([None] * (width - len(cells)))]
        data.append(TableRow(number, padded, any(not _blank(cell) for cell in cells[width:])))
    if not data:
        raise ImportFileError("Het bestand heeft wel de kolommen van het sjabloon, maar geen gezinnen.")
    return data


def _blank(cell: Any) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _check_headers(cells: list[Any]) -> None:
    found = [str(cell).strip().lower() if cell is not None else "" for cell in cells]
    while found and not found[-1]:
        found.pop()
    expected = [header.lower() for header in HEADERS]
    if found == expected:
        return
    missing = [header for header in expected if header not in found]
    unknown = [header for header in found if header and header not in expected]
    parts = []
    if missing:
        parts.append("deze kolommen ontbreken: " + ", ".join(missing))
    if unknown:
        parts.append("deze kolommen kennen we niet: " + ", ".join(unknown))
    if not parts:
        parts.append("de kolommen staan in een andere volgorde")
    raise ImportFileError("Dit bestand is niet gemaakt van het sjabloon: " + "; ".join(parts)
                          + ". Download het sjabloon en zet de gegevens daarin.")


def _csv_rows(content: bytes) -> Iterator[tuple[int, list[Any]]]:
    if b"\x00" in content:
        raise ImportFileError("Dit is geen spreadsheet. Kies een .xlsx- of .csv-bestand gemaakt van het sjabloon.")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileError("Het CSV-bestand is niet in UTF-8 opgeslagen. Kies in Excel ‘CSV UTF-8’ bij "
                              "Opslaan als, of gebruik het .xlsx-sjabloon.") from None
    first_line = text.lstrip(BOM).split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") >= first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for cells in reader:
            yield reader.line_num, list(cells)
    except csv.Error:
        raise ImportFileError("Het CSV-bestand is beschadigd (een aanhalingsteken wordt niet gesloten).") from None


def _xlsx_rows(content: bytes) -> Iterator[tuple[int, list[Any]]]:
    from openpyxl import load_workbook

    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            if sum(info.file_size for info in archive.infolist()) > MAX_UNPACKED_BYTES:
                raise ImportFileError("Het Excel-bestand is uitgepakt te groot. Splits het in kleinere bestanden.")
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=False)
    except ImportFileError:
        raise
    except Exception:
        raise ImportFileError("Dit Excel-bestand kunnen we niet openen. Sla het opnieuw op als Excel-werkmap "
                              "(.xlsx) of als CSV (UTF-8).") from None
    try:
        sheet = workbook.worksheets[0]
        for number, cells in enumerate(sheet.iter_rows(max_col=len(HEADERS) + 5, values_only=True), start=1):
            if number > MAX_ROWS * 3:  # rows full of nothing: stop reading, it is not our template
                raise ImportFileError(f"Het bestand heeft meer dan {MAX_ROWS} rijen. Splits het in kleinere bestanden.")
            yield number, list(cells)
    finally:
        workbook.close()


# --- checking the rows ----------------------------------------------------------------------------


class _Row:
    """Collects one row's problems while its cells are read."""

    def __init__(self, number: int, cells: list[Any], problems: list[Problem]):
        self.number = number
        self.values = dict(zip((column.key for column in COLUMNS), cells, strict=False))
        self.problems = problems
        self.count_before = len(problems)

    def problem(self, key: str, message: str) -> None:
        header = _BY_KEY[key].header if key else ""
        self.problems.append(Problem(self.number, header, message))

    @property
    def has_problems(self) -> bool:
        return len(self.problems) > self.count_before

    def text(self, key: str, *, required: str | None = None) -> str | None:
        """The cell as trimmed text (None when empty); formula-like and too long cells are problems."""
        raw = self.values.get(key)
        if raw is None:
            value = ""
        elif isinstance(raw, datetime | date):
            value = raw.strftime("%d-%m-%Y")
        elif isinstance(raw, float) and raw.is_integer():
            value = str(int(raw))
        else:
            value = str(raw)
        if value and starts_like_formula(value) and not (key == "phone" and _INTERNATIONAL_PHONE.match(value.strip())):
            self.problem(key, f"De cel begint met {_shown(value[:1])} en is mogelijk een formule. "
                              "Haal dat teken weg (formules importeren we niet).")
            return None
        value = value.strip()
        if not value:
            if required:
                self.problem(key, required)
            return None
        limit = _BY_KEY[key].max_length
        if limit and len(value) > limit:
            self.problem(key, f"Te lang: hoogstens {limit} tekens.")
            return None
        return value

    def day(self, key: str, *, required: str | None = None, today: date) -> date | None:
        raw = self.values.get(key)
        if isinstance(raw, datetime):
            value: date | None = raw.date()
        elif isinstance(raw, date):
            value = raw
        else:
            text = self.text(key, required=required)
            if text is None:
                return None
            match = _DATE.match(text)
            value = None
            if match:
                try:
                    value = date(int(match.group(3)), int(match.group(2)), int(match.group(1)))
                except ValueError:
                    value = None
            if value is None:
                self.problem(key, f"‘{text}’ is geen datum. Schrijf de datum als dd-mm-jjjj, bijvoorbeeld 03-09-2024.")
                return None
        if value > today:
            self.problem(key, f"De datum {value:%d-%m-%Y} ligt in de toekomst.")
            return None
        if value.year < 1990:
            self.problem(key, f"De datum {value:%d-%m-%Y} is te lang geleden om te kloppen.")
            return None
        return value


def _shown(char: str) -> str:
    return {"\t": "een tab", "\r": "een regelterugloop"}.get(char, f"‘{char}’")


def _people(row: _Row, key: str, *, children: bool, this_year: int) -> list[Person]:
    text = row.text(key)
    if text is None:
        return []
    people = []
    for part in (piece.strip() for piece in text.split(";")):
        if not part:
            continue
        match = _PERSON.match(part)
        name, year = (match.group("name").strip(), match.group("year")) if match else (part, None)
        if not name:
            row.problem(key, f"‘{part}’: de naam ontbreekt.")
            continue
        if len(name) > 100:
            row.problem(key, f"‘{name[:30]}…’: de naam is te lang (hoogstens 100 tekens).")
            continue
        birth_year = int(year) if year else None
        if children:
            if birth_year is None:
                row.problem(key, f"‘{part}’: het geboortejaar ontbreekt. Schrijf bijvoorbeeld ‘{name} 2016’.")
                continue
            if birth_year > this_year:
                row.problem(key, f"‘{part}’: het geboortejaar {birth_year} ligt in de toekomst.")
                continue
            if birth_year < this_year - 25:
                row.problem(key, f"‘{part}’: met geboortejaar {birth_year} is dit geen kind meer. "
                                 "Zet volwassenen bij ‘andere volwassenen’.")
                continue
            people.append(Person(name, None, birth_year))
        else:
            if birth_year is not None and birth_year > this_year:
                row.problem(key, f"‘{part}’: het geboortejaar {birth_year} ligt in de toekomst.")
                continue
            if birth_year is not None and not this_year - 110 <= birth_year <= this_year - 16:
                row.problem(key, f"‘{part}’: met geboortejaar {birth_year} is dit geen volwassene.")
                continue
            first, _, last = name.partition(" ")
            people.append(Person(first, last.strip() or None, birth_year))
    return people


def _moment(day: date) -> datetime:
    """Noon in the Netherlands on ``day``: the moment a date-only entry stands for."""
    return datetime.combine(day, time(12, 0), tzinfo=TIMEZONE)


def _check_row(row: _Row, now: datetime, geocoder: Geocoder) -> FamilyRow | None:
    today = now.astimezone(TIMEZONE).date()
    kind_text = row.text("kind", required="Vul de soort in: vraag of steun.")
    kind = KIND_WORDS.get(kind_text.lower()) if kind_text else None
    if kind_text and kind is None:
        row.problem("kind", f"Onbekende soort ‘{kind_text}’: kies vraag of steun.")

    status_text = row.text("status", required="Vul de status in.")
    status = None
    if status_text:
        try:
            status = FamilyStatus(status_text.lower())
        except ValueError:
            row.problem("status", f"Onbekende status ‘{status_text}’: kies "
                                  + ", ".join(s.value for s in FamilyStatus) + ".")
    if status == FamilyStatus.WACHTEND and kind == FamilyKind.STEUN:
        row.problem("status", "Een steungezin kan niet wachtend zijn: gebruik beschikbaar.")
    if status == FamilyStatus.BESCHIKBAAR and kind == FamilyKind.VRAAG:
        row.problem("status", "Een vraaggezin kan niet beschikbaar zijn: gebruik wachtend.")

    first_name = row.text("first_name", required="Er is geen volwassene: vul de voornaam van de contactpersoon in.")
    last_name = row.text("last_name")

    email = row.text("email")
    if email:
        try:
            email = validate_email(email, check_deliverability=False).normalized
        except EmailNotValidError:
            row.problem("email", f"‘{email}’ is geen geldig e-mailadres.")
            email = None
    phone = row.text("phone")
    if phone and not _PHONE.match(phone):
        row.problem("phone", f"‘{phone}’ is geen telefoonnummer. Gebruik cijfers, spaties en eventueel + of -.")

    street = row.text("street_address")
    postcode_text = row.text("postcode", required="Vul de postcode in, zoals 9201 AB.")
    location = None
    if postcode_text:
        try:
            location = geocoder.locate(postcode_text)
        except PostcodeError as error:
            row.problem("postcode", str(error))
    place = row.text("place")

    referral_text = row.text("referral_source", required="Vul in via wie het gezin zich aanmeldde: "
                                                         + ", ".join(s.value for s in ReferralSource) + ".")
    referral = None
    if referral_text:
        try:
            referral = ReferralSource(referral_text.lower())
        except ValueError:
            row.problem("referral_source", f"Onbekend ‘{referral_text}’: kies "
                                           + ", ".join(s.value for s in ReferralSource) + ".")

    children = _people(row, "children", children=True, this_year=today.year)
    other_adults = _people(row, "other_adults", children=False, this_year=today.year)

    registered_on = row.day("registered_on", today=today)
    waiting_on = row.day("waiting_since", today=today)
    if waiting_on and status is not None and status != FamilyStatus.WACHTEND:
        row.problem("waiting_since", "Alleen een gezin met status wachtend heeft een datum ‘wachtend sinds’.")
    if waiting_on and registered_on and waiting_on < registered_on:
        row.problem("waiting_since", "Het gezin kan niet wachten van vóór de aanmelding.")
    consent_on = row.day("consent_on", today=today, required="Vul in wanneer het gezin toestemming gaf voor het "
                                                             "verwerken van zijn gegevens (dd-mm-jjjj). Zonder "
                                                             "toestemming importeren we een gezin niet.")
    if row.has_problems:
        return None
    assert kind and status and first_name and location and referral and consent_on  # guaranteed above
    registered_at = _moment(registered_on) if registered_on else now
    waiting_since = None
    if status == FamilyStatus.WACHTEND:
        waiting_since = _moment(waiting_on) if waiting_on else registered_at
    return FamilyRow(
        row=row.number, kind=kind, status=status, contact=Person(first_name, last_name, None),
        email=email, phone=phone, street_address=street, postcode=location.postcode, pc4=location.pc4,
        place=place or location.place, latitude=location.latitude, longitude=location.longitude,
        referral_source=referral, children=children, other_adults=other_adults,
        registered_at=registered_at, waiting_since=waiting_since, consent_at=_moment(consent_on),
    )


def check_file(filename: str, content: bytes, *, now: datetime | None = None,
               geocoder: Geocoder | None = None) -> ImportCheck:
    """The dry run: every row read and checked, nothing written. ImportFileError for an unusable file."""
    now = now or datetime.now(UTC)
    geocoder = geocoder or Pc4Geocoder()
    table = read_table(filename, content)
    check = ImportCheck(row_count=len(table))
    emails: dict[str, int] = {}
    for table_row in table:
        row = _Row(table_row.number, table_row.cells, check.problems)
        if table_row.overflow:
            row.problem("", "Deze rij heeft gegevens rechts van de kolommen van het sjabloon.")
        family = _check_row(row, now, geocoder)
        if family is not None and family.email:
            first = emails.setdefault(family.email.lower(), row.number)
            if first != row.number:
                row.problem("email", f"Dit e-mailadres staat ook in rij {first}: staat het gezin er twee keer in?")
        if family is not None and not row.has_problems:
            check.rows.append(family)
    check.problems.sort(key=lambda problem: problem.row)
    return check


# --- writing --------------------------------------------------------------------------------------


def import_rows(rows: list[FamilyRow], actor: Actor, *, filename: str | None = None) -> list[Family]:
    """Write checked rows in the current tenant. The caller commits, or rolls back on any error."""
    tenant_id = session_tenant(db.session())
    if tenant_id is None:
        raise RuntimeError("import_rows needs a tenant context")
    if not rows:
        raise ValueError("nothing to import")
    families = []
    for row in rows:
        families.append(Family(
            tenant_id=tenant_id, kind=row.kind, status=row.status, email=row.email, phone=row.phone,
            street_address=row.street_address, postcode=row.postcode, pc4=row.pc4, place=row.place,
            latitude=row.latitude, longitude=row.longitude, referral_source=row.referral_source,
            support_codes=[], availability={}, competence={},
            registered_at=row.registered_at, waiting_since=row.waiting_since,
            # No closing date in the template: an imported afgemeld family counts as closed on import,
            # so its retention period starts now (never earlier than the data could justify).
            closed_at=datetime.now(UTC) if row.status == FamilyStatus.AFGEMELD else None,
            status_reason="geïmporteerd als afgemeld" if row.status == FamilyStatus.AFGEMELD else None,
        ))
    db.session.add_all(families)
    db.session.flush()
    for row, family in zip(rows, families, strict=True):
        members = [FamilyMember(tenant_id=tenant_id, family_id=family.id, role=MemberRole.ADULT,
                                first_name=row.contact.first_name, last_name=row.contact.last_name,
                                is_contact=True)]
        members += [FamilyMember(tenant_id=tenant_id, family_id=family.id, role=MemberRole.ADULT,
                                 first_name=p.first_name, last_name=p.last_name, birth_year=p.birth_year,
                                 is_contact=False) for p in row.other_adults]
        members += [FamilyMember(tenant_id=tenant_id, family_id=family.id, role=MemberRole.CHILD,
                                 first_name=p.first_name, birth_year=p.birth_year, is_contact=False)
                    for p in row.children]
        db.session.add_all(members)
        db.session.add(Consent(tenant_id=tenant_id, family_id=family.id, kind=ConsentKind.PROCESSING,
                               text_version=CONSENT_TEXT_VERSION, given_by="gezin", given_at=row.consent_at))
        db.session.add(FamilyStatusChange(tenant_id=tenant_id, family_id=family.id, from_status=None,
                                          to_status=row.status, reason="import", changed_by_id=actor.id,
                                          changed_by_label=actor.label))
    db.session.flush()  # one batch for the households (record() below flushes per event)
    for row, family in zip(rows, families, strict=True):
        record("family.imported", actor, object_type="family", object_id=family.id,
               details={"kind": str(row.kind), "status": str(row.status), "row": row.row})
        ensure_vog_records(family, actor=actor)  # an imported steungezin's adults need a VOG too
    details: dict[str, object] = {"count": len(families)}
    if filename:
        details["file"] = filename[:200]
    record("families.imported", actor, details=details)
    return families
