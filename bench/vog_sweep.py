"""``vog_sweep_national``: one VOG reminder sweep over a national data set, against the bare SQL query.

Data, written in bulk by the database owner (INSERT … SELECT generate_series, some seconds): 342
gemeenten, 146 steungezin households of two adults each in every one (99,864 adults, each with a
VOG), the VOGs in every state: nodig, aangevraagd (requested 0-60 days ago), ontvangen (renewal
date from 3 days ago to 3 years ahead), verlopen and afgewezen; a tenth of the households afgemeld,
some anonymised, some without an e-mail address, a quarter gekoppeld with a coordinator; and the
outbox's history, the done jobs of the request and renewal reminders sent before (about 185,000,
540 per gemeente). ``TODAY`` is fixed, so every run sees the same rows.

Two states of that data:

- full: nothing sent yet (the first run after a backlog): every request reminder in its 7/14-day
  window, every renewal reminder in its 60/30/7-day window and every VOG past its renewal date is
  due, about 6,700 rows;
- fewer due: as if earlier runs had sent all but one reminder per gemeente (their outbox rows with
  the sweep's dedupe keys are there) and expired all but one VOG per gemeente: about 10x fewer.

Ours: the wall time of one ``VOG_REMINDERS.run(now)`` (the registered sweep) over all 342
gemeenten, through the app made by ``create_app`` (the app role, row-level security, one
transaction per gemeente, the hand-over of the queued jobs to the broker after each commit), on the
full state; the median of ``REPEATS`` runs, each on a fresh copy of the full state: what a run
wrote is thrown away before the next (its outbox jobs, outbound e-mails and audit events deleted,
the VOGs it expired back to ontvangen; the history stays). The first sweep of the process, on the
fewer-due state, is the warm-up. The run-job messages sent to the broker are deleted at the end.

Baseline: one bare SQL query, as the owner over all gemeenten at once, selecting the same due rows
with the same columns (the windows per occasion from the default settings, the reachable-steungezin
condition, the NOT EXISTS on the outbox dedupe key, and the expiries); the median of a few runs
before each sweep. Ratio = ours / baseline.

Checked on every sweep (the benchmark fails otherwise): no gemeente failed, the sweep handled
exactly the rows the baseline selects (the same reminder keys and expired VOGs, and as many as
enqueued + skipped), and the number of SQL statements on the app's engine is the same in both
states: it must not grow with the number of due rows.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock

from sqlalchemy import create_engine, event, pool, text

from config.settings import Settings
from domain.families.records import LOCAL_TIME
from domain.sweeps import SWEEPS  # first: importing domain.vog.reminders on its own is a circular import
from domain.vog.reminders import NAME as SWEEP_NAME
from domain.vog.reminders import REQUEST_GRACE_DAYS
from tenants.db import db
from tenants.models import DEFAULT_TENANT_SETTINGS

NAME = "vog_sweep_national"
TODAY = date(2026, 6, 15)
NOW = datetime.combine(TODAY, clock(3, 0), tzinfo=LOCAL_TIME).astimezone(UTC)  # the night's first run
TENANTS = 342
HOUSEHOLDS = 146  # per gemeente, two adults each
REPEATS = 3  # full-state sweeps; the figure is their median
BASELINE_REPEATS = 5

FIRST_NAMES = ["Piet", "Els", "Jan", "Anne", "Kees", "Fatima", "Mohamed", "Sanne", "Henk", "Noor", "Daan", "Lotte"]
LAST_NAMES = ["de Vries", "Jansen", "Visser", "Bakker", "Smit", "Meijer", "de Boer", "Mulder", "Yilmaz", "Bos"]


def _count_from_env(name: str, default: int) -> int:
    value = int(os.environ.get(name, default))
    if value < 1:
        raise SystemExit(f"{name} must be at least 1")
    return value


# --- the data set -------------------------------------------------------------------------------


def _build(owner, tenants: int, households: int) -> None:
    """Every row of the national data set, in one transaction of INSERT … SELECT statements."""
    adults = 2 * households
    values = {"tenants": tenants, "households": households, "adults": adults, "today": TODAY,
              "first_names": FIRST_NAMES, "last_names": LAST_NAMES}
    statements = [
        # Gemeenten, all active, on the default settings.
        """INSERT INTO tenants (id, slug, name, gemeentecode, status, settings)
           SELECT t, 'gemeente-' || t, 'Gemeente ' || lpad(t::text, 3, '0'), lpad(t::text, 4, '0'), 'active', '{}'
           FROM generate_series(1, :tenants) t""",
        "SELECT setval('tenants_id_seq', :tenants)",
        # A coordinator (id 2t - 1) and an admin (id 2t) per gemeente, for the expiry alerts.
        """INSERT INTO staff_users (id, tenant_id, role, email, full_name, password_hash, totp_last_step,
                                    session_token, active)
           SELECT 2 * t - 1 + r, t, (ARRAY['coordinator', 'tenant_admin'])[r + 1],
                  (ARRAY['coordinator', 'beheer'])[r + 1] || '@gemeente-' || t || '.example.org',
                  (ARRAY['Coördinator ', 'Beheerder '])[r + 1] || t, '!', 0, md5(t || ':' || r), true
           FROM generate_series(1, :tenants) t, generate_series(0, 1) r""",
        "SELECT setval('staff_users_id_seq', 2 * :tenants)",
        # Households: family f of gemeente t has id (t - 1) * households + f + 1.
        """INSERT INTO families (id, tenant_id, kind, status, status_reason, email, phone, postcode, pc4, place,
                                 referral_source, support_codes, availability, distance_preference, competence,
                                 registered_at, closed_at, anonymised_at, coordinator_id)
           SELECT (t - 1) * :households + f + 1, t, 'steun', status,
                  CASE WHEN status = 'afgemeld' THEN 'verhuisd' END,
                  CASE WHEN f % 50 <> 23 THEN 'gezin' || ((t - 1) * :households + f + 1) || '@example.org' END,
                  '06' || lpad(((t * 7919 + f) % 100000000)::text, 8, '0'),
                  pc4 || ' ' || chr(65 + f % 26) || chr(65 + (f / 26) % 26), pc4, 'Gemeente ' || t,
                  (ARRAY['zelf', 'buurtteam', 'school', 'huisarts'])[1 + f % 4], '{}', '{}', 'geen_voorkeur', '{}',
                  :today - (200 + (f * 37 + t) % 1500), CASE WHEN status = 'afgemeld' THEN :today - 100 END,
                  CASE WHEN status = 'afgemeld' AND f % 20 = 19 THEN :today - 10 END,
                  CASE WHEN f % 40 <> 20 THEN 2 * t - 1 END
           FROM (SELECT t, f, lpad((1000 + (t * 29 + f) % 8999)::text, 4, '0') AS pc4,
                        CASE WHEN f % 4 = 0 THEN 'gekoppeld' WHEN f % 10 = 9 THEN 'afgemeld'
                             WHEN f % 10 = 7 THEN 'intake' ELSE 'beschikbaar' END AS status
                 FROM generate_series(1, :tenants) t, generate_series(0, :households - 1) f) households""",
        "SELECT setval('families_id_seq', :tenants * :households)",
        # Adults: adult m of gemeente t (in household m / 2) has id (t - 1) * adults + m + 1.
        """INSERT INTO family_members (id, tenant_id, family_id, role, first_name, last_name, birth_year, is_contact)
           SELECT (t - 1) * :adults + m + 1, t, (t - 1) * :households + m / 2 + 1, 'volwassene',
                  (CAST(:first_names AS text[]))[1 + (m * 7 + t) % cardinality(CAST(:first_names AS text[]))],
                  (CAST(:last_names AS text[]))[1 + (m / 2 + t) % cardinality(CAST(:last_names AS text[]))],
                  1950 + (m * 3 + t) % 50, m % 2 = 0
           FROM generate_series(1, :tenants) t, generate_series(0, :adults - 1) m""",
        "SELECT setval('family_members_id_seq', :tenants * :adults)",
        # One VOG per adult, with the adult's id. In every gemeente adult 0 (a gekoppeld household's) has
        # a VOG one to three days past its renewal date, and adult 1 one due for renewal within a week;
        # the others by m % 20: 10% nodig, 10% aangevraagd, 65% ontvangen, 10% verlopen, 5% afgewezen.
        """INSERT INTO vog_records (id, tenant_id, family_id, member_id, status, requested_on, request_reference,
                                    issued_on, checked_by_id, checked_by_label, checked_on, rejected_on,
                                    renewal_due_on)
           SELECT id, t, family_id, id, status,
                  CASE WHEN status = 'aangevraagd' THEN requested_on
                       WHEN status = 'afgewezen' THEN requested_on - 30 - (m * 17 + t) % 200
                       WHEN renewal_due_on IS NOT NULL THEN (renewal_due_on - interval '36 months')::date - 20 END,
                  CASE WHEN status <> 'nodig' THEN 'JUS-' || id END,
                  CASE WHEN renewal_due_on IS NOT NULL THEN (renewal_due_on - interval '36 months')::date END,
                  CASE WHEN renewal_due_on IS NOT NULL THEN 2 * t - 1 END,
                  CASE WHEN renewal_due_on IS NOT NULL THEN 'Coördinator ' || t END,
                  CASE WHEN renewal_due_on IS NOT NULL THEN (renewal_due_on - interval '36 months')::date + 3 END,
                  CASE WHEN status = 'afgewezen' THEN requested_on - 5 END,
                  renewal_due_on
           FROM (SELECT t, m, id, family_id, status, :today - (m * 13 + t * 7) % 61 AS requested_on,
                        CASE WHEN m = 0 THEN :today - 1 - t % 3
                             WHEN m = 1 THEN :today + 7 - t % 8
                             WHEN status = 'ontvangen' THEN :today + (m * 31 + t * 11) % 1100 - 3
                             WHEN status = 'verlopen' THEN :today - 30 - (m * 17 + t) % 700 END AS renewal_due_on
                 FROM (SELECT t, m, (t - 1) * :adults + m + 1 AS id, (t - 1) * :households + m / 2 + 1 AS family_id,
                              CASE WHEN m < 2 THEN 'ontvangen' WHEN m % 20 < 2 THEN 'nodig'
                                   WHEN m % 20 < 4 THEN 'aangevraagd' WHEN m % 20 < 17 THEN 'ontvangen'
                                   WHEN m % 20 < 19 THEN 'verlopen' ELSE 'afgewezen' END AS status
                       FROM generate_series(1, :tenants) t, generate_series(0, :adults - 1) m) adults) dated""",
        "SELECT setval('vog_records_id_seq', :tenants * :adults)",
        # The outbox's history: the reminders sent for the VOGs received or expired before (done jobs
        # with the sweep's dedupe keys), as the NOT EXISTS of the sweep meets them in production.
        """INSERT INTO outbox_jobs (tenant_id, kind, payload, dedupe_key, status, due_at, attempts, max_attempts,
                                    finished_at, created_at)
           SELECT tenant_id, 'email.send', '{}', 'email:vog:' || id || ':' || occasion || ':'
                  || to_char(on_date, 'YYYY-MM-DD'), 'done', sent, 1, 8, sent, sent
           FROM (SELECT tenant_id, id, 'aanvraag-' || days AS occasion, requested_on + days AS sent,
                        requested_on AS on_date
                 FROM vog_records, unnest(ARRAY[7, 14]) days WHERE status IN ('ontvangen', 'verlopen')
                 UNION ALL
                 SELECT tenant_id, id, 'vernieuwen-' || days, renewal_due_on - days, renewal_due_on
                 FROM vog_records, unnest(ARRAY[60, 30, 7]) days WHERE status = 'verlopen') sent""",
    ]
    with owner.begin() as connection:
        for statement in statements:
            for name in ("tenants", "households", "adults"):  # psycopg would bind small ints as smallint
                statement = statement.replace(f":{name}", f"CAST(:{name} AS integer)")
            connection.execute(text(statement), values)
    _analyze(owner)


def _analyze(owner) -> None:
    with owner.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE tenants, staff_users, families, family_members, vog_records, "
                                "outbox_jobs, outbound_emails, audit_events"))


# --- the bare query -------------------------------------------------------------------------------


def _windows(today: date) -> list[tuple[str, int, str, str, date, date]]:
    """(occasion, days, column, status, first day, last day) of every reminder occasion, from the
    default settings: request offsets ascending, each until the next or the grace period's end;
    renewal offsets descending, each until the next, the last one until the renewal date."""
    windows = []
    request = sorted({int(day) for day in DEFAULT_TENANT_SETTINGS["vog_request_reminder_days"]})
    for index, days in enumerate(request):
        until = min([days + REQUEST_GRACE_DAYS, *request[index + 1:index + 2]])
        windows.append(("aanvraag", days, "requested_on", "aangevraagd",
                        today - timedelta(days=until - 1), today - timedelta(days=days)))
    renewal = sorted({int(day) for day in DEFAULT_TENANT_SETTINGS["vog_renewal_reminder_days"]}, reverse=True)
    for index, days in enumerate(renewal):
        later = renewal[index + 1] if index + 1 < len(renewal) else -1
        windows.append(("vernieuwen", days, "renewal_due_on", "ontvangen",
                        today + timedelta(days=later + 1), today + timedelta(days=days)))
    return windows


def baseline_sql(today: date) -> tuple[str, dict]:
    """Every due row of every active gemeente in one statement, and its parameters: the reminders
    (not yet in the outbox) and the expiries, with the columns the sweep reads. LATERAL per gemeente,
    so that every part is a range scan on (tenant_id, status, date) as in the sweep (over all
    gemeenten at once, the planner would rather scan the whole table for every part: 3-4 times slower)."""
    joins = """FROM vog_records v
               JOIN family_members m ON m.tenant_id = v.tenant_id AND m.id = v.member_id
               JOIN families f ON f.tenant_id = v.tenant_id AND f.id = v.family_id"""
    params: dict = {"today": today, "key_prefix": "email:vog:"}
    parts = []
    for index, (occasion, days, column, status, first, last) in enumerate(_windows(today)):
        params |= {f"occasion_{index}": occasion, f"days_{index}": days, f"status_{index}": status,
                   f"first_{index}": first, f"last_{index}": last, f"infix_{index}": f":{occasion}-{days}:"}
        parts.append(f"""
            SELECT v.id, CAST(:occasion_{index} AS text) AS occasion, CAST(:days_{index} AS integer) AS days,
                   v.{column} AS on_date, m.first_name, NULL AS last_name, f.email, NULL AS family_status,
                   NULL::timestamptz AS anonymised_at, NULL::int AS coordinator_id
            {joins}
            WHERE v.tenant_id = t.id AND v.status = :status_{index}
              AND v.{column} BETWEEN :first_{index} AND :last_{index}
              AND f.kind = 'steun' AND f.status <> 'afgemeld' AND f.anonymised_at IS NULL AND f.email IS NOT NULL
              AND NOT EXISTS (SELECT FROM outbox_jobs o WHERE o.tenant_id = v.tenant_id
                              AND o.dedupe_key = CAST(:key_prefix AS text) || v.id || CAST(:infix_{index} AS text)
                                                 || to_char(v.{column}, 'YYYY-MM-DD'))""")  # noqa: S608 - values bound
    parts.append(f"""
            SELECT v.id, 'verlopen', 0, v.renewal_due_on, m.first_name, m.last_name, NULL, f.status, f.anonymised_at,
                   f.coordinator_id
            {joins}
            WHERE v.tenant_id = t.id AND v.status = 'ontvangen' AND v.renewal_due_on < :today""")
    union = "\nUNION ALL".join(parts)
    sql = f"SELECT t.id AS tenant_id, due.* FROM tenants t, LATERAL ({union}) due WHERE t.status = 'active'"  # noqa: S608
    return sql, params


def _reminder_key(row) -> tuple[int, str]:
    return row.tenant_id, f"email:vog:{row.id}:{row.occasion}-{row.days}:{row.on_date.isoformat()}"


def _due_rows(owner) -> list:
    sql, params = baseline_sql(TODAY)
    with owner.connect() as connection:
        return connection.execute(text(sql), params).all()


def _time_baseline(owner, repeats: int) -> tuple[float, list]:
    sql, params = baseline_sql(TODAY)
    times, rows = [], []
    with owner.connect() as connection:
        for _ in range(repeats):
            started = time.perf_counter()
            rows = connection.execute(text(sql), params).all()
            times.append(time.perf_counter() - started)
    return statistics.median(times), rows


# --- the states ------------------------------------------------------------------------------------


def _reset_to_full(owner, history: int, expiring: list[int]) -> None:
    """Throw away what sweeps wrote (and what ``_thin_out`` added), keeping the outbox's history (its
    first ``history`` ids): the full state again."""
    with owner.begin() as connection:
        connection.execute(text("DELETE FROM outbox_jobs WHERE id > :history"), {"history": history})
        connection.execute(text("TRUNCATE outbound_emails, audit_events"))
        connection.execute(text("UPDATE vog_records SET status = 'ontvangen' WHERE id = ANY(:ids)"), {"ids": expiring})
    _analyze(owner)


def _thin_out(owner, due: list) -> None:
    """The fewer-due state: per gemeente all reminders but the first are in the outbox already (as
    if sent by an earlier run, with the sweep's dedupe key), and all expiries but the first (one
    that alerts a coordinator, where there is one) have been marked verlopen."""
    keep_reminder, keep_expiry, sent, expired = set(), set(), [], []
    rows = sorted(due, key=lambda row: (row.tenant_id, row.occasion == "verlopen",
                                        row.family_status != "gekoppeld" or row.anonymised_at is not None, row.id))
    for row in rows:
        if row.occasion != "verlopen":
            if row.tenant_id in keep_reminder:
                tenant_id, key = _reminder_key(row)
                sent.append({"tenant_id": tenant_id, "key": key})
            keep_reminder.add(row.tenant_id)
        else:
            if row.tenant_id in keep_expiry:
                expired.append(row.id)
            keep_expiry.add(row.tenant_id)
    with owner.begin() as connection:
        if sent:
            connection.execute(text(
                "INSERT INTO outbox_jobs (tenant_id, kind, payload, dedupe_key, status, attempts, max_attempts,"
                " finished_at) VALUES (:tenant_id, 'email.send', '{}', :key, 'done', 1, 8, now())"), sent)
        connection.execute(text("UPDATE vog_records SET status = 'verlopen' WHERE id = ANY(:ids)"), {"ids": expired})
    _analyze(owner)


# --- the sweep ------------------------------------------------------------------------------------


def _sweep(app, owner, due: list) -> dict:
    """One sweep over every gemeente through the app; checked against ``due`` (the baseline's rows)."""
    from domain.outbox.relay import DISPATCH_EXTENSION

    statements = 0
    dispatched = 0.0

    def count(*_args) -> None:
        nonlocal statements
        statements += 1

    dispatch = app.extensions[DISPATCH_EXTENSION]

    def timed_dispatch(jobs):
        nonlocal dispatched
        started = time.perf_counter()
        try:
            return dispatch(jobs)
        finally:
            dispatched += time.perf_counter() - started

    app.extensions[DISPATCH_EXTENSION] = timed_dispatch
    with app.app_context():
        engine = db.engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            started = time.perf_counter()
            report = SWEEPS[SWEEP_NAME].run(NOW)  # as the sweeps.run task does
            seconds = time.perf_counter() - started
        finally:
            event.remove(engine, "before_cursor_execute", count)
            db.session.remove()
            app.extensions[DISPATCH_EXTENSION] = dispatch

    if report.failed_tenants or report.failed or report.tenants != len({row.tenant_id for row in due}):
        raise RuntimeError(f"{NAME}: the sweep went through {report.tenants} gemeenten, "
                           f"failed for {report.failed_tenants[:10]}")
    if report.enqueued + report.skipped != len(due):
        raise RuntimeError(f"{NAME}: the sweep found {report.enqueued + report.skipped} due rows "
                           f"(enqueued {report.enqueued}, skipped {report.skipped}), the bare query {len(due)}")
    with owner.connect() as connection:
        keys = set(connection.execute(text(
            "SELECT tenant_id, dedupe_key FROM outbox_jobs WHERE status = 'pending'"
            " AND dedupe_key ~ '^email:vog:[0-9]+:(aanvraag|vernieuwen)-'")).tuples())
        expired = set(connection.scalars(text("SELECT object_id FROM audit_events WHERE action = 'vog.expired'")))
    reminders = {_reminder_key(row) for row in due if row.occasion != "verlopen"}
    expiries = {row.id for row in due if row.occasion == "verlopen"}
    if keys != reminders or expired != expiries:
        raise RuntimeError(f"{NAME}: the sweep's rows differ from the bare query's: "
                           f"{len(keys ^ reminders)} reminders, {len(expired ^ expiries)} expiries")
    return {"seconds": seconds, "statements": statements, "dispatch": dispatched, "tenants": report.tenants,
            "reminders": len(reminders), "expiries": len(expiries)}


def run(base: Settings) -> list[dict]:
    # Imported here: the web app factory is only needed once the benchmark really runs.
    from devstack.scratch import scratch_database
    from web.app import create_app

    tenants = _count_from_env("BENCH_VOG_TENANTS", TENANTS)
    households = _count_from_env("BENCH_VOG_HOUSEHOLDS", HOUSEHOLDS)
    repeats = _count_from_env("BENCH_VOG_REPEATS", REPEATS)
    with scratch_database(replace(base, mail_backend="sink"), prefix="bg_bench") as settings:
        # JIT off for the owner: compiling the baseline (~200 ms) is no part of finding the rows, and the
        # sweep's own per-gemeente statements never cost enough to be compiled.
        owner = create_engine(settings.database_url, poolclass=pool.StaticPool, connect_args={"options": "-c jit=off"})
        app = create_app(settings)
        redis = app.extensions["redis"]
        try:
            started = time.perf_counter()
            _build(owner, tenants, households)
            built = time.perf_counter() - started
            with owner.connect() as connection:
                history = connection.scalar(text("SELECT coalesce(max(id), 0) FROM outbox_jobs"))
            full_due = _due_rows(owner)
            expiring = [row.id for row in full_due if row.occasion == "verlopen"]

            # The fewer-due state first: its sweep is also the warm-up of the process.
            _thin_out(owner, full_due)
            fewer = _sweep(app, owner, _due_rows(owner))

            runs, baselines = [], []
            for _ in range(repeats):
                _reset_to_full(owner, history, expiring)
                baseline, due = _time_baseline(owner, BASELINE_REPEATS)
                if len(due) != len(full_due):
                    raise RuntimeError(f"{NAME}: the reset state has {len(due)} due rows, not {len(full_due)}")
                baselines.append(baseline)
                runs.append(_sweep(app, owner, due))
        finally:
            for key in redis.scan_iter(match=f"*{settings.redis_namespace}*"):
                redis.delete(key)  # the run-job messages nobody consumes
            owner.dispose()
            with app.app_context():
                db.engine.dispose()  # let the database be dropped without waiting for idle connections

    counts = {result["statements"] for result in runs} | {fewer["statements"]}
    if len(counts) != 1:
        raise RuntimeError(f"{NAME}: the sweep's statement count grows with the due rows: "
                           f"{fewer['statements']} for {_due_count(fewer)} due rows, "
                           f"{[result['statements'] for result in runs]} for {len(full_due)}")
    ours = statistics.median(result["seconds"] for result in runs)
    baseline = statistics.median(baselines)
    first = runs[0]
    sweeps = ", ".join(f"{result['seconds']:.2f}" for result in runs)
    print(f"{NAME}: {tenants} gemeenten, {tenants * households * 2} adults (built in {built:.1f} s); "
          f"{len(full_due)} due ({first['reminders']} reminders, {first['expiries']} expiries): "
          f"sweeps {sweeps} s, of which broker hand-over "
          f"{statistics.median(result['dispatch'] for result in runs):.2f} s, {first['statements']} statements; "
          f"fewer due: {_due_count(fewer)} rows in {fewer['seconds']:.2f} s, {fewer['statements']} statements")
    return [{
        "name": NAME, "ours": round(ours, 3), "baseline": round(baseline, 4), "unit": "s",
        "ratio": round(ours / baseline, 1), "n": len(full_due),
        "tenants": tenants, "adults": tenants * households * 2,
        "statements": first["statements"], "statements_fewer_due": fewer["statements"],
        "n_fewer_due": _due_count(fewer), "ours_fewer_due": round(fewer["seconds"], 3),
        "dispatch": round(statistics.median(result["dispatch"] for result in runs), 3),
    }]


def _due_count(result: dict) -> int:
    return result["reminders"] + result["expiries"]
