"""The VOG guard: which adults of a steungezin lack a valid VOG and what is missing — the check the
proefperiode and the definitive koppeling depend on — shown on the family's page; and imported
steungezinnen get their VOG records at once."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from domain.audit.services import SYSTEM
from domain.families.importing import check_file, import_rows
from domain.families.models import Family
from domain.families.records import local_today
from domain.vog.models import VogRecord, VogStatus
from domain.vog.services import add_months, mark_expired, record_rejected, vog_blockers
from tenants.db import db
from tenants.services import use_tenant
from tests.conftest import login
from tests.test_family_import import as_csv, steun_row
from tests.test_vog import COORDINATOR, TODAY, in_tenant, steungezin
from tests.test_vog_reminders import received, requested, with_vog


def blockers(app, gemeente, family_id, day=TODAY) -> list[str]:
    return in_tenant(app, gemeente, lambda: [str(b) for b in vog_blockers(db.session.get(Family, family_id),
                                                                           today=day)])


def test_every_adult_without_a_valid_vog_is_named_with_what_is_missing(app, make):
    gemeente = make.tenant()
    family_id = steungezin(app, gemeente, children=())  # Piet and Els
    assert blockers(app, gemeente, family_id) == ["Piet Visser: VOG nog niet aangevraagd",
                                                  "Els Visser: VOG nog niet aangevraagd"]
    requested(app, gemeente, family_id, "Piet", TODAY - timedelta(days=3))
    assert blockers(app, gemeente, family_id)[0] == "Piet Visser: VOG aangevraagd op 12 juni 2026, nog niet ontvangen"

    received(app, gemeente, family_id, "Piet", TODAY - timedelta(days=1))
    requested(app, gemeente, family_id, "Els", TODAY - timedelta(days=2))
    with_vog(app, gemeente, family_id, "Els", lambda vog: record_rejected(vog, TODAY, COORDINATOR, today=TODAY))
    assert blockers(app, gemeente, family_id) == ["Els Visser: VOG afgewezen op 15 juni 2026"]

    requested(app, gemeente, family_id, "Els", TODAY)  # a new request after the rejection
    received(app, gemeente, family_id, "Els", TODAY)
    assert blockers(app, gemeente, family_id) == []
    # Valid through the renewal date; the day after it is missing again, marked or not.
    renewal = add_months(TODAY - timedelta(days=1), 36)
    assert blockers(app, gemeente, family_id, renewal) == []
    assert blockers(app, gemeente, family_id, renewal + timedelta(days=1)) == [
        "Piet Visser: VOG verlopen (geldig tot en met 14 juni 2029)"]
    with_vog(app, gemeente, family_id, "Piet", lambda vog: mark_expired(vog, SYSTEM))
    assert blockers(app, gemeente, family_id)[0] == "Piet Visser: VOG verlopen (geldig tot en met 14 juni 2029)"


def test_a_child_that_turned_18_blocks_until_it_has_a_vog(app, make):
    gemeente = make.tenant()
    family_id = steungezin(app, gemeente, adults=(("Piet", "Visser", 1970),), children=(("Bram", 2009),))
    received(app, gemeente, family_id, "Piet", TODAY)
    assert blockers(app, gemeente, family_id) == []  # Bram is 17 in 2026
    assert blockers(app, gemeente, family_id, date(2027, 1, 2)) == ["Bram: VOG nog niet aangevraagd"]


def test_the_family_page_says_who_and_what(app, client, make):
    gemeente = make.tenant()
    family_id = steungezin(app, gemeente)
    login(client, make.user(gemeente), f"/{gemeente.slug}")
    page = client.get(f"/{gemeente.slug}/app/gezinnen/{family_id}").get_data(as_text=True)
    assert "kan nog niet aan een proefperiode of definitieve koppeling beginnen" in page
    assert "Piet Visser: VOG nog niet aangevraagd" in page and "Els Visser: VOG nog niet aangevraagd" in page

    today = local_today()
    for name in ("Piet", "Els"):
        received(app, gemeente, family_id, name, today - timedelta(days=1), checked=today)
    page = client.get(f"/{gemeente.slug}/app/gezinnen/{family_id}").get_data(as_text=True)
    assert "Iedere volwassene heeft een geldige VOG." in page and "VOG nog niet aangevraagd" not in page


def test_an_imported_steungezin_gets_a_vog_record_per_adult(app, make):
    gemeente = make.tenant()
    check = check_file("g.csv", as_csv([steun_row()]))
    assert check.ok
    with app.app_context():
        use_tenant(gemeente.id)
        [family] = import_rows(check.rows, SYSTEM)
        db.session.commit()
        statuses = db.session.scalars(select(VogRecord.status).where(VogRecord.family_id == family.id)).all()
        db.session.remove()
    assert statuses == [VogStatus.NODIG, VogStatus.NODIG]  # the contact and "Piet de Vries 1980"
