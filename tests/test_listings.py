"""Public listings: publication rules, the coordinator's editor, tenant isolation, and the privacy of
the public page with the demo data."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from domain.audit.models import AuditEvent
from domain.audit.services import SYSTEM
from domain.demo.services import DEMO_TENANTS, seed_demo
from domain.families.listings import (
    PUBLICATION_CONSENT_VERSION,
    ListingError,
    children_phrase,
    publication_consent,
    publish_listing,
    record_publication_consent,
    save_listing,
    waiting_count,
)
from domain.families.models import (
    Consent,
    ConsentKind,
    Family,
    FamilyMember,
    FamilyStatus,
    PublicListing,
)
from domain.families.status import change_status
from tenants.db import db
from tenants.models import Tenant
from tenants.services import list_tenants, tenant_by_slug, use_tenant
from tests.conftest import csrf_token, login

THIS_YEAR = datetime.now(UTC).year


def make_family(app, tenant_id: int, *, kind: str = "vraag", status: str = "wachtend", title: str | None = None,
                consent: bool = False, published: bool = False) -> dict:
    """A family with two members (ages 4 and 7 for the children), optionally with a published profile."""
    # Letters only: a tag like "6204cd" would (rightly) be refused as a postcode.
    tag = uuid.uuid4().hex[:8].translate(str.maketrans("0123456789", "ghijklmnop"))
    last_name = f"Zwanenburg{tag}"
    with app.app_context():
        use_tenant(tenant_id)
        family = Family(tenant_id=tenant_id, kind=kind, status=status, email=f"gezin-{tag}@example.org",
                        street_address=f"Lindenlaan{tag} 12", postcode="9201 AB", pc4="9201", place="Drachten",
                        referral_source="zelf",
                        waiting_since=datetime.now(UTC) - timedelta(days=120) if status == "wachtend" else None)
        db.session.add(family)
        db.session.flush()
        db.session.add_all([
            FamilyMember(tenant_id=tenant_id, family_id=family.id, role="volwassene", first_name=f"Ingeborg{tag}",
                         last_name=last_name, birth_year=1988, is_contact=True),
            FamilyMember(tenant_id=tenant_id, family_id=family.id, role="kind", first_name=f"Pieter{tag}",
                         birth_year=THIS_YEAR - 4),
            FamilyMember(tenant_id=tenant_id, family_id=family.id, role="kind", first_name=f"Klaas{tag}",
                         birth_year=THIS_YEAR - 7),
        ])
        db.session.flush()
        title = title or f"Moeder met twee jongens {tag}"
        if kind == "vraag":
            save_listing(family, {"title": title, "situation": "Moeder staat er alleen voor.",
                                  "looking_for": "Wij zoeken een gezin dat een middag wil opvangen.",
                                  "area_label": "Drachten, De Wiken"}, SYSTEM)
        if consent:
            record_publication_consent(family, "Test coordinator", SYSTEM)
        if published:
            publish_listing(family, SYSTEM)
        db.session.commit()
        result = {"id": family.id, "title": title, "last_name": last_name, "email": family.email,
                  "tag": tag, "first_name": f"Ingeborg{tag}", "street": f"Lindenlaan{tag}"}
        db.session.remove()
    return result


def editor_url(slug: str, family_id: int, action: str = "") -> str:
    return f"/{slug}/app/gezinnen/{family_id}/profiel{action}"


def page(client, slug: str) -> str:
    response = client.get(f"/{slug}/gezinnen")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def listing_row(app, tenant_id: int, family_id: int) -> PublicListing | None:
    with app.app_context():
        use_tenant(tenant_id)
        row = db.session.scalar(select(PublicListing).where(PublicListing.family_id == family_id))
        if row is not None:
            db.session.expunge(row)
        db.session.remove()
    return row


def audit_actions(app, tenant_id: int, family_id: int) -> list[str]:
    with app.app_context():
        use_tenant(tenant_id)
        actions = list(db.session.scalars(select(AuditEvent.action).where(
            AuditEvent.object_type == "family", AuditEvent.object_id == family_id).order_by(AuditEvent.id)))
        db.session.remove()
    return actions


# --- publication rules through the coordinator's editor -------------------------------------------------


def test_publishing_needs_consent_and_withdrawing_it_unpublishes(app, client, two_tenants):
    a = two_tenants["a"]
    family = make_family(app, a.id)
    login(client, two_tenants["a_coordinator"], f"/{a.slug}")
    editor = client.get(editor_url(a.slug, family["id"]))
    assert editor.status_code == 200
    token = csrf_token(client, editor_url(a.slug, family["id"]))

    # No consent: refused with a Dutch message, nothing published.
    response = client.post(editor_url(a.slug, family["id"], "/publiceren"), data={"csrf_token": token},
                           follow_redirects=True)
    assert "Publiceren kan pas als het gezin toestemming heeft gegeven" in response.get_data(as_text=True)
    assert listing_row(app, a.id, family["id"]).published_at is None
    assert family["title"] not in page(client, a.slug)

    # The coordinator records the consent on the family's behalf, then publishes.
    client.post(editor_url(a.slug, family["id"], "/toestemming"), data={"csrf_token": token})
    with app.app_context():
        use_tenant(a.id)
        consent = db.session.scalar(select(Consent).where(Consent.family_id == family["id"],
                                                          Consent.kind == ConsentKind.PUBLICATION))
        assert consent.text_version == PUBLICATION_CONSENT_VERSION
        assert consent.given_by == "Test coordinator namens het gezin" and consent.withdrawn_at is None
        db.session.remove()
    response = client.post(editor_url(a.slug, family["id"], "/publiceren"), data={"csrf_token": token},
                           follow_redirects=True)
    assert "staat nu op de openbare pagina" in response.get_data(as_text=True)
    html = page(client, a.slug)
    assert family["title"] in html
    assert "kinderen van 4 en 7 jaar" in html
    assert "Drachten, De Wiken" in html
    assert "Gevonden!" not in html

    # Withdrawn consent: gone from the public page at once.
    client.post(editor_url(a.slug, family["id"], "/toestemming/intrekken"), data={"csrf_token": token})
    assert family["title"] not in page(client, a.slug)
    assert listing_row(app, a.id, family["id"]).published_at is None
    actions = audit_actions(app, a.id, family["id"])
    for action in ("consent.recorded", "listing.published", "consent.withdrawn", "listing.unpublished"):
        assert action in actions, actions


def test_unpublish_button_takes_the_profile_offline(app, client, two_tenants):
    a = two_tenants["a"]
    family = make_family(app, a.id, consent=True, published=True)
    assert family["title"] in page(client, a.slug)
    login(client, two_tenants["a_coordinator"], f"/{a.slug}")
    token = csrf_token(client, editor_url(a.slug, family["id"]))
    client.post(editor_url(a.slug, family["id"], "/offline"), data={"csrf_token": token})
    assert family["title"] not in page(client, a.slug)
    assert "listing.unpublished" in audit_actions(app, a.id, family["id"])


def test_consent_is_checked_again_when_the_page_is_read(app, client, two_tenants):
    """Defence in depth: a published row whose consent was withdrawn behind the service's back stays hidden."""
    a = two_tenants["a"]
    family = make_family(app, a.id, consent=True, published=True)
    with app.app_context():
        use_tenant(a.id)
        for consent in db.session.scalars(select(Consent).where(Consent.family_id == family["id"])):
            consent.withdrawn_at = datetime.now(UTC)
        db.session.commit()
        db.session.remove()
    assert listing_row(app, a.id, family["id"]).published_at is not None
    assert family["title"] not in page(client, a.slug)


def test_service_refuses_to_publish_without_consent(app_ctx, make):
    gemeente = make.tenant()
    family_id = make_family(app_ctx, gemeente.id)["id"]
    use_tenant(gemeente.id)
    family = db.session.get(Family, family_id)
    assert publication_consent(family) is None
    with pytest.raises(ListingError, match="toestemming"):
        publish_listing(family, SYSTEM)
    db.session.rollback()


def test_gekoppeld_family_shows_found_banner(app, client, two_tenants):
    a = two_tenants["a"]
    found = make_family(app, a.id, consent=True, published=True)
    waiting = make_family(app, a.id, consent=True, published=True)
    with app.app_context():
        use_tenant(a.id)
        change_status(db.session.get(Family, found["id"]), FamilyStatus.GEKOPPELD, SYSTEM)
        db.session.commit()
        db.session.remove()
    html = page(client, a.slug)
    articles = re.findall(r"<article\b.*?</article>", html, flags=re.S)
    found_article = next(article for article in articles if found["title"] in article)
    waiting_article = next(article for article in articles if waiting["title"] in article)
    assert "Gevonden!" in found_article
    assert "Gevonden!" not in waiting_article


def test_waiting_count_and_call_to_action(app, client, make):
    gemeente = make.tenant()
    for _ in range(3):
        make_family(app, gemeente.id)
    make_family(app, gemeente.id, status="intake")
    make_family(app, gemeente.id, kind="steun", status="beschikbaar")
    html = page(client, gemeente.slug)
    assert re.search(r'listing-waiting__count">3<', html)
    assert f'href="/{gemeente.slug}/aanmelden/steungezin"' in html
    assert "Word steungezin" in html
    # Linked from the gemeente's public page.
    assert f'href="/{gemeente.slug}/gezinnen"' in client.get(f"/{gemeente.slug}/").get_data(as_text=True)


# --- isolation -------------------------------------------------------------------------------------------


def test_tenants_never_see_each_others_profiles(app, client, two_tenants):
    a, b = two_tenants["a"], two_tenants["b"]
    mine = make_family(app, a.id, consent=True, published=True)
    theirs = make_family(app, b.id, consent=True, published=True)
    a_page, b_page = page(client, a.slug), page(client, b.slug)
    assert mine["title"] in a_page and theirs["title"] not in a_page
    assert theirs["title"] in b_page and mine["title"] not in b_page


def test_editor_is_404_for_another_tenants_family(app, client, two_tenants):
    a, b = two_tenants["a"], two_tenants["b"]
    theirs = make_family(app, b.id, consent=True)
    steun = make_family(app, a.id, kind="steun", status="beschikbaar")
    login(client, two_tenants["a_coordinator"], f"/{a.slug}")
    token = csrf_token(client, f"/{a.slug}/app/")
    assert client.get(editor_url(a.slug, theirs["id"])).status_code == 404
    assert client.get(editor_url(a.slug, 2_000_000_000)).status_code == 404
    assert client.get(editor_url(a.slug, steun["id"])).status_code == 404  # only vraaggezinnen
    for action in ("/publiceren", "/toestemming", "/toestemming/intrekken", "/offline"):
        assert client.post(editor_url(a.slug, theirs["id"], action), data={"csrf_token": token}).status_code == 404
    response = client.post(editor_url(a.slug, theirs["id"]), data={
        "csrf_token": token, "title": "Overgenomen", "situation": "x", "looking_for": "y"})
    assert response.status_code == 404
    assert listing_row(app, b.id, theirs["id"]).title == theirs["title"]
    assert listing_row(app, b.id, theirs["id"]).published_at is None
    # A's coordinator has no way into B's editor either (B's URLs send them to B's login).
    response = client.get(editor_url(b.slug, theirs["id"]))
    assert response.status_code == 302 and response.headers["Location"].startswith(f"/{b.slug}/login")


def test_gemeente_viewer_may_not_edit(app, client, make):
    from domain.accounts.models import TenantRole

    gemeente = make.tenant()
    family = make_family(app, gemeente.id)
    login(client, make.user(gemeente, TenantRole.GEMEENTE_VIEWER), f"/{gemeente.slug}")
    assert client.get(editor_url(gemeente.slug, family["id"])).status_code == 403


# --- validation ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "value", "message"), [
    ("situation", "Het gezin woont op 9201 AB, vlak bij school.", "Situatie: noem geen postcode"),
    ("area_label", "9201", "Plaats of wijk: noem geen postcode"),
    ("area_label", "Drachten 9203", "Plaats of wijk: noem geen postcode"),
    ("interests", "Mail gerust naar iemand@example.org.", "Interesses: een e-mailadres"),
    ("title", "Gezin {last_name} met twee jongens", "Titel: hier staat een naam van een gezinslid"),
    ("looking_for", "Wij zoeken een gezin voor {first_name}.", "Wij zoeken een gezin dat …: hier staat een naam"),
    ("particulars", "Wij wonen aan de {street}.", "Bijzonderheden: noem de straat"),
    ("title", "", "Titel: vul dit veld in"),
])
def test_editor_rejects_identifying_texts(app, client, two_tenants, field, value, message):
    a = two_tenants["a"]
    family = make_family(app, a.id)
    before = listing_row(app, a.id, family["id"])
    login(client, two_tenants["a_coordinator"], f"/{a.slug}")
    token = csrf_token(client, editor_url(a.slug, family["id"]))
    data = {"csrf_token": token, "title": "Moeder met twee jongens (4 en 7)", "situation": "Moeder is vaak moe.",
            "interests": "Voetbal en tekenen.", "looking_for": "Wij zoeken een gezin dat een middag opvangt.",
            "particulars": "", "area_label": "Drachten"}
    data[field] = value.format(**family)
    response = client.post(editor_url(a.slug, family["id"]), data=data)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    after = listing_row(app, a.id, family["id"])
    assert (after.title, after.situation, after.area_label) == (before.title, before.situation, before.area_label)


def test_editor_saves_good_texts(app, client, two_tenants):
    a = two_tenants["a"]
    family = make_family(app, a.id)
    login(client, two_tenants["a_coordinator"], f"/{a.slug}")
    token = csrf_token(client, editor_url(a.slug, family["id"]))
    response = client.post(editor_url(a.slug, family["id"]), data={
        "csrf_token": token, "title": "Moeder met twee jongens (4 en 7)", "situation": "Moeder is vaak moe.",
        "interests": "Voetbal en tekenen.", "looking_for": "Wij zoeken een gezin dat een middag opvangt.",
        "particulars": "Een kat.", "area_label": "Drachten, Noorderhoek"})
    assert response.status_code == 302
    row = listing_row(app, a.id, family["id"])
    assert row.title == "Moeder met twee jongens (4 en 7)" and row.area_label == "Drachten, Noorderhoek"


def test_children_phrase():
    assert children_phrase([2019, 2016], 2023) == "kinderen van 4 en 7 jaar"
    assert children_phrase([2020], 2023) == "een kind van 3 jaar"
    assert children_phrase([2023, 2020], 2023) == "een baby en een kind van 3 jaar"
    assert children_phrase([2010, 2015, 2020], 2023) == "kinderen van 3, 8 en 13 jaar"
    assert children_phrase([], 2023) is None


# --- THE PRIVACY TEST: the public pages with the demo data ----------------------------------------------


def _word(term: str) -> re.Pattern:
    return re.compile(rf"(?<!\w){re.escape(term)}(?!\w)")


def test_public_pages_of_demo_gemeenten_leak_nothing(app, client):
    with app.app_context():
        use_tenant(None)
        seed_demo()
        # Everything personal of every family in the database, tenant by tenant.
        secrets: list[tuple[str, str]] = []  # (what, value)
        expected: dict[str, tuple[int, list[str]]] = {}
        for tenant in list_tenants():
            use_tenant(tenant)
            for family in db.session.scalars(select(Family)):
                secrets += [("postcode", family.postcode), ("pc4", family.pc4)]
                secrets += [(what, value) for what, value in (("e-mail", family.email),
                            ("street address", family.street_address), ("phone", family.phone)) if value]
                members = db.session.scalars(select(FamilyMember).where(FamilyMember.family_id == family.id))
                secrets += [("last name", m.last_name) for m in members if m.last_name]
            if tenant.slug in {demo.slug for demo in DEMO_TENANTS}:
                demo_first_names = [m.first_name for m in db.session.scalars(select(FamilyMember))]
                expected[tenant.slug] = (waiting_count(), demo_first_names)
        use_tenant(None)
        db.session.remove()
    assert len(expected) == len(DEMO_TENANTS)
    assert any(what == "pc4" for what, _ in secrets)

    for slug, (waiting, first_names) in expected.items():
        html = page(client, slug)
        # The CSRF token of the language switch is random text; it is not content.
        html = re.sub(r'name="csrf_token" value="[^"]*"', 'name="csrf_token" value=""', html)
        for what, value in secrets:
            if what in ("last name",):
                assert not _word(value).search(html), f"/{slug}/gezinnen shows a {what}: {value!r}"
            else:
                assert value not in html, f"/{slug}/gezinnen shows a {what}: {value!r}"
        for first_name in first_names:
            assert not _word(first_name).search(html), f"/{slug}/gezinnen shows a first name: {first_name!r}"
        assert not re.search(r"[^\s@\"']+@[^\s@\"']+\.[a-z]{2,}", html), "an e-mail address on the page"
        assert not re.search(r"\b[1-9][0-9]{3} ?[A-Z]{2}\b", html), "a postcode on the page"
        articles = re.findall(r"<article\b.*?</article>", html, flags=re.S)
        assert len(articles) >= 3, f"/{slug}/gezinnen shows {len(articles)} profiles"
        assert sum("Gevonden!" in article for article in articles) >= 1
        count = re.search(r'listing-waiting__count">(\d+)<', html)
        assert count and int(count.group(1)) == waiting, (slug, count and count.group(1), waiting)
        assert waiting >= 3


def test_demo_tenant_rows_are_not_visible_to_other_tenants(app, make):
    """Sanity check of the privacy test's premise: per-tenant reads see only that tenant's families."""
    gemeente = make.tenant()
    with app.app_context():
        seed_demo()
        use_tenant(gemeente.id)
        assert db.session.scalar(select(Family).limit(1)) is None
        use_tenant(tenant_by_slug("aalsmeer"))
        assert db.session.scalar(select(Family).limit(1)) is not None
        assert db.session.get(Tenant, gemeente.id) is not None
        use_tenant(None)
        db.session.remove()
