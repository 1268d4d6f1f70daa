"""The demo families: realistic, spread over the flow, in the right gemeente, deterministic, idempotent."""

from __future__ import annotations

import csv
import itertools
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from domain.demo.families import DEMO_EMAIL_DOMAIN, _NamePool, _plans
from domain.demo.services import DEMO_TENANTS, seed_demo
from domain.families.intake import availability_slots
from domain.families.models import (
    Consent,
    ConsentKind,
    Family,
    FamilyMember,
    FamilyStatusChange,
    IntakeVisit,
    MemberRole,
    PublicListing,
)
from domain.geo.geocoder import DATA_FILE
from tenants.db import db
from tenants.services import tenant_by_slug, use_tenant


@pytest.fixture
def seeded(app_ctx):
    use_tenant(None)
    seed_demo()
    yield
    use_tenant(None)


def _pc4s_of(gemeentecode: str) -> dict[str, tuple[float, float]]:
    with DATA_FILE.open(encoding="utf-8", newline="") as handle:
        return {row["pc4"]: (float(row["lat"]), float(row["lon"])) for row in csv.DictReader(handle)
                if row["gemeentecode"] == f"GM{gemeentecode}"}


def _demo_families() -> list[Family]:
    return list(db.session.scalars(select(Family).where(Family.email.like(f"%@{DEMO_EMAIL_DOMAIN}"))))


@pytest.mark.parametrize("demo", DEMO_TENANTS, ids=lambda demo: demo.slug)
def test_demo_families_are_spread_over_the_flow(seeded, demo):
    tenant = tenant_by_slug(demo.slug)
    use_tenant(tenant)
    families = _demo_families()
    kinds = Counter(f.kind for f in families)
    assert 8 <= kinds["vraag"] <= 12, kinds
    assert 5 <= kinds["steun"] <= 8, kinds
    vraag = Counter(f.status for f in families if f.kind == "vraag")
    steun = Counter(f.status for f in families if f.kind == "steun")
    assert vraag["aangemeld"] >= 1 and vraag["intake"] >= 1 and vraag["wachtend"] >= 3, vraag
    assert vraag["gekoppeld"] >= 1 and vraag["afgemeld"] >= 1, vraag
    assert steun["beschikbaar"] >= 2 and steun["gekoppeld"] >= 1, steun
    assert "wachtend" not in steun and "beschikbaar" not in vraag

    now = datetime.now(UTC)
    waiting = [f for f in families if f.status == "wachtend"]
    assert all(f.waiting_since is not None for f in waiting)
    assert sum(now - f.waiting_since > timedelta(days=90) for f in waiting) >= 2, "some wait for months"
    assert all(f.waiting_since > now - timedelta(days=10 * 31) for f in waiting)
    for family in families:
        if family.status == "afgemeld":
            assert family.status_reason and family.closed_at is not None
        else:
            assert family.status_reason is None and family.closed_at is None
        if family.status == "aangemeld":
            assert now - family.registered_at < timedelta(days=8), "registered last week"

    # Support types from the tenant's own list; steungezinnen past intake have a competentieprofiel.
    from domain.families.models import SupportType

    codes = set(db.session.scalars(select(SupportType.code)))
    assert codes, "default support types were ensured"
    for family in families:
        assert set(family.support_codes) <= codes
        past_intake = family.status != "aangemeld"
        assert bool(family.support_codes) == past_intake
        assert bool(family.availability) == past_intake
        if past_intake:
            # What the intake form itself stores, so the coordinator's intake page shows demo data.
            assert set(family.availability) == {"ma", "di", "wo", "do", "vr", "weekend", "overnacht"}
            assert availability_slots(family.availability)
        if family.kind == "steun" and past_intake:
            assert family.competence.get("opvoedervaring") and family.competence.get("motivatie")


@pytest.mark.parametrize("demo", DEMO_TENANTS, ids=lambda demo: demo.slug)
def test_demo_families_live_in_their_gemeente(seeded, demo):
    use_tenant(tenant_by_slug(demo.slug))
    pc4s = _pc4s_of(demo.gemeentecode)
    assert pc4s
    families = _demo_families()
    assert families
    for family in families:
        assert family.pc4 in pc4s, f"{family.pc4} is not in GM{demo.gemeentecode}"
        assert family.postcode.startswith(family.pc4 + " ") and len(family.postcode) == 7
        assert (family.latitude, family.longitude) == pc4s[family.pc4]
        assert family.street_address and family.email and family.place
    # Not everyone in one PC4 (where the gemeente has more than one).
    if len(pc4s) > 2:
        assert len({f.pc4 for f in families}) >= 3


@pytest.mark.parametrize("demo", DEMO_TENANTS, ids=lambda demo: demo.slug)
def test_demo_households_history_consent_and_intake_are_consistent(seeded, demo):
    use_tenant(tenant_by_slug(demo.slug))
    this_year = datetime.now(UTC).year
    listed = 0
    for family in _demo_families():
        members = db.session.scalars(select(FamilyMember).where(FamilyMember.family_id == family.id)).all()
        adults = [m for m in members if m.role == MemberRole.ADULT]
        assert adults and all(a.last_name and 18 <= this_year - a.birth_year <= 75 for a in adults)
        assert sum(a.is_contact for a in adults) == 1
        children = [m for m in members if m.role == MemberRole.CHILD]
        assert all(c.last_name is None and 0 <= this_year - c.birth_year <= 17 for c in children)
        if family.kind == "vraag":
            assert children

        history = db.session.scalars(select(FamilyStatusChange).where(FamilyStatusChange.family_id == family.id)
                                     .order_by(FamilyStatusChange.changed_at)).all()
        assert history[0].from_status is None and history[0].to_status == "aangemeld"
        assert history[-1].to_status == family.status
        assert all(later.from_status == earlier.to_status for earlier, later in itertools.pairwise(history))
        assert history[0].changed_at == family.registered_at
        if family.status == "wachtend":
            assert history[-1].changed_at == family.waiting_since
        if family.status == "afgemeld":
            assert history[-1].changed_at == family.closed_at and history[-1].reason == family.status_reason

        consents = db.session.scalars(select(Consent).where(Consent.family_id == family.id)).all()
        assert any(c.kind == ConsentKind.PROCESSING for c in consents)
        visits = db.session.scalars(select(IntakeVisit).where(IntakeVisit.family_id == family.id)).all()
        if family.status == "aangemeld":
            assert not visits
        else:
            assert len(visits) >= 1
            visit = visits[0]
            assert visit.support_wanted and visit.upbringing_values and visit.expectations and visit.gives_back
            assert visit.visited_on >= history[1].changed_at.date()

        listing = db.session.scalar(select(PublicListing).where(PublicListing.family_id == family.id))
        if listing is not None and listing.published_at is not None:
            listed += 1
            assert family.kind == "vraag" and family.status in ("wachtend", "gekoppeld")
            assert any(c.kind == ConsentKind.PUBLICATION and c.withdrawn_at is None for c in consents)
    assert 3 <= listed <= 5


def test_seed_demo_is_idempotent_for_families(seeded):
    def counts():
        result = {}
        for demo in DEMO_TENANTS:
            use_tenant(tenant_by_slug(demo.slug))
            result[demo.slug] = tuple(db.session.scalar(select(func.count()).select_from(model)) for model in
                                      (Family, FamilyMember, FamilyStatusChange, Consent, IntakeVisit, PublicListing))
        use_tenant(None)
        return result

    before = counts()
    assert all(row[0] > 0 for row in before.values())
    created = seed_demo()
    assert not any("demogezinnen" in line for line in created)
    assert counts() == before


def test_demo_plans_are_deterministic():
    now = datetime(2025, 3, 1, 12, tzinfo=UTC)

    def plan_summary(seed: str):
        rng = random.Random(seed)
        return [(p.kind, p.status, [a.first_name for a in p.adults], [a.last_name for a in p.adults],
                 [c.birth_year for c in p.children], p.history, p.listed) for p in _plans(rng, _NamePool(rng), now)]

    assert plan_summary("buurtgezinnen-demo-aalsmeer") == plan_summary("buurtgezinnen-demo-aalsmeer")
    assert plan_summary("buurtgezinnen-demo-aalsmeer") != plan_summary("buurtgezinnen-demo-purmerend")


def test_demo_steungezinnen_have_vogs_in_several_stages(seeded):
    from domain.vog.models import VogRecord

    use_tenant(tenant_by_slug("smallingerland"))
    statuses = [str(status) for status in db.session.scalars(select(VogRecord.status))]
    assert {"nodig", "aangevraagd", "ontvangen"} <= set(statuses), statuses
