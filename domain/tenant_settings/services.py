"""A gemeente's own settings, edited by its tenant admin: which keys, their bounds, parsing the
form's text, and writing them all or nothing with one audit event.

The settings live in ``Tenant.settings`` (JSONB); a key that was never set follows
``DEFAULT_TENANT_SETTINGS``. Saving writes only the keys whose value really changes, so a key the
admin leaves at its default keeps following the default.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select

from domain.audit.services import Actor, record
from tenants.db import db, session_tenant
from tenants.models import DEFAULT_TENANT_SETTINGS, Tenant

AUDIT_ACTION = "tenant.settings_changed"


class Kind(StrEnum):
    INT = "int"
    INT_LIST = "int-list"


class ListOrder(StrEnum):
    ASCENDING = "ascending"
    DESCENDING = "descending"


@dataclass(frozen=True)
class SettingSpec:
    """One editable setting: its form label and help text (Dutch), its kind and bounds.

    ``minimum``/``maximum`` bound the number, or each number of a list (inclusive). A list is
    stored in ``order``; an empty list is allowed (no reminders at all).
    """

    key: str
    label: str
    help: str
    kind: Kind
    minimum: int
    maximum: int
    order: ListOrder | None = None
    group: str = ""

    @property
    def default(self) -> Any:
        return DEFAULT_TENANT_SETTINGS[self.key]


GROUP_KOPPELING = "Koppelingen"
GROUP_VOG = "VOG"
GROUP_INTAKE = "Intake"
GROUP_CIJFERS = "Cijfers"

_SPECS = (
    SettingSpec("proefperiode_months", "Proefperiode (maanden)",
                "Hoe lang de proefperiode van een nieuwe koppeling duurt. Van 1 tot en met 12 maanden.",
                Kind.INT, 1, 12, group=GROUP_KOPPELING),
    SettingSpec("evaluation_interval_months", "Evalueren om de (maanden)",
                "Na de proefperiode evalueren de gezinnen en de coördinator de koppeling zo vaak. "
                "Van 1 tot en met 24 maanden.",
                Kind.INT, 1, 24, group=GROUP_KOPPELING),
    SettingSpec("guidance_term_months", "Begeleidingstermijn (maanden)",
                "Hoe lang een koppeling begeleid wordt. Van 1 tot en met 60 maanden.",
                Kind.INT, 1, 60, group=GROUP_KOPPELING),
    SettingSpec("vog_renewal_months", "VOG vernieuwen na (maanden)",
                "Zo lang na de datum van afgifte moet een steunouder een nieuwe VOG hebben. "
                "Van 6 tot en met 120 maanden.",
                Kind.INT, 6, 120, group=GROUP_VOG),
    SettingSpec("vog_request_reminder_days", "Herinneringen aan de VOG-aanvraag (dagen na de aanvraag)",
                "Zoveel dagen na de aanvraag krijgt de steunouder een herinnering, zolang de VOG nog niet "
                "binnen is. Scheid de dagen met komma's, bijvoorbeeld 7, 14. Elk getal van 1 tot en met 120. "
                "Laat het veld leeg voor geen herinneringen.",
                Kind.INT_LIST, 1, 120, ListOrder.ASCENDING, group=GROUP_VOG),
    SettingSpec("vog_request_overdue_days", "VOG-aanvraag wordt een taak na (dagen)",
                "Is de VOG zoveel dagen na de aanvraag nog niet ontvangen, dan wordt het een taak voor de "
                "coördinator. Van 1 tot en met 120 dagen.",
                Kind.INT, 1, 120, group=GROUP_VOG),
    SettingSpec("vog_renewal_reminder_days", "Herinneringen aan het vernieuwen van de VOG (dagen vooraf)",
                "Zoveel dagen voordat de VOG vernieuwd moet zijn, krijgt de steunouder een herinnering. "
                "Scheid de dagen met komma's, bijvoorbeeld 60, 30, 7. Elk getal van 1 tot en met 365. "
                "Laat het veld leeg voor geen herinneringen.",
                Kind.INT_LIST, 1, 365, ListOrder.DESCENDING, group=GROUP_VOG),
    SettingSpec("intake_within_days", "Intake binnen (dagen)",
                "Heeft een aangemeld gezin na zoveel dagen nog geen intake gehad, dan wordt het een taak voor "
                "de coördinator. Van 1 tot en met 90 dagen.",
                Kind.INT, 1, 90, group=GROUP_INTAKE),
    SettingSpec("savings_per_koppeling_eur", "Geschatte besparing per koppeling (€)",
                "Wat één koppeling de gemeente naar schatting bespaart, in hele euro's, bijvoorbeeld 5500. "
                "Van 0 tot en met 100.000.",
                Kind.INT, 0, 100_000, group=GROUP_CIJFERS),
)

# key → spec, in the order the form shows them.
EDITABLE_SETTINGS: dict[str, SettingSpec] = {spec.key: spec for spec in _SPECS}

_INT = re.compile(r"[+-]?[0-9]+")
_THOUSANDS = re.compile(r"[0-9]{1,3}(\.[0-9]{3})+")  # 5.500, the Dutch way
_LIST_SEPARATORS = re.compile(r"[,;\s]+")
_SHOWN_ITEM_LENGTH = 20


class SettingsError(ValueError):
    """Settings that cannot be saved. ``errors`` maps each wrong key to a Dutch message."""

    def __init__(self, errors: Mapping[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(f"{key}: {message}" for key, message in self.errors.items()))


# --- showing -----------------------------------------------------------------------------------------


def format_value(spec: SettingSpec, value: Any) -> str:
    """A stored value as the form shows it: ``14`` or ``60, 30, 7``."""
    if spec.kind == Kind.INT_LIST:
        return ", ".join(str(item) for item in value)
    return str(value)


def current_form_values(tenant: Tenant) -> dict[str, str]:
    """The tenant's effective values (its own, else the defaults) as form text."""
    return {key: format_value(spec, tenant.setting(key)) for key, spec in EDITABLE_SETTINGS.items()}


# --- parsing and checking ----------------------------------------------------------------------------


def _number(value: int) -> str:
    return f"{value:,}".replace(",", ".")


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} en {items[-1]}"


def _range_text(spec: SettingSpec) -> str:
    return f"van {_number(spec.minimum)} tot en met {_number(spec.maximum)}"


def _parse_int(text: str) -> int | None:
    text = text.strip()
    if _THOUSANDS.fullmatch(text):
        text = text.replace(".", "")
    if not _INT.fullmatch(text):
        return None
    try:
        return int(text)
    except ValueError:  # more digits than Python converts: certainly out of range
        return None


def _check_int(spec: SettingSpec, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"Vul een heel getal in, bijvoorbeeld {spec.default}.")
    if not spec.minimum <= value <= spec.maximum:
        raise ValueError(f"Kies een getal {_range_text(spec)}.")
    return value


def _check_list(spec: SettingSpec, values: Any) -> list[int]:
    if not isinstance(values, list | tuple) or any(isinstance(v, bool) or not isinstance(v, int) for v in values):
        raise ValueError(f"Vul hele getallen in, gescheiden door komma's, bijvoorbeeld "
                         f"{format_value(spec, spec.default)}.")
    outside = [v for v in values if not spec.minimum <= v <= spec.maximum]
    if outside:
        shown = _join([str(v) for v in dict.fromkeys(outside)])
        verb = "past" if len(set(outside)) == 1 else "passen"
        raise ValueError(f"{shown} {verb} niet: elk getal moet {_range_text(spec)} zijn.")
    seen, doubles = set(), []
    for value in values:
        if value in seen and value not in doubles:
            doubles.append(value)
        seen.add(value)
    if doubles:
        verb = "staat" if len(doubles) == 1 else "staan"
        raise ValueError(f"{_join([str(v) for v in doubles])} {verb} er meer dan één keer in. "
                         "Noem elke dag maar één keer.")
    return sorted(values, reverse=spec.order == ListOrder.DESCENDING)


def _check(spec: SettingSpec, value: Any) -> Any:
    """The value as stored (a list sorted), or ValueError with a Dutch message."""
    return _check_list(spec, value) if spec.kind == Kind.INT_LIST else _check_int(spec, value)


def _parse_text(spec: SettingSpec, text: str) -> Any:
    text = (text or "").strip()
    if spec.kind == Kind.INT:
        if not text:
            raise ValueError("Vul een getal in.")
        value = _parse_int(text)
        if value is None:
            raise ValueError(f"Vul een heel getal in, bijvoorbeeld {spec.default}.")
        return _check_int(spec, value)
    items = [item for item in _LIST_SEPARATORS.split(text) if item]
    values, wrong = [], []
    for item in items:
        value = _parse_int(item)
        if value is None:
            wrong.append(f"‘{item[:_SHOWN_ITEM_LENGTH]}’")
        else:
            values.append(value)
    if wrong:
        verb = "is geen heel getal" if len(wrong) == 1 else "zijn geen hele getallen"
        raise ValueError(f"{_join(wrong)} {verb}. Scheid de dagen met komma's, bijvoorbeeld "
                         f"{format_value(spec, spec.default)}.")
    return _check_list(spec, values)


def parse_settings(form_values: Mapping[str, str]) -> dict[str, Any]:
    """The form's text for every editable key → the values to store (lists sorted).

    A key missing from ``form_values`` counts as an empty field. Raises ``SettingsError`` with a
    message for every wrong field at once.
    """
    parsed, errors = {}, {}
    for key, spec in EDITABLE_SETTINGS.items():
        try:
            parsed[key] = _parse_text(spec, form_values.get(key, ""))
        except ValueError as error:
            errors[key] = str(error)
    if errors:
        raise SettingsError(errors)
    return parsed


# --- saving ------------------------------------------------------------------------------------------


def update_tenant_settings(tenant: Tenant, values: Mapping[str, Any], actor: Actor) -> dict[str, list[Any]]:
    """Store ``values`` (editable keys only, as ``parse_settings`` returns them) for ``tenant``.

    All or nothing: every value is checked before anything is written. Only keys whose effective
    value changes are written; they are audited in one ``tenant.settings_changed`` event with
    ``[old, new]`` per key, and no event when nothing changed. Returns those changes. The caller
    commits.
    """
    if session_tenant(db.session()) != tenant.id:
        # The tenants table has no row-level security: refuse to write a tenant the session is
        # not acting for (the audit event would also land in the wrong tenant).
        raise PermissionError("the database session does not act for this tenant")
    errors, checked = {}, {}
    for key, value in values.items():
        spec = EDITABLE_SETTINGS.get(key)
        if spec is None:
            errors[key] = "Deze instelling kan hier niet worden aangepast."
            continue
        try:
            checked[key] = _check(spec, value)
        except ValueError as error:
            errors[key] = str(error)
    if errors:
        raise SettingsError(errors)

    # Lock the row and read it fresh, so that two admins saving at once cannot lose each other's
    # keys and the audited old values are the ones really replaced.
    locked = db.session.scalars(
        select(Tenant).where(Tenant.id == tenant.id).with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    changes: dict[str, list[Any]] = {}
    for key, new in checked.items():
        old = locked.setting(key)
        if old != new:
            changes[key] = [list(old) if isinstance(old, list | tuple) else old, new]
    if not changes:
        return {}
    # A new dict: the JSONB column does not track changes made inside the existing one.
    locked.settings = {**(locked.settings or {}), **{key: new for key, (_, new) in changes.items()}}
    db.session.flush()
    record(AUDIT_ACTION, actor, object_type="tenant", object_id=locked.id, details=changes)
    return changes
