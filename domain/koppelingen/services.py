"""The koppeling lifecycle: propose, kennismaking, proefperiode, definitief, afgesloten — or gestopt.

Each step checks its guard and either raises ``KoppelingError`` with a Dutch message (nothing
changed) or writes the change, one timeline row and one audit event. The families' statuses
follow: both become ``gekoppeld`` when the proefperiode starts; after a stop or a closing each
goes back to wachtend/beschikbaar unless another open koppeling still holds it (a vraaggezin
whose koppeling was closed as planned is afgemeld: it was helped).

Guards:
- kennismaking only after both families agreed to the proposal (recorded by the coordinator);
- proefperiode only with a valid VOG for every adult of the steungezin and the proefperiode
  agreement (an ``afspraken_proefperiode`` document) signed by every party (``ondertekend``, or
  already ``verzegeld``): see ``domain.documents.signing``;
- definitief only after a positive evaluation conversation at the end of the proefperiode, and
  still with valid VOGs.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from domain.audit.services import Actor, record
from domain.documents.models import Document, DocumentKind, DocumentStatus
from domain.evaluations.models import ConversationOutcome, EvaluationConversation
from domain.families.models import Family, FamilyKind, FamilyStatus
from domain.families.records import local_today
from domain.families.status import change_status
from domain.koppelingen.models import (
    OPEN_STATUSES,
    Koppeling,
    KoppelingStatus,
    KoppelingStatusChange,
    MatchExclusion,
    StopReason,
)
from domain.vog.services import add_months, vog_blockers
from tenants.db import db
from tenants.models import Tenant

K = KoppelingStatus
PROEFPERIODE_MOMENT = "proefperiode"  # the evaluation moment that decides on definitief

STATUS_LABELS = {
    K.VOORGESTELD: "voorgesteld",
    K.KENNISMAKING: "kennismaking",
    K.PROEFPERIODE: "proefperiode",
    K.DEFINITIEF: "definitief",
    K.AFGESLOTEN: "afgesloten",
    K.GESTOPT: "gestopt",
}
STOP_REASON_LABELS = {
    StopReason.MISMATCH: "het klikt niet (mismatch)",
    StopReason.VERHUIZING: "verhuizing",
    StopReason.DOEL_BEREIKT: "doel bereikt",
    StopReason.TERMIJN_VERSTREKEN: "termijn verstreken",
    StopReason.ANDERS: "anders",
}
ALLOWED: dict[KoppelingStatus, frozenset[KoppelingStatus]] = {
    K.VOORGESTELD: frozenset({K.KENNISMAKING, K.GESTOPT}),
    K.KENNISMAKING: frozenset({K.PROEFPERIODE, K.GESTOPT}),
    K.PROEFPERIODE: frozenset({K.DEFINITIEF, K.GESTOPT}),
    K.DEFINITIEF: frozenset({K.AFGESLOTEN, K.GESTOPT}),
    K.AFGESLOTEN: frozenset(),
    K.GESTOPT: frozenset(),
}
NOTE_MAX_LENGTH = 4000


class KoppelingError(ValueError):
    """A step that is not allowed now; the message says why, in Dutch. ``field`` names a form field."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


# --- reading ----------------------------------------------------------------------------------------


def open_koppelingen_of(family_id: int, *, exclude_id: int | None = None) -> list[Koppeling]:
    query = select(Koppeling).where(
        (Koppeling.vraag_family_id == family_id) | (Koppeling.steun_family_id == family_id),
        Koppeling.status.in_(OPEN_STATUSES),
    )
    if exclude_id is not None:
        query = query.where(Koppeling.id != exclude_id)
    return list(db.session.scalars(query.order_by(Koppeling.id)))


def remaining_capacity(steun: Family) -> int:
    used = db.session.scalar(select(func.count()).select_from(Koppeling).where(
        Koppeling.steun_family_id == steun.id, Koppeling.status.in_(OPEN_STATUSES)))
    return max(0, steun.capacity - used)


def timeline(koppeling: Koppeling) -> list[KoppelingStatusChange]:
    return list(db.session.scalars(select(KoppelingStatusChange)
                                   .where(KoppelingStatusChange.koppeling_id == koppeling.id)
                                   .order_by(KoppelingStatusChange.changed_at, KoppelingStatusChange.id)))


def exclusion_for(vraag_family_id: int, steun_family_id: int) -> MatchExclusion | None:
    return db.session.scalar(select(MatchExclusion).where(MatchExclusion.vraag_family_id == vraag_family_id,
                                                          MatchExclusion.steun_family_id == steun_family_id))


def allowed_next(koppeling: Koppeling) -> list[KoppelingStatus]:
    return sorted(ALLOWED[K(koppeling.status)], key=list(K).index)


# --- proposing --------------------------------------------------------------------------------------


def propose(vraag: Family, steun: Family, actor: Actor, *, coordinator_id: int | None = None,
            support_codes: list[str] | tuple[str, ...] = (), schedule: str | None = None,
            location: str | None = None, today: date | None = None) -> Koppeling:
    """A new koppeling in ``voorgesteld`` between a waiting vraaggezin and an available steungezin."""
    today = today or local_today()
    if vraag.kind != FamilyKind.VRAAG or steun.kind != FamilyKind.STEUN:
        raise KoppelingError("Een koppeling is tussen een vraaggezin en een steungezin.")
    if vraag.tenant_id != steun.tenant_id:
        raise KoppelingError("Beide gezinnen moeten van dezelfde gemeente zijn.")
    if vraag.anonymised_at is not None or steun.anonymised_at is not None:
        raise KoppelingError("Een geanonimiseerd gezin kan niet gekoppeld worden.")
    if vraag.status != FamilyStatus.WACHTEND:
        raise KoppelingError("Alleen een wachtend vraaggezin kan een voorstel krijgen; rond eerst de intake af.")
    if steun.status not in (FamilyStatus.BESCHIKBAAR, FamilyStatus.GEKOPPELD):
        raise KoppelingError("Dit steungezin is nu niet beschikbaar.")
    if any(k.vraag_family_id == vraag.id for k in open_koppelingen_of(vraag.id)):
        raise KoppelingError("Dit vraaggezin heeft al een lopende koppeling of voorstel.")
    if remaining_capacity(steun) <= 0:
        raise KoppelingError("Dit steungezin heeft geen ruimte meer voor nog een gezin.")
    exclusion = exclusion_for(vraag.id, steun.id)
    if exclusion is not None:
        raise KoppelingError(f"Je hebt dit steungezin als niet geschikt gemarkeerd: {exclusion.reason}")
    koppeling = Koppeling(
        tenant_id=vraag.tenant_id, vraag_family_id=vraag.id, steun_family_id=steun.id,
        coordinator_id=coordinator_id if coordinator_id is not None else vraag.coordinator_id,
        status=K.VOORGESTELD, support_codes=list(support_codes), schedule=_text(schedule, "schedule"),
        location=_text(location, "location"), proposed_on=today,
    )
    db.session.add(koppeling)
    db.session.flush()
    _timeline_row(koppeling, None, K.VOORGESTELD, actor)
    record("koppeling.proposed", actor, object_type="koppeling", object_id=koppeling.id,
           details={"vraag_family_id": vraag.id, "steun_family_id": steun.id})
    return koppeling


def record_proposal_answer(koppeling: Koppeling, side: str, agreed_on: date | None, actor: Actor, *,
                           today: date | None = None) -> None:
    """The coordinator records that the vraaggezin (``side="vraag"``) or steungezin agreed to the proposal."""
    today = today or local_today()
    _require(koppeling, (K.VOORGESTELD,), "Het akkoord op het voorstel leg je vast zolang de koppeling voorgesteld is.")
    if side not in ("vraag", "steun"):
        raise KoppelingError("Kies het vraaggezin of het steungezin.", "side")
    if agreed_on is None or agreed_on > today or agreed_on < koppeling.proposed_on:
        raise KoppelingError("Vul een datum in tussen het voorstel en vandaag.", "agreed_on")
    setattr(koppeling, f"{side}_agreed_on", agreed_on)
    db.session.flush()
    record("koppeling.proposal_agreed", actor, object_type="koppeling", object_id=koppeling.id,
           details={"side": side, "on": agreed_on.isoformat()})


def signed_proefperiode_agreement(koppeling: Koppeling) -> Document | None:
    """The koppeling's afsprakenovereenkomst for the proefperiode, signed by every party, if any."""
    return db.session.scalar(
        select(Document)
        .where(Document.koppeling_id == koppeling.id, Document.kind == DocumentKind.AFSPRAKEN_PROEFPERIODE,
               Document.status.in_([DocumentStatus.ONDERTEKEND, DocumentStatus.VERZEGELD]))
        .order_by(Document.completed_at.desc(), Document.id.desc())
        .limit(1))


# --- the transitions ---------------------------------------------------------------------------------


def start_kennismaking(koppeling: Koppeling, actor: Actor) -> None:
    _transition_allowed(koppeling, K.KENNISMAKING)
    missing = [label for side, label in (("vraag", "het vraaggezin"), ("steun", "het steungezin"))
               if getattr(koppeling, f"{side}_agreed_on") is None]
    if missing:
        raise KoppelingError(f"Eerst moeten beide gezinnen akkoord zijn met het voorstel; nog niet vastgelegd voor "
                             f"{' en '.join(missing)}.")
    _move(koppeling, K.KENNISMAKING, actor)


def vog_guard_message(steun: Family, today: date) -> str | None:
    blockers = vog_blockers(steun, today=today)
    if not blockers:
        return None
    return "Niet iedere volwassene van het steungezin heeft een geldige VOG: " + "; ".join(map(str, blockers)) + "."


def start_proefperiode(koppeling: Koppeling, actor: Actor, *, start_on: date | None,
                       today: date | None = None) -> None:
    today = today or local_today()
    _transition_allowed(koppeling, K.PROEFPERIODE)
    if start_on is None:
        raise KoppelingError("Vul de startdatum van de proefperiode in.", "start_on")
    if start_on < koppeling.proposed_on:
        raise KoppelingError("De proefperiode kan niet beginnen vóór het voorstel.", "start_on")
    vraag, steun = _families(koppeling)
    message = vog_guard_message(steun, max(start_on, today))
    if message:
        raise KoppelingError(message)
    if signed_proefperiode_agreement(koppeling) is None:
        raise KoppelingError("De afsprakenovereenkomst voor de proefperiode is nog niet door iedereen ondertekend.")
    tenant = db.session.get(Tenant, koppeling.tenant_id)
    koppeling.proefperiode_start_on = start_on
    koppeling.proefperiode_end_on = add_months(start_on, int(tenant.setting("proefperiode_months")))
    koppeling.guidance_end_on = add_months(start_on, int(tenant.setting("guidance_term_months")))
    _move(koppeling, K.PROEFPERIODE, actor)
    for family in (vraag, steun):
        if family.status != FamilyStatus.GEKOPPELD:
            change_status(family, FamilyStatus.GEKOPPELD, actor)


def proefperiode_outcome(koppeling: Koppeling) -> EvaluationConversation | None:
    return db.session.scalar(select(EvaluationConversation).where(
        EvaluationConversation.koppeling_id == koppeling.id, EvaluationConversation.moment == PROEFPERIODE_MOMENT))


def make_definitief(koppeling: Koppeling, actor: Actor, *, on: date | None, today: date | None = None) -> None:
    today = today or local_today()
    _transition_allowed(koppeling, K.DEFINITIEF)
    if on is None:
        raise KoppelingError("Vul de datum in waarop de koppeling definitief wordt.", "on")
    if on > today or (koppeling.proefperiode_start_on and on < koppeling.proefperiode_start_on):
        raise KoppelingError("Die datum ligt niet tussen het begin van de proefperiode en vandaag.", "on")
    outcome = proefperiode_outcome(koppeling)
    if outcome is None or outcome.outcome != ConversationOutcome.POSITIEF:
        raise KoppelingError("Een koppeling wordt pas definitief na een positieve evaluatie van de proefperiode.")
    _, steun = _families(koppeling)
    message = vog_guard_message(steun, today)
    if message:
        raise KoppelingError(message)
    koppeling.definitief_on = on
    _move(koppeling, K.DEFINITIEF, actor)


def extend_guidance(koppeling: Koppeling, until: date | None, actor: Actor, *, today: date | None = None) -> None:
    """At the end of the guidance term the coordinator may extend it instead of closing."""
    today = today or local_today()
    _require(koppeling, (K.DEFINITIEF,), "Alleen een definitieve koppeling kan verlengd worden.")
    if until is None or until <= today or (koppeling.guidance_end_on and until <= koppeling.guidance_end_on):
        raise KoppelingError("Kies een nieuwe einddatum na de huidige.", "until")
    before = koppeling.guidance_end_on
    koppeling.guidance_end_on = until
    db.session.flush()
    record("koppeling.extended", actor, object_type="koppeling", object_id=koppeling.id,
           details={"from": before.isoformat() if before else None, "to": until.isoformat()})


def close(koppeling: Koppeling, actor: Actor, *, note: str | None, today: date | None = None) -> None:
    """definitief → afgesloten, as planned: the vraaggezin was helped and is afgemeld; the steungezin is free."""
    today = today or local_today()
    _transition_allowed(koppeling, K.AFGESLOTEN)
    koppeling.ended_on = today
    koppeling.end_note = _text(note, "note")
    _move(koppeling, K.AFGESLOTEN, actor, note=koppeling.end_note)
    vraag, steun = _families(koppeling)
    _release(vraag, koppeling, actor, closed_as_planned=True)
    _release(steun, koppeling, actor, closed_as_planned=True)


def stop(koppeling: Koppeling, reason: StopReason | str | None, actor: Actor, *, note: str | None,
         today: date | None = None) -> None:
    """Any open state → gestopt, with a reason; both families wait or are available again."""
    today = today or local_today()
    _transition_allowed(koppeling, K.GESTOPT)
    try:
        stop_reason = StopReason(reason)
    except ValueError:
        raise KoppelingError("Kies een reden om te stoppen.", "reason") from None
    note = _text(note, "note")
    if stop_reason == StopReason.ANDERS and not note:
        raise KoppelingError("Licht de reden ‘anders’ toe.", "note")
    koppeling.stop_reason = stop_reason
    koppeling.ended_on = today
    koppeling.end_note = note
    _move(koppeling, K.GESTOPT, actor, reason=stop_reason.value, note=note)
    vraag, steun = _families(koppeling)
    _release(vraag, koppeling, actor, closed_as_planned=False)
    _release(steun, koppeling, actor, closed_as_planned=False)


# --- internals ---------------------------------------------------------------------------------------


def _families(koppeling: Koppeling) -> tuple[Family, Family]:
    vraag = db.session.scalar(select(Family).where(Family.id == koppeling.vraag_family_id))
    steun = db.session.scalar(select(Family).where(Family.id == koppeling.steun_family_id))
    return vraag, steun


def _release(family: Family, koppeling: Koppeling, actor: Actor, *, closed_as_planned: bool) -> None:
    """After a stop or closing: the family goes back, unless another open koppeling still holds it."""
    if family.status != FamilyStatus.GEKOPPELD or open_koppelingen_of(family.id, exclude_id=koppeling.id):
        return
    if family.kind == FamilyKind.VRAAG:
        if closed_as_planned:
            change_status(family, FamilyStatus.AFGEMELD, actor, "koppeling afgesloten")
        else:
            change_status(family, FamilyStatus.WACHTEND, actor)
    else:
        change_status(family, FamilyStatus.BESCHIKBAAR, actor)


def _require(koppeling: Koppeling, states: tuple[KoppelingStatus, ...], message: str) -> None:
    if K(koppeling.status) not in states:
        raise KoppelingError(message)


def _transition_allowed(koppeling: Koppeling, target: KoppelingStatus) -> None:
    current = K(koppeling.status)
    if target not in ALLOWED[current]:
        raise KoppelingError(f"Een koppeling met status ‘{STATUS_LABELS[current]}’ kan niet naar "
                             f"‘{STATUS_LABELS[target]}’.")


def _move(koppeling: Koppeling, target: KoppelingStatus, actor: Actor, *, reason: str | None = None,
          note: str | None = None) -> None:
    previous = K(koppeling.status)
    koppeling.status = target
    db.session.flush()
    _timeline_row(koppeling, previous, target, actor, reason=reason, note=note)
    details = {"from": previous.value, "to": target.value}
    if reason:
        details["reason"] = reason
    record("koppeling.status_changed", actor, object_type="koppeling", object_id=koppeling.id, details=details)


def _timeline_row(koppeling: Koppeling, previous: KoppelingStatus | None, target: KoppelingStatus, actor: Actor,
                  *, reason: str | None = None, note: str | None = None) -> None:
    db.session.add(KoppelingStatusChange(
        tenant_id=koppeling.tenant_id, koppeling_id=koppeling.id, from_status=previous.value if previous else None,
        to_status=target.value, reason=reason, note=note, changed_by_id=actor.id, changed_by_label=actor.label,
    ))
    db.session.flush()


def _text(value: str | None, field: str) -> str | None:
    value = (value or "").strip() or None
    if value and len(value) > NOTE_MAX_LENGTH:
        raise KoppelingError(f"Hooguit {NOTE_MAX_LENGTH} tekens.", field)
    return value
