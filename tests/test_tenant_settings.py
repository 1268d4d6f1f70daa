"""A gemeente's own settings at /<slug>/app/instellingen: defaults shown, checked input, lists
stored sorted, the match weights as one dict, one audit event per save, only the tenant admin, and
never another gemeente."""

from __future__ import annotations

import html
import re
from datetime import date
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from domain.accounts.models import TenantRole
from domain.audit.models import AuditEvent
from domain.audit.services import Actor
from domain.evaluations.services import proefperiode_due_on
from domain.matching.services import weights_for
from domain.tenant_settings.services import (
    EDITABLE_SETTINGS,
    SettingsError,
    format_value,
    parse_settings,
    update_tenant_settings,
)
from tenants.db import db
from tenants.models import DEFAULT_TENANT_SETTINGS, Tenant
from tenants.services import use_tenant
from tests.conftest import csrf_token, login, random_ip

ADMIN = Actor(id=None, label="beheer@example.org")

VALID = {
    "proefperiode_months": "3",
    "evaluation_interval_months": "6",  # the default: not a change
    "guidance_term_months": "18",
    "vog_renewal_months": "24",
    "vog_request_reminder_days": "14, 3,7",
    "vog_request_overdue_days": "28",
    "vog_renewal_reminder_days": "7 90 30",
    "intake_within_days": "10",
    "savings_per_koppeling_eur": "6.250",
    # These stay at their defaults here: not a change.
    "evaluation_before_proefperiode_end_days": "7",
    "evaluation_reminder_days": "7",
    "evaluation_link_days": "21",
    "match_weights": {"steun": "3", "beschikbaarheid": "3", "afstand": "2", "leeftijden": "2", "ruimte": "1"},
}
WEIGHT_PARTS = ("steun", "beschikbaarheid", "afstand", "leeftijden", "ruimte")
NEW_KEYS = ("match_weights", "evaluation_before_proefperiode_end_days", "evaluation_reminder_days",
            "evaluation_link_days")


def weights(**changed: str) -> dict[str, str]:
    """The form's weights: the defaults with ``changed`` parts."""
    return {**VALID["match_weights"], **changed}


def url(gemeente) -> str:
    return f"/{gemeente.slug}/app/instellingen"


def new_client(app):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = random_ip()
    return client


def signed_in(app, person, gemeente):
    client = new_client(app)
    login(client, person, f"/{gemeente.slug}")
    return client


def in_tenant(app, gemeente, fn):
    with app.app_context():
        use_tenant(gemeente.id)
        try:
            return fn()
        finally:
            db.session.remove()


def stored_settings(app, gemeente) -> dict:
    return in_tenant(app, gemeente, lambda: dict(db.session.get(Tenant, gemeente.id).settings))


def settings_events(app, gemeente) -> list[dict]:
    def events():
        rows = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "tenant.settings_changed")
                                  .order_by(AuditEvent.id)).all()
        return [{"object_id": e.object_id, "actor_id": e.actor_id, "details": dict(e.details)} for e in rows]
    return in_tenant(app, gemeente, events)


def input_value(page: str, name: str) -> str:
    match = re.search(rf'<input[^>]*\bname="{name}"[^>]*>', page)
    assert match, f"no input {name}"
    value = re.search(r'\bvalue="([^"]*)"', match.group(0))
    return html.unescape(value.group(1)) if value else ""


def error_of(page: str, name: str) -> str:
    match = re.search(rf'id="{name}-error">(.*?)</div>', page, re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", match.group(1))) if match else ""


def form_data(values: dict) -> dict[str, str]:
    """The posted form: a dict setting's parts as fields named ``<key>-<part>``."""
    data = {}
    for key, value in values.items():
        if isinstance(value, dict):
            data |= {f"{key}-{part}": text for part, text in value.items()}
        else:
            data[key] = value
    return data


def field_ids() -> list[str]:
    """The id of every input on the page: a dict setting has one per part."""
    return [f"{key}-{part.key}" for key, spec in EDITABLE_SETTINGS.items() for part in spec.parts] + [
        key for key, spec in EDITABLE_SETTINGS.items() if not spec.parts]


def post(client, gemeente, values: dict):
    return client.post(url(gemeente), data={**form_data(values), "csrf_token": csrf_token(client, url(gemeente))})


# --- the page ------------------------------------------------------------------------------------------


def test_admin_sees_the_defaults_with_labels_and_linked_help(app, make):
    gemeente = make.tenant()
    client = signed_in(app, make.user(gemeente, TenantRole.TENANT_ADMIN), gemeente)
    response = client.get(url(gemeente))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert input_value(page, "proefperiode_months") == "2"
    assert input_value(page, "evaluation_interval_months") == "6"
    assert input_value(page, "guidance_term_months") == "24"
    assert input_value(page, "vog_renewal_months") == "36"
    assert input_value(page, "vog_request_reminder_days") == "7, 14"
    assert input_value(page, "vog_request_overdue_days") == "21"
    assert input_value(page, "vog_renewal_reminder_days") == "60, 30, 7"
    assert input_value(page, "intake_within_days") == "14"
    assert input_value(page, "savings_per_koppeling_eur") == "5500"
    assert input_value(page, "evaluation_before_proefperiode_end_days") == "7"
    assert input_value(page, "evaluation_reminder_days") == "7"
    assert input_value(page, "evaluation_link_days") == "21"
    assert {part: input_value(page, f"match_weights-{part}") for part in WEIGHT_PARTS} == {
        "steun": "3", "beschikbaarheid": "3", "afstand": "2", "leeftijden": "2", "ruimte": "1"}
    assert ">VOG vernieuwen na (maanden)</label>" in page
    assert ">Geschatte besparing per koppeling (€)</label>" in page
    assert ">Een evaluatielink werkt (dagen)</label>" in page
    # The weights: one fieldset with its legend and the hint that 0 does not count, linked to it.
    assert re.search(r'<fieldset id="match_weights"[^>]*aria-describedby="match_weights-description">\s*'
                     r'<legend[^>]*>Gewicht van elk criterium bij het zoeken van een passend gezin</legend>', page)
    assert "0 betekent: telt niet mee." in page
    for label in ("Soort steun", "Beschikbaarheid", "Afstand", "Leeftijden van de kinderen",
                  "Ruimte bij het steungezin"):
        assert f">{label}</label>" in page
    for key in field_ids():
        # Every field has a label and its help text linked for screen readers.
        assert f'<label class="utrecht-form-label" for="{key}">' in page
        assert f'id="{key}-description"' in page
        assert re.search(rf'<input[^>]*aria-describedby="{key}-description"[^>]*name="{key}"', page), key
    # The nav shows the page to the admin, marked as current.
    assert re.search(r'href="[^"]*/app/instellingen" aria-current="page">Instellingen</a>', page)


def test_stored_values_are_shown_and_unset_keys_show_their_default(app, make):
    gemeente = make.tenant()

    def store():
        tenant = db.session.get(Tenant, gemeente.id)
        tenant.settings = {"vog_renewal_months": 48, "vog_request_reminder_days": []}
        db.session.commit()
    in_tenant(app, gemeente, store)
    client = signed_in(app, make.user(gemeente, TenantRole.TENANT_ADMIN), gemeente)
    page = client.get(url(gemeente)).get_data(as_text=True)
    assert input_value(page, "vog_renewal_months") == "48"
    assert input_value(page, "vog_request_reminder_days") == ""
    assert input_value(page, "proefperiode_months") == "2"


# --- saving --------------------------------------------------------------------------------------------


def test_a_valid_save_changes_only_the_own_tenant_sorted_and_audited(app, two_tenants):
    a, b = two_tenants["a"], two_tenants["b"]
    b_before = stored_settings(app, b)
    client = signed_in(app, two_tenants["a_admin"], a)

    response = post(client, a, VALID)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(url(a))
    page = client.get(url(a)).get_data(as_text=True)
    assert "Instellingen opgeslagen." in page
    assert input_value(page, "vog_request_reminder_days") == "3, 7, 14"
    assert input_value(page, "vog_renewal_reminder_days") == "90, 30, 7"
    assert input_value(page, "savings_per_koppeling_eur") == "6250"

    stored = stored_settings(app, a)
    assert stored == {
        "proefperiode_months": 3, "guidance_term_months": 18, "vog_renewal_months": 24,
        "vog_request_reminder_days": [3, 7, 14], "vog_request_overdue_days": 28,
        "vog_renewal_reminder_days": [90, 30, 7], "intake_within_days": 10, "savings_per_koppeling_eur": 6250,
    }  # evaluation_interval_months stayed at its default, so it was not written

    events = settings_events(app, a)
    assert len(events) == 1
    event = events[0]
    assert event["object_id"] == a.id and event["actor_id"] == two_tenants["a_admin"].id
    changed = {key: value for key, value in event["details"].items() if key in EDITABLE_SETTINGS}
    assert changed == {
        "proefperiode_months": [2, 3], "guidance_term_months": [24, 18], "vog_renewal_months": [36, 24],
        "vog_request_reminder_days": [[7, 14], [3, 7, 14]], "vog_request_overdue_days": [21, 28],
        "vog_renewal_reminder_days": [[60, 30, 7], [90, 30, 7]], "intake_within_days": [14, 10],
        "savings_per_koppeling_eur": [5500, 6250],
    }

    # Tenant B: untouched, and its log has nothing of A's save.
    assert stored_settings(app, b) == b_before
    assert settings_events(app, b) == []
    b_page = signed_in(app, two_tenants["b_admin"], b).get(url(b)).get_data(as_text=True)
    assert input_value(b_page, "proefperiode_months") == "2"

    # Saving the same values again changes nothing and records nothing.
    assert post(client, a, VALID).status_code == 302
    assert len(settings_events(app, a)) == 1

    # One change: the event holds that key only; other stored keys are kept.
    assert post(client, a, {**VALID, "intake_within_days": "21", "vog_request_reminder_days": ""}).status_code == 302
    events = settings_events(app, a)
    assert len(events) == 2
    assert {k: v for k, v in events[1]["details"].items() if k in EDITABLE_SETTINGS} == {
        "intake_within_days": [10, 21], "vog_request_reminder_days": [[3, 7, 14], []]}
    assert stored_settings(app, a) == {**stored, "intake_within_days": 21, "vog_request_reminder_days": []}


def test_bad_input_shows_every_message_next_to_its_field_and_saves_nothing(app, make):
    gemeente = make.tenant()
    client = signed_in(app, make.user(gemeente, TenantRole.TENANT_ADMIN), gemeente)
    bad = {
        **VALID,
        "proefperiode_months": "0",
        "guidance_term_months": "",
        "vog_renewal_months": "3,5",
        "vog_request_reminder_days": "7, x",
        "vog_request_overdue_days": "121",
        "vog_renewal_reminder_days": "60, 30, 30",
        "intake_within_days": "-4",
        "savings_per_koppeling_eur": "100001",
    }
    response = post(client, gemeente, bad)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "niet alles klopt" in page
    assert "Instellingen opgeslagen." not in page
    assert "van 1 tot en met 12" in error_of(page, "proefperiode_months")
    assert "Vul een getal in." in error_of(page, "guidance_term_months")
    assert "heel getal" in error_of(page, "vog_renewal_months")
    assert "‘x’ is geen heel getal" in error_of(page, "vog_request_reminder_days")
    assert "van 1 tot en met 120" in error_of(page, "vog_request_overdue_days")
    assert "30 staat er meer dan één keer in" in error_of(page, "vog_renewal_reminder_days")
    assert "van 1 tot en met 90" in error_of(page, "intake_within_days")
    assert "van 0 tot en met 100.000" in error_of(page, "savings_per_koppeling_eur")
    assert error_of(page, "evaluation_interval_months") == ""
    # Each wrong field is marked and points at its message; what was typed stays.
    assert re.search(r'<input[^>]*aria-describedby="vog_request_reminder_days-description '
                     r'vog_request_reminder_days-error"[^>]*aria-invalid="true"', page)
    assert input_value(page, "vog_request_reminder_days") == "7, x"
    assert input_value(page, "proefperiode_months") == "0"

    # One bad field is enough for nothing to be saved, even with the rest right.
    assert post(client, gemeente, {**VALID, "vog_request_reminder_days": "0, 7"}).status_code == 200
    assert stored_settings(app, gemeente) == {}
    assert settings_events(app, gemeente) == []


def test_weights_and_evaluation_days_are_saved_for_the_own_tenant_and_used(app, two_tenants):
    a, b = two_tenants["a"], two_tenants["b"]
    b_before = stored_settings(app, b)
    client = signed_in(app, two_tenants["a_admin"], a)
    new = {**VALID, "match_weights": weights(steun="5", afstand="0", ruimte="10"),
           "evaluation_before_proefperiode_end_days": "10", "evaluation_reminder_days": "5",
           "evaluation_link_days": "30"}

    response = post(client, a, new)
    assert response.status_code == 302
    page = client.get(url(a)).get_data(as_text=True)
    assert "Instellingen opgeslagen." in page
    assert input_value(page, "match_weights-steun") == "5"
    assert input_value(page, "match_weights-afstand") == "0"
    assert input_value(page, "evaluation_link_days") == "30"

    # Only these keys are written (the other fields were at their defaults), the dict whole.
    new_weights = {"steun": 5, "beschikbaarheid": 3, "afstand": 0, "leeftijden": 2, "ruimte": 10}
    stored = stored_settings(app, a)
    assert {key: stored[key] for key in NEW_KEYS} == {
        "match_weights": new_weights, "evaluation_before_proefperiode_end_days": 10,
        "evaluation_reminder_days": 5, "evaluation_link_days": 30}
    assert set(stored) - set(NEW_KEYS) == {  # VALID's own changes, as in the test above
        "proefperiode_months", "guidance_term_months", "vog_renewal_months", "vog_request_reminder_days",
        "vog_request_overdue_days", "vog_renewal_reminder_days", "intake_within_days", "savings_per_koppeling_eur"}
    events = settings_events(app, a)
    assert len(events) == 1
    assert {key: events[0]["details"][key] for key in NEW_KEYS} == {
        "match_weights": [DEFAULT_TENANT_SETTINGS["match_weights"], new_weights],
        "evaluation_before_proefperiode_end_days": [7, 10], "evaluation_reminder_days": [7, 5],
        "evaluation_link_days": [21, 30]}

    # Only one weight changed: the event holds match_weights only, old and new whole.
    assert post(client, a, {**new, "match_weights": weights(steun="5", afstand="1", ruimte="10")}).status_code == 302
    events = settings_events(app, a)
    assert len(events) == 2
    assert {k: v for k, v in events[1]["details"].items() if k in EDITABLE_SETTINGS} == {
        "match_weights": [new_weights, {**new_weights, "afstand": 1}]}

    # The suggestions and the evaluations read the new values; B keeps the defaults.
    def used(gemeente):
        def read():
            tenant = db.session.get(Tenant, gemeente.id)
            return weights_for(tenant), proefperiode_due_on(SimpleNamespace(proefperiode_end_on=date(2025, 6, 30)),
                                                            tenant)
        return in_tenant(app, gemeente, read)
    assert used(a) == ({"steun": 5.0, "beschikbaarheid": 3.0, "afstand": 1.0, "leeftijden": 2.0, "ruimte": 10.0},
                       date(2025, 6, 20))
    assert used(b) == ({key: float(w) for key, w in DEFAULT_TENANT_SETTINGS["match_weights"].items()},
                       date(2025, 6, 23))
    assert stored_settings(app, b) == b_before
    assert settings_events(app, b) == []


def test_bad_weights_and_evaluation_days_show_messages_and_save_nothing(app, make):
    gemeente = make.tenant()
    client = signed_in(app, make.user(gemeente, TenantRole.TENANT_ADMIN), gemeente)
    bad = {**VALID, "match_weights": weights(steun="-1", beschikbaarheid="11", afstand="veel", leeftijden=""),
           "evaluation_before_proefperiode_end_days": "0", "evaluation_reminder_days": "31",
           "evaluation_link_days": "6"}
    response = post(client, gemeente, bad)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "niet alles klopt" in page
    assert "van 0 tot en met 10" in error_of(page, "match_weights-steun")
    assert "van 0 tot en met 10" in error_of(page, "match_weights-beschikbaarheid")
    assert "Vul een heel getal in, bijvoorbeeld 2." in error_of(page, "match_weights-afstand")
    assert "Vul een getal in." in error_of(page, "match_weights-leeftijden")
    assert error_of(page, "match_weights-ruimte") == ""
    assert error_of(page, "match_weights") == ""  # the parts are wrong, not the whole
    assert "van 1 tot en met 30" in error_of(page, "evaluation_before_proefperiode_end_days")
    assert "van 1 tot en met 30" in error_of(page, "evaluation_reminder_days")
    assert "van 7 tot en met 90" in error_of(page, "evaluation_link_days")
    assert re.search(r'<input[^>]*aria-describedby="match_weights-steun-description match_weights-steun-error"'
                     r'[^>]*aria-invalid="true"[^>]*name="match_weights-steun"', page)
    assert input_value(page, "match_weights-afstand") == "veel"  # what was typed stays

    # All weights 0: one message for the fieldset, linked to it.
    zeros = {part: "0" for part in WEIGHT_PARTS}
    page = post(client, gemeente, {**VALID, "match_weights": zeros}).get_data(as_text=True)
    assert "niet alles klopt" in page
    assert "minstens één criterium een gewicht hoger dan 0" in error_of(page, "match_weights")
    assert re.search(r'<fieldset id="match_weights"[^>]*utrecht-form-fieldset--invalid[^>]*'
                     r'aria-describedby="match_weights-description match_weights-error"', page)
    assert all(error_of(page, f"match_weights-{part}") == "" for part in WEIGHT_PARTS)

    # A reminder that would come after the link stopped working is never sent: refused.
    page = post(client, gemeente, {**VALID, "evaluation_reminder_days": "21"}).get_data(as_text=True)
    assert "nooit verstuurd" in error_of(page, "evaluation_reminder_days")

    # One bad weight is enough for nothing to be saved, even with the rest right and changed.
    changed = {**VALID, "intake_within_days": "30", "evaluation_link_days": "40"}
    assert post(client, gemeente, {**changed, "match_weights": weights(ruimte="10,5")}).status_code == 200
    assert stored_settings(app, gemeente) == {}
    assert settings_events(app, gemeente) == []


@pytest.mark.parametrize("role", [TenantRole.COORDINATOR, TenantRole.GEMEENTE_VIEWER])
def test_other_roles_get_403_and_no_nav_link(app, make, role):
    gemeente = make.tenant()
    client = signed_in(app, make.user(gemeente, role), gemeente)
    home = client.get(f"/{gemeente.slug}/app/")
    assert home.status_code == 200  # positive control
    assert "/app/instellingen" not in home.get_data(as_text=True)
    assert client.get(url(gemeente)).status_code == 403
    token = csrf_token(client, f"/{gemeente.slug}/app/")
    assert client.post(url(gemeente), data={**VALID, "csrf_token": token}).status_code == 403
    assert stored_settings(app, gemeente) == {}
    assert settings_events(app, gemeente) == []


def test_anonymous_goes_to_login_and_an_admin_of_b_cannot_reach_a(app, two_tenants):
    a = two_tenants["a"]
    response = new_client(app).get(url(a))
    assert response.status_code == 302 and f"/{a.slug}/login" in response.headers["Location"]
    # B's admin, signed in at B, is not signed in at A: A's page sends them to A's login.
    client = signed_in(app, two_tenants["b_admin"], two_tenants["b"])
    token = csrf_token(client, url(two_tenants["b"]))
    response = client.post(url(a), data={**VALID, "csrf_token": token})
    assert response.status_code == 302 and f"/{a.slug}/login" in response.headers["Location"]
    assert stored_settings(app, a) == {}


# --- the service ---------------------------------------------------------------------------------------


def test_parse_sorts_lists_allows_empty_ones_and_reports_all_errors_at_once():
    parsed = parse_settings(VALID)
    assert parsed["vog_request_reminder_days"] == [3, 7, 14]
    assert parsed["vog_renewal_reminder_days"] == [90, 30, 7]
    assert parsed["savings_per_koppeling_eur"] == 6250
    assert parse_settings({**VALID, "vog_request_reminder_days": " ", "vog_renewal_reminder_days": ""})[
        "vog_request_reminder_days"] == []
    assert set(parse_settings(VALID)) == set(EDITABLE_SETTINGS)
    assert parsed["match_weights"] == DEFAULT_TENANT_SETTINGS["match_weights"]

    with pytest.raises(SettingsError) as caught:
        parse_settings({**VALID, "proefperiode_months": "13", "vog_request_reminder_days": "7, 7, 14, 14",
                        "vog_renewal_reminder_days": "0, 366", "savings_per_koppeling_eur": "5,5"})
    assert isinstance(caught.value, ValueError)
    errors = caught.value.errors
    assert set(errors) == {"proefperiode_months", "vog_request_reminder_days", "vog_renewal_reminder_days",
                           "savings_per_koppeling_eur"}
    assert errors["vog_request_reminder_days"].startswith("7 en 14 staan er meer dan één keer in")
    assert errors["vog_renewal_reminder_days"].startswith("0 en 366 passen niet")
    # A field left out counts as empty.
    with pytest.raises(SettingsError) as caught:
        parse_settings({})
    assert set(caught.value.errors) == {k for k, s in EDITABLE_SETTINGS.items() if s.kind == "int"} | {
        f"match_weights.{part}" for part in WEIGHT_PARTS}


def test_every_editable_key_has_a_default_within_its_bounds():
    defaults = {key: DEFAULT_TENANT_SETTINGS[key] for key in EDITABLE_SETTINGS}
    as_text = {key: format_value(EDITABLE_SETTINGS[key], v) for key, v in defaults.items()}
    assert parse_settings(as_text) == defaults


def test_update_is_all_or_nothing_and_only_for_the_session_tenant(app, two_tenants):
    a, b = two_tenants["a"], two_tenants["b"]

    def bad_value():
        tenant = db.session.get(Tenant, a.id)
        with pytest.raises(SettingsError) as caught:
            update_tenant_settings(tenant, {"intake_within_days": 30, "vog_renewal_reminder_days": [7, 7]}, ADMIN)
        assert set(caught.value.errors) == {"vog_renewal_reminder_days"}
        with pytest.raises(SettingsError):
            update_tenant_settings(tenant, {"family_retention_months": 12}, ADMIN)  # not editable here
        db.session.commit()
    in_tenant(app, a, bad_value)
    assert stored_settings(app, a) == {}

    def other_tenant():
        with pytest.raises(PermissionError):
            update_tenant_settings(db.session.get(Tenant, b.id), {"intake_within_days": 30}, ADMIN)
        db.session.commit()
    in_tenant(app, a, other_tenant)
    assert stored_settings(app, b) == {}

    def partial():
        tenant = db.session.get(Tenant, a.id)
        tenant.settings = {"family_retention_months": 12}
        changes = update_tenant_settings(tenant, {"vog_request_reminder_days": [14, 7, 1]}, ADMIN)
        db.session.commit()
        return changes
    assert in_tenant(app, a, partial) == {"vog_request_reminder_days": [[7, 14], [1, 7, 14]]}
    # Keys this page does not edit are kept.
    assert stored_settings(app, a) == {"family_retention_months": 12, "vog_request_reminder_days": [1, 7, 14]}


def test_parse_reports_each_wrong_weight_under_its_part():
    with pytest.raises(SettingsError) as caught:
        parse_settings({**VALID, "match_weights": weights(steun="-1", ruimte="x"), "evaluation_link_days": "91"})
    errors = caught.value.errors
    assert set(errors) == {"match_weights.steun", "match_weights.ruimte", "evaluation_link_days"}
    assert errors["match_weights.steun"] == "Kies een getal van 0 tot en met 10."
    assert errors["match_weights.ruimte"] == "Vul een heel getal in, bijvoorbeeld 1."
    with pytest.raises(SettingsError) as caught:
        parse_settings({**VALID, "match_weights": {part: " 0 " for part in WEIGHT_PARTS}})
    assert set(caught.value.errors) == {"match_weights"}
    # A weight of 0 next to others counts: that criterion simply does not count.
    assert parse_settings({**VALID, "match_weights": weights(steun="0", afstand="10")})["match_weights"] == {
        "steun": 0, "beschikbaarheid": 3, "afstand": 10, "leeftijden": 2, "ruimte": 1}
    with pytest.raises(SettingsError) as caught:
        parse_settings({**VALID, "evaluation_reminder_days": "30", "evaluation_link_days": "30"})
    assert set(caught.value.errors) == {"evaluation_reminder_days"}


def test_update_checks_the_weights_whole_and_compares_with_the_effective_dict(app, make):
    gemeente = make.tenant()
    default = DEFAULT_TENANT_SETTINGS["match_weights"]

    def bad_weights():
        tenant = db.session.get(Tenant, gemeente.id)
        for value, keys in [
            ({**default, "steun": True}, {"match_weights.steun"}),
            ({**default, "steun": 2.5, "ruimte": 11}, {"match_weights.steun", "match_weights.ruimte"}),
            ({k: v for k, v in default.items() if k != "afstand"}, {"match_weights.afstand"}),
            ({**default, "vog": 3}, {"match_weights"}),
            ({part: 0 for part in WEIGHT_PARTS}, {"match_weights"}),
            ([3, 3, 2, 2, 1], {"match_weights"}),
        ]:
            with pytest.raises(SettingsError) as caught:
                update_tenant_settings(tenant, {"intake_within_days": 30, "match_weights": value}, ADMIN)
            assert set(caught.value.errors) == keys, value
        # The link may not be shortened below the stored reminder.
        tenant.settings = {"evaluation_reminder_days": 14}
        with pytest.raises(SettingsError) as caught:
            update_tenant_settings(tenant, {"evaluation_link_days": 10}, ADMIN)
        assert set(caught.value.errors) == {"evaluation_link_days"}
        db.session.rollback()
    in_tenant(app, gemeente, bad_weights)
    assert stored_settings(app, gemeente) == {}
    assert settings_events(app, gemeente) == []

    def save(stored, values):
        def run():
            tenant = db.session.get(Tenant, gemeente.id)
            tenant.settings = stored
            db.session.flush()
            changes = update_tenant_settings(tenant, values, ADMIN)
            db.session.commit()
            return changes
        return in_tenant(app, gemeente, run)

    # The default dict over an unset key: no change, nothing written (the key keeps following the default).
    assert save({}, {"match_weights": dict(default)}) == {}
    assert stored_settings(app, gemeente) == {}
    # A stored dict lacking a part counts with the default's part: the same weights are no change.
    assert save({"match_weights": {"steun": 5}}, {"match_weights": {**default, "steun": 5}}) == {}
    changes = save({"match_weights": {"steun": 5}}, {"match_weights": {**default, "steun": 6}})
    assert changes == {"match_weights": [{**default, "steun": 5}, {**default, "steun": 6}]}
    assert stored_settings(app, gemeente) == {"match_weights": {**default, "steun": 6}}
