"""A gemeente's own settings, edited by its tenant admin: which keys, their bounds, parsing the
form's text, and writing them all or nothing with one audit event.

The settings live in ``Tenant.settings`` (JSONB); a key that was never set follows
``DEFAULT_TENANT_SETTINGS``. Saving writes only the keys whose value really changes, so a key the
admin leaves at its default keeps following the default.

Kinds: a whole number (``INT``), a list of them (``INT_LIST``, stored sorted), or a dict of named
whole numbers (``INT_MAP``, e.g. ``match_weights``): one field per part, stored whole under the key.
An error about one part of a dict is reported under ``error_key(key, part)`` (``"match_weights.afstand"``),
an error about the dict as a whole (all parts 0) under the key itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
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
    INT_MAP = "int-map"


class ListOrder(StrEnum):
    ASCENDING = "ascending"
    DESCENDING = "descending"


@dataclass(frozen=True)
class Part:
    """One named number of an ``INT_MAP`` setting: its key in the dict, its label and help (Dutch)."""

    key: str
    label: str
    help: str = ""


@dataclass(frozen=True)
class SettingSpec:
    """One editable setting: its form label and help text (Dutch), its kind and bounds.

    ``minimum``/``maximum`` bound the number, or each number of a list or dict (inclusive). A list is
    stored in ``order``; an empty list is allowed (no reminders at all). A dict has exactly
    ``parts``, stored in that order; with ``all_zero_error`` set, a dict of only zeros is refused
    with that message.
    """

    key: str
    label: str
    help: str
    kind: Kind
    minimum: int
    maximum: int
    order: ListOrder | None = None
    group: str = ""
    parts: tuple[Part, ...] = ()
    all_zero_error: str = ""

    @property
    def default(self) -> Any:
        return DEFAULT_TENANT_SETTINGS[self.key]


GROUP_KOPPELING = "Koppelingen"
GROUP_EVALUATIE = "Evaluaties"
GROUP_SUGGESTIES = "Suggesties voor een koppeling"
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
    SettingSpec("evaluation_before_proefperiode_end_days", "Evaluatie: dagen vóór het einde van de proefperiode",
                "Zoveel dagen voordat de proefperiode afloopt, krijgen beide gezinnen een link naar de "
                "evaluatie. Van 1 tot en met 30 dagen.",
                Kind.INT, 1, 30, group=GROUP_EVALUATIE),
    SettingSpec("evaluation_reminder_days", "Herinnering aan de evaluatie na (dagen)",
                "Heeft een gezin de evaluatie na zoveel dagen nog niet ingevuld, dan krijgt het één herinnering "
                "met een nieuwe link. Van 1 tot en met 30 dagen, en minder dan het aantal dagen dat een "
                "evaluatielink werkt.",
                Kind.INT, 1, 30, group=GROUP_EVALUATIE),
    SettingSpec("evaluation_link_days", "Een evaluatielink werkt (dagen)",
                "Zo lang na de eerste mail kan een gezin de evaluatie invullen; de herinnering verlengt dit "
                "niet. Van 7 tot en met 90 dagen.",
                Kind.INT, 7, 90, group=GROUP_EVALUATIE),
    SettingSpec("match_weights", "Gewicht van elk criterium bij het zoeken van een passend gezin",
                "Hoe zwaar elk criterium meetelt in de score van een suggestie. Een heel getal van 0 tot en "
                "met 10: hoe hoger, hoe zwaarder. 0 betekent: telt niet mee. Minstens één criterium moet "
                "zwaarder wegen dan 0.",
                Kind.INT_MAP, 0, 10, group=GROUP_SUGGESTIES,
                parts=(
                    Part("steun", "Soort steun",
                         "Biedt het steungezin de soorten steun die het gezin vraagt?"),
                    Part("beschikbaarheid", "Beschikbaarheid",
                         "Kan het steungezin op de momenten die het gezin nodig heeft?"),
                    Part("afstand", "Afstand",
                         "De afstand tussen de gezinnen, naar de wens van het gezin (dichtbij of juist "
                         "buiten de eigen buurt)."),
                    Part("leeftijden", "Leeftijden van de kinderen",
                         "Heeft het steungezin kinderen van deze leeftijden opgevoed, en ervaring met "
                         "opvoeden beschreven?"),
                    Part("ruimte", "Ruimte bij het steungezin",
                         "Hoeveel plek het steungezin nog heeft voor een gezin."),
                ),
                all_zero_error="Geef minstens één criterium een gewicht hoger dan 0. Met alleen nullen "
                               "krijgt elk gezin dezelfde score."),
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


def error_key(key: str, part: str) -> str:
    """Where ``SettingsError.errors`` reports an error about one part of a dict setting."""
    return f"{key}.{part}"


def format_value(spec: SettingSpec, value: Any) -> str | dict[str, str]:
    """A stored value as the form shows it: ``14``, ``60, 30, 7``, or one text per part of a dict."""
    if spec.kind == Kind.INT_LIST:
        return ", ".join(str(item) for item in value)
    if spec.kind == Kind.INT_MAP:
        return {part: str(number) for part, number in value.items()}
    return str(value)


def effective_value(spec: SettingSpec, tenant: Tenant) -> Any:
    """The tenant's own value, else the default. A dict has every part: a part the tenant's dict
    lacks takes the default's (as ``domain.matching.scoring.match_weights`` reads it)."""
    value = tenant.setting(spec.key)
    if spec.kind == Kind.INT_MAP:
        own = value if isinstance(value, Mapping) else {}
        return {part.key: own.get(part.key, spec.default[part.key]) for part in spec.parts}
    return value


def current_form_values(tenant: Tenant) -> dict[str, str | dict[str, str]]:
    """The tenant's effective values (its own, else the defaults) as form text."""
    return {key: format_value(spec, effective_value(spec, tenant)) for key, spec in EDITABLE_SETTINGS.items()}


# --- parsing and checking ----------------------------------------------------------------------------


class _PartErrors(ValueError):
    """Errors about parts of a dict setting: part → Dutch message."""

    def __init__(self, errors: Mapping[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(self.errors.values()))


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


def _check_number(spec: SettingSpec, value: Any, example: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"Vul een heel getal in, bijvoorbeeld {example}.")
    if not spec.minimum <= value <= spec.maximum:
        raise ValueError(f"Kies een getal {_range_text(spec)}.")
    return value


def _parse_number(spec: SettingSpec, text: Any, example: Any) -> int:
    text = text.strip() if isinstance(text, str) else ""
    if not text:
        raise ValueError("Vul een getal in.")
    value = _parse_int(text)
    if value is None:
        raise ValueError(f"Vul een heel getal in, bijvoorbeeld {example}.")
    return _check_number(spec, value, example)


def _check_int(spec: SettingSpec, value: Any) -> int:
    return _check_number(spec, value, spec.default)


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


def _check_map(spec: SettingSpec, values: Any) -> dict[str, int]:
    """Exactly the spec's parts, each a number within bounds, not all zero (if so specified)."""
    parts = [part.key for part in spec.parts]
    if not isinstance(values, Mapping):
        raise ValueError(f"Vul voor {_join(parts)} elk een heel getal in.")
    unknown = [str(key) for key in values if key not in parts]
    if unknown:
        raise ValueError(f"{_join(unknown)} {'hoort' if len(unknown) == 1 else 'horen'} hier niet bij.")
    checked, errors = {}, {}
    for part in parts:
        if part not in values:
            errors[part] = "Vul een getal in."
            continue
        try:
            checked[part] = _check_number(spec, values[part], spec.default[part])
        except ValueError as error:
            errors[part] = str(error)
    if errors:
        raise _PartErrors(errors)
    return _check_whole_map(spec, checked)


def _check_whole_map(spec: SettingSpec, values: dict[str, int]) -> dict[str, int]:
    if spec.all_zero_error and not any(values.values()):
        raise ValueError(spec.all_zero_error)
    return values


def _check(spec: SettingSpec, value: Any) -> Any:
    """The value as stored (a list sorted, a dict in the parts' order), or ValueError with a Dutch
    message (``_PartErrors`` for parts of a dict)."""
    if spec.kind == Kind.INT_LIST:
        return _check_list(spec, value)
    if spec.kind == Kind.INT_MAP:
        return _check_map(spec, value)
    return _check_int(spec, value)


def _parse_list(spec: SettingSpec, text: str) -> list[int]:
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


def _parse_map(spec: SettingSpec, texts: Any) -> dict[str, int]:
    texts = texts if isinstance(texts, Mapping) else {}
    values, errors = {}, {}
    for part in spec.parts:
        try:
            values[part.key] = _parse_number(spec, texts.get(part.key), spec.default[part.key])
        except ValueError as error:
            errors[part.key] = str(error)
    if errors:
        raise _PartErrors(errors)
    return _check_whole_map(spec, values)


def _parse_text(spec: SettingSpec, text: Any) -> Any:
    if spec.kind == Kind.INT_MAP:
        return _parse_map(spec, text)
    if spec.kind == Kind.INT_LIST:
        return _parse_list(spec, text.strip() if isinstance(text, str) else "")
    return _parse_number(spec, text, spec.default)


def _collect(errors: dict[str, str], key: str, error: ValueError) -> None:
    """Add ``error`` about setting ``key`` to ``errors``: per part for a dict, else under the key."""
    if isinstance(error, _PartErrors):
        errors.update({error_key(key, part): message for part, message in error.errors.items()})
    else:
        errors[key] = str(error)


def _combination_errors(values: Mapping[str, Any], changed: Iterable[str]) -> dict[str, str]:
    """Rules between settings, on the effective ``values``; the message goes to a ``changed`` key.

    The evaluation reminder is only sent while the link still works, so it must come before the
    link stops working.
    """
    reminder, link = values["evaluation_reminder_days"], values["evaluation_link_days"]
    if reminder < link or not {"evaluation_reminder_days", "evaluation_link_days"} & set(changed):
        return {}
    key = "evaluation_reminder_days" if "evaluation_reminder_days" in changed else "evaluation_link_days"
    return {key: f"De herinnering komt pas als de evaluatielink niet meer werkt ({link} dagen), en wordt dan "
                 f"nooit verstuurd. Kies minder dagen voor de herinnering dan de link werkt."}


def parse_settings(form_values: Mapping[str, Any]) -> dict[str, Any]:
    """The form's text for every editable key → the values to store (lists sorted).

    A dict setting's form value is a mapping part → text. A key (or part) missing from
    ``form_values`` counts as an empty field. Raises ``SettingsError`` with a message for every
    wrong field at once (parts of a dict under ``error_key(key, part)``).
    """
    parsed, errors = {}, {}
    for key, spec in EDITABLE_SETTINGS.items():
        try:
            parsed[key] = _parse_text(spec, form_values.get(key))
        except ValueError as error:
            _collect(errors, key, error)
    if not errors:
        errors = _combination_errors(parsed, changed=parsed)
    if errors:
        raise SettingsError(errors)
    return parsed


# --- saving ------------------------------------------------------------------------------------------


def update_tenant_settings(tenant: Tenant, values: Mapping[str, Any], actor: Actor) -> dict[str, list[Any]]:
    """Store ``values`` (editable keys only, as ``parse_settings`` returns them) for ``tenant``.

    All or nothing: every value is checked before anything is written (a dict setting whole, with
    all its parts). Only keys whose effective value changes are written (a dict compared with the
    stored one completed by the default's parts); they are audited in one ``tenant.settings_changed`` event with
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
            _collect(errors, key, error)
    if errors:
        raise SettingsError(errors)

    # Lock the row and read it fresh, so that two admins saving at once cannot lose each other's
    # keys and the audited old values are the ones really replaced.
    locked = db.session.scalars(
        select(Tenant).where(Tenant.id == tenant.id).with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    # Rules between settings hold for the values as they will be: the new ones over the stored ones.
    errors = _combination_errors({key: checked.get(key, effective_value(spec, locked))
                                  for key, spec in EDITABLE_SETTINGS.items()}, changed=checked)
    if errors:
        raise SettingsError(errors)
    changes: dict[str, list[Any]] = {}
    for key, new in checked.items():
        old = effective_value(EDITABLE_SETTINGS[key], locked)
        if old != new:
            changes[key] = [list(old) if isinstance(old, list | tuple) else old, new]
    if not changes:
        return {}
    # A new dict: the JSONB column does not track changes made inside the existing one.
    locked.settings = {**(locked.settings or {}), **{key: new for key, (_, new) in changes.items()}}
    db.session.flush()
    record(AUDIT_ACTION, actor, object_type="tenant", object_id=locked.id, details=changes)
    return changes
