"""National-scale demo data: every CBS gemeente as a tenant, with three years of families, VOGs,
koppelingen, evaluations, a contract and a few failed background jobs.

For the national dashboard and its benchmark (``buurtgezinnen seed-national``, bench/national_dashboard.py).
``seed_national`` takes the first N gemeenten of ``domain/geo/data/gemeenten.csv`` (file order, by CBS
code) and adds those that have no tenant yet (by gemeentecode), so running it again, or with a larger
N, adds only what is missing.

Fast by construction: the rows are planned in Python (one ``random.Random`` per gemeente, seeded with
``seed`` and the gemeentecode, so a gemeente gets the same data whatever else exists) and written with
one COPY per table over all gemeenten, as the database owner, in one transaction. The ids come from
the tables' own sequences (``nextval`` in blocks), so the data fits next to rows made by the app.
COPY into tables with row-level security needs a role that bypasses it (a superuser or BYPASSRLS:
the owner role of the development and docker set-ups); anything else is refused before writing.

The story per gemeente, over the three years up to ``today``: families register at random days;
an intake follows; vraaggezinnen then wait (``waiting_since``) and steungezinnen become available
once their VOGs are in. A vraaggezin is proposed to a steungezin that is free at that moment (one
open koppeling per steungezin), otherwise it keeps waiting; some give up. A koppeling goes
voorgesteld → kennismaking → proefperiode (two months) → definitief → afgesloten after the guidance
term (24 months from the proefperiode's start), and some stop (gestopt) on the way; a vraaggezin
whose koppeling stopped waits again, one whose koppeling was closed is afgemeld. Families afgemeld
more than 24 months ago are anonymised as the retention sweep would (names blanked, VOGs deleted).
Evaluations: both families get a request at the end of the proefperiode, every six months of the
definitive phase and at closing; most answer, the vraaggezin scores the four goals (1–5), which
tend to rise from the first answers; the coordinator records a conversation.
"""

from __future__ import annotations

import csv
import hashlib
import heapq
import json
import random
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, text

from domain.demo.families import BOYS, GIRLS, MEN, REASONS_STEUN, REASONS_VRAAG, SURNAMES, WOMEN
from domain.families.intake import ADULT_HOUSEMATES, SLOTS
from domain.families.privacy import ANONYMISED_NAME
from domain.families.records import LOCAL_TIME
from domain.families.support_types import DEFAULT_SUPPORT_TYPES
from domain.geo.gemeenten import DATA_FILE as GEMEENTEN_FILE
from domain.geo.geocoder import DATA_FILE as PC4_FILE
from domain.provisioning.services import slug_for
from domain.vog.services import add_months

EMAIL_DOMAIN = "landelijk-demo.example.org"
YEARS = 3
RETENTION_MONTHS = 24  # the family_retention_months default: afgemeld this long ago → anonymised
PROEFPERIODE_MONTHS = 2
GUIDANCE_MONTHS = 24
EVALUATION_MONTHS = 6
VOG_MONTHS = 36
MIN_FAMILIES, MAX_FAMILIES = 20, 250
SUPPORT_CODES = tuple(code for code, _ in DEFAULT_SUPPORT_TYPES)
STREETS = ["Kerkstraat", "Dorpsstraat", "Schoolstraat", "Molenweg", "Stationsweg", "Julianastraat", "Beatrixlaan",
           "Wilhelminastraat", "Eikenlaan", "Berkenlaan", "Lindelaan", "Parallelweg", "Nieuwstraat", "Marktstraat",
           "Prinses Irenestraat", "Oranjestraat", "Sportlaan", "Tulpstraat", "Rozenstraat", "Merelstraat"]
REFERRAL_SOURCES = ("zelf", "buurtteam", "consultatiebureau", "school", "huisarts", "anders")
REFERRERS = {"buurtteam": "Buurtteam", "consultatiebureau": "Jeugdverpleegkundige consultatiebureau",
             "school": "Intern begeleider basisschool", "huisarts": "Praktijkondersteuner huisarts",
             "anders": "Maatschappelijk werk"}
WISHES = ["Een vaste middag in de week opvang na school.",
          "Af en toe een weekend logeren, zodat wij even op adem komen.",
          "Iemand die meegaat naar sport en helpt met huiswerk.",
          "Een gezin in de buurt waar de kinderen terecht kunnen."]
STOP_REASONS_EARLY = ("mismatch", "anders")
STOP_REASONS_LATE = ("verhuizing", "doel_bereikt", "anders", "mismatch")
LETTERS = "ABCEGHJKLMNPRTVWXZ"


@dataclass(frozen=True)
class SeedReport:
    gemeenten: int  # created in this run
    skipped: int  # of the first N, already there
    families: int
    koppelingen: int
    evaluation_requests: int


@dataclass
class _Family:
    id: int
    kind: str
    registered: date
    intake_on: date  # the first intake visit
    ready_on: date  # vraag: waiting since; steun: available since (VOGs in)
    status: str = "aangemeld"
    waiting_since: date | None = None
    closed_on: date | None = None
    reason: str | None = None
    leaves_on: date | None = None  # a steungezin stops offering help then (once free)
    free_from: date | None = None  # steun: not in an open koppeling from this day (None: busy)
    history: list[tuple[str | None, str, date, str | None]] = field(default_factory=list)
    adults: list[int] = field(default_factory=list)  # member ids

    def move(self, status: str, on: date, reason: str | None = None) -> None:
        self.history.append((self.status if self.history else None, status, on, reason))
        self.status = status


@dataclass
class _Tables:
    """The rows of every table, in COPY column order."""

    rows: dict[str, list[tuple]] = field(default_factory=dict)

    def add(self, table: str, row: tuple) -> None:
        self.rows.setdefault(table, []).append(row)


COLUMNS: dict[str, tuple[str, ...]] = {
    "tenants": ("id", "slug", "name", "gemeentecode", "status", "settings"),
    "support_types": ("tenant_id", "code", "label", "position", "active"),
    "staff_users": ("id", "tenant_id", "role", "email", "full_name", "password_hash", "totp_last_step",
                    "session_token", "active"),
    "contracts": ("tenant_id", "starts_on", "ends_on", "koppelingen_target", "budget_eur", "contact_name",
                  "contact_email"),
    "families": ("id", "tenant_id", "kind", "status", "status_reason", "email", "phone", "street_address", "postcode",
                 "pc4", "place", "latitude", "longitude", "referral_source", "referrer_name", "registration_wish",
                 "support_codes", "availability", "distance_preference", "competence", "registered_at",
                 "waiting_since", "closed_at", "anonymised_at", "created_at", "coordinator_id", "capacity"),
    "family_members": ("id", "tenant_id", "family_id", "role", "first_name", "last_name", "birth_year", "birth_date",
                       "is_contact"),
    "family_status_changes": ("tenant_id", "family_id", "from_status", "to_status", "reason", "changed_by_id",
                              "changed_by_label", "changed_at"),
    "intake_visits": ("tenant_id", "family_id", "visited_on", "coordinator_id", "support_wanted", "gives_back"),
    "vog_records": ("tenant_id", "family_id", "member_id", "status", "requested_on", "request_reference", "issued_on",
                    "checked_by_id", "checked_by_label", "checked_on", "rejected_on", "renewal_due_on"),
    "koppelingen": ("id", "tenant_id", "vraag_family_id", "steun_family_id", "coordinator_id", "status",
                    "support_codes", "schedule", "location", "proposed_on", "vraag_agreed_on", "steun_agreed_on",
                    "proefperiode_start_on", "proefperiode_end_on",
                    "definitief_on", "guidance_end_on", "ended_on", "stop_reason", "end_note", "created_at"),
    "koppeling_status_changes": ("tenant_id", "koppeling_id", "from_status", "to_status", "reason",
                                 "changed_by_id", "changed_by_label", "changed_at"),
    "kennismakingen": ("tenant_id", "koppeling_id", "starts_at", "duration_minutes", "location", "sequence",
                       "outcome", "outcome_recorded_by", "outcome_recorded_at"),
    "evaluation_requests": ("tenant_id", "koppeling_id", "family_id", "role", "moment", "due_on", "token_hash",
                            "expires_at", "sent_at", "reminded_at", "answered_at", "satisfied", "wants_to_continue",
                            "goal_ontlasten", "goal_sterker", "goal_opvoedklimaat", "goal_netwerk", "remarks"),
    "evaluation_conversations": ("tenant_id", "koppeling_id", "moment", "held_on", "outcome", "recorded_by_id",
                                 "recorded_by_label"),
    "outbox_jobs": ("tenant_id", "kind", "payload", "dedupe_key", "status", "due_at", "attempts", "max_attempts",
                    "last_error", "finished_at", "created_at"),
}
# Tables whose ids the plan refers to: taken from their sequences beforehand.
SEQUENCES = ("tenants", "staff_users", "families", "family_members", "koppelingen")


@dataclass(frozen=True)
class CbsRow:
    code: str
    name: str
    provincie: str


def cbs_rows_in_file_order() -> list[CbsRow]:
    with GEMEENTEN_FILE.open(encoding="utf-8", newline="") as handle:
        return [CbsRow(row["gemeentecode"].strip().upper().removeprefix("GM"), row["gemeentenaam"].strip(),
                       row["provincie"].strip()) for row in csv.DictReader(handle)]


def _pc4_points() -> dict[str, list[tuple[str, float, float, str]]]:
    """Per gemeentecode (four digits): its PC4 areas as (pc4, lat, lon, plaats)."""
    points: dict[str, list[tuple[str, float, float, str]]] = {}
    with PC4_FILE.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            points.setdefault(row["gemeentecode"].removeprefix("GM"), []).append(
                (row["pc4"], float(row["lat"]), float(row["lon"]), row["plaats"]))
    return points


def family_count(pc4_areas: int, rng: random.Random, scale: float) -> int:
    """Bigger gemeenten (more PC4 areas) have more families: 20–250, times ``scale`` (at least 6)."""
    base = min(MAX_FAMILIES, max(MIN_FAMILIES, round((18 + 5 * pc4_areas) * rng.uniform(0.8, 1.2))))
    return max(6, round(base * scale))


# --- ids ------------------------------------------------------------------------------------------------


class _Ids:
    """Ids from the tables' sequences, fetched in blocks."""

    BLOCK = 20_000

    def __init__(self, connection: Connection):
        self.connection = connection
        self.free: dict[str, list[int]] = {}

    def next(self, table: str) -> int:
        free = self.free.setdefault(table, [])
        if not free:
            free.extend(reversed(self.connection.scalars(
                text(f"SELECT nextval('{table}_id_seq') FROM generate_series(1, :n)"),  # noqa: S608 - fixed names
                {"n": self.BLOCK}).all()))
        return free.pop()


# --- the plan of one gemeente -------------------------------------------------------------------------


def _at(day: date, hour: int = 10, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), LOCAL_TIME)


class _Gemeente:
    """Plans one gemeente's rows into ``tables``."""

    def __init__(self, cbs: CbsRow, slug: str, points: list[tuple[str, float, float, str]], ids: _Ids,
                 tables: _Tables, seed: int, scale: float, today: date):
        self.cbs, self.slug, self.points, self.ids, self.t = cbs, slug, points, ids, tables
        self.rng = random.Random(f"buurtgezinnen-landelijk:{seed}:{cbs.code}")  # noqa: S311 - demo data
        self.scale, self.today = scale, today
        self.start = add_months(today, -12 * YEARS)
        self.tenant_id = ids.next("tenants")
        self.coordinator_id = ids.next("staff_users")
        self.coordinator = f"{self.rng.choice(WOMEN + MEN)} {self.rng.choice(SURNAMES)}"
        self.families: list[_Family] = []
        self.koppelingen = 0
        self.requests = 0

    # The tenant, its staff, support types and contract.
    def plan(self) -> None:
        rng = self.rng
        settings = {"savings_per_koppeling_eur": rng.choice([5000, 6000, 6500])} if rng.random() < 0.15 else {}
        self.t.add("tenants", (self.tenant_id, self.slug, self.cbs.name, self.cbs.code, "active", json.dumps(settings)))
        for position, (code, label) in enumerate(DEFAULT_SUPPORT_TYPES):
            self.t.add("support_types", (self.tenant_id, code, label, position, True))
        # Demo staff without a usable password: whoever wants to sign in there gets an invitation.
        for user_id, role, local, name in ((self.coordinator_id, "coordinator", "coordinator", self.coordinator),
                                           (self.ids.next("staff_users"), "tenant_admin", "beheer",
                                            f"Beheerder {self.cbs.name}")):
            self.t.add("staff_users", (user_id, self.tenant_id, role, f"{local}@{self.slug}.example.org", name, "!", 0,
                                       hashlib.sha256(f"{self.slug}:{local}".encode()).hexdigest()[:64], True))
        self._contract()
        self._families()
        self._failed_jobs()

    def _contract(self) -> None:
        rng = self.rng
        starts = self.today - timedelta(days=rng.randint(30, 1000))
        ends = add_months(starts, rng.choice([24, 36])) - timedelta(days=1)
        if ends < self.today:  # renewed: the current contract
            starts, ends = ends + timedelta(days=1), add_months(ends + timedelta(days=1), 24) - timedelta(days=1)
        target = rng.randint(8, 60)
        self.t.add("contracts", (self.tenant_id, starts, ends, target, target * rng.choice([2500, 3000, 3500]),
                                 f"Wethouder {rng.choice(WOMEN + MEN)} {rng.choice(SURNAMES)}",
                                 f"wethouder@{self.slug}.example.org"))

    def _failed_jobs(self) -> None:
        for number in range(self.rng.randint(0, 3)):
            failed = _at(self.today - timedelta(days=self.rng.randint(0, 60)), 3, number)
            self.t.add("outbox_jobs", (self.tenant_id, "email.send", "{}", f"demo-landelijk:mislukt:{number}", "failed",
                                       failed, 8, 8, "SMTP 550: mailbox unavailable", failed, failed))

    # Families and their lives.
    def _families(self) -> None:
        rng = self.rng
        total = family_count(len(self.points), rng, self.scale)
        steun_count = round(total * rng.uniform(0.38, 0.5))
        vraag = [self._family("vraag") for _ in range(total - steun_count)]
        steun = [self._family("steun") for _ in range(steun_count)]
        self._match(vraag, steun)
        for family in vraag + steun:
            self._finish(family)

    def _family(self, kind: str) -> _Family:
        rng, today = self.rng, self.today
        # The programme grows: registrations become more frequent over the years (a rising density).
        registered = self.start + timedelta(days=int((today - self.start).days * rng.random() ** 0.6))
        intake_on = registered + timedelta(days=rng.randint(4, 28))
        ready_on = intake_on + timedelta(days=rng.randint(7, 30) if kind == "vraag" else rng.randint(21, 60))
        family = _Family(self.ids.next("families"), kind, registered, intake_on, ready_on)
        family.move("aangemeld", registered)
        # Some withdraw within weeks of registering, before or just after the intake.
        withdraws = registered + timedelta(days=rng.randint(3, 60)) if rng.random() < 0.06 else None
        if withdraws is not None and withdraws <= today:
            family.closed_on = withdraws
            family.reason = rng.choice(REASONS_VRAAG if kind == "vraag" else REASONS_STEUN)
        before_end = withdraws or date.max
        if intake_on <= today and intake_on < before_end:
            family.move("intake", intake_on)
        if ready_on <= today and ready_on < before_end:
            family.move("wachtend" if kind == "vraag" else "beschikbaar", ready_on)
            family.waiting_since = ready_on if kind == "vraag" else None
        if kind == "steun" and family.closed_on is None:
            family.free_from = ready_on
            if rng.random() < 0.12:
                family.leaves_on = ready_on + timedelta(days=rng.randint(60, 900))
        self.families.append(family)
        return family

    def _match(self, vraag: list[_Family], steun: list[_Family]) -> None:
        """Day by day in order of need: a waiting vraaggezin is proposed to a free steungezin, or waits on."""
        rng = self.rng
        queue = [(f.ready_on + timedelta(days=rng.randint(7, 45)), f.id, f) for f in vraag if f.closed_on is None]
        gives_up = {f.id: (f.ready_on + timedelta(days=rng.randint(60, 700)) if rng.random() < 0.15 else None)
                    for f in vraag}
        heapq.heapify(queue)
        while queue:
            on, _, family = heapq.heappop(queue)
            if gives_up[family.id] and on > gives_up[family.id]:
                closed = max(gives_up[family.id], family.waiting_since or family.ready_on)
                if closed <= self.today:
                    family.closed_on, family.reason = closed, rng.choice(REASONS_VRAAG)
                continue
            if on > self.today:
                continue
            free = [s for s in steun if s.free_from is not None and s.free_from <= on
                    and (s.leaves_on is None or s.leaves_on > on)]
            if not free:
                heapq.heappush(queue, (on + timedelta(days=rng.randint(14, 45)), family.id, family))
                continue
            partner = rng.choice(free)
            again = self._koppeling(family, partner, on)
            if again is not None:
                heapq.heappush(queue, (again, family.id, family))

    def _koppeling(self, vraag: _Family, steun: _Family, proposed: date) -> date | None:
        """One koppeling from ``proposed``; returns the day the vraaggezin looks for another (or None)."""
        rng = self.rng
        meeting = proposed + timedelta(days=rng.randint(5, 21))
        start = meeting + timedelta(days=rng.randint(7, 35))
        end = add_months(start, PROEFPERIODE_MONTHS)
        definitief = end + timedelta(days=rng.randint(0, 10))
        guidance_end = add_months(start, GUIDANCE_MONTHS)
        fate = rng.random()
        if fate < 0.08:
            stage, ended = "voorgesteld", proposed + timedelta(days=rng.randint(2, (meeting - proposed).days - 1))
        elif fate < 0.16:
            stage, ended = "kennismaking", meeting + timedelta(days=rng.randint(1, (start - meeting).days - 1))
        elif fate < 0.28:
            stage, ended = "proefperiode", start + timedelta(days=rng.randint(10, (end - start).days - 1))
        elif fate < 0.38:
            stage, ended = "definitief", definitief + timedelta(days=rng.randint(30, 600))
        elif fate < 0.46:
            stage, ended = "doel_bereikt", definitief + timedelta(days=rng.randint(180, 600))
        else:
            stage, ended = "termijn", guidance_end
        ended = min(ended, guidance_end)
        stopped = stage in ("voorgesteld", "kennismaking", "proefperiode", "definitief")
        # Where the koppeling stands today.
        steps = [("voorgesteld", proposed), ("kennismaking", meeting), ("proefperiode", start),
                 ("definitief", definitief)]
        reached = [(status, day) for status, day in steps if day <= self.today and day < ended]
        status = reached[-1][0]
        final = None
        if ended <= self.today:
            final = "gestopt" if stopped else "afgesloten"
            status = final
        koppeling_id = self.ids.next("koppelingen")
        self.koppelingen += 1
        in_proef = any(s == "proefperiode" for s, _ in reached)
        in_definitief = any(s == "definitief" for s, _ in reached)
        reason = None
        if final == "gestopt":
            reason = rng.choice(STOP_REASONS_EARLY if stage in ("voorgesteld", "kennismaking") else STOP_REASONS_LATE)
        elif final == "afgesloten":
            reason = "doel_bereikt" if stage == "doel_bereikt" else "termijn_verstreken"
        agreed = start - timedelta(days=rng.randint(1, 7)) if in_proef else None
        codes = rng.sample(SUPPORT_CODES, rng.randint(1, 3))
        self.t.add("koppelingen", (
            koppeling_id, self.tenant_id, vraag.id, steun.id, self.coordinator_id, status, codes,
            rng.choice(["Woensdagmiddag na school", "Eens per twee weken een weekend", "Dinsdag- en donderdagmiddag"])
            if in_proef else None,
            "Bij het steungezin thuis" if in_proef else None, proposed, agreed, agreed,
            start if in_proef else None, end if in_proef else None, definitief if in_definitief else None,
            guidance_end if in_proef else None, ended if final else None, reason,
            "Afgesloten na een goede periode." if final == "afgesloten" else None, _at(proposed, 11)))
        previous = None
        for step, day in reached + ([(final, ended)] if final else []):
            self.t.add("koppeling_status_changes", (self.tenant_id, koppeling_id, previous, step,
                                                    reason if step == final else None, self.coordinator_id,
                                                    self.coordinator, _at(day, 11)))
            previous = step
        if any(step == "kennismaking" for step, _ in reached):
            outcome = ("niet_goed" if final and stage == "kennismaking" else
                       "goed" if in_proef else None)  # None: still to be recorded
            self.t.add("kennismakingen", (self.tenant_id, koppeling_id, _at(meeting, 19), 60,
                                          "Bij het steungezin thuis", 1, outcome,
                                          self.coordinator if outcome else None,
                                          _at(meeting + timedelta(days=1), 9) if outcome else None))
        if in_proef:
            self._evaluations(koppeling_id, vraag, steun, end, definitief if in_definitief else None, guidance_end,
                              ended if final else None, final)
        # The families' side of it.
        if in_proef:
            for family in (vraag, steun):
                if family.status != "gekoppeld":
                    family.move("gekoppeld", start)
        steun.free_from = (ended + timedelta(days=rng.randint(7, 60))) if final else None
        if final is None:
            return None
        if steun.status == "gekoppeld":
            steun.move("beschikbaar", ended)
        if final == "afgesloten":
            vraag.closed_on, vraag.reason = ended, "koppeling afgesloten"
            return None
        if vraag.status == "gekoppeld":  # back in the queue; one stopped before the proefperiode never left it
            vraag.move("wachtend", ended)
            vraag.waiting_since = ended
        return ended + timedelta(days=rng.randint(14, 60))

    def _evaluations(self, koppeling_id: int, vraag: _Family, steun: _Family, proef_end: date,
                     definitief: date | None, guidance_end: date, ended: date | None, final: str | None) -> None:
        rng = self.rng
        moments = [("proefperiode", proef_end - timedelta(days=7))]
        if definitief is not None:
            number = 1
            while True:
                due = add_months(definitief, number * EVALUATION_MONTHS)
                if due > self.today or due >= guidance_end or (ended is not None and due >= ended):
                    break
                moments.append((f"periodiek-{number}", due))
                number += 1
        if final == "afgesloten" or (final == "gestopt" and definitief is not None):
            moments.append(("afsluiting", ended))
        moments = [(moment, due) for moment, due in moments if due <= self.today and (ended is None or due <= ended)]
        scores = [rng.choice([1, 2, 2, 2, 3, 3]) for _ in range(4)]
        for index, (moment, due) in enumerate(moments):
            last = index == len(moments) - 1
            for family, role in ((vraag, "vraag"), (steun, "steun")):
                self.requests += 1
                sent = _at(due, 8, 30)
                answered_on = due + timedelta(days=rng.randint(0, 16))
                answered = rng.random() < 0.85 and answered_on <= self.today
                reminded = (_at(due + timedelta(days=7), 8, 30)
                            if (not answered or answered_on > due + timedelta(days=7))
                            and due + timedelta(days=7) <= self.today else None)
                goals: list[int | None] = [None] * 4
                if answered and role == "vraag":
                    goals = list(scores)
                    scores = [min(5, max(1, s + rng.choice([0, 0, 1, 1, 1, -1]))) for s in scores]
                token = hashlib.sha256(f"{self.cbs.code}:{koppeling_id}:{moment}:{role}:{rng.random()}".encode())
                self.t.add("evaluation_requests", (
                    self.tenant_id, koppeling_id, family.id, role, moment, due, token.hexdigest(),
                    sent + timedelta(days=21), sent, reminded, _at(answered_on, 20) if answered else None,
                    rng.choice(["ja", "ja", "ja", "een_beetje", "nee"]) if answered else None,
                    (not (last and final == "gestopt")) if answered else None, *goals,
                    "Het gaat goed, de kinderen kijken er elke week naar uit." if answered and rng.random() < 0.3
                    else None))
            held = due + timedelta(days=rng.randint(3, 20))
            if held <= self.today and (ended is None or held <= ended or moment == "afsluiting"):
                outcome = "negatief" if last and final == "gestopt" else rng.choice(
                    ["positief"] * 8 + ["twijfel"])
                self.t.add("evaluation_conversations", (self.tenant_id, koppeling_id, moment, held, outcome,
                                                        self.coordinator_id, self.coordinator))

    def _finish(self, family: _Family) -> None:
        """Today's status (afgemeld for those who stopped), then the family's rows."""
        closed = family.closed_on
        if family.kind == "steun" and family.leaves_on and family.free_from is not None:
            closed = max(family.leaves_on, family.free_from)  # once its last koppeling is over
            family.reason = self.rng.choice(REASONS_STEUN)
        if closed is not None and closed <= self.today:
            family.move("afgemeld", closed, family.reason)
        else:
            closed = None
        anonymised = closed is not None and add_months(closed, RETENTION_MONTHS) <= self.today
        self._rows(family, closed, anonymised)

    def _rows(self, family: _Family, closed: date | None, anonymised: bool) -> None:
        rng = self.rng
        pc4, lat, lon, place = rng.choice(self.points)
        vraag = family.kind == "vraag"
        surname = rng.choice(SURNAMES)
        adults, children = self._household(vraag, surname)
        contact = adults[0]
        source = rng.choice(REFERRAL_SOURCES) if vraag else rng.choice(("zelf", "zelf", "anders"))
        past_intake = family.intake_on <= self.today
        slots = rng.sample(SLOTS, rng.randint(2, 6))
        availability = {day: [part for part in ("ochtend", "middag", "avond") if f"{day}-{part}" in slots]
                        for day in ("ma", "di", "wo", "do", "vr")}
        availability |= {"weekend": rng.random() < 0.4, "overnacht": rng.random() < 0.25}
        competence = {} if vraag or not past_intake or anonymised else {
            "opvoedervaring": "Zelf kinderen grootgebracht; ervaring als oppas.",
            "motivatie": "Iets betekenen in de buurt.",
            "wat_kan_het_gezin_aan": "Kinderen tot twaalf jaar, geen zware zorg.", ADULT_HOUSEMATES: len(adults)}
        anonymised_at = _at(add_months(closed, RETENTION_MONTHS), 2) if anonymised else None
        local = unicodedata.normalize("NFKD", f"{contact[0]}.{surname}").encode("ascii", "ignore").decode()
        self.t.add("families", (
            family.id, self.tenant_id, family.kind, family.status,
            None if anonymised else (family.reason if family.status == "afgemeld" else None),
            None if anonymised else f"{local.lower().replace(' ', '')}.{family.id}@{EMAIL_DOMAIN}",
            None if anonymised else f"06{rng.randint(10_000_000, 99_999_999)}",
            None if anonymised else f"{rng.choice(STREETS)} {rng.randint(1, 180)}",
            pc4 if anonymised else f"{pc4} {rng.choice(LETTERS)}{rng.choice(LETTERS)}", pc4, place, lat, lon,
            source, None if anonymised or source == "zelf" else f"{REFERRERS[source]} {place}",
            None if anonymised or not vraag else rng.choice(WISHES),
            rng.sample(SUPPORT_CODES, rng.randint(1, 3) if vraag else rng.randint(2, 5)), json.dumps(availability),
            rng.choice(["dichtbij", "dichtbij", "geen_voorkeur", "buiten_eigen_buurt"]), json.dumps(competence),
            _at(family.registered, 9), _at(family.waiting_since, 12) if family.waiting_since else None,
            _at(closed, 12) if closed else None, anonymised_at, _at(family.registered, 9),
            self.coordinator_id if rng.random() < 0.9 else None, 1))
        for old, new, day, reason in family.history:
            self.t.add("family_status_changes", (self.tenant_id, family.id, old, new, None if anonymised else reason,
                                                 self.coordinator_id, self.coordinator, _at(day, 12)))
        if past_intake:
            self.t.add("intake_visits", (self.tenant_id, family.id, family.intake_on, self.coordinator_id,
                                         None if anonymised or not vraag else rng.choice(WISHES),
                                         None if anonymised else "Meedenken en helpen waar het kan."))
        for index, (first, last, born) in enumerate(adults + children):
            adult = index < len(adults)
            member_id = self.ids.next("family_members")
            self.t.add("family_members", (
                member_id, self.tenant_id, family.id, "volwassene" if adult else "kind",
                ANONYMISED_NAME if anonymised else first, None if anonymised else last,
                None if anonymised and adult else born.year, None if anonymised else born, index == 0))
            if adult and not vraag and not anonymised:
                self._vog(family, member_id, closed)

    def _household(self, vraag: bool, surname: str) -> tuple[list, list]:
        """(adults, children) as (first name, last name, birth date)."""
        rng, today = self.rng, self.today

        def born(low: int, high: int) -> date:
            return today - timedelta(days=rng.randint(low * 365, high * 365 + 364))

        shape = rng.random()
        partner = (rng.choice(MEN), rng.choice(SURNAMES))
        if vraag:
            adults = ([(rng.choice(WOMEN), surname, born(22, 48))] if shape < 0.4 else
                      [(rng.choice(MEN), surname, born(24, 50))] if shape < 0.5 else
                      [(rng.choice(WOMEN), surname, born(24, 48)), (*partner, born(24, 52))])
            kids = rng.choice([1, 1, 2, 2, 2, 3, 4])
        else:
            older = shape < 0.15
            adults = ([(rng.choice(WOMEN), surname, born(58, 72)), (partner[0], surname, born(58, 74))] if older else
                      [(rng.choice(WOMEN), surname, born(28, 55))] if shape < 0.3 else
                      [(rng.choice(WOMEN), surname, born(28, 55)), (*partner, born(28, 58))])
            kids = 0 if older else rng.choice([0, 1, 2, 2, 3])
        children = [(rng.choice(GIRLS + BOYS), surname, born(0, 15)) for _ in range(kids)]
        return adults, children

    def _vog(self, family: _Family, member_id: int, closed: date | None) -> None:
        """One VOG per steunouder, in the state the family's story gives it."""
        rng, today = self.rng, self.today
        values: dict[str, Any] = {"status": "nodig"}
        if family.status == "afgemeld" and closed is not None and closed <= family.ready_on:
            pass  # withdrew before taking part: the VOG was never needed further
        elif family.status == "intake":
            if rng.random() < 0.6:
                values = {"status": "aangevraagd",
                          "requested_on": min(today, family.intake_on + timedelta(days=rng.randint(0, 10)))}
        elif family.status != "aangemeld":
            requested = family.intake_on + timedelta(days=rng.randint(0, 7))
            if rng.random() < 0.25:  # a VOG the adult already had (volunteering elsewhere), still valid then
                requested = family.intake_on - timedelta(days=rng.randint(200, 900))
            issued = requested + timedelta(days=rng.randint(5, 12))
            renewal = add_months(issued, VOG_MONTHS)
            if renewal <= today and family.status != "afgemeld" and rng.random() < 0.8:  # renewed in time
                requested = renewal - timedelta(days=rng.randint(20, 60))
                issued = requested + timedelta(days=rng.randint(5, 12))
                renewal = add_months(issued, VOG_MONTHS)
            fate = rng.random()
            if family.status == "afgemeld" and fate < 0.15:
                values = {"status": "afgewezen", "requested_on": requested,
                          "rejected_on": requested + timedelta(days=rng.randint(10, 30))}
            elif fate < 0.03 and family.status == "beschikbaar":  # a new housemate: the VOG is still needed
                values = {"status": "nodig"}
            elif fate < 0.07 and family.status == "beschikbaar":
                values = {"status": "aangevraagd", "requested_on": today - timedelta(days=rng.randint(1, 40))}
            else:
                values = {"status": "ontvangen" if renewal > today else "verlopen", "requested_on": requested,
                          "issued_on": issued, "checked_on": issued + timedelta(days=rng.randint(1, 5)),
                          "renewal_due_on": renewal}
        requested = values.get("requested_on")
        checked = values.get("checked_on")
        self.t.add("vog_records", (
            self.tenant_id, family.id, member_id, values["status"], requested,
            f"JUS-{self.cbs.code}-{member_id}" if requested else None, values.get("issued_on"),
            self.coordinator_id if checked else None, self.coordinator if checked else None, checked,
            values.get("rejected_on"), values.get("renewal_due_on")))


# --- writing ----------------------------------------------------------------------------------------------


def _copy(connection: Connection, table: str, rows: Iterable[tuple]) -> None:
    columns = ", ".join(COLUMNS[table])
    cursor = connection.connection.driver_connection.cursor()
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _bypasses_rls(connection: Connection) -> bool:
    return bool(connection.scalar(text(
        "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user")))


class SeedError(RuntimeError):
    """The national demo data cannot be written (the message says why, in Dutch)."""


def seed_national(connection: Connection, *, gemeenten: int | None = None, seed: int = 1, scale: float = 1.0,
                  today: date) -> SeedReport:
    """Add the first ``gemeenten`` CBS gemeenten that have no tenant yet, with their data, in the
    caller's transaction on ``connection`` (the owner's; the caller commits)."""
    if not _bypasses_rls(connection):
        raise SeedError("Landelijke demogegevens schrijven kan alleen als database-eigenaar met superuser- of "
                        "BYPASSRLS-recht (DATABASE_URL).")
    if scale <= 0:
        raise SeedError("De schaal moet groter dan 0 zijn.")
    wanted = cbs_rows_in_file_order()[:gemeenten]
    existing = connection.execute(text("SELECT gemeentecode, slug FROM tenants")).all()
    codes, slugs = {row.gemeentecode for row in existing}, {row.slug for row in existing}
    points = _pc4_points()
    ids, tables = _Ids(connection), _Tables()
    planned: list[_Gemeente] = []
    for cbs in wanted:
        if cbs.code in codes:
            continue
        slug = slug_for(cbs.name)
        if slug in slugs:  # taken by another gemeente (a test or hand-made tenant): make it unique
            slug = f"{slug}-{cbs.code}"
        slugs.add(slug)
        gemeente = _Gemeente(cbs, slug, points[cbs.code], ids, tables, seed, scale, today)
        gemeente.plan()
        planned.append(gemeente)
    for table in COLUMNS:  # in dependency order
        if tables.rows.get(table):
            _copy(connection, table, tables.rows[table])
    return SeedReport(gemeenten=len(planned), skipped=len(wanted) - len(planned),
                      families=len(tables.rows.get("families", [])),
                      koppelingen=sum(g.koppelingen for g in planned),
                      evaluation_requests=sum(g.requests for g in planned))


def analyze(connection: Connection) -> None:
    """Fresh planner statistics after a bulk load (outside a transaction block: ``connection`` autocommits)."""
    connection.execute(text("ANALYZE " + ", ".join(COLUMNS)))
