"""The national table as pages and exports show it: its columns, Dutch formatting, sorting, and the
small-number rule.

Small-number rule (``SMALL_NUMBER`` = 5), applied to the gemeente rows wherever they leave the
reporting module (page, CSV, Excel, chart):

- a count of families or koppelingen of 1–4 (waiting, steungezinnen available, each koppeling state,
  registrations, koppelingen made, late intakes, VOG requests and evaluations) is shown as "< 5": in a
  small gemeente such a breakdown can point at a family;
- a figure derived from 1–4 families, koppelingen or people (the waiting days when 1–4 families wait,
  the days to a koppeling, the proefperiode share, the VOG share, a goal-score change, and the savings,
  which are koppelingen made × a known amount) is shown as "n < 5": the longest wait of a single
  family is that family's wait;
- 0 is shown as 0 (it identifies nobody), and a figure without a base as "–";
- sorting treats every hidden value as equal, so the order does not betray it;
- failed background jobs and the contract end date stay exact: they are about the gemeente, not families;
- the national totals row stays exact; the totals of a selection (one province) follow the rule like
  a gemeente row, since a province can hold a single gemeente on the platform;
- a total is withheld ("verborgen") where it would give a hidden count away by subtraction: the total
  minus the shown rows is the sum of the hidden ones, which pins each of them down when only one is
  hidden, or when all hidden ones must be 1 (the sum equals their number) or 4 (four times it). The
  same holds for a selection's hidden months against its period total. The savings total follows the
  koppelingen made (it is that count times a known amount). See ``protected``.

The gemeente's own page shows its own figures exactly (``shown(..., rule=False)``): it is their data.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from babel.numbers import format_decimal

from domain.families.records import dutch_day
from domain.geo.gemeenten import cbs_gemeente
from domain.reporting.figures import GOALS, Figures, Month, NationalTable

SMALL_NUMBER = 5
HIDDEN = "< 5"
HIDDEN_DERIVED = "n < 5"
HIDDEN_TOTAL = "verborgen"
NONE = "–"


@dataclass(frozen=True)
class Column:
    slug: str  # the ?sorteer= value
    label: str
    group: str  # the header above it: "Nu", "In de periode", …
    value: Callable[[Figures], Any]  # the exact value
    base: Callable[[Figures], int] | None  # the number of families/koppelingen it rests on (small-number rule)
    derived: bool = False  # a figure computed from ``base`` rather than the count itself
    kind: str = "count"  # count, days, share, change, money, date, text
    # For a column whose total is the sum of its rows: the count (Figures field) behind it, so a
    # total that would give a hidden count away is withheld (``protected``).
    sums: str | None = None


def province_of(row: Figures) -> str:
    found = cbs_gemeente(row.gemeentecode) if row.gemeentecode else None
    return found.provincie if found else ""


def _count(slug: str, label: str, group: str, field: str) -> Column:
    def value(row: Figures) -> int:
        return getattr(row, field)
    return Column(slug, label, group, value, value, sums=field)


def _goal(goal: str, label: str) -> Column:
    return Column(f"doel-{goal}", f"{label} (verandering)", "Doelen", lambda r: r.goal_change(goal),
                  lambda r: r.goal_n(goal), derived=True, kind="change")


NOW, PERIOD, LATE, GOALS_GROUP, CONTRACT = "Nu", "In de periode", "Achterstand nu", "Doelen", "Contract"

COLUMNS: tuple[Column, ...] = (
    Column("gemeente", "Gemeente", "", lambda r: r.gemeente, None, kind="text"),
    Column("provincie", "Provincie", "", province_of, None, kind="text"),
    _count("wachtend", "Wachtende gezinnen", NOW, "waiting"),
    Column("wachttijd-mediaan", "Wachttijd mediaan (dagen)", NOW, lambda r: r.waiting_median_days,
           lambda r: r.waiting, derived=True, kind="days"),
    Column("wachttijd-langst", "Langste wachttijd (dagen)", NOW, lambda r: r.waiting_longest_days,
           lambda r: r.waiting, derived=True, kind="days"),
    _count("steungezinnen", "Beschikbare steungezinnen", NOW, "steun_available"),
    _count("voorgesteld", "Voorgesteld", NOW, "koppelingen_voorgesteld"),
    _count("kennismaking", "Kennismaking", NOW, "koppelingen_kennismaking"),
    _count("proefperiode", "Proefperiode", NOW, "koppelingen_proefperiode"),
    _count("definitief", "Definitief", NOW, "koppelingen_definitief"),
    _count("afgesloten", "Afgesloten", NOW, "koppelingen_afgesloten"),
    _count("gestopt", "Gestopt", NOW, "koppelingen_gestopt"),
    Column("vog-geldig", "Steunouders met geldige VOG", NOW, lambda r: r.vog_valid_share,
           lambda r: r.steun_adults, derived=True, kind="share"),
    _count("intakes-te-laat", "Intakes te laat", LATE, "intakes_overdue"),
    _count("vog-te-laat", "VOG-aanvragen te laat", LATE, "vog_requests_overdue"),
    _count("evaluaties-te-laat", "Evaluaties niet ingevuld", LATE, "evaluations_overdue"),
    Column("mislukte-taken", "Mislukte achtergrondtaken", LATE, lambda r: r.failed_jobs, None),
    _count("aanmeldingen-vraag", "Aanmeldingen vraaggezinnen", PERIOD, "registrations_vraag"),
    _count("aanmeldingen-steun", "Aanmeldingen steungezinnen", PERIOD, "registrations_steun"),
    _count("koppelingen-gemaakt", "Koppelingen gemaakt", PERIOD, "koppelingen_made"),
    Column("dagen-tot-koppeling", "Aanmelding tot koppeling, mediaan (dagen)", PERIOD,
           lambda r: r.to_koppeling_median_days, lambda r: r.koppelingen_made, derived=True, kind="days"),
    Column("proef-naar-definitief", "Proefperiode werd definitief", PERIOD,
           lambda r: r.proefperiode_to_definitief_share, lambda r: r.proefperiodes_concluded, derived=True,
           kind="share"),
    Column("besparing", "Geschatte besparing", PERIOD, lambda r: r.savings_eur, lambda r: r.koppelingen_made,
           derived=True, kind="money", sums="koppelingen_made"),
    *(_goal(goal, label) for goal, label in GOALS),
    Column("contract", "Contract loopt af", CONTRACT, lambda r: r.contract_ends_on, None, kind="date"),
)
COLUMNS_BY_SLUG = {column.slug: column for column in COLUMNS}
GOAL_COLUMNS = tuple(column for column in COLUMNS if column.kind == "change")
DEFAULT_SORT = "gemeente"


def column_groups(columns: tuple[Column, ...]) -> list[tuple[str, int]]:
    """The header row above the columns: (group, how many columns it spans), in order."""
    groups: list[tuple[str, int]] = []
    for column in columns:
        if groups and groups[-1][0] == column.group:
            groups[-1] = (column.group, groups[-1][1] + 1)
        else:
            groups.append((column.group, 1))
    return groups


def is_hidden(column: Column, row: Figures, table: NationalTable | None = None) -> bool:
    """Whether the rule hides this cell: gemeente rows, a selection's totals, and a total that would
    give a hidden count away (see the module)."""
    return _marker(column, row, table) is not None


def _marker(column: Column, row: Figures, table: NationalTable | None) -> str | None:
    """What stands in the cell instead of its value, or None when it is shown."""
    if row.is_total and table is not None and column.sums in table.hidden_totals:
        return HIDDEN_TOTAL
    if column.base is None or (row.is_total and not (table and table.selection)):
        return None
    if 0 < column.base(row) < SMALL_NUMBER:
        return HIDDEN_DERIVED if column.derived else HIDDEN
    return None


def reveals(hidden: list[int]) -> bool:
    """Whether knowing the sum of these hidden counts (each 1–4) pins each of them down."""
    total = sum(hidden)
    return len(hidden) == 1 or (len(hidden) > 1 and total in (len(hidden), 4 * len(hidden)))


def protected(table: NationalTable, months: list[Month]) -> NationalTable:
    """The table with every total withheld that would give a hidden count away, against its rows or
    (for a selection) against the months shown beside it. Every page and export of the national
    table goes through this."""
    fields = {column.sums for column in COLUMNS if column.sums}
    withheld = {field for field in fields
                if reveals([c for c in (getattr(row, field) for row in table.rows) if 0 < c < SMALL_NUMBER])}
    for field in MONTHLY_FIELDS:
        hidden_months = [getattr(month, field) for month in months if monthly_hidden(getattr(month, field), table)]
        if hidden_months and reveals(hidden_months):
            withheld.add(field)
    return dataclasses.replace(table, hidden_totals=frozenset(withheld))


def shown(column: Column, row: Figures, table: NationalTable | None = None, *, rule: bool = True) -> str:
    """The value as a page shows it: Dutch formatting, the small-number rule applied (unless ``rule``
    is off: a gemeente's own figures on its own page)."""
    marker = _marker(column, row, table) if rule else None
    return marker or format_value(column.kind, column.value(row))


def format_value(kind: str, value: Any) -> str:
    if value is None:
        return NONE
    if kind == "share":
        return f"{format_decimal(value * 100, format='#,##0', locale='nl')}%"
    if kind == "change":
        return format_decimal(value, format="+#,##0.0;-#,##0.0", locale="nl") if value else "0,0"
    if kind == "money":
        return f"€ {format_decimal(value, format='#,##0', locale='nl')}"
    if kind == "date":
        return dutch_day(value)
    if kind == "text":
        return str(value)
    return format_decimal(value, format="#,##0.#", locale="nl")


def exported(column: Column, row: Figures, table: NationalTable) -> Any:
    """The value as the exports hold it: plain numbers (shares in percent), dates, the same rule.
    A hidden value is its text ("< 5"); a missing one None."""
    marker = _marker(column, row, table)
    if marker is not None:
        return marker
    value = column.value(row)
    if column.kind == "share" and value is not None:
        return round(value * 100, 1)
    if isinstance(value, Decimal):
        return value.normalize() if value == value.to_integral() else value
    return value


def parse_sort(raw: str | None) -> tuple[Column, bool]:
    """``?sorteer=slug`` (ascending) or ``-slug`` (descending); anything else: by gemeente."""
    raw = (raw or "").strip()
    descending = raw.startswith("-")
    column = COLUMNS_BY_SLUG.get(raw.lstrip("-"), COLUMNS_BY_SLUG[DEFAULT_SORT])
    return column, descending


def sorted_rows(table: NationalTable, column: Column, descending: bool) -> list[Figures]:
    """Rows in the column's order, on the values as shown: hidden values count as equal (and sort
    with the small ones); missing values go last either way; ties by gemeente name."""
    def key(row: Figures) -> tuple:
        if is_hidden(column, row, table):
            return (0, 0)
        value = column.value(row)
        if value is None or value == "":
            return (1, 0)
        if column.kind == "text":
            return (0, value.casefold())
        return (0, value)

    by_name = sorted(table.rows, key=lambda r: (r.gemeente.casefold(), r.tenant_id or 0))
    present = [r for r in by_name if key(r)[0] == 0]
    missing = [r for r in by_name if key(r)[0] == 1]
    return sorted(present, key=lambda r: key(r)[1], reverse=descending) + missing


def visible_columns(*, failed_jobs: bool) -> tuple[Column, ...]:
    """The national admin sees the failed background jobs per gemeente (to act on them); the analyst
    does not need them."""
    return COLUMNS if failed_jobs else tuple(c for c in COLUMNS if c.slug != "mislukte-taken")


MONTHLY_FIELDS = ("registrations_vraag", "registrations_steun", "koppelingen_made")  # Month and Figures alike


def monthly_hidden(value: int, table: NationalTable) -> bool:
    """A selection's month of 1–4 is a breakdown too; the national months are exact."""
    return table.selection and 0 < value < SMALL_NUMBER


@dataclass(frozen=True)
class Trend:
    """Months as chart series: ``series`` = [(name, [(value or None if hidden, text), …])]."""

    labels: list[str]
    long_labels: list[str]
    registrations: list[tuple[str, list[tuple[int | None, str]]]]
    made: list[tuple[str, list[tuple[int | None, str]]]]


def trend(months: list[Month], table: NationalTable | None, *, rule: bool = True) -> Trend:
    def points(field: str) -> list[tuple[int | None, str]]:
        values = [getattr(month, field) for month in months]
        return [(None, HIDDEN) if rule and table is not None and monthly_hidden(value, table)
                else (value, format_value("count", value)) for value in values]

    return Trend(labels=[month.short_label for month in months], long_labels=[month.label for month in months],
                 registrations=[("Vraaggezinnen", points("registrations_vraag")),
                                ("Steungezinnen", points("registrations_steun"))],
                 made=[("Koppelingen gemaakt", points("koppelingen_made"))])


@dataclass(frozen=True)
class Bar:
    label: str
    value: int | None  # None: hidden by the rule (drawn without a bar)
    shown: str


def comparison(table: NationalTable, column: Column, limit: int = 15) -> list[Bar]:
    """The gemeenten with the highest values of a count column, for a chart; hidden values are left out
    (the table names them)."""
    ranked = sorted_rows(table, column, descending=True)
    visible = [row for row in ranked if not is_hidden(column, row, table)]
    return [Bar(row.gemeente, column.value(row), shown(column, row, table)) for row in visible[:limit]]
