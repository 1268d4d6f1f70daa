"""CSV that is safe to open in a spreadsheet: no cell can start a formula (OWASP "CSV injection").

A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is treated as a
formula by Excel and LibreOffice (``=cmd|' /C calc'!A0`` runs a program through DDE). Every text
cell we export goes through :func:`neutralise_cell`, which prefixes such a cell with a single quote
so the spreadsheet shows it as text. Quotes and separators inside a cell are the ``csv`` module's
job (it quotes the whole cell).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"  # lets Excel recognise UTF-8


def starts_like_formula(value: str) -> bool:
    """True when a spreadsheet could read ``value`` as a formula (also after leading spaces)."""
    return value[:1] in FORMULA_TRIGGERS or value.lstrip(" ")[:1] in FORMULA_TRIGGERS


def neutralise_cell(value: Any) -> str:
    """The text to write for one cell: formulas become inert text, dates ISO, None empty."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bool):
        return "ja" if value else "nee"
    if isinstance(value, int | float):
        # A number is written by us, not typed by a user: "-3" is a number, not a formula.
        return str(value)
    text = str(value)
    return "'" + text if starts_like_formula(text) else text


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]], *, delimiter: str = ";") -> str:
    """A whole CSV document (with a BOM, ``;`` by default as Dutch Excel expects), every cell neutralised."""
    buffer = io.StringIO()
    buffer.write(BOM)
    writer = csv.writer(buffer, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow([neutralise_cell(cell) for cell in header])
    for row in rows:
        writer.writerow([neutralise_cell(cell) for cell in row])
    return buffer.getvalue()
