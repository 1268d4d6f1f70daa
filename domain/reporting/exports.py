"""The national table as files: CSV (semicolons, as Dutch spreadsheets expect) and Excel (openpyxl),
with the same columns, the same small-number rule and the totals last."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from domain.reporting.figures import Month, NationalTable
from domain.reporting.selection import Selection
from domain.reporting.table import HIDDEN, HIDDEN_TOTAL, SMALL_NUMBER, Column, exported, monthly_hidden

NUMBER_FORMATS = {"share": "0.0", "change": "+0.00;-0.00;0.00", "money": '"€" #,##0', "days": "0.0",
                  "date": "d mmmm yyyy"}


def _rows(table: NationalTable, columns: tuple[Column, ...]) -> list[list[Any]]:
    return [[f"GM{row.gemeentecode}" if row.gemeentecode else "",
             *(exported(column, row, table) for column in columns)] for row in [*table.rows, table.totals]]


def _header(columns: tuple[Column, ...]) -> list[str]:
    def name(column: Column) -> str:
        label = f"{column.label} (%)" if column.kind == "share" else column.label
        return f"{label} ({column.group.lower()})" if column.group else label
    return ["CBS-code", *(name(column) for column in columns)]


def table_csv(table: NationalTable, columns: tuple[Column, ...]) -> str:
    """As a Dutch spreadsheet reads it: semicolons, decimal commas (a point would turn 12.5 into a
    date), no thousands separators, ISO dates; hidden values as their text ("< 5")."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(_header(columns))
    for row in _rows(table, columns):
        writer.writerow([_csv_value(value) for value in row])
    return out.getvalue()


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value).replace(".", ",")
    return value


def table_xlsx(table: NationalTable, columns: tuple[Column, ...], months: list[Month], selection: Selection,
               today: date) -> bytes:
    """Three sheets: the table (numbers as numbers), the months, and what the figures mean."""
    book = Workbook()
    sheet = book.active
    sheet.title = "Cijfers per gemeente"
    sheet.append(_header(columns))
    for row in _rows(table, columns):
        sheet.append(row)
    for index, column in enumerate(columns, start=2):
        number_format = NUMBER_FORMATS.get(column.kind)
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = max(12, min(40, len(column.label) + 4))
        if number_format:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.number_format = number_format
    _bold_first_row_and_last(sheet)
    sheet.column_dimensions["B"].width = 28
    sheet.freeze_panes = "C2"

    trend = book.create_sheet("Per maand")
    trend.append(["Maand", "Aanmeldingen vraaggezinnen", "Aanmeldingen steungezinnen", "Koppelingen gemaakt"])
    for month in months:
        trend.append([month.label, *(HIDDEN if monthly_hidden(value, table) else value for value in
                                     (month.registrations_vraag, month.registrations_steun, month.koppelingen_made))])
    for letter in "ABCD":
        trend.column_dimensions[letter].width = 28
    trend["A1"].font = trend["B1"].font = trend["C1"].font = trend["D1"].font = Font(bold=True)

    about = book.create_sheet("Toelichting")
    period = selection.period
    for line in (
        ("Landelijke cijfers Buurtgezinnen",),
        ("Gemaakt op", today),
        ("Periode", f"{period.label} ({period.start.isoformat()} tot en met {period.end.isoformat()})"),
        ("Gemeenten", selection.label),
        ("Kleine aantallen", f"Aantallen van 1 tot {SMALL_NUMBER} gezinnen of koppelingen per gemeente staan er "
                             f"als '{HIDDEN}', cijfers die op minder dan {SMALL_NUMBER} rusten als 'n {HIDDEN}'. Een "
                             f"totaal staat er als '{HIDDEN_TOTAL}' als je er, min de andere cijfers, een verborgen "
                             "klein aantal mee zou kunnen uitrekenen."),
        ("'Nu'", "De stand op de dag van maken."),
        ("'In de periode'", "Wat in de gekozen periode gebeurde."),
    ):
        about.append(list(line))
    about["B2"].number_format = "d mmmm yyyy"
    about.column_dimensions["A"].width = 22
    about.column_dimensions["B"].width = 100
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _bold_first_row_and_last(sheet) -> None:
    bold = Font(bold=True)
    for cell in sheet[1]:
        cell.font = bold
    for cell in sheet[sheet.max_row]:
        cell.font = bold
