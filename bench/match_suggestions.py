"""``match_suggestions``: the suggestions for one vraaggezin among 2,000 steungezinnen of one
gemeente, against a bare SQL query and the same arithmetic in plain Python.

Data, written in bulk by the database owner (INSERT … SELECT generate_series, about a second): a
gemeente with 2,000 steungezinnen (mostly beschikbaar, some gekoppeld, a few in intake or afgemeld,
some anonymised or without a postcode point), each with two adults with a VOG in every state and
zero to three children, varied support types, availability grids, competentieprofielen, capacities
and postcode points within about 15 km; 300 open koppelingen that use up part of their capacity;
the vraaggezin (two children, opvang and logeren on woensdagmiddag and in the weekend, steun
dichtbij) with 20 "niet geschikt" marks; and a second gemeente with 200 steungezinnen that must
never show up. ``TODAY`` is fixed, so every run sees the same rows.

Ours: the wall time of ``domain.matching.services.suggestions_for`` through the app made by
``create_app`` (the app role, row-level security, the ORM; candidates, members and VOG records
in a few queries; the score and a plain-Dutch explanation per criterion and the VOG blockers of
every candidate); the median of ``REPEATS`` runs after a warm-up.

Baseline: one bare SQL query as the owner that returns every candidate with what scoring needs,
aggregated in the database (children's ages, the open koppelingen, whether an adult lacks a
valid VOG, the "niet geschikt" marks left out), and a plain loop over its rows that computes the
same scores with the numeric fit functions of ``domain.matching.scoring`` — no ORM, no
explanations, no blocker texts; the median of ``REPEATS`` runs. Ratio = ours / baseline.

Both sides start every timed run after a full garbage collection (as ``timeit`` keeps the collector
out of its figures): otherwise a full collection of the whole app's heap (about 100 ms here), due
every other run, lands in one side's figure or the other's by chance.

Checked (the benchmark fails otherwise): both find the same number of candidates and the same
top ten (ids and scores, in order).
"""

from __future__ import annotations

import gc
import math
import os
import statistics
import time
from dataclasses import replace
from datetime import date

from sqlalchemy import create_engine, pool, text

from config.settings import Settings
from domain.families.support_types import DEFAULT_SUPPORT_TYPES
from domain.geo.geocoder import distance_km
from domain.matching.scoring import (
    ADULT_AGE,
    availability_fit,
    availability_items,
    distance_fit,
    match_weights,
    room_fit,
    support_fit,
    total_score,
)
from domain.matching.scoring import ages_fit as ages_fit_of
from tenants.db import db
from tenants.models import DEFAULT_TENANT_SETTINGS

NAME = "match_suggestions"
TODAY = date(2026, 6, 15)
STEUNGEZINNEN = 2000
OTHER_GEMEENTE_STEUNGEZINNEN = 200
OPEN_KOPPELINGEN = 300
EXCLUSIONS = 20
REPEATS = 9
TOP = 10

TENANT, OTHER_TENANT = 1, 2
CENTRE = (53.10, 6.10)  # Drachten


def _count_from_env(name: str, default: int) -> int:
    value = int(os.environ.get(name, default))
    if value < 1:
        raise SystemExit(f"{name} must be at least 1")
    return value


# --- the data set -------------------------------------------------------------------------------


def _build(owner, steungezinnen: int) -> int:
    """Every row, in one transaction; returns the vraaggezin's id."""
    other = OTHER_GEMEENTE_STEUNGEZINNEN
    vraag_id = steungezinnen + other + 1  # then the vraaggezinnen of the open koppelingen
    values = {"n": steungezinnen, "other": other, "vraag": vraag_id, "koppelingen": OPEN_KOPPELINGEN,
              "exclusions": EXCLUSIONS, "today": TODAY, "year": TODAY.year, "lat": CENTRE[0], "lon": CENTRE[1],
              "codes": [code for code, _ in DEFAULT_SUPPORT_TYPES]}
    day = """to_jsonb(ARRAY(SELECT part FROM unnest(ARRAY['ochtend', 'middag', 'avond']) WITH ORDINALITY p(part, j)
                          WHERE (f * {a} + j * {b}) % 5 < 2))"""
    availability = "jsonb_build_object(" + ", ".join(
        f"'{name}', {day.format(a=a, b=b)}" for name, a, b in
        (("ma", 3, 7), ("di", 5, 3), ("wo", 7, 11), ("do", 11, 5), ("vr", 13, 2))
    ) + ", 'weekend', f % 3 = 0, 'overnacht', f % 5 = 0)"
    statements = [
        """INSERT INTO tenants (id, slug, name, gemeentecode, status, settings)
           VALUES (1, 'bench-gemeente', 'Benchgemeente', '0001', 'active', '{}'),
                  (2, 'andere-gemeente', 'Andere gemeente', '0002', 'active', '{}')""",
        "SELECT setval('tenants_id_seq', 2)",
        """INSERT INTO support_types (tenant_id, code, label, position, active)
           SELECT t, code, 'Steun ' || code, i, true
           FROM generate_series(1, 2) t, unnest(CAST(:codes AS text[])) WITH ORDINALITY c(code, i)""",
        # Steungezinnen 1..n of gemeente 1, then `other` of gemeente 2: by f % 20, 15 beschikbaar,
        # 3 gekoppeld, 1 intake, 1 afgemeld; every 50th without a postcode point, every 97th anonymised.
        f"""INSERT INTO families (id, tenant_id, kind, status, email, postcode, pc4, place, referral_source,
                                  support_codes, availability, distance_preference, competence, registered_at,
                                  anonymised_at, capacity, latitude, longitude)
           SELECT f, CASE WHEN f <= :n THEN 1 ELSE 2 END, 'steun',
                  CASE WHEN f % 20 < 15 THEN 'beschikbaar' WHEN f % 20 < 18 THEN 'gekoppeld'
                       WHEN f % 20 = 18 THEN 'intake' ELSE 'afgemeld' END,
                  'steun' || f || '@example.org', '9201 AB', '9201', 'Drachten', 'zelf',
                  ARRAY(SELECT code FROM unnest(CAST(:codes AS text[])) WITH ORDINALITY c(code, i)
                        WHERE (f * 7 + i * 3) % 4 < 2),
                  {availability},
                  'geen_voorkeur',
                  jsonb_build_object('opvoedervaring', CASE WHEN f % 2 = 0 THEN 'Eigen kinderen groot gebracht.'
                                                            ELSE '' END),
                  :today - 300 + f % 200, CASE WHEN f % 97 = 0 THEN :today END, 1 + (f % 4 = 0)::int,
                  CASE WHEN f % 50 <> 49 THEN :lat + ((f * 97) % 301 - 150) / 1000.0 END,
                  CASE WHEN f % 50 <> 49 THEN :lon + ((f * 61) % 501 - 250) / 1000.0 END
           FROM generate_series(1, :n + :other) f""",  # noqa: S608 - our own fixed fragments
        # The vraaggezin, and the vraaggezinnen of the open koppelingen (all in gemeente 1).
        """INSERT INTO families (id, tenant_id, kind, status, email, postcode, pc4, place, referral_source,
                                 support_codes, availability, distance_preference, competence, registered_at,
                                 waiting_since, latitude, longitude)
           SELECT v, 1, 'vraag', 'wachtend', 'vraag' || v || '@example.org', '9201 AB', '9201', 'Drachten',
                  'buurtteam', ARRAY['opvang', 'logeren'],
                  '{"ma": [], "di": [], "wo": ["middag"], "do": [], "vr": [], "weekend": true, "overnacht": false}',
                  'dichtbij', '{}', :today - 60, :today - 30, :lat, :lon
           FROM generate_series(:vraag, :vraag + :koppelingen) v""",
        "SELECT setval('families_id_seq', :vraag + :koppelingen)",
        # Two adults per steungezin (ids 2f - 1, 2f), then f % 4 children; the vraaggezin's adult and two children.
        """INSERT INTO family_members (tenant_id, family_id, role, first_name, last_name, birth_year, birth_date,
                                       is_contact)
           SELECT CASE WHEN f <= :n THEN 1 ELSE 2 END, f, 'volwassene', 'Ouder' || a, 'Gezin' || f,
                  1960 + (f + a * 7) % 30, CASE WHEN (f + a) % 3 = 0 THEN make_date(1960 + (f + a * 7) % 30, 3, 1) END,
                  a = 1
           FROM generate_series(1, :n + :other) f, generate_series(1, 2) a
           ORDER BY f, a""",
        """INSERT INTO family_members (tenant_id, family_id, role, first_name, birth_year, birth_date, is_contact)
           SELECT CASE WHEN f <= :n THEN 1 ELSE 2 END, f, 'kind', 'Kind' || c, :year - 1 - (f * 3 + c * 5) % 22,
                  CASE WHEN (f + c) % 4 = 0 THEN make_date(:year - 1 - (f * 3 + c * 5) % 22, 1 + (f + c) % 12, 10) END,
                  false
           FROM generate_series(1, :n + :other) f, generate_series(1, 3) c WHERE c <= f % 4""",
        """INSERT INTO family_members (tenant_id, family_id, role, first_name, last_name, birth_year, birth_date,
                                       is_contact)
           VALUES (1, :vraag, 'volwassene', 'Anna', 'Vraag', 1988, NULL, true),
                  (1, :vraag, 'kind', 'Daan', NULL, :year - 4, NULL, false),
                  (1, :vraag, 'kind', 'Mila', NULL, :year - 7, make_date(:year - 7, 9, 1), false)""",
        # A VOG for every adult of a steungezin, by member id % 10: 7 ontvangen (1 of them past its
        # renewal date), 1 aangevraagd, 1 nodig, 1 verlopen.
        """INSERT INTO vog_records (tenant_id, family_id, member_id, status, requested_on, issued_on, checked_on,
                                    renewal_due_on)
           SELECT m.tenant_id, m.family_id, m.id,
                  CASE WHEN m.id % 10 < 7 THEN 'ontvangen' WHEN m.id % 10 = 7 THEN 'aangevraagd'
                       WHEN m.id % 10 = 8 THEN 'nodig' ELSE 'verlopen' END,
                  CASE WHEN m.id % 10 <> 8 THEN :today - 400 END,
                  CASE WHEN m.id % 10 < 7 OR m.id % 10 = 9 THEN :today - 380 END,
                  CASE WHEN m.id % 10 < 7 OR m.id % 10 = 9 THEN :today - 370 END,
                  CASE WHEN m.id % 10 = 6 OR m.id % 10 = 9 THEN :today - 5
                       WHEN m.id % 10 < 6 THEN :today + 700 END
           FROM family_members m JOIN families f ON f.id = m.family_id
           WHERE f.kind = 'steun' AND m.role = 'volwassene'""",
        # Open koppelingen: vraaggezin vraag + k with steungezin 7k (mod n), filling part of the capacity.
        """INSERT INTO koppelingen (tenant_id, vraag_family_id, steun_family_id, status, support_codes, proposed_on)
           SELECT 1, :vraag + k, 1 + (k * 7) % :n, (ARRAY['voorgesteld', 'kennismaking', 'proefperiode'])[1 + k % 3],
                  '{}', :today - k
           FROM generate_series(1, :koppelingen) k""",
        """INSERT INTO match_exclusions (tenant_id, vraag_family_id, steun_family_id, reason, marked_by_label)
           SELECT 1, :vraag, 1 + (e * 53) % :n, 'Past niet: ' || e, 'coordinator@example.org'
           FROM generate_series(1, :exclusions) e""",
    ]
    with owner.begin() as connection:
        for statement in statements:
            for name in ("n", "other", "vraag", "koppelingen", "exclusions", "year"):
                statement = statement.replace(f":{name}", f"CAST(:{name} AS integer)")
            connection.execute(text(statement), values)
    with owner.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE tenants, support_types, families, family_members, vog_records, "
                                "koppelingen, match_exclusions"))
    return vraag_id


# --- the bare baseline -----------------------------------------------------------------------------

VRAAG_SQL = """
SELECT f.support_codes, f.availability, f.distance_preference, f.latitude, f.longitude, t.settings,
       ARRAY(SELECT CASE WHEN m.birth_date IS NOT NULL
                         THEN extract(year FROM age(CAST(:today AS timestamp), CAST(m.birth_date AS timestamp)))::int
                         ELSE :year - m.birth_year END
             FROM family_members m WHERE m.family_id = f.id AND m.role = 'kind') AS ages
FROM families f JOIN tenants t ON t.id = f.tenant_id
WHERE f.id = :vraag AND f.tenant_id = :tenant
"""

CANDIDATES_SQL = """
WITH candidates AS (
    SELECT f.id, f.support_codes, f.availability, f.latitude, f.longitude, f.capacity,
           coalesce(f.competence ->> 'opvoedervaring', '') <> '' AS experience
    FROM families f
    WHERE f.tenant_id = :tenant AND f.kind = 'steun' AND f.status IN ('beschikbaar', 'gekoppeld')
      AND f.anonymised_at IS NULL AND f.latitude IS NOT NULL AND f.longitude IS NOT NULL
      AND NOT EXISTS (SELECT FROM match_exclusions x WHERE x.tenant_id = f.tenant_id
                      AND x.vraag_family_id = :vraag AND x.steun_family_id = f.id)
),
members AS (
    SELECT m.family_id, m.role, m.id,
           CASE WHEN m.birth_date IS NOT NULL
                THEN extract(year FROM age(CAST(:today AS timestamp), CAST(m.birth_date AS timestamp)))::int
                ELSE :year - m.birth_year END AS age
    FROM family_members m JOIN candidates c ON c.id = m.family_id
),
per_family AS (
    SELECT m.family_id,
           array_agg(m.age) FILTER (WHERE m.role = 'kind' AND m.age IS NOT NULL) AS ages,
           bool_or(coalesce(m.age >= :adult, m.role = 'volwassene')
                   AND NOT coalesce(v.status = 'ontvangen' AND (v.renewal_due_on IS NULL OR v.renewal_due_on >= :today),
                                    false)) AS blocked
    FROM members m LEFT JOIN vog_records v ON v.member_id = m.id
    GROUP BY m.family_id
),
open_koppelingen AS (
    SELECT k.steun_family_id, count(*) AS open_count
    FROM koppelingen k
    WHERE k.tenant_id = :tenant AND k.status IN ('voorgesteld', 'kennismaking', 'proefperiode', 'definitief')
    GROUP BY k.steun_family_id
)
SELECT c.id, c.support_codes, c.availability, c.latitude, c.longitude, c.capacity, c.experience,
       coalesce(o.open_count, 0) AS open_count, coalesce(p.ages, '{}') AS ages, coalesce(p.blocked, false) AS blocked
FROM candidates c
LEFT JOIN per_family p ON p.family_id = c.id
LEFT JOIN open_koppelingen o ON o.steun_family_id = c.id
WHERE c.capacity > coalesce(o.open_count, 0)
"""


def baseline(connection, vraag_id: int) -> list[tuple[int, int]]:
    """(id, score) of every candidate, best first, as suggestions_for ranks them."""
    params = {"tenant": TENANT, "vraag": vraag_id, "today": TODAY, "year": TODAY.year, "adult": ADULT_AGE}
    vraag = connection.execute(text(VRAAG_SQL), params).one()
    weights = match_weights((vraag.settings or {}).get("match_weights", DEFAULT_TENANT_SETTINGS["match_weights"]),
                            DEFAULT_TENANT_SETTINGS["match_weights"])
    wanted = frozenset(vraag.support_codes)
    needed = availability_items(vraag.availability)
    point = (vraag.latitude, vraag.longitude)
    children = tuple(age for age in vraag.ages if age is None or age < ADULT_AGE)
    ranked = []
    for row in connection.execute(text(CANDIDATES_SQL), params):
        km = distance_km(point, (row.latitude, row.longitude))
        fits = {
            "steun": support_fit(wanted, frozenset(row.support_codes)),
            "beschikbaarheid": availability_fit(needed, availability_items(row.availability)),
            "afstand": distance_fit(km, vraag.distance_preference),
            "leeftijden": ages_fit_of(children, tuple(row.ages), row.experience),
            "ruimte": room_fit(row.capacity - row.open_count, row.capacity),
        }
        ranked.append((-total_score(fits, weights), row.blocked, km, row.id))
    ranked.sort()
    return [(family_id, -score) for score, _, _, family_id in ranked]


def _time_baseline(owner, vraag_id: int, repeats: int) -> tuple[float, list[tuple[int, int]]]:
    times, result = [], []
    with owner.connect() as connection:
        baseline(connection, vraag_id)  # warm-up
        for _ in range(repeats):
            gc.collect()
            started = time.perf_counter()
            result = baseline(connection, vraag_id)
            times.append(time.perf_counter() - started)
    return statistics.median(times), result


# --- ours ------------------------------------------------------------------------------------------------


def _time_ours(app, vraag_id: int, repeats: int) -> tuple[float, list[tuple[int, int]]]:
    from domain.families.models import Family
    from domain.matching.services import suggestions_for
    from tenants.models import Tenant
    from tenants.services import use_tenant

    times, result = [], []
    for attempt in range(repeats + 1):  # the first is the warm-up
        with app.app_context():
            use_tenant(TENANT)
            vraag, tenant = db.session.get(Family, vraag_id), db.session.get(Tenant, TENANT)
            gc.collect()
            started = time.perf_counter()
            suggestions = suggestions_for(vraag, today=TODAY, tenant=tenant)
            seconds = time.perf_counter() - started
            db.session.remove()
        if attempt:
            times.append(seconds)
        result = [(s.family.id, s.score) for s in suggestions]
        if any(not s.criteria or any(not c.explanation for c in s.criteria) for s in suggestions[:TOP]):
            raise RuntimeError(f"{NAME}: a suggestion without its explanation")
        del suggestions  # not carried into the next run's heap
    return statistics.median(times), result


def run(base: Settings) -> list[dict]:
    # Imported here: the web app factory is only needed once the benchmark really runs.
    from devstack.scratch import scratch_database
    from web.app import create_app

    steungezinnen = _count_from_env("BENCH_MATCH_STEUNGEZINNEN", STEUNGEZINNEN)
    repeats = _count_from_env("BENCH_MATCH_REPEATS", REPEATS)
    with scratch_database(replace(base, mail_backend="sink"), prefix="bg_bench") as settings:
        owner = create_engine(settings.database_url, poolclass=pool.StaticPool, connect_args={"options": "-c jit=off"})
        app = create_app(settings)
        try:
            started = time.perf_counter()
            vraag_id = _build(owner, steungezinnen)
            built = time.perf_counter() - started
            base_seconds, expected = _time_baseline(owner, vraag_id, repeats)
            ours, found = _time_ours(app, vraag_id, repeats)
        finally:
            owner.dispose()
            with app.app_context():
                db.engine.dispose()  # let the database be dropped without waiting for idle connections

    if len(found) != len(expected) or found[:TOP] != expected[:TOP]:
        raise RuntimeError(f"{NAME}: ours and the baseline differ: {len(found)} vs {len(expected)} candidates, "
                           f"top {TOP} {found[:TOP]} vs {expected[:TOP]}")
    if not math.isfinite(base_seconds) or base_seconds <= 0:
        raise RuntimeError(f"{NAME}: no baseline time")
    print(f"{NAME}: {steungezinnen} steungezinnen (built in {built:.1f} s), {len(found)} candidates; "
          f"ours {ours * 1000:.1f} ms, baseline {base_seconds * 1000:.1f} ms; top {found[:3]}")
    return [{
        "name": NAME, "ours": round(ours, 4), "baseline": round(base_seconds, 4), "unit": "s",
        "ratio": round(ours / base_seconds, 1), "n": len(found), "steungezinnen": steungezinnen,
    }]
