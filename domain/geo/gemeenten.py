"""The CBS list of gemeenten (2025 indeling), read from ``data/gemeenten.csv`` (see data/SOURCES.md)."""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path
from typing import NamedTuple

DATA_FILE = Path(__file__).parent / "data" / "gemeenten.csv"


class CbsGemeente(NamedTuple):
    code: str  # four digits, without the GM prefix (as Tenant.gemeentecode)
    name: str
    provincie: str


@cache
def cbs_gemeenten() -> tuple[CbsGemeente, ...]:
    """Every gemeente, sorted by name."""
    with DATA_FILE.open(encoding="utf-8", newline="") as handle:
        rows = [CbsGemeente(row["gemeentecode"].strip().upper().removeprefix("GM"), row["gemeentenaam"].strip(),
                            row["provincie"].strip())
                for row in csv.DictReader(handle)]
    return tuple(sorted(rows, key=lambda row: row.name.lower()))


def cbs_gemeente(code: str) -> CbsGemeente | None:
    """The gemeente with CBS code ``code`` ("0090" or "GM0090"), or None."""
    code = (code or "").strip().upper().removeprefix("GM")
    return next((row for row in cbs_gemeenten() if row.code == code), None)
