"""Which gemeenten and which period a figures page shows: the filters of the national dashboard and
the period choice of a gemeente's own page. Unknown values fall back to the defaults (all gemeenten,
the last twelve months), so a hand-edited address shows figures rather than an error."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from domain.geo.gemeenten import cbs_gemeenten
from domain.reporting.figures import Period

LAST_TWELVE_MONTHS = "12-maanden"
YEARS_BACK = 3  # the years offered besides the current one


def provinces() -> list[str]:
    return sorted({gemeente.provincie for gemeente in cbs_gemeenten()})


def province_codes(province: str) -> list[str]:
    return [gemeente.code for gemeente in cbs_gemeenten() if gemeente.provincie == province]


def period_choices(today: date) -> list[tuple[str, str]]:
    """(value, label) for the period select: the last twelve months, then this year and earlier ones."""
    years = [(str(year), Period.year(year, today).label) for year in range(today.year, today.year - YEARS_BACK - 1, -1)]
    return [(LAST_TWELVE_MONTHS, "De laatste 12 maanden"), *years]


def parse_period(raw: str | None, today: date) -> tuple[str, Period]:
    raw = (raw or "").strip()
    if raw in {value for value, _ in period_choices(today)} and raw != LAST_TWELVE_MONTHS:
        return raw, Period.year(int(raw), today)
    return LAST_TWELVE_MONTHS, Period.last_twelve_months(today)


@dataclass(frozen=True)
class Selection:
    province: str | None  # None: all gemeenten
    period_value: str
    period: Period

    @property
    def codes(self) -> list[str] | None:
        return province_codes(self.province) if self.province else None

    @property
    def label(self) -> str:
        return f"provincie {self.province}" if self.province else "alle gemeenten"


def parse_selection(province: str | None, period: str | None, today: date) -> Selection:
    province = (province or "").strip()
    period_value, chosen = parse_period(period, today)
    return Selection(province if province in provinces() else None, period_value, chosen)
