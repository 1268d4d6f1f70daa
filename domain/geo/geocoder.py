"""Postcode → a point good enough for matching (the PC4 area), offline by default.

Only what matching needs is kept: the postcode and the point of its PC4 area. The optional PDOK
Locatieserver implementation (``pdok.py``) can be switched on by configuration; tests never call it.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Protocol

DATA_FILE = Path(__file__).parent / "data" / "pc4.csv"
ATTRIBUTION = "Postcodegegevens © GeoNames (www.geonames.org), CC BY 4.0"

_POSTCODE = re.compile(r"^\s*([1-9][0-9]{3})\s*([A-Za-z]{2})?\s*$")
# Letter pairs PostNL never issues.
_UNUSED_LETTERS = {"SA", "SD", "SS"}


class PostcodeError(ValueError):
    """Not a Dutch postcode, or one that does not exist; the message is fit to show."""


@dataclass(frozen=True)
class Location:
    postcode: str  # normalised, "9201 AB" (or "9201" when only the digits were given)
    pc4: str
    latitude: float
    longitude: float
    place: str
    gemeentecode: str  # "GM0090"
    gemeentenaam: str


class Geocoder(Protocol):
    def locate(self, postcode: str) -> Location: ...


def normalise_postcode(raw: str, *, require_letters: bool = True) -> tuple[str, str]:
    """("9201 AB", "9201") from any common spelling; PostcodeError in Dutch otherwise."""
    match = _POSTCODE.match(raw or "")
    if not match or (require_letters and not match.group(2)):
        raise PostcodeError("Vul een postcode in zoals 9201 AB.")
    digits, letters = match.group(1), (match.group(2) or "").upper()
    if letters in _UNUSED_LETTERS:
        raise PostcodeError("Deze postcode bestaat niet. Vul een postcode in zoals 9201 AB.")
    return (f"{digits} {letters}" if letters else digits), digits


class Pc4Geocoder:
    """Offline: the GeoNames point of the postcode's PC4 area."""

    def locate(self, postcode: str) -> Location:
        normalised, pc4 = normalise_postcode(postcode)
        row = _pc4_table().get(pc4)
        if row is None:
            raise PostcodeError(f"Postcode {normalised} kennen we niet. Controleer de cijfers.")
        return Location(normalised, pc4, row[0], row[1], row[2], row[3], row[4])


@cache
def _pc4_table() -> dict[str, tuple[float, float, str, str, str]]:
    with DATA_FILE.open(encoding="utf-8", newline="") as handle:
        return {
            row["pc4"]: (float(row["lat"]), float(row["lon"]), row["plaats"], row["gemeentecode"], row["gemeentenaam"])
            for row in csv.DictReader(handle)
        }


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two (lat, lon) points."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))
