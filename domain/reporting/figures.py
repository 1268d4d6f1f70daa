"""The figures of every gemeente, read through the one narrow database path.

``national_table`` reads the SECURITY DEFINER function ``national_figures(on_day, period_from,
period_to, codes)`` (migration 0011) once: one row per gemeente and a totals row, computed in a
single statement whatever the number of gemeenten; ``monthly_trend`` reads ``national_monthly`` once.
Both return counts, days, shares and amounts only, never a column about a person, so no tenant context
is needed and RLS is never switched off for ordinary code. The gemeente's own page uses the same
functions with its own CBS code only.

Two kinds of figures:

- the state on ``on_day`` (normally today): families waiting (median and longest wait in days since
  ``waiting_since``), steungezinnen available, koppelingen per state, the share of steunouders (adults
  of beschikbaar/gekoppeld steungezinnen) with a received VOG not past its renewal date, and the work
  that is late: intakes not done within the gemeente's ``intake_within_days``, VOG requests not
  received after ``vog_request_overdue_days``, a running koppeling's latest evaluation link unanswered
  more than ``evaluation_reminder_days`` after sending, and failed background jobs;
- the flow within the period (Dutch calendar days, both ends included): registrations of vraag- and
  steungezinnen, koppelingen made (the proefperiode started), the median days from the vraaggezin's
  registration to that start, proefperiodes concluded (became definitief, or ended before) and how many
  became definitief, the average change of each of the four goal scores from the vraaggezin's first
  answers (the answers up to the period's end, of koppelingen answered at least twice whose latest
  answer falls in the period: a past period's figure does not change with later answers), and the
  estimated savings: koppelingen made × the gemeente's ``savings_per_koppeling_eur`` (default €5,500).

Anonymised families are left out of the state figures; their registration and koppelingen still count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from babel.dates import format_date
from sqlalchemy import text

from domain.evaluations.services import GOALS as EVALUATION_GOALS
from tenants.db import db

# The four goals as the evaluation form names them; the figures' fields are goal_<name>_n/_change.
GOALS: tuple[tuple[str, str], ...] = tuple((key.removeprefix("goal_"), label) for key, label, _ in EVALUATION_GOALS)


@dataclass(frozen=True)
class Period:
    """Calendar days from ``start`` through ``end``, and how the page names it."""

    start: date
    end: date
    label: str

    @classmethod
    def last_twelve_months(cls, today: date) -> Period:
        return cls(add_months(today.replace(day=1), -11), today, "de laatste 12 maanden")

    @classmethod
    def year(cls, year: int, today: date) -> Period:
        if year == today.year:
            return cls(date(year, 1, 1), today, f"{year} tot nu toe")
        return cls(date(year, 1, 1), date(year, 12, 31), str(year))

    def months(self) -> list[date]:
        first, months = self.start.replace(day=1), []
        while first <= self.end:
            months.append(first)
            first = add_months(first, 1)
        return months


def add_months(first_of_month: date, months: int) -> date:
    index = first_of_month.year * 12 + first_of_month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Figures:
    """One gemeente's figures (``tenant_id`` None: the totals row), exact, as the function returns them."""

    tenant_id: int | None
    gemeente: str
    gemeentecode: str | None
    tenant_status: str | None
    # the state on the day
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
    steun_adults: int
    steun_adults_valid_vog: int
    evaluations_overdue: int
    intakes_overdue: int
    vog_requests_overdue: int
    failed_jobs: int
    # the flow within the period
    registrations_vraag: int
    registrations_steun: int
    koppelingen_made: int
    to_koppeling_median_days: Decimal | None
    proefperiodes_concluded: int
    proefperiodes_definitief: int
    goal_ontlasten_n: int
    goal_ontlasten_change: Decimal | None
    goal_sterker_n: int
    goal_sterker_change: Decimal | None
    goal_opvoedklimaat_n: int
    goal_opvoedklimaat_change: Decimal | None
    goal_netwerk_n: int
    goal_netwerk_change: Decimal | None
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

    @property
    def tasks_overdue(self) -> int:
        return self.intakes_overdue + self.vog_requests_overdue

    def goal_n(self, goal: str) -> int:
        return getattr(self, f"goal_{goal}_n")

    def goal_change(self, goal: str) -> Decimal | None:
        return getattr(self, f"goal_{goal}_change")


def _share(part: int, whole: int) -> Decimal | None:
    return None if whole == 0 else Decimal(part) / Decimal(whole)


@dataclass(frozen=True)
class NationalTable:
    rows: list[Figures]  # one per gemeente in the selection
    totals: Figures  # over the selection
    selection: bool  # a part of the gemeenten (a province): the totals are a breakdown too
    # Figures (Figures field names) whose total is withheld: with the shown rows it would give away a
    # hidden count (domain.reporting.table.protected). Empty until protected.
    hidden_totals: frozenset[str] = frozenset()


def national_table(on_day: date, period: Period, codes: Sequence[str] | None = None) -> NationalTable:
    """The figures of the gemeenten with these CBS codes (None: all) and their totals, in one statement."""
    result = db.session.execute(
        text("SELECT * FROM national_figures(:on_day, :start, :end, :codes)"),
        {"on_day": on_day, "start": period.start, "end": period.end, "codes": _codes(codes)})
    figures = [Figures(**row._mapping) for row in result]
    return NationalTable(rows=[f for f in figures if not f.is_total], totals=next(f for f in figures if f.is_total),
                         selection=codes is not None)


@dataclass(frozen=True)
class Month:
    month: date  # its first day
    registrations_vraag: int
    registrations_steun: int
    koppelingen_made: int

    @property
    def label(self) -> str:
        return format_date(self.month, "MMMM y", locale="nl")  # "november 2026"

    @property
    def short_label(self) -> str:
        return format_date(self.month, "MMM yy", locale="nl")  # "nov 26", under a chart's bar


def monthly_trend(period: Period, codes: Sequence[str] | None = None) -> list[Month]:
    """The selection's registrations and koppelingen made per month of the period, in one statement."""
    result = db.session.execute(
        text("SELECT month, registrations_vraag, registrations_steun, koppelingen_made "
             "FROM national_monthly(:start, :end, :codes, false)"),
        {"start": period.start, "end": period.end, "codes": _codes(codes)})
    return [Month(**row._mapping) for row in result]


def _codes(codes: Sequence[str] | None) -> list[str] | None:
    return None if codes is None else list(codes)
