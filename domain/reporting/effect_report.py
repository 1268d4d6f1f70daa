"""The gemeente's yearly effect report: the figures of one calendar year, as a PDF for the council.

What the seeds call the results of Buurtgezinnen, for one gemeente and one year (Dutch calendar days,
1 January through 31 December; for the current year through today, "tot nu toe"):

- ``koppelingen_made``: koppelingen whose proefperiode started in the year (``proefperiode_start_on``).
  A koppeling counts from that day: before it, vraag- and steungezin were only getting acquainted.
- ``families_helped``: distinct vraaggezinnen with a koppeling that was in its proefperiode or later
  on at least one day of the year: started on or before the last day counted, and not ended
  (``ended_on``) before 1 January. A koppeling that started the year before and still runs counts
  here, not in ``koppelingen_made``; one that stopped before the year counts in neither.
- ``children_reached``: the children (family members with role ``kind``) of those vraaggezinnen, as
  the household is recorded now. Anonymisation (domain.families.privacy) keeps a child's row and birth
  year and blanks only the name, so children of anonymised families still count; a child removed
  from the household record no longer does.
- goal-score changes, per goal (the vraaggezin's own 1–5 scores, domain.evaluations): over the
  koppelingen whose vraaggezin scored that goal at least twice up to the last day counted, the latest
  of those answers falling in the year: the average of latest − first (the baseline), with n. Answers
  given after the year are left out, so a report on a past year stays the same when it is made again.
  The PDF shows the averages only when n ≥ 5 (``SMALL_NUMBER``, the national small-number rule): the
  average of one to four families is nearly their own scores.
- ``estimated_savings_eur``: ``koppelingen_made`` × the gemeente's ``savings_per_koppeling_eur``
  (default € 5.500), the same rule as the national figures.
- per month: koppelingen made, and registrations of vraag- and steungezinnen (``registered_at`` in
  Dutch local time; anonymised families still count: they did register).

Everything is counted with ordinary queries in the caller's tenant context (RLS and the ORM criteria
keep it to the gemeente). The report holds counts, averages and amounts only, never a name.

The request and the worker: ``request_report`` makes an ``effect_reports`` row ('wachtrij') and an
outbox job (``REPORT_JOB``); the job sets 'bezig' (committed, so the page can say so), renders the
PDF and stores it with its SHA-256 ('klaar'); a report that cannot be rendered is 'mislukt' with the
error, and the job is parked (no retry helps a broken render).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.dates import format_date
from babel.numbers import format_decimal
from jinja2 import FileSystemLoader
from sqlalchemy import extract, func, or_, select
from sqlalchemy.exc import IntegrityError

from domain.audit.services import Actor, record
from domain.documents.rendering import (
    DOCUMENT_TEMPLATES,
    STATIC_PREFIX,
    DocumentSandbox,
    RenderError,
    dutch_date,
    euro,
    render_pdf,
)
from domain.evaluations.models import EvaluationRequest, EvaluationRole
from domain.evaluations.services import GOALS
from domain.families.models import Family, FamilyKind, FamilyMember, MemberRole
from domain.families.records import LOCAL_TIME, local_today
from domain.koppelingen.models import Koppeling
from domain.outbox.models import OutboxJob
from domain.outbox.services import JobHandler, PermanentJobError, enqueue
from domain.reporting.models import EffectReport, ReportStatus
from tenants.db import db
from tenants.models import Tenant

REPORT_JOB_KIND = "reporting.effect_report"
TEMPLATES = Path(__file__).resolve().parent / "templates"
TEMPLATE = "effect_report.html"
MAX_ERROR_CHARS = 2000
RECENT_REPORTS = 10
BAD_YEAR = "Kies een jaar uit de lijst."
# Averages over fewer koppelingen are not shown: the same small-number rule as the national figures.
SMALL_NUMBER = 5
STATUS_LABELS = {
    ReportStatus.WACHTRIJ: "In de wachtrij",
    ReportStatus.BEZIG: "Wordt gemaakt",
    ReportStatus.KLAAR: "Klaar",
    ReportStatus.MISLUKT: "Mislukt",
}


class ReportError(ValueError):
    """A report that cannot be asked for; the message says why, in Dutch."""


# --- the figures -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GoalChange:
    key: str
    label: str
    n: int  # koppelingen counted
    baseline_average: Decimal | None  # average first score
    latest_average: Decimal | None  # average latest score
    change_average: Decimal | None  # average of (latest − first)

    @property
    def shown(self) -> bool:
        """Averages of 1–4 families are one family's scores, nearly: not shown (as nationally)."""
        return self.n >= SMALL_NUMBER


@dataclass(frozen=True)
class MonthFigures:
    month: int  # 1–12
    koppelingen_made: int
    registrations_vraag: int
    registrations_steun: int


@dataclass(frozen=True)
class YearFigures:
    year: int
    first_day: date
    last_day: date  # 31 December, or today for the current year
    complete: bool  # False for the current year ("tot nu toe")
    koppelingen_made: int
    families_helped: int
    children_reached: int
    savings_per_koppeling_eur: int
    estimated_savings_eur: int
    goals: list[GoalChange]
    months: list[MonthFigures]


def _local_start(day: date) -> datetime:
    """The first moment of a Dutch calendar day, as an aware datetime."""
    return datetime(day.year, day.month, day.day, tzinfo=LOCAL_TIME)


def year_figures(tenant: Tenant, year: int, today: date | None = None) -> YearFigures:
    """The figures of ``year`` for ``tenant`` (see the module docstring); run in its tenant context."""
    today = today or local_today()
    first_day = date(year, 1, 1)
    last_day = min(date(year, 12, 31), today)
    made = _koppelingen_made(first_day, last_day)
    helped = _helped_families(first_day, last_day)
    saving = int(tenant.setting("savings_per_koppeling_eur"))
    return YearFigures(
        year=year, first_day=first_day, last_day=last_day, complete=last_day == date(year, 12, 31),
        koppelingen_made=made, families_helped=len(helped), children_reached=_children_of(helped),
        savings_per_koppeling_eur=saving, estimated_savings_eur=made * saving,
        goals=_goal_changes(first_day, last_day), months=_months(first_day, last_day),
    )


def _koppelingen_made(first_day: date, last_day: date) -> int:
    return db.session.scalar(select(func.count()).select_from(Koppeling).where(
        Koppeling.proefperiode_start_on.between(first_day, last_day)))


def _helped_families(first_day: date, last_day: date) -> set[int]:
    return set(db.session.scalars(select(Koppeling.vraag_family_id).distinct().where(
        Koppeling.proefperiode_start_on <= last_day,
        or_(Koppeling.ended_on.is_(None), Koppeling.ended_on >= first_day))))


def _children_of(family_ids: set[int]) -> int:
    if not family_ids:
        return 0
    return db.session.scalar(select(func.count()).select_from(FamilyMember).where(
        FamilyMember.family_id.in_(family_ids), FamilyMember.role == MemberRole.CHILD))


def _average(values: list[int]) -> Decimal | None:
    if not values:
        return None
    return (Decimal(sum(values)) / len(values)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _goal_changes(first_day: date, last_day: date) -> list[GoalChange]:
    start, end = _local_start(first_day), _local_start(last_day + timedelta(days=1))
    goal_columns = [getattr(EvaluationRequest, key) for key, _, _ in GOALS]
    rows = db.session.execute(
        select(EvaluationRequest.koppeling_id, EvaluationRequest.answered_at, *goal_columns)
        .where(EvaluationRequest.role == EvaluationRole.VRAAG, EvaluationRequest.answered_at.is_not(None),
               EvaluationRequest.answered_at < end)
        .order_by(EvaluationRequest.koppeling_id, EvaluationRequest.answered_at, EvaluationRequest.id)).all()
    by_koppeling: dict[int, list[Any]] = {}
    for row in rows:
        by_koppeling.setdefault(row.koppeling_id, []).append(row)
    changes = []
    for index, (key, label, _) in enumerate(GOALS):
        firsts, lasts = [], []
        for answers in by_koppeling.values():
            scored = [(row.answered_at, row[2 + index]) for row in answers if row[2 + index] is not None]
            if len(scored) >= 2 and scored[-1][0] >= start:
                firsts.append(scored[0][1])
                lasts.append(scored[-1][1])
        changes.append(GoalChange(key, label, len(firsts), _average(firsts), _average(lasts),
                                  _average([last - first for first, last in zip(firsts, lasts, strict=True)])))
    return changes


def _months(first_day: date, last_day: date) -> list[MonthFigures]:
    start_month = extract("month", Koppeling.proefperiode_start_on).label("m")
    made = {int(month): count for month, count in db.session.execute(
        select(start_month, func.count())
        .where(Koppeling.proefperiode_start_on.between(first_day, last_day)).group_by(start_month))}
    start, end = _local_start(first_day), _local_start(last_day + timedelta(days=1))
    local_month = extract("month", func.timezone(str(LOCAL_TIME), Family.registered_at)).label("m")
    registered: dict[tuple[int, str], int] = {
        (int(month), kind): count for month, kind, count in db.session.execute(
            select(local_month, Family.kind, func.count())
            .where(Family.registered_at >= start, Family.registered_at < end)
            .group_by(local_month, Family.kind))}
    return [MonthFigures(month, made.get(month, 0), registered.get((month, FamilyKind.VRAAG.value), 0),
                         registered.get((month, FamilyKind.STEUN.value), 0)) for month in range(1, 13)]


def available_years(today: date | None = None) -> list[int]:
    """The years a report can be asked for, newest first: from the gemeente's first koppeling or
    registration up to the current year."""
    today = today or local_today()
    first_koppeling = db.session.scalar(select(func.min(Koppeling.proefperiode_start_on)))
    first_registered = db.session.scalar(select(func.min(Family.registered_at)))
    starts = [today.year]
    if first_koppeling is not None:
        starts.append(first_koppeling.year)
    if first_registered is not None:
        starts.append(first_registered.astimezone(LOCAL_TIME).year)
    return list(range(today.year, min(starts) - 1, -1))


# --- asking for a report -------------------------------------------------------------------------------


def request_report(tenant: Tenant, year: int, actor: Actor, today: date | None = None) -> EffectReport:
    """Ask the worker for the report of ``year``; a report of that year already waiting or being made
    is returned instead of a second one. ``ReportError`` (nothing changed) for a year not offered.
    The caller commits; the job is handed to the worker after the commit."""
    if year not in available_years(today):
        raise ReportError(BAD_YEAR)
    waiting = open_report(year)
    if waiting is not None:
        return waiting
    report = EffectReport(tenant_id=tenant.id, year=year, status=ReportStatus.WACHTRIJ,
                          requested_by_id=actor.id, requested_by_label=actor.label)
    try:
        with db.session.begin_nested():
            db.session.add(report)
    except IntegrityError:  # asked for at the same moment by someone else (the one-open-per-year index)
        return open_report(year)
    record("effect_report.requested", actor, object_type="effect_report", object_id=report.id,
           details={"year": year})
    enqueue(REPORT_JOB_KIND, {"report_id": report.id}, tenant.id, dedupe_key=f"{REPORT_JOB_KIND}:{report.id}",
            max_attempts=3)
    return report


def open_report(year: int) -> EffectReport | None:
    return db.session.scalar(select(EffectReport).where(
        EffectReport.year == year, EffectReport.status.in_((ReportStatus.WACHTRIJ, ReportStatus.BEZIG))))


@dataclass(frozen=True)
class ReportRow:
    """A report in the list: what it is and how far, without its PDF."""

    id: int
    year: int
    status: ReportStatus
    status_label: str
    size: int | None  # bytes of the PDF once klaar
    requested_at: datetime
    finished_at: datetime | None

    @property
    def size_label(self) -> str:
        """'28 kB', '1,2 MB'."""
        if self.size is None:
            return ""
        if self.size < 1024 * 1024:
            return f"{max(1, round(self.size / 1024))} kB"
        return f"{format_decimal(round(self.size / 1024 / 1024, 1), format='0.0', locale='nl')} MB"


def recent_reports(limit: int = RECENT_REPORTS) -> list[ReportRow]:
    """The gemeente's newest reports, newest first; the PDFs stay in the database (only their size)."""
    rows = db.session.execute(
        select(EffectReport.id, EffectReport.year, EffectReport.status, func.octet_length(EffectReport.pdf),
               EffectReport.requested_at, EffectReport.finished_at)
        .order_by(EffectReport.requested_at.desc(), EffectReport.id.desc()).limit(limit))
    return [ReportRow(id_, year, ReportStatus(status), STATUS_LABELS[ReportStatus(status)], size, requested, finished)
            for id_, year, status, size, requested, finished in rows]


# --- the PDF --------------------------------------------------------------------------------------------


def _number(value: int | Decimal) -> str:
    return format_decimal(value, locale="nl")


def _signed(value: Decimal | None) -> str:
    """A change the Dutch way, with its sign: +0,8 / −0,5 / 0,0."""
    if value is None:
        return "–"
    text = format_decimal(abs(value), format="0.0", locale="nl")
    return f"+{text}" if value > 0 else f"−{text}" if value < 0 else text


def _one_decimal(value: Decimal | None) -> str:
    return "–" if value is None else format_decimal(value, format="0.0", locale="nl")


@lru_cache(maxsize=1)
def _environment() -> DocumentSandbox:
    # A file template of ours, still in the document sandbox: it only ever sees the numbers given.
    # The documents' folder too, for the shared font rules (templates/documents/_fonts.html).
    env = DocumentSandbox(loader=FileSystemLoader([str(TEMPLATES), str(DOCUMENT_TEMPLATES)]), autoescape=True,
                          trim_blocks=True, lstrip_blocks=True)
    env.filters.pop("safe", None)
    env.globals.clear()
    env.filters.update(datum=dutch_date, euro=euro, getal=_number, verschil=_signed, decimaal=_one_decimal)
    return env


MONTH_ABBREVIATIONS = [format_date(date(2000, month, 1), "MMM", locale="nl").rstrip(".") for month in range(1, 13)]
MONTH_NAMES = [format_date(date(2000, month, 1), "MMMM", locale="nl") for month in range(1, 13)]

# The bar chart of koppelingen per month, in SVG user units.
CHART_WIDTH, CHART_HEIGHT, CHART_LEFT, CHART_BOTTOM, CHART_TOP = 480, 180, 30, 24, 12


def _ticks(top: int) -> list[int]:
    step = max(1, -(-top // 4))
    return list(range(0, top + 1, step))


def month_chart(figures: YearFigures) -> dict[str, Any]:
    """Geometry of the bar chart: a bar per month (height ∝ koppelingen made) and the y-axis ticks."""
    peak = max((month.koppelingen_made for month in figures.months), default=0)
    ticks = _ticks(max(peak, 1))
    top = ticks[-1] if ticks[-1] >= peak else peak
    plot_height = CHART_HEIGHT - CHART_BOTTOM - CHART_TOP
    slot = (CHART_WIDTH - CHART_LEFT) / 12
    baseline = CHART_TOP + plot_height

    def y(value: float) -> float:
        return round(baseline - plot_height * value / top, 1)

    bars = []
    for month in figures.months:
        x = CHART_LEFT + slot * (month.month - 1)
        bars.append({"x": round(x + slot * 0.2, 1), "width": round(slot * 0.6, 1), "y": y(month.koppelingen_made),
                     "height": round(baseline - y(month.koppelingen_made), 1), "value": month.koppelingen_made,
                     "label_x": round(x + slot / 2, 1), "label": MONTH_ABBREVIATIONS[month.month - 1]})
    return {"width": CHART_WIDTH, "height": CHART_HEIGHT, "left": CHART_LEFT, "baseline": baseline,
            "ticks": [{"value": tick, "y": y(tick)} for tick in ticks], "bars": bars}


GOAL_CHART_WIDTH, GOAL_ROW, GOAL_LEFT, GOAL_SCALE = 480, 34, 150, 300


def goal_chart(goals: list[GoalChange]) -> dict[str, Any]:
    """Geometry of the goal chart: per goal shown, the baseline and latest average on a 1–5 scale."""
    rows = []
    for goal in (g for g in goals if g.shown):
        y = 20 + GOAL_ROW * len(rows)
        rows.append({"label": goal.label, "y": y,
                     "baseline": round(GOAL_SCALE * float(goal.baseline_average) / 5, 1),
                     "latest": round(GOAL_SCALE * float(goal.latest_average) / 5, 1),
                     "baseline_text": _one_decimal(goal.baseline_average),
                     "latest_text": _one_decimal(goal.latest_average)})
    return {"width": GOAL_CHART_WIDTH, "height": 30 + GOAL_ROW * len(rows), "left": GOAL_LEFT, "scale": GOAL_SCALE,
            "grid": [{"value": value, "x": round(GOAL_LEFT + GOAL_SCALE * value / 5, 1)} for value in range(6)],
            "rows": rows}


def report_html(tenant: Tenant, figures: YearFigures, made_on: date) -> str:
    title = f"Effectrapportage Buurtgezinnen {tenant.name} {figures.year}"
    return _environment().get_template(TEMPLATE).render(
        title=title, gemeente=tenant.name, figures=figures, made_on=made_on, static=STATIC_PREFIX,
        month_names=MONTH_NAMES, month_chart=month_chart(figures), goal_chart=goal_chart(figures.goals),
        small_number=SMALL_NUMBER,
    )


def render_report(report: EffectReport, tenant: Tenant, today: date | None = None) -> bytes:
    """The PDF of ``report``'s year as it stands ``today``; ``RenderError`` when it cannot be made."""
    today = today or local_today()
    # Tagged (PDF/UA-1): a report for the council is read with screen readers too.
    return render_pdf(report_html(tenant, year_figures(tenant, report.year, today), today), pdf_variant="pdf/ua-1")


# --- the worker's job ---------------------------------------------------------------------------------


def _report_for(job: OutboxJob) -> EffectReport | None:
    report_id = job.payload.get("report_id") if isinstance(job.payload, dict) else None
    if not isinstance(report_id, int):
        return None
    # In the job's tenant context: RLS and the ORM criteria keep it to the job's own gemeente.
    return db.session.scalar(select(EffectReport).where(EffectReport.id == report_id).with_for_update())


def _run_report(job: OutboxJob) -> None:
    report = _report_for(job)
    if report is None:
        raise PermanentJobError(f"effect report {job.payload.get('report_id')!r} not found")
    if report.status in (ReportStatus.KLAAR, ReportStatus.MISLUKT):
        return  # finished by an earlier run
    # Committed at once, so the page says "wordt gemaakt" while the PDF is rendered.
    report.status = ReportStatus.BEZIG
    db.session.commit()
    report = _report_for(job)
    tenant = db.session.get(Tenant, report.tenant_id)
    try:
        pdf = render_report(report, tenant)
    except RenderError as error:
        raise PermanentJobError(f"render failed: {error}") from None
    report.pdf = pdf
    report.sha256 = hashlib.sha256(pdf).hexdigest()
    report.status = ReportStatus.KLAAR
    report.error = None
    report.finished_at = datetime.now(UTC)
    db.session.flush()


def _report_failed(job: OutboxJob, error: str, final: bool) -> None:
    if not final:
        return
    report = _report_for(job)
    if report is not None and report.status != ReportStatus.KLAAR:
        report.status = ReportStatus.MISLUKT
        report.error = error[:MAX_ERROR_CHARS]
        report.finished_at = datetime.now(UTC)
        db.session.flush()


REPORT_JOB = JobHandler(run=_run_report, on_failure=_report_failed)
