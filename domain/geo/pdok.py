"""Postcode lookup through the PDOK Locatieserver (the Dutch government's free address search).

Switched on with ``GEOCODER=pdok``; the offline PC4 table is the default. PDOK knows every
six-character postcode, so it also rejects "9201 ZZ" when that does not exist, and it names the
gemeente. What is stored stays at PC4 precision all the same: the point of the PC4 area from the
offline table when it has one, otherwise PDOK's point rounded to two decimals (about a kilometre).

When PDOK cannot be reached (timeout, network, an unexpected answer) the lookup falls back to the
offline table, so a registration never fails because a remote service is down. Tests never call
PDOK: they test ``parse_response`` with a recorded answer.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from domain.geo.geocoder import Location, Pc4Geocoder, PostcodeError, _pc4_table, normalise_postcode

log = logging.getLogger(__name__)

SEARCH_URL = "https://api.pdok.nl/bzk/locatieserver/search/v3_1/free"
FIELDS = "postcode,centroide_ll,woonplaatsnaam,gemeentecode,gemeentenaam,type"
TIMEOUT_SECONDS = 5
PC4_DECIMALS = 2  # ~1.1 km north-south, ~0.7 km east-west: no finer than a PC4 area

_POINT = re.compile(r"^\s*POINT\s*\(\s*(-?[0-9.]+)\s+(-?[0-9.]+)\s*\)\s*$")


class PdokUnavailable(RuntimeError):
    """PDOK did not answer usefully; the caller falls back to the offline table."""


def search_url(postcode: str) -> str:
    query = urllib.parse.urlencode({"q": postcode.replace(" ", ""), "fq": "type:postcode", "rows": 1, "fl": FIELDS})
    return f"{SEARCH_URL}?{query}"


def parse_response(payload: str | bytes | dict[str, Any], postcode: str) -> Location:
    """A Location at PC4 precision from a Locatieserver answer for ``postcode``.

    PostcodeError when PDOK does not know the postcode; PdokUnavailable when the answer is not
    what the Locatieserver sends.
    """
    normalised, pc4 = normalise_postcode(postcode)
    try:
        data = json.loads(payload) if isinstance(payload, (str, bytes)) else payload
        docs = data["response"]["docs"]
    except (ValueError, KeyError, TypeError) as error:
        raise PdokUnavailable(f"unexpected answer from PDOK: {error}") from None
    wanted = normalised.replace(" ", "")
    doc = next((d for d in docs if str(d.get("postcode", "")).replace(" ", "").upper() == wanted), None)
    if doc is None:
        raise PostcodeError(f"Postcode {normalised} kennen we niet. Controleer de cijfers en letters.")
    match = _POINT.match(str(doc.get("centroide_ll", "")))
    if not match:
        raise PdokUnavailable(f"no centroide_ll for {normalised}")
    longitude, latitude = float(match.group(1)), float(match.group(2))
    table_row = _pc4_table().get(pc4)
    if table_row is not None:
        # The same point the offline geocoder stores, so distances do not depend on the setting.
        latitude, longitude = table_row[0], table_row[1]
    else:
        latitude, longitude = round(latitude, PC4_DECIMALS), round(longitude, PC4_DECIMALS)
    code = str(doc.get("gemeentecode") or "").strip()
    return Location(
        postcode=normalised,
        pc4=pc4,
        latitude=latitude,
        longitude=longitude,
        place=str(doc.get("woonplaatsnaam") or (table_row[2] if table_row else "")),
        gemeentecode=f"GM{code.zfill(4)}" if code.isdigit() else (table_row[3] if table_row else ""),
        gemeentenaam=str(doc.get("gemeentenaam") or (table_row[4] if table_row else "")),
    )


class PdokGeocoder:
    """The Locatieserver, with the offline PC4 table as fallback when PDOK is unreachable."""

    def __init__(self, timeout: float = TIMEOUT_SECONDS, fallback: Pc4Geocoder | None = None):
        self.timeout = timeout
        self.fallback = fallback or Pc4Geocoder()

    def locate(self, postcode: str) -> Location:
        normalise_postcode(postcode)  # format errors never reach the network
        try:
            return parse_response(self._fetch(postcode), postcode)
        except PdokUnavailable as error:
            log.warning("PDOK unavailable, using the offline PC4 table", extra={"error": str(error)})
            return self.fallback.locate(postcode)

    def _fetch(self, postcode: str) -> bytes:
        request = urllib.request.Request(  # noqa: S310 - a fixed https:// URL
            search_url(postcode), headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - fixed https URL
                return response.read(1_000_000)
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            raise PdokUnavailable(str(error)) from None
