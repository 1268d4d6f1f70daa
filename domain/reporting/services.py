"""The national figures: every gemeente side by side and in total, aggregates only.

The one reporting module. ``national_table`` reads the SECURITY DEFINER function
``national_figures(date)`` (migration 0009) once: one row per gemeente and a totals row, computed in
a single statement, whatever the number of gemeenten. The function returns counts, days, shares
and amounts only, never a column about a person, so no tenant context is needed and RLS is never
switched off for ordinary code.

The figures (``on_day`` is a Dutch calendar day, normally today):

- ``waiting``: vraaggezinnen with status ``wachtend``; their waiting time in days since
  ``waiting_since`` (median and longest).
- ``steun_available``: steungezinnen with status ``beschikbaar``.
- koppelingen per state (``voorgesteld`` … ``gestopt``).
- proefperiode → definitief: of the koppelingen whose proefperiode started and is over (any state
  but ``proefperiode``), the share that became definitief.
- VOG: of the adults in active steungezinnen (``beschikbaar`` or ``gekoppeld``), the share with a
  received VOG not past its renewal date.
- savings: koppelingen that reached the proefperiode (or later, including those stopped after it)
  × the gemeente's ``savings_per_koppeling_eur`` setting (default €5,500).
- the end date of the gemeente's next contract to end (the earliest ``ends_on`` from ``on_day``).

Anonymised families are left out of the family counts.

Small-number rule (``SMALL_NUMBER`` = 5), applied to the gemeente rows as shown and exported:

- a count of families or koppelingen of 1–4 (waiting, steungezinnen available, each koppeling
  state) is shown as "< 5": in a small gemeente such a breakdown can point at a family;
- a figure derived from 1–4 families or people (the waiting days when 1–4 families wait, the
  proefperiode share of 1–4 concluded proefperiodes, the VOG share of 1–4 steunouders) is shown
  as "n < 5": the longest wait of a single family is that family's wait;
- 0 is shown as 0 (it identifies nobody), and so is a base of 0 (the figure is then "–");
- sorting treats every hidden value as equal, so the order does not betray it;
- the savings and the contract end date stay exact: they are the gemeente's own contract figures
  (a total over all its koppelingen since the start), not a breakdown of families;
- the totals row stays exact: it is a national total. (With very few gemeenten a total minus the
  other gemeenten's exact figures can still narrow a hidden one down; a known limit of this rule.)
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from babel.numbers import format_decimal
from sqlalchemy import text

from domain.families.records import dutch_day
from tenants.db import db

SMALL_NUMBER = 5
HIDDEN = "< 5"
HIDDEN_DERIVED = "n < 5"
NONE = "–"


@dataclass(frozen=True)
class Figures:
    """One gemeente's figures (``tenant_id`` None: the totals row), exact."""

    tenant_id: int | None
    gemeente: str
    gemeentecode: str | None
    tenant_status: str | None
    waiting: int
    waiting_median_days: Decimal | None
    waiting_longest_days: int | None
    steun_available: int
    koppelingen_voorgesteld: int
    koppelingen_kennismaking: int
    koppelingen_proefperiode: int
    koppelingen_definitief: int
    koppelingen_afgesloten: int
    koppelingen_gestopt: int
    proefperiodes_concluded: int
    proefperiodes_definitief: int
    steun_adults: int
    steun_adults_valid_vog: int
    koppelingen_with_savings: int
    savings_eur: int
    contract_ends_on: date | None

    @property
    def is_total(self) -> bool:
        return self.tenant_id is None

    @property
    def proefperiode_to_definitief_share(self) -> Decimal | None:
        return _share(self.proefperiodes_definitief, self.proefperiodes_concluded)

    @property
    def vog_valid_share(self) -> Decimal | None:
        return _share(self.steun_adults_valid_vog, self.steun_adults)


def _share(part: int, whole: int) -> Decimal | None:
    return None if whole == 0 else Decimal(part) / Decimal(whole)


@dataclass(frozen=True)
class NationalTable:
    rows: list[Figures]  # one per gemeente
    totals: Figures


def national_table(on_day: date) -> NationalTable:
    """Every gemeente's figures and the totals, in one statement through the narrow path."""
    result = db.session.execute(text("SELECT * FROM national_figures(:on_day)"), {"on_day": on_day})
    figures = [Figures(**row._mapping) for row in result]
    rows = [f for f in figures if not f.is_total]
    totals = next(f for f in figures if f.is_total)
    return NationalTable(rows, totals)


# --- showing (the small-number rule) -------------------------------------------------------------------


def _hidden(count: int, row: Figures) -> bool:
    return not row.is_total and 0 < count < SMALL_NUMBER


def _number(value: int | Decimal) -> str:
    return format_decimal(value, format="#,##0.#", locale="nl")


def _percent(share: Decimal) -> str:
    return f"{format_decimal(share * 100, format='#,##0', locale='nl')}%"


@dataclass(frozen=True)
class Column:
    slug: str  # the ?sorteer= value
    label: str
    value: Callable[[Figures], Any]  # the exact value
    base: Callable[[Figures], int] | None  # the number of families/people it rests on (small-number rule)
    derived: bool = False  # a figure computed from ``base`` rather than the count itself
    kind: str = "count"  # count, days, share, money, date, text


COLUMNS: tuple[Column, ...] = (
    Column("gemeente", "Gemeente", lambda r: r.gemeente, None, kind="text"),
    Column("wachtend", "Wachtende gezinnen", lambda r: r.waiting, lambda r: r.waiting),
    Column("wachttijd-mediaan", "Wachttijd mediaan (dagen)", lambda r: r.waiting_median_days,
           lambda r: r.waiting, derived=True, kind="days"),
    Column("wachttijd-langst", "Langste wachttijd (dagen)", lambda r: r.waiting_longest_days,
           lambda r: r.waiting, derived=True, kind="days"),
    Column("steungezinnen", "Beschikbare steungezinnen", lambda r: r.steun_available, lambda r: r.steun_available),
    Column("voorgesteld", "Voorgesteld", lambda r: r.koppelingen_voorgesteld, lambda r: r.koppelingen_voorgesteld),
    Column("kennismaking", "Kennismaking", lambda r: r.koppelingen_kennismaking,
           lambda r: r.koppelingen_kennismaking),
    Column("proefperiode", "Proefperiode", lambda r: r.koppelingen_proefperiode,
           lambda r: r.koppelingen_proefperiode),
    Column("definitief", "Definitief", lambda r: r.koppelingen_definitief, lambda r: r.koppelingen_definitief),
    Column("afgesloten", "Afgesloten", lambda r: r.koppelingen_afgesloten, lambda r: r.koppelingen_afgesloten),
    Column("gestopt", "Gestopt", lambda r: r.koppelingen_gestopt, lambda r: r.koppelingen_gestopt),
    Column("proef-naar-definitief", "Proefperiode werd definitief", lambda r: r.proefperiode_to_definitief_share,
           lambda r: r.proefperiodes_concluded, derived=True, kind="share"),
    Column("vog-geldig", "Steunouders met geldige VOG", lambda r: r.vog_valid_share,
           lambda r: r.steun_adults, derived=True, kind="share"),
    Column("besparing", "Geschatte besparing", lambda r: r.savings_eur, None, kind="money"),
    Column("contract", "Contract loopt af", lambda r: r.contract_ends_on, None, kind="date"),
)
COLUMNS_BY_SLUG = {column.slug: column for column in COLUMNS}
DEFAULT_SORT = "gemeente"


def is_hidden(column: Column, row: Figures) -> bool:
    return column.base is not None and _hidden(column.base(row), row)


def shown(column: Column, row: Figures) -> str:
    """The value as the page shows it: Dutch formatting, the small-number rule applied."""
    if is_hidden(column, row):
        return HIDDEN_DERIVED if column.derived else HIDDEN
    value = column.value(row)
    if value is None:
        return NONE
    if column.kind == "share":
        return _percent(value)
    if column.kind == "money":
        return f"€ {format_decimal(value, format='#,##0', locale='nl')}"
    if column.kind == "date":
        return dutch_day(value)
    if column.kind == "text":
        return str(value)
    return _number(value)


def exported(column: Column, row: Figures) -> str:
    """The value as the CSV holds it: plain numbers (a dot for decimals), ISO dates, the same rule."""
    if is_hidden(column, row):
        return HIDDEN_DERIVED if column.derived else HIDDEN
    value = column.value(row)
    if value is None:
        return ""
    if column.kind == "share":
        return str(round(value * 100, 1))
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def parse_sort(raw: str | None) -> tuple[Column, bool]:
    """``?sorteer=slug`` (ascending) or ``-slug`` (descending); anything else: by gemeente."""
    raw = (raw or "").strip()
    descending = raw.startswith("-")
    column = COLUMNS_BY_SLUG.get(raw.lstrip("-"), COLUMNS_BY_SLUG[DEFAULT_SORT])
    return column, descending


def sorted_rows(rows: list[Figures], column: Column, descending: bool) -> list[Figures]:
    """Rows in the column's order, on the values as shown: hidden values count as equal (and sort
    with the small ones); missing values go last either way; ties by gemeente name."""
    def key(row: Figures) -> tuple:
        if is_hidden(column, row):
            return (0, 0)
        value = column.value(row)
        if value is None:
            return (1, 0)
        if column.kind == "text":
            return (0, value.casefold())
        return (0, value)

    by_name = sorted(rows, key=lambda r: (r.gemeente.casefold(), r.tenant_id or 0))
    present = [r for r in by_name if key(r)[0] == 0]
    missing = [r for r in by_name if key(r)[0] == 1]
    return sorted(present, key=lambda r: key(r)[1], reverse=descending) + missing


def table_csv(table: NationalTable) -> str:
    """The table as CSV (semicolon-separated, as Dutch spreadsheets expect), totals last."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(["CBS-code", *(column.label for column in COLUMNS)])
    for row in [*table.rows, table.totals]:
        writer.writerow([f"GM{row.gemeentecode}" if row.gemeentecode else "",
                         *(exported(column, row) for column in COLUMNS)])
    return out.getvalue()
